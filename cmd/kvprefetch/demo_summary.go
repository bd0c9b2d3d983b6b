package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/pipeline"
)

// demoSummary totals the cycles the demo saw, and what the hinted
// traffic read when it ran.
type demoSummary struct {
	cycles, scored, selected, skipped, fetched, failed int
	bytes                                              int64
	failedBy                                           map[string]int
	fetchTime                                          time.Duration
	// cutShort counts the blocks fetched by cycles the stop canceled
	// (not counted above, but in flat all the same).
	cutShort int
	hinted   *hintedTraffic // nil: none ran
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
	for r, n := range o.FailedBy {
		if s.failedBy == nil {
			s.failedBy = map[string]int{}
		}
		s.failedBy[r] += n
	}
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
	if h := s.hinted; h != nil {
		failed := fmt.Sprint(h.failed)
		if h.firstErr != nil {
			failed += fmt.Sprintf(" (first: %v)", h.firstErr)
		}
		fmt.Fprintf(w, "  hinted traffic: %d requests announced %v ahead; of their %d block reads, %d from flat (%d prefetched), %d from cold, failed %s\n",
			h.requests, h.lead, h.reads, h.fromFlat, h.prefetched, h.fromCold, failed)
	}
}
