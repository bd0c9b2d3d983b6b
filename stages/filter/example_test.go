package filter_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/filter"
)

func ExampleNewBudget() {
	// The grid's rate (8 per 500 ms) for an event-driven pipeline.
	b := filter.NewBudget(8, 16, 8)
	t0 := time.Unix(0, 0)
	for i, at := range []time.Duration{0, 100 * time.Millisecond, time.Second} {
		cy := &pipeline.Cycle{Seq: uint64(i + 1), Now: t0.Add(at)}
		n := 0
		for range 10 {
			if b.Skip(context.Background(), cy, pipeline.Candidate{}) == "" {
				n++
			}
		}
		fmt.Printf("cycle at %v: %d GETs\n", at, n)
	}
	// Output:
	// cycle at 0s: 8 GETs
	// cycle at 100ms: 1 GETs
	// cycle at 1s: 8 GETs
}

func ExampleNewFreeRoom() {
	f := filter.NewFreeRoom(filter.RoomFunc(func(string) int64 { return 100 << 20 }))
	cy := &pipeline.Cycle{Seq: 1}
	for i := range 3 {
		c := pipeline.Candidate{Meta: block.Meta{PayloadBytes: 40 << 20}}
		fmt.Printf("block %d: %q\n", i, f.Skip(context.Background(), cy, c))
	}
	// Output:
	// block 0: ""
	// block 1: ""
	// block 2: "no_room"
}

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

// ExampleNewNotInFlight skips a block whose fetch is still running.
func ExampleNewNotInFlight() {
	f := filter.NewNotInFlight(flightSet{{1}: true})
	cy := &pipeline.Cycle{Namespace: "ns"}
	fmt.Printf("%q %q\n", f.Skip(context.Background(), cy, pipeline.Candidate{Hash: block.Hash{1}}),
		f.Skip(context.Background(), cy, pipeline.Candidate{Hash: block.Hash{2}}))
	// Output: "in_flight" ""
}

func ExampleNewAlreadyFlat() {
	warm := map[block.Hash]bool{{1}: true}
	f := filter.NewAlreadyFlat(filter.FlatFunc(func(_ context.Context, ns string, h block.Hash) bool {
		return ns == "tp-default" && warm[h]
	}))
	cy := &pipeline.Cycle{Namespace: "tp-default"}
	for _, h := range []block.Hash{{1}, {2}} {
		fmt.Printf("%s: %q\n", h.String()[:2], f.Skip(context.Background(), cy, pipeline.Candidate{Hash: h}))
	}
	// Output:
	// 01: "already_flat"
	// 02: ""
}

// flightSet is a set of blocks with a fetch in flight (a filter.InFlight).
type flightSet map[block.Hash]bool

func (s flightSet) InFlight(_ string, h block.Hash) bool { return s[h] }

// ExampleBudget_maxInFlight: the cap counts the GETs in flight across the
// worker (other cycles', other pipelines'), and a candidate it refuses
// takes no token.
func ExampleBudget_maxInFlight() {
	inFlight := 6
	b := &filter.Budget{Rate: 16, Burst: 16, MaxInFlight: 8, Pending: filter.PendingFunc(func(string) int { return inFlight })}
	t0 := time.Unix(0, 0)
	for i, n := range []int{6, 0} {
		inFlight = n
		cy := &pipeline.Cycle{Seq: uint64(i + 1), Now: t0}
		passed := 0
		for range 20 {
			if b.Skip(context.Background(), cy, pipeline.Candidate{}) == "" {
				passed++
			}
		}
		fmt.Printf("%d in flight: %d GETs\n", n, passed)
	}
	// Output:
	// 6 in flight: 2 GETs
	// 0 in flight: 8 GETs
}
