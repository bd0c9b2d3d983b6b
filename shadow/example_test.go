package shadow_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/shadow"
)

// The v2 preset in shadow beside a node, built over the shadow's tiers:
// one cycle (a node calls Start, which runs them every interval on their
// own goroutine) would fetch the node's two blocks; the node reads one
// 50 ms later, after its would-be GET landed.
func ExampleNew() {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	idx := index.NewMemory(clock)
	a, b := block.Hash{1}, block.Hash{2}
	idx.Insert(a, block.Meta{PayloadBytes: 4096})
	idx.Insert(b, block.Meta{PayloadBytes: 4096})

	s, err := shadow.New(shadow.Config{
		Name:       "v2",
		FlatBudget: 1 << 20,
		GetCost:    20 * time.Millisecond, // until a live GET is observed
		Clock:      clock,
		Build: func(t *shadow.Tiers) (pipeline.Config, error) {
			return presets.Config(presets.NameV2, presets.Options{Index: idx, Store: t, Clock: clock})
		},
	})
	if err != nil {
		panic(err)
	}
	o := s.Cycle(context.Background())
	fmt.Println("would fetch", len(o.Fetches), "blocks")
	now = now.Add(50 * time.Millisecond)
	s.Read(s.Namespace(), a, 4096)
	st := s.Stats()
	p, _ := st.Prefetch.Precision()
	fmt.Printf("useful %d, unread %d, precision %.0f%%, stall saved %v\n", st.Prefetch.Useful, st.Prefetch.Unread(), 100*p, st.StallSaved)
	// Output:
	// would fetch 2 blocks
	// useful 1, unread 1, precision 100%, stall saved 20ms
}
