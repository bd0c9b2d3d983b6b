package shadow

import (
	"context"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// BenchmarkRead is the node's read told to a shadow, the request path's
// cost of running one: a read of a block the simulated tier holds, and
// one of a block it does not (brought in, evicting another), over a
// working set twice the tier.
//
//	go test ./shadow -run X -bench Read -count 6
func BenchmarkRead(b *testing.B) {
	for _, tc := range []struct {
		name string
		set  int
	}{{"hit", 512}, {"miss", 2048}} {
		b.Run(tc.name, func(b *testing.B) {
			sc := &scripted{}
			s, err := New(Config{Name: "b", FlatBudget: 1024 * 100, Build: sc.build, Clock: func() time.Time { return time.Unix(1, 0) }})
			if err != nil {
				b.Fatal(err)
			}
			hashes := make([]block.Hash, tc.set)
			for i := range hashes {
				hashes[i] = block.Hash{byte(i), byte(i >> 8), 9}
				s.Read(testNS, hashes[i], 100)
			}
			if tc.name == "miss" {
				hashes = hashes[:1024+1] // a cycle one longer than the tier: every read misses
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Read(testNS, hashes[i%len(hashes)], 100)
				i++
			}
		})
	}
}

// BenchmarkCycle is one shadow cycle of the scripted candidate: the work
// a shadow adds per cycle on its own goroutine, TopK would-be GETs.
func BenchmarkCycle(b *testing.B) {
	sc := &scripted{}
	now := time.Unix(1, 0)
	s, err := New(Config{Name: "b", FlatBudget: 100 * 100, GetCost: time.Millisecond, Build: sc.build, Clock: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 200 {
		sc.next = append(sc.next, block.Hash{byte(i), 7})
	}
	ctx := context.Background()
	var o *pipeline.Outcome
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		o = s.Cycle(ctx)
	}
	b.ReportMetric(float64(len(o.Fetches)), "gets/cycle")
}
