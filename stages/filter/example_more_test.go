package filter_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/filter"
)

// ExampleNewBackoff: a block whose fetch failed is skipped for 1 s, then
// 2 s after its next failure; a success forgets it.
func ExampleNewBackoff() {
	b := filter.NewBackoff(time.Second, time.Minute)
	t0 := time.Unix(0, 0)
	h := block.Hash{1}
	skip := func(at time.Duration) string {
		r := b.Skip(context.Background(), &pipeline.Cycle{Now: t0.Add(at)}, pipeline.Candidate{Hash: h})
		return fmt.Sprintf("%v: %q", at, r)
	}
	b.Observe(&pipeline.Outcome{Start: t0, Fetches: []pipeline.FetchResult{{Hash: h, Reason: pipeline.FailMiss}}})
	fmt.Println(skip(500*time.Millisecond), skip(time.Second))
	b.Observe(&pipeline.Outcome{Start: t0.Add(time.Second), Fetches: []pipeline.FetchResult{{Hash: h, Reason: pipeline.FailMiss}}})
	fmt.Println(skip(2500*time.Millisecond), skip(3*time.Second))
	// Output:
	// 500ms: "backoff" 1s: ""
	// 2.5s: "backoff" 3s: ""
}

type flightSet map[block.Hash]bool

func (s flightSet) InFlight(_ string, h block.Hash) bool { return s[h] }

// ExampleNewNotInFlight skips a block whose fetch is still running.
func ExampleNewNotInFlight() {
	f := filter.NewNotInFlight(flightSet{{1}: true})
	cy := &pipeline.Cycle{Namespace: "ns"}
	fmt.Printf("%q %q\n", f.Skip(context.Background(), cy, pipeline.Candidate{Hash: block.Hash{1}}),
		f.Skip(context.Background(), cy, pipeline.Candidate{Hash: block.Hash{2}}))
	// Output: "in_flight" ""
}
