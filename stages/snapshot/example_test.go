package snapshot_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

func ExampleHints_Stats() {
	now := time.Unix(0, 0)
	clock := func() time.Time { return now }
	flat := map[block.Hash]bool{}
	get := fetch.MaterializerFunc(func(_ context.Context, _ string, h block.Hash, _ block.Meta) (int64, bool, error) {
		now = now.Add(200 * time.Millisecond) // a GET takes 200 ms
		flat[h] = true
		return 1 << 20, true, nil
	})
	inFlat := filter.FlatFunc(func(_ context.Context, _ string, h block.Hash) bool { return flat[h] })

	hints := snapshot.NewHints(snapshot.HintsConfig{Clock: clock})
	p, err := pipeline.New(pipeline.Config{
		Sources:    []pipeline.Source{hints},
		Scorer:     pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return 1 }),
		Selector:   topk.Heap{},
		PreFilters: []pipeline.Filter{filter.NewAlreadyFlat(hints.WatchFlat(inFlat))},
		Fetcher:    fetch.NewSequential(get),
		Clock:      clock,
	})
	if err != nil {
		panic(err)
	}
	flat[block.Hash{31: 1}] = true // a shared prefix, in flat already
	hints.Add(snapshot.Hint{Hash: block.Hash{31: 1}, Due: now.Add(time.Second)},
		snapshot.Hint{Hash: block.Hash{31: 2}, Due: now.Add(time.Second)})
	p.Run(context.Background())
	hints.Arrived(2, 2) // the request came: both its blocks were in flat

	s := hints.Stats()
	fmt.Printf("added %d: %d fetched, %d already in flat\n", s.Added, s.Fetched, s.AlreadyFlat)
	fmt.Printf("lag %.1fs, slack %.1fs, flat share %.0f%%\n", s.Lag.Sum, s.Slack.Sum, 100*s.FlatShare.Sum/float64(s.FlatShare.Count))
	// Output:
	// added 2: 1 fetched, 1 already in flat
	// lag 0.2s, slack 0.8s, flat share 100%
}

func ExampleNewHints() {
	now := time.Unix(0, 0)
	h := snapshot.NewHints(snapshot.HintsConfig{Capacity: 1024})
	// The scheduler knows a request due in 2 s that reads two blocks.
	h.Add(snapshot.Hint{Hash: block.Hash{31: 1}, Meta: block.Meta{Seq: 0}, Due: now.Add(2 * time.Second)},
		snapshot.Hint{Hash: block.Hash{31: 2}, Meta: block.Meta{Seq: 1}, Due: now.Add(2 * time.Second)})
	for hash, m := range h.Candidates(context.Background(), &pipeline.Cycle{Now: now}) {
		due, _ := h.Due(hash)
		fmt.Printf("block %d (seq %d) due in %v\n", hash[31], m.Seq, due.Sub(now))
	}
	// Output:
	// block 1 (seq 0) due in 2s
	// block 2 (seq 1) due in 2s
}

// ExampleNewRoomGate: an index is scanned only while the flat tier has
// room for the largest block seen.
func ExampleNewRoomGate() {
	x := index.NewMemory(nil)
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		yield(block.Hash{1}, block.Meta{PayloadBytes: 64 << 20, LastAccessNs: time.Unix(1, 0).UnixNano()})
	})
	free := int64(1 << 30)
	g := snapshot.NewRoomGate(snapshot.NewIndex(x), roomFunc(func(string) int64 { return free }))
	for _, room := range []int64{1 << 30, 32 << 20, 64 << 20} {
		free = room
		n := 0
		for range g.Candidates(context.Background(), &pipeline.Cycle{}) {
			n++
		}
		fmt.Printf("%d MiB free: %d proposed\n", room>>20, n)
	}
	// Output:
	// 1024 MiB free: 1 proposed
	// 32 MiB free: 0 proposed
	// 64 MiB free: 1 proposed
}

func ExampleNewIndex() {
	now := time.Unix(1_700_000_000, 0)
	x := index.NewMemory(func() time.Time { return now })
	x.Insert(block.Hash{1}, block.Meta{Seq: 0})
	src := snapshot.NewIndex(x)
	for h, m := range src.Candidates(context.Background(), &pipeline.Cycle{Now: now}) {
		fmt.Println(h.String()[:2], m.Seq, m.LastAccessNs == now.UnixNano())
	}
	// Output:
	// 01 0 true
}

// leaser is a flat tier of a few blocks that leases what it holds (a
// store implements snapshot.Leaser).
type leaser map[block.Hash]bool

func (l leaser) Lease(_ string, h block.Hash, until time.Time, pin bool) bool {
	if l[h] {
		fmt.Printf("lease %s until %s, pin %v\n", h.String()[:2], until.UTC().Format("15:04:05"), pin)
	}
	return l[h]
}

// ExampleHints_SetLease: the block of each new hint is leased when the
// hint first reaches a cycle, if flat holds it; pinned until its Due plus
// the grace.
func ExampleHints_SetLease() {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	h := snapshot.NewHints(snapshot.HintsConfig{Clock: func() time.Time { return now }})
	if err := h.SetLease(snapshot.LeasePin, leaser{{1}: true}, time.Second); err != nil {
		fmt.Println(err)
		return
	}
	h.Add(snapshot.Hint{Hash: block.Hash{1}, Due: now.Add(2 * time.Second)},
		snapshot.Hint{Hash: block.Hash{2}, Due: now.Add(2 * time.Second)})
	for range 2 { // the second cycle leases nothing again
		for range h.Candidates(context.Background(), &pipeline.Cycle{Now: now}) {
		}
	}
	fmt.Println("leased:", h.Stats().Leased)
	// Output:
	// lease 01 until 12:00:03, pin true
	// leased: 1
}
