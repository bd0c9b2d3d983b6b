package fetch_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/fetch"
)

// ExampleAttempt writes a new strategy, smallest block first, as its
// scheduling alone: Attempt brings the per-fetch deadline, the failure
// reasons and the panic recovery every strategy shares.
func ExampleAttempt() {
	store := fetch.MaterializerFunc(func(_ context.Context, _ string, h block.Hash, meta block.Meta) (int64, bool, error) {
		fmt.Println("GET", h.String()[:2])
		switch h[0] {
		case 2:
			return 0, false, nil // not in cold
		case 3:
			panic("store bug")
		}
		return int64(meta.PayloadBytes), true, nil
	})
	smallestFirst := pipeline.FetcherFunc(func(ctx context.Context, cy *pipeline.Cycle, cands []pipeline.Candidate) []pipeline.FetchResult {
		order := make([]int, len(cands))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			return cmp.Compare(cands[a].Meta.PayloadBytes, cands[b].Meta.PayloadBytes)
		})
		res := make([]pipeline.FetchResult, len(cands)) // in the order of cands
		for _, i := range order {
			res[i] = fetch.Attempt(ctx, cy, store, cands[i])
		}
		return res
	})
	cands := []pipeline.Candidate{
		{Hash: block.Hash{1}, Meta: block.Meta{PayloadBytes: 300}},
		{Hash: block.Hash{2}, Meta: block.Meta{PayloadBytes: 100}},
		{Hash: block.Hash{3}, Meta: block.Meta{PayloadBytes: 200}},
	}
	cy := &pipeline.Cycle{Namespace: "tp-default", FetchTimeout: time.Second}
	for _, r := range smallestFirst.Fetch(context.Background(), cy, cands) {
		fmt.Printf("%s fetched=%v bytes=%d reason=%q\n", r.Hash.String()[:2], r.Fetched(), r.Bytes, r.Reason)
	}
	// Output:
	// GET 02
	// GET 03
	// GET 01
	// 01 fetched=true bytes=300 reason=""
	// 02 fetched=false bytes=0 reason="miss"
	// 03 fetched=false bytes=0 reason="panic"
}
