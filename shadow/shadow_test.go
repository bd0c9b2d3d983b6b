package shadow

import (
	"context"
	"iter"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/filter"
	topk "github.com/wombatkv/prefetch/stages/select"
)

const testNS = "tp-test"

// clock is a fake clock moved by the test.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func hashOf(b byte) block.Hash { return block.Hash{b} }

// scripted is a candidate whose cycles propose the blocks the test puts
// in next, in that order of rank, with the already-flat and in-flight
// pre-filters over the shadow's tiers.
type scripted struct{ next []block.Hash }

func (sc *scripted) build(t *Tiers) (pipeline.Config, error) {
	return pipeline.Config{
		Namespace: testNS,
		TopK:      2,
		Sources: []pipeline.Source{pipeline.SourceFunc(func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
			return func(yield func(block.Hash, block.Meta) bool) {
				for _, h := range sc.next {
					if !yield(h, block.Meta{PayloadBytes: 100}) {
						return
					}
				}
			}
		})},
		Scorer:     pipeline.ScorerFunc(func(_ time.Time, h block.Hash, _ block.Meta) float64 { return -float64(h[0]) }),
		Selector:   topk.Heap{},
		PreFilters: []pipeline.Filter{filter.NewAlreadyFlat(t), filter.NewNotInFlight(t)},
	}, nil
}

// counts are the figures the tests compare.
type counts struct {
	Cycles, WouldFetch, Prefetched, Useful, Late, WastedEvicted, WastedRemoved, Unread uint64
	Flat, Prefetch, Joined, Cold                                                       uint64
	LeadMs, WaitMs, AgeMs, SavedMs                                                     int64
}

func countsOf(st Stats) counts {
	ms := func(s float64) int64 { return int64(s*1000 + 0.5) }
	p := st.Prefetch
	return counts{
		Cycles: st.Cycles, WouldFetch: st.WouldFetch, Prefetched: p.Prefetched, Useful: p.Useful, Late: p.Late,
		WastedEvicted: p.WastedEvicted, WastedRemoved: p.WastedRemoved, Unread: p.Unread(),
		Flat: p.Reads.Flat, Prefetch: p.Reads.Prefetched, Joined: p.Reads.Joined, Cold: p.Reads.Cold,
		LeadMs: ms(p.Lead.Sum), WaitMs: ms(p.Wait.Sum), AgeMs: ms(p.UnreadAge.Sum), SavedMs: st.StallSaved.Milliseconds(),
	}
}

// TestOutcomes runs a scripted candidate's cycles by hand on a fake
// clock, with the node's reads between them, and checks every figure.
func TestOutcomes(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	sc := &scripted{}
	s, err := New(Config{Name: "scripted", Build: sc.build, FlatBudget: 300, GetCost: 10 * time.Millisecond, Clock: c.now})
	if err != nil {
		t.Fatal(err)
	}
	A, B, C, D, E, F := hashOf(1), hashOf(2), hashOf(3), hashOf(4), hashOf(5), hashOf(6)
	sc.next = []block.Hash{A, B, C}
	s.p.Run(ctx) // t=0: would fetch A and B (top 2), landing at 10 ms
	c.advance(5 * time.Millisecond)
	s.Read(testNS, A, 100) // t=5: A's GET in flight: late, 5 ms of wait, saves 5 ms
	c.advance(15 * time.Millisecond)
	s.Read(testNS, B, 100)  // t=20: B landed at 10: useful, 10 ms of lead, saves 10 ms
	s.Read(testNS, B, 100)  // read again: a flat read
	s.Read("other", E, 100) // another namespace: not simulated
	c.advance(10 * time.Millisecond)
	sc.next = []block.Hash{A, B, C, D}
	s.p.Run(ctx) // t=30: A, B in flat: would fetch C and D, landing at 40 ms
	c.advance(20 * time.Millisecond)
	s.Read(testNS, E, 100) // t=50: C and D land (D evicts A), E is cold and evicts B (read)
	c.advance(10 * time.Millisecond)
	s.Read(testNS, F, 100) // t=60: F is cold and evicts C, unread: wasted after 20 ms
	want := counts{
		Cycles: 2, WouldFetch: 4, Prefetched: 4, Useful: 1, Late: 1, WastedEvicted: 1, Unread: 1,
		Flat: 1, Prefetch: 1, Joined: 1, Cold: 2,
		LeadMs: 10, WaitMs: 5, AgeMs: 20, SavedMs: 15,
	}
	if diff := cmp.Diff(want, countsOf(s.Stats())); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if !s.tiers.ContainsFlat(ctx, testNS, D) || s.tiers.ContainsFlat(ctx, testNS, C) {
		t.Errorf("the simulated tier should hold D and not C")
	}
}

// TestObservedGetCost: the live fetches' mean duration becomes the GET
// time of the would-be GETs.
func TestObservedGetCost(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	sc := &scripted{next: []block.Hash{hashOf(1)}}
	s, err := New(Config{Name: "scripted", Build: sc.build, FlatBudget: 300, Clock: c.now})
	if err != nil {
		t.Fatal(err)
	}
	s.Observe(&pipeline.Outcome{Fetches: []pipeline.FetchResult{
		{Bytes: 100, Duration: 20 * time.Millisecond},
		{Bytes: 100, Duration: 40 * time.Millisecond},
		{Reason: pipeline.FailMiss, Duration: time.Second}, // not a GET that landed
	}})
	s.p.Run(ctx)
	c.advance(10 * time.Millisecond)
	s.Read(testNS, hashOf(1), 100) // lands at 30 ms: late by 20 ms, saves 10 ms
	st := s.Stats()
	if st.GetCost != 30*time.Millisecond || st.StallSaved != 10*time.Millisecond || st.Prefetch.Late != 1 {
		t.Errorf("GetCost, StallSaved, Late = %v, %v, %d, want 30ms, 10ms, 1", st.GetCost, st.StallSaved, st.Prefetch.Late)
	}
}

// liveStore stands for the node's store: a shadow must never call its
// Materialize, whatever its candidate's Build hands the stages.
type liveStore struct {
	t            *testing.T
	materialized atomic.Int64
}

func (l *liveStore) ContainsFlat(context.Context, string, block.Hash) bool { return false }
func (l *liveStore) Materialize(context.Context, string, block.Hash, block.Meta) (int64, bool, error) {
	l.materialized.Add(1)
	l.t.Error("a shadow called the live store's Materialize")
	return 0, false, nil
}

// TestNeverFetches runs the v3 preset in shadow for a virtual minute,
// once built over the shadow's tiers and once (a mistake the shadow
// survives) over the live store itself: the live store's fetch path is
// never called, and the cycles run on the shadow's own goroutine.
func TestNeverFetches(t *testing.T) {
	for _, overLive := range []bool{false, true} {
		name := "over the shadow's tiers"
		if overLive {
			name = "over the live store"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				idx := index.NewMemory(nil)
				for i := range 50 {
					idx.Insert(block.Hash{byte(i), 1}, block.Meta{PayloadBytes: 100})
				}
				live := &liveStore{t: t}
				s, err := New(Config{Name: "v3", FlatBudget: 1 << 20, Build: func(tiers *Tiers) (pipeline.Config, error) {
					var st presets.Tiers = tiers
					if overLive {
						st = live
					}
					return presets.Config(presets.NameV3, presets.Options{Index: idx, Store: st, Namespace: testNS, Interval: time.Second})
				}})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if err := s.Start(ctx); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				s.Stop()
				st := s.Stats()
				if st.Cycles < 60 || st.WouldFetch == 0 {
					t.Errorf("Cycles, WouldFetch = %d, %d, want >= 60 cycles that would fetch", st.Cycles, st.WouldFetch)
				}
				if n := live.materialized.Load(); n != 0 {
					t.Errorf("the live store's Materialize was called %d times, want 0", n)
				}
			})
		})
	}
}

func TestNewErrors(t *testing.T) {
	_, err := New(Config{FlatBudget: -1, Admission: "fifo", GetCost: -time.Second})
	if err == nil {
		t.Fatal("New accepted an empty config")
	}
	for _, want := range []string{"Name is empty", "Build is nil", "FlatBudget = -1", "GetCost = -1s", `Admission = "fifo"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = New(Config{Name: "bad", FlatBudget: 1, Build: func(*Tiers) (pipeline.Config, error) { return pipeline.Config{}, nil }})
	if err == nil || !strings.Contains(err.Error(), `shadow "bad": pipeline: `) {
		t.Errorf("New with an invalid pipeline = %v, want pipeline.New's error naming the shadow", err)
	}
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	sc := &scripted{next: []block.Hash{hashOf(1), hashOf(2)}}
	s, err := New(Config{Name: "scripted", Build: sc.build, FlatBudget: 300, GetCost: time.Second, Clock: c.now})
	if err != nil {
		t.Fatal(err)
	}
	s.p.Run(ctx)
	c.advance(2 * time.Second)
	s.Read(testNS, hashOf(1), 100)
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg, s); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(prometheus.NewRegistry(), s, s); err == nil {
		t.Error("NewMetrics accepted two shadows of one name")
	}
	expected := `
# HELP kvprefetch_shadow_would_fetch_total GETs a shadow policy would have sent.
# TYPE kvprefetch_shadow_would_fetch_total counter
kvprefetch_shadow_would_fetch_total{kv_namespace="tp-test",policy="scripted"} 2
# HELP kvprefetch_shadow_useful_total A shadow policy's would-be prefetches the node read while its simulated flat tier held them.
# TYPE kvprefetch_shadow_useful_total counter
kvprefetch_shadow_useful_total{kv_namespace="tp-test",policy="scripted"} 1
# HELP kvprefetch_shadow_unread A shadow policy's would-be prefetches in its simulated flat tier, not read yet.
# TYPE kvprefetch_shadow_unread gauge
kvprefetch_shadow_unread{kv_namespace="tp-test",policy="scripted"} 1
# HELP kvprefetch_shadow_stall_saved_seconds_total The stall a shadow policy's would-be prefetches would have saved the node's reads, at the observed GET time.
# TYPE kvprefetch_shadow_stall_saved_seconds_total counter
kvprefetch_shadow_stall_saved_seconds_total{kv_namespace="tp-test",policy="scripted"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "kvprefetch_shadow_would_fetch_total", "kvprefetch_shadow_useful_total", "kvprefetch_shadow_unread", "kvprefetch_shadow_stall_saved_seconds_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestStallSaved(t *testing.T) {
	st := PrefetchStats{Useful: 3, Late: 1}
	st.Wait.Sum = 0.004
	if got := StallSaved(st, 10*time.Millisecond); got != 36*time.Millisecond {
		t.Errorf("StallSaved = %v, want 36ms (4 GETs of 10 ms less 4 ms of wait)", got)
	}
}

// TestConcurrentReads reads from several goroutines while the shadow
// cycles (run it under -race): every read is counted once, and every
// would-be prefetch has at most one fate.
func TestConcurrentReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		idx := index.NewMemory(nil)
		var hashes []block.Hash
		for i := range 64 {
			h := block.Hash{byte(i), 2}
			hashes = append(hashes, h)
			idx.Insert(h, block.Meta{PayloadBytes: 100})
		}
		s, err := New(Config{Name: "v3", FlatBudget: 3000, GetCost: 5 * time.Millisecond, Build: func(tiers *Tiers) (pipeline.Config, error) {
			return presets.Config(presets.NameV3, presets.Options{Index: idx, Store: tiers, Namespace: testNS, Interval: 10 * time.Millisecond})
		}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		const readers, reads = 4, 200
		done := make(chan struct{})
		for r := range readers {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := range reads {
					h := hashes[(i*7+r*13)%len(hashes)]
					idx.Touch(h)
					s.Read(testNS, h, 100)
					time.Sleep(time.Millisecond)
				}
			}()
		}
		for range readers {
			<-done
		}
		s.Stop()
		p := s.Stats().Prefetch
		if got := p.Reads.Total(); got != readers*reads {
			t.Errorf("Reads.Total() = %d, want %d", got, readers*reads)
		}
		if p.Useful+p.Late+p.Wasted() > p.Prefetched || p.Prefetched == 0 {
			t.Errorf("useful %d + late %d + wasted %d against %d prefetched", p.Useful, p.Late, p.Wasted(), p.Prefetched)
		}
	})
}
