package fetch_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

// ExampleChain shows the first middleware is the outermost.
func ExampleChain() {
	logged := func(name string) fetch.Middleware {
		return func(next fetch.Materializer) fetch.Materializer {
			return fetch.MaterializerFunc(func(ctx context.Context, ns string, h block.Hash, meta block.Meta) (int64, bool, error) {
				fmt.Println(name, "before")
				defer fmt.Println(name, "after")
				return next.Materialize(ctx, ns, h, meta)
			})
		}
	}
	store := fetch.MaterializerFunc(func(context.Context, string, block.Hash, block.Meta) (int64, bool, error) {
		fmt.Println("store")
		return 1024, true, nil
	})
	m := fetch.Chain(logged("metrics"), logged("logging"))(store)
	res := fetch.NewSequential(m).Fetch(context.Background(),
		&pipeline.Cycle{Namespace: "tp-default", FetchTimeout: time.Second},
		[]pipeline.Candidate{{Hash: block.Hash{1}}})
	fmt.Println("fetched", res[0].Bytes, "bytes")
	// Output:
	// metrics before
	// logging before
	// store
	// logging after
	// metrics after
	// fetched 1024 bytes
}

func ExampleNewParallel() {
	store := fetch.MaterializerFunc(func(_ context.Context, ns string, h block.Hash, _ block.Meta) (int64, bool, error) {
		switch h[0] {
		case 2:
			return 0, false, nil // a miss: the cold tier does not hold it
		case 3:
			return 0, false, errors.New("store: connection reset")
		}
		return 4096, true, nil
	})
	cands := []pipeline.Candidate{{Hash: block.Hash{1}}, {Hash: block.Hash{2}}, {Hash: block.Hash{3}}, {Hash: block.Hash{4}}}
	p := fetch.NewParallel(store, 2) // at most 2 in flight
	for _, r := range p.Fetch(context.Background(), &pipeline.Cycle{Namespace: "tp-default", FetchTimeout: 5 * time.Second}, cands) {
		fmt.Printf("%s fetched=%v bytes=%d reason=%q\n", r.Hash.String()[:2], r.Fetched(), r.Bytes, r.Reason)
	}
	// Output:
	// 01 fetched=true bytes=4096 reason=""
	// 02 fetched=false bytes=0 reason="miss"
	// 03 fetched=false bytes=0 reason="error"
	// 04 fetched=true bytes=4096 reason=""
}

func ExampleInstrument() {
	reg := prometheus.NewRegistry() // serve it with promhttp.HandlerFor(reg, ...)
	instrument, err := fetch.Instrument(reg, fetch.InstrumentOptions{})
	if err != nil {
		panic(err)
	}
	store := fetch.MaterializerFunc(func(context.Context, string, block.Hash, block.Meta) (int64, bool, error) {
		return 4096, true, nil
	})
	f := fetch.NewParallel(instrument(store), 4)
	res := f.Fetch(context.Background(), &pipeline.Cycle{Namespace: "tp-default", FetchTimeout: time.Second}, make([]pipeline.Candidate, 3))
	n, _ := testutil.GatherAndCount(reg, "kvprefetch_fetch_duration_seconds")
	fmt.Println(len(res), "fetches,", n, "duration series")
	// Output:
	// 3 fetches, 1 duration series
}

// ExampleNewSequential: one fetch after another; a miss and an error are
// results, and the cycle goes on.
func ExampleNewSequential() {
	store := fetch.MaterializerFunc(func(_ context.Context, _ string, h block.Hash, _ block.Meta) (int64, bool, error) {
		switch h[0] {
		case 1:
			return 4096, true, nil
		case 2:
			return 0, false, nil // not in cold
		}
		return 0, false, fmt.Errorf("cold tier unavailable")
	})
	cy := &pipeline.Cycle{Namespace: "tp-default", FetchTimeout: time.Second}
	cands := []pipeline.Candidate{{Hash: block.Hash{1}}, {Hash: block.Hash{2}}, {Hash: block.Hash{3}}}
	for _, r := range fetch.NewSequential(store).Fetch(context.Background(), cy, cands) {
		fmt.Printf("%02x fetched=%v bytes=%d reason=%q\n", r.Hash[0], r.Fetched(), r.Bytes, r.Reason)
	}
	// Output:
	// 01 fetched=true bytes=4096 reason=""
	// 02 fetched=false bytes=0 reason="miss"
	// 03 fetched=false bytes=0 reason="error"
}
