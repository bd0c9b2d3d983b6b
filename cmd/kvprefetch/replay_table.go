package main

import (
	"bufio"
	"fmt"
	"io"

	"github.com/wombatkv/prefetch/replay"
)

// writeTable writes results as Markdown tables, one per trace, headed by
// the trace's size: per (scenario, lead, policy) the hits, late prefetch
// hits, cold loads, stalls under both accountings, GETs, useful GETs,
// precision, both shares of the oracle and the policy's GET rate cap.
func writeTable(w io.Writer, results []replay.Result) error {
	bw := bufio.NewWriter(w)
	trace := ""
	for _, r := range results {
		if r.Trace != trace || trace == "" {
			if trace != "" {
				fmt.Fprintln(bw)
			}
			trace = r.Trace
			fmt.Fprintf(bw, "### %s — %d requests, %d block refs (%d re-used), %d unique blocks, %d unique bytes\n\n",
				r.Trace, r.Requests, r.BlockRefs, r.ReusedRefs, r.UniqueBlocks, r.UniqueBytes)
			fmt.Fprintln(bw, "| flat capacity | lead | policy | GET/s cap | hits | late hits | cold loads | stall s (per block) | stall s (prefix) | prefetch GETs | useful | precision | share of oracle | prefix share |")
			fmt.Fprintln(bw, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
		}
		prec := "-"
		if r.PrefetchGets > 0 {
			prec = fmt.Sprintf("%.2f", r.Precision)
		}
		rate := "-"
		if r.Policy != replay.PolicyNone {
			rate = fmt.Sprintf("%g", r.Settings.MaxGetsPerS)
		}
		fmt.Fprintf(bw, "| %s (%d B) | %s | %s | %s | %d | %d | %d | %.3f | %.3f | %d | %d | %s | %.4f | %.4f |\n",
			r.Scenario, r.CapacityBytes, leadString(r.Settings.LeadMs), r.Policy, rate,
			r.Hits, r.LatePrefetchHits, r.ColdLoads, r.Stall.TotalS, r.PrefixStall.TotalS,
			r.PrefetchGets, r.Useful, prec, r.Share, r.PrefixShare)
	}
	return bw.Flush()
}

// leadString renders a lead in ms as the flags take it: 0, 250ms, 2s.
func leadString(ms float64) string {
	switch {
	case ms == 0:
		return "0"
	case ms >= 1000 && int64(ms)%1000 == 0:
		return fmt.Sprintf("%gs", ms/1000)
	}
	return fmt.Sprintf("%gms", ms)
}
