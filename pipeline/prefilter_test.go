package pipeline_test

import (
	"context"
	"encoding/binary"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// dropThirds drops every block whose first hash byte is a multiple of 3,
// and counts the candidates it is asked about.
type dropThirds struct{ calls atomic.Int64 }

func (d *dropThirds) Skip(_ context.Context, _ *pipeline.Cycle, c pipeline.Candidate) string {
	d.calls.Add(1)
	if c.Hash[0]%3 == 0 {
		return "thirds"
	}
	return ""
}

// inlineThirds is dropThirds marked as a pipeline.InlineFilter.
type inlineThirds struct{ dropThirds }

func (*inlineThirds) Inline() {}

// TestPreFiltersLazy: pre-filters choose the top K among the blocks they
// keep, on the pruned path (an InlineFilter), on the scored path (any
// other filter), and with a selector that cannot publish its K-th (every
// candidate asked, on the general path) — the same K in the same order —
// while a threshold-publishing selector asks the filter about few
// candidates.
func TestPreFiltersLazy(t *testing.T) {
	const n = 20000
	data := make([]byte, 4*n)
	for i := range data {
		data[i] = byte(i*131 + i/11)
	}
	x := &fpIndex{Memory: index.NewMemory(nil)}
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for h, m := range fpEntries(data) {
			i := m.PayloadBytes / 4 // fpEntries' hashes repeat: make them unique
			binary.BigEndian.PutUint64(h[8:], i)
			if !yield(h, m) {
				return
			}
		}
	})
	if x.Len() != n {
		t.Fatalf("index holds %d entries, want %d", x.Len(), n)
	}
	s := score.NewRFC0008(fpActive)

	// The reference: score every kept entry, sort, keep 8.
	var ref []pipeline.Candidate
	for h, m := range x.All() {
		if h[0]%3 != 0 {
			ref = append(ref, pipeline.Candidate{Hash: h, Meta: m, Score: s.Score(fpNow, h, m)})
		}
	}
	slices.SortFunc(ref, func(a, b pipeline.Candidate) int { return pipeline.Compare(&a, &b) })
	ref = ref[:8]

	for _, tc := range []struct {
		name     string
		inline   bool
		selector pipeline.Selector
		path     pipeline.ScanPath
		lazy     bool
	}{
		{"pruned path, inline filter", true, topk.Heap{}, pipeline.PathPruned, true},
		{"scored path, plain filter", false, topk.Heap{}, pipeline.PathScored, true},
		{"scored path, quickselect", false, topk.Quickselect{}, pipeline.PathScored, true},
		{"full sort: every candidate asked", false, topk.FullSort{}, pipeline.PathGeneral, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f pipeline.Filter
			var d *dropThirds
			if tc.inline {
				in := &inlineThirds{}
				f, d = in, &in.dropThirds
			} else {
				d = &dropThirds{}
				f = d
			}
			cfg := fpConfig(snapshot.NewIndex(x), s, tc.selector, 8)
			cfg.PreFilters = []pipeline.Filter{f}
			o := fpRun(t, cfg)
			if o.Path != tc.path {
				t.Errorf("path %q (%s), want %q", o.Path, o.PathReason, tc.path)
			}
			if diff := cmp.Diff(ref, o.Selected, cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("Selected mismatch (-reference +got):\n%s", diff)
			}
			calls, dropped := d.calls.Load(), o.Skipped["thirds"]
			if got := o.Scored + dropped; got != n {
				t.Errorf("Scored %d + dropped %d = %d, want every entry, %d", o.Scored, dropped, got, n)
			}
			if dropped == 0 || int64(dropped) > calls {
				t.Errorf("Skipped[thirds] = %d with %d calls, want 1..calls", dropped, calls)
			}
			if tc.lazy && calls > n/10 {
				t.Errorf("the filter was asked about %d of %d candidates, want few (only those beating the K-th)", calls, n)
			}
			if !tc.lazy && calls != n {
				t.Errorf("the filter was asked about %d candidates, want all %d", calls, n)
			}
			t.Logf("filter asked about %d of %d candidates, dropped %d", calls, n, dropped)
		})
	}
}
