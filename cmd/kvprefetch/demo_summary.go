package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/store"
)

// demoSummary totals the cycles the demo saw, and what the hinted
// traffic read when it ran.
type demoSummary struct {
	cycles, scored, selected, skipped, fetched, failed int
	bytes                                              int64
	failedBy                                           map[string]int
	fetchTime                                          time.Duration
	getTime                                            time.Duration // of the fetches that got a block
	gets                                               int
	// cutShort counts the blocks fetched by cycles the stop canceled
	// (not counted above, but in flat all the same).
	cutShort int
	hinted   *hintedTraffic // nil: none ran
	// readers says what reads blocks through the store, for a summary
	// with no reads: "" when nothing does.
	readers string
}

func (s *demoSummary) add(o *pipeline.Outcome) {
	s.cycles++
	s.scored += o.Scored
	s.selected += len(o.Selected)
	s.skipped += o.SkippedAlreadyFlat()
	s.fetched += o.Fetched
	s.failed += o.Failed
	s.bytes += o.BytesMaterialized
	s.fetchTime += o.Timings.Fetch
	for _, r := range o.Fetches {
		if r.Fetched() && r.Bytes > 0 {
			s.getTime += r.Duration
			s.gets++
		}
	}
	for r, n := range o.FailedBy {
		if s.failedBy == nil {
			s.failedBy = map[string]int{}
		}
		s.failedBy[r] += n
	}
}

// getCost is the mean time of the live fetches that got a block: the GET
// time the shadows' estimates use.
func (s *demoSummary) getCost() time.Duration {
	if s.gets == 0 {
		return 0
	}
	return s.getTime / time.Duration(s.gets)
}

// print writes the summary of the run of what ("preset v3") over t.
func (s *demoSummary) print(w io.Writer, what string, t *tiers, took time.Duration) {
	fmt.Fprintf(w, "\nsummary: %s, %d cycles in %v\n", what, s.cycles, took.Round(time.Millisecond))
	fmt.Fprintf(w, "  scored %d, selected %d, skipped already flat %d\n", s.scored, s.selected, s.skipped)
	var reasons []string
	for r, n := range s.failedBy {
		reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
	}
	sort.Strings(reasons)
	failed := fmt.Sprint(s.failed)
	if len(reasons) > 0 {
		failed += " (" + strings.Join(reasons, ", ") + ")"
	}
	fmt.Fprintf(w, "  fetched %d blocks (%d bytes, %s) in %v of fetch stage, failed %s\n", s.fetched, s.bytes, sizeFlag(s.bytes), s.fetchTime.Round(time.Millisecond), failed)
	if s.cutShort > 0 {
		fmt.Fprintf(w, "  and %d blocks fetched by a cycle the stop cut short\n", s.cutShort)
	}
	st := t.store.Stats()
	fmt.Fprintf(w, "  flat tier: %d blocks, %d bytes (%s) of a %s budget, %d evicted\n", st.FlatBlocks, st.FlatBytes, sizeFlag(st.FlatBytes), sizeFlag(st.FlatBudget), st.Evicted)
	fmt.Fprintf(w, "  cold tier: %d blocks seeded (%s) in %v, %d GETs\n", t.seededN, sizeFlag(t.seededB), t.seedTook.Round(time.Millisecond), st.ColdGets)
	fmt.Fprint(w, prefetchSummary("  ", st.Prefetch, s.readers))
	if h := s.hinted; h != nil {
		failed := fmt.Sprint(h.failed)
		if h.firstErr != nil {
			failed += fmt.Sprintf(" (first: %v)", h.firstErr)
		}
		fmt.Fprintf(w, "  hinted traffic: %d requests announced %v ahead; of their %d block reads, %d from flat (%d prefetched), %d from cold, failed %s\n",
			h.requests, h.lead, h.reads, h.fromFlat, h.prefetched, h.fromCold, failed)
	}
}

// prefetchSummary is what the store's prefetch accounting says, in two
// lines, each starting with indent: what became of the prefetched blocks
// and their precision, then the node's reads and the share the prefetcher
// served. readers names what reads blocks in this run ("" if nothing
// does), for a run with no reads.
func prefetchSummary(indent string, st store.PrefetchStats, readers string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%sprefetch: %d blocks published: %d useful, %d late, %d wasted (%d evicted, %d removed), %d unread; precision %s\n",
		indent, st.Prefetched, st.Useful, st.Late, st.Wasted(), st.WastedEvicted, st.WastedRemoved, st.Unread(), percent(st.Precision()))
	if n := st.Reads.Total(); n > 0 || readers != "" {
		r := st.Reads
		fmt.Fprintf(&b, "%sreads: %d (flat %d, prefetched %d, joined %d, cold %d); the prefetcher served %s of them",
			indent, n, r.Flat, r.Prefetched, r.Joined, r.Cold, percent(st.Served()))
		if st.Useful > 0 {
			fmt.Fprintf(&b, ", %v ahead on average", (time.Duration(st.Lead.Sum / float64(st.Lead.Count) * float64(time.Second))).Round(time.Millisecond))
		}
		b.WriteString("\n")
	} else {
		fmt.Fprintf(&b, "%sreads: none (the traffic reads blocks with --read-traffic, or with a pipeline that reads hints)\n", indent)
	}
	return b.String()
}

// percent renders a share as "86.5%", or "n/a" when it is not known.
func percent(share float64, ok bool) string {
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*share)
}
