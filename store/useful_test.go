package store

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is the accounting's clock in these tests: it moves only when
// told.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// prefetchCounts are the figures of PrefetchStats the tests compare:
// counts, and the sums of the histograms in milliseconds.
type prefetchCounts struct {
	Prefetched, Useful, Late, WastedEvicted, WastedRemoved, Unread uint64
	Flat, Prefetch, Joined, Cold                                   uint64 // Reads
	LeadMs, WaitMs, AgeMs                                          int64
}

func countsOf(st PrefetchStats) prefetchCounts {
	ms := func(s float64) int64 { return int64(s*1000 + 0.5) }
	return prefetchCounts{
		Prefetched: st.Prefetched, Useful: st.Useful, Late: st.Late,
		WastedEvicted: st.WastedEvicted, WastedRemoved: st.WastedRemoved, Unread: st.Unread(),
		Flat: st.Reads.Flat, Prefetch: st.Reads.Prefetched, Joined: st.Reads.Joined, Cold: st.Reads.Cold,
		LeadMs: ms(st.Lead.Sum), WaitMs: ms(st.Wait.Sum), AgeMs: ms(st.UnreadAge.Sum),
	}
}

// TestPrefetchAccounting checks each outcome of a prefetched block, and
// the read split, with exact counts.
func TestPrefetchAccounting(t *testing.T) {
	ctx := context.Background()
	type env struct {
		t     *testing.T
		s     *Store
		clock *fakeClock
		dir   string
	}
	cold := func(e env, size int) testBlock { // a block in cold only
		b := newBlock(e.t, size)
		if err := e.s.PutCold(ctx, testNS, b.key(), b.payload); err != nil {
			e.t.Fatal(err)
		}
		return b
	}
	prefetch := func(e env, b testBlock) {
		if _, found, err := e.s.Materialize(ctx, testNS, b.hash, b.meta()); err != nil || !found {
			e.t.Fatalf("Materialize = %v, %v, want found", found, err)
		}
	}
	get := func(e env, b testBlock) {
		data, err := e.s.Get(ctx, testNS, b.key())
		if err != nil {
			e.t.Fatal(err)
		}
		mustEqual(e.t, "Get", b.payload, data)
	}
	for _, tc := range []struct {
		name   string
		budget int64
		run    func(e env)
		want   prefetchCounts
	}{
		{name: "useful", run: func(e env) {
			b := cold(e, 1000)
			prefetch(e, b)
			e.clock.advance(3 * time.Second)
			get(e, b)
		}, want: prefetchCounts{Prefetched: 1, Useful: 1, Prefetch: 1, LeadMs: 3000}},
		{name: "read twice counts once", budget: 2500, run: func(e env) {
			b := cold(e, 1000)
			prefetch(e, b)
			e.clock.advance(time.Second)
			get(e, b)
			get(e, b)
			// Evicted once read: not wasted.
			prefetch(e, cold(e, 1000))
			prefetch(e, cold(e, 1000))
		}, want: prefetchCounts{Prefetched: 3, Useful: 1, Unread: 2, Prefetch: 1, Flat: 1, LeadMs: 1000}},
		{name: "wasted on eviction", budget: 2500, run: func(e env) {
			a, b := cold(e, 1000), cold(e, 1000)
			prefetch(e, a)
			prefetch(e, b)
			e.clock.advance(10 * time.Second)
			c := newBlock(e.t, 1000)
			if err := e.s.Put(ctx, testNS, c.key(), c.payload); err != nil { // evicts a
				e.t.Fatal(err)
			}
			get(e, c)
		}, want: prefetchCounts{Prefetched: 2, WastedEvicted: 1, Unread: 1, Flat: 1, AgeMs: 10000}},
		{name: "wasted on removal, damaged", run: func(e env) {
			b := cold(e, 1000)
			prefetch(e, b)
			e.clock.advance(2 * time.Second)
			path := filepath.Join(e.dir, testNS, b.hash.String()[:2], b.hash.String())
			if err := os.Truncate(path, 10); err != nil {
				e.t.Fatal(err)
			}
			get(e, b) // drops it, then reads it from cold itself
		}, want: prefetchCounts{Prefetched: 1, WastedRemoved: 1, Cold: 1, AgeMs: 2000}},
		{name: "wasted on removal, replaced by a put", run: func(e env) {
			b := cold(e, 1000)
			prefetch(e, b)
			e.clock.advance(time.Second)
			if err := e.s.Put(ctx, testNS, b.key(), b.payload); err != nil {
				e.t.Fatal(err)
			}
			get(e, b)
		}, want: prefetchCounts{Prefetched: 1, WastedRemoved: 1, Flat: 1, AgeMs: 1000}},
		{name: "request path fetch is not prefetched", budget: 2500, run: func(e env) {
			b := cold(e, 1000)
			get(e, b)      // cold
			get(e, b)      // flat
			prefetch(e, b) // already in flat: no GET, not prefetched
			prefetch(e, cold(e, 1000))
			prefetch(e, cold(e, 1000)) // evicts b, which the node fetched: not wasted
		}, want: prefetchCounts{Prefetched: 2, Unread: 2, Cold: 1, Flat: 1}},
		{name: "put is not prefetched", run: func(e env) {
			b := newBlock(e.t, 1000)
			if err := e.s.Put(ctx, testNS, b.key(), b.payload); err != nil {
				e.t.Fatal(err)
			}
			get(e, b)
		}, want: prefetchCounts{Flat: 1}},
		{name: "unread stays unread", run: func(e env) {
			prefetch(e, cold(e, 1000))
		}, want: prefetchCounts{Prefetched: 1, Unread: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			dir := t.TempDir()
			s := open(t, Config{FlatDir: dir, FlatBudget: tc.budget, Clock: clock.now})
			tc.run(env{t: t, s: s, clock: clock, dir: dir})
			st := s.Stats()
			if diff := cmp.Diff(tc.want, countsOf(st.Prefetch)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]prefetchCounts{testNS: tc.want}, mapCounts(st.PrefetchByNamespace)); diff != "" {
				t.Errorf("by namespace mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func mapCounts(m map[string]PrefetchStats) map[string]prefetchCounts {
	out := map[string]prefetchCounts{}
	for ns, st := range m {
		out[ns] = countsOf(st)
	}
	return out
}

// TestPrefetchLate holds a prefetch's GET before it publishes while two
// Gets join it: the block is late once, the first Get's wait recorded,
// and it never counts as useful or wasted after.
func TestPrefetchLate(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := open(t, Config{FlatBudget: 2500, Clock: clock.now})
	b := newBlock(t, 1000)
	if err := s.PutCold(ctx, testNS, b.key(), b.payload); err != nil {
		t.Fatal(err)
	}
	arrived, release, joined := make(chan struct{}), make(chan struct{}), make(chan struct{}, 2)
	s.hooks = &testHooks{
		beforeRename: func(string) { close(arrived); <-release },
		onJoin:       func() { joined <- struct{}{} },
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, found, err := s.Materialize(ctx, testNS, b.hash, b.meta()); err != nil || !found {
			t.Errorf("Materialize = %v, %v, want found", found, err)
		}
	})
	<-arrived
	for range 2 {
		clock.advance(100 * time.Millisecond) // the first joins 100 ms in
		wg.Go(func() {
			data, err := s.Get(ctx, testNS, b.key())
			if err != nil {
				t.Error(err)
				return
			}
			mustEqual(t, "Get", b.payload, data)
		})
		<-joined
	}
	clock.advance(400 * time.Millisecond) // lands 500 ms after the first joined
	close(release)
	wg.Wait()
	s.hooks = nil
	// Read again, then evicted: neither useful nor wasted.
	if _, err := s.Get(ctx, testNS, b.key()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c := newBlock(t, 1000)
		if err := s.Put(ctx, testNS, c.key(), c.payload); err != nil {
			t.Fatal(err)
		}
	}
	want := prefetchCounts{Prefetched: 1, Late: 1, Joined: 2, Flat: 1, WaitMs: 500}
	if diff := cmp.Diff(want, countsOf(s.Stats().Prefetch)); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if st := s.Stats(); st.Evicted != 1 || st.ColdGets != 1 {
		t.Errorf("Evicted, ColdGets = %d, %d, want 1, 1", st.Evicted, st.ColdGets)
	}
}

// TestPrefetchJoinsRead holds a Get's GET while a Materialize joins it:
// the block was fetched by the request path, so it is not prefetched.
func TestPrefetchJoinsRead(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := open(t, Config{FlatBudget: 1500, Clock: clock.now})
	b := newBlock(t, 1000)
	if err := s.PutCold(ctx, testNS, b.key(), b.payload); err != nil {
		t.Fatal(err)
	}
	arrived, release, joined := make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	s.hooks = &testHooks{
		beforeRename: func(string) { close(arrived); <-release },
		onJoin:       func() { joined <- struct{}{} },
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := s.Get(ctx, testNS, b.key()); err != nil {
			t.Error(err)
		}
	})
	<-arrived
	wg.Go(func() {
		if _, found, err := s.Materialize(ctx, testNS, b.hash, b.meta()); err != nil || !found {
			t.Errorf("Materialize = %v, %v, want found", found, err)
		}
	})
	<-joined
	close(release)
	wg.Wait()
	s.hooks = nil
	c := newBlock(t, 1000)
	if err := s.Put(ctx, testNS, c.key(), c.payload); err != nil { // evicts b: not wasted
		t.Fatal(err)
	}
	want := prefetchCounts{Cold: 1}
	if diff := cmp.Diff(want, countsOf(s.Stats().Prefetch)); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

// TestPrefetchAccountingConcurrent prefetches and reads the same blocks
// from many goroutines (run it under -race): whatever the interleaving,
// every prefetched block has at most one fate, and every Get is one read.
func TestPrefetchAccountingConcurrent(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := open(t, Config{FlatBudget: 8 * 1000, Clock: clock.now})
	blocks := make([]testBlock, 16)
	for i := range blocks {
		blocks[i] = newBlock(t, 1000)
		if err := s.PutCold(ctx, testNS, blocks[i].key(), blocks[i].payload); err != nil {
			t.Fatal(err)
		}
	}
	const rounds = 4
	var gets atomic.Uint64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for r := range rounds {
				for i, b := range blocks {
					if (i+w+r)%2 == 0 {
						s.Materialize(ctx, testNS, b.hash, b.meta())
						continue
					}
					if _, err := s.Get(ctx, testNS, b.key()); err != nil {
						t.Error(err)
						return
					}
					gets.Add(1)
					clock.advance(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats().Prefetch
	if got := st.Reads.Total(); got != gets.Load() {
		t.Errorf("Reads.Total() = %d, want the %d Gets", got, gets.Load())
	}
	if fates := st.Useful + st.Late + st.Wasted(); fates > st.Prefetched {
		t.Errorf("useful %d + late %d + wasted %d > prefetched %d", st.Useful, st.Late, st.Wasted(), st.Prefetched)
	}
	var marked uint64
	s.mu.Lock()
	for _, e := range s.rec.ents {
		if e != nil && e.mark.Unread() {
			marked++
		}
	}
	s.mu.Unlock()
	if st.Unread() != marked {
		t.Errorf("Unread() = %d, want the %d blocks in flat marked prefetched-unread", st.Unread(), marked)
	}
}
