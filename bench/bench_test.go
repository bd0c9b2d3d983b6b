package bench

import (
	"context"
	"fmt"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	topk "github.com/wombatkv/prefetch/stages/select"
)

// Fixtures are built once per process and shared by every sub-benchmark
// (and every -count repetition): a 1e6-entry index takes seconds to build.
var (
	fixMu      sync.Mutex
	indexes    = map[string]*index.Memory{}
	candidates = map[string][]pipeline.Candidate{}
)

func fixtureIndex(n int, ages Ages) *index.Memory {
	fixMu.Lock()
	defer fixMu.Unlock()
	key := fmt.Sprint(n, ages)
	if x, ok := indexes[key]; ok {
		return x
	}
	x := NewIndex(n, ages, fixedClock)
	indexes[key] = x
	return x
}

func fixtureCandidates(n int, ages Ages) []pipeline.Candidate {
	fixMu.Lock()
	defer fixMu.Unlock()
	key := fmt.Sprint(n, ages)
	if cs, ok := candidates[key]; ok {
		return cs
	}
	cs := Candidates(n, ages)
	candidates[key] = cs
	return cs
}

func fixedClock() time.Time { return Now }

func stream(cs []pipeline.Candidate) iter.Seq[pipeline.Candidate] {
	return func(yield func(pipeline.Candidate) bool) {
		for _, c := range cs {
			if !yield(c) {
				return
			}
		}
	}
}

var selectors = []struct {
	name string
	sel  pipeline.Selector
}{
	{"fullsort", topk.FullSort{}},
	{"heap", topk.Heap{}},
	{"quickselect", topk.Quickselect{}},
}

// BenchmarkSelect is selection alone over pre-scored candidates: every
// selector, N from 1e3 to 1e6, K in {8, 64, 1024}, scores in random order;
// and at N = 1e6 scores ascending along the stream (every newcomer enters
// a streaming top K).
func BenchmarkSelect(b *testing.B) {
	type shape struct {
		n    int
		ages Ages
	}
	var shapes []shape
	for _, n := range []int{1e3, 1e4, 1e5, 1e6} {
		shapes = append(shapes, shape{n, Random})
	}
	shapes = append(shapes, shape{1e6, Ascending})
	for _, sh := range shapes {
		for _, k := range []int{8, 64, 1024} {
			for _, s := range selectors {
				name := fmt.Sprintf("n=%d/k=%d/order=%s/sel=%s", sh.n, k, sh.ages, s.name)
				b.Run(name, func(b *testing.B) {
					cs := fixtureCandidates(sh.n, sh.ages)
					seq := stream(cs)
					var dst []pipeline.Candidate
					b.ReportAllocs()
					for b.Loop() {
						dst = s.sel.Select(dst[:0], k, seq)
					}
					if len(dst) != min(k, sh.n) {
						b.Fatalf("selected %d, want %d", len(dst), min(k, sh.n))
					}
				})
			}
		}
	}
}

// cycleConfig is the v1 preset over x: what a node embeds, its line
// written to io.Discard.
func cycleConfig(b *testing.B, x index.Reader, k int) pipeline.Config {
	cfg, err := presets.Config(presets.NameV1, presets.Options{
		Index: x, Model: Model(0), TopK: k, InstrLog: io.Discard, Clock: fixedClock,
	})
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

func newPipeline(b *testing.B, cfg pipeline.Config) *pipeline.Pipeline {
	p, err := pipeline.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// floorScan reads every entry's last-access time and nothing else: the
// least any cycle over the index can do.
func floorScan(x *index.Memory) int64 {
	var sum int64
	x.ScanColumns(func(c index.Columns) bool {
		for _, t := range c.LastAccessNs {
			sum += t
		}
		return true
	})
	return sum
}

var sink int64

// BenchmarkCycle is the front half of a cycle (snapshot, score, select)
// over an index.Memory of N entries:
//
//   - path=seed: the seed's run_cycle ([SeedCycle]);
//   - path=general: the v1 preset with its source hidden behind a
//     pipeline.SourceFunc, so the pipeline takes the general path (copy
//     each shard, score every entry, topk.Heap);
//   - path=default: the v1 preset itself, as a node runs it
//     (pipeline.Run on the fast path);
//   - path=floor: a loop reading only each entry's last-access time.
//
// Before timing, the default and general paths are checked to select
// exactly what the seed's approach selects.
func BenchmarkCycle(b *testing.B) {
	for _, n := range []int{1e4, 1e5, 1e6} {
		for _, k := range []int{8, 1024} {
			for _, ages := range []Ages{Random, Ascending} {
				prefix := fmt.Sprintf("n=%d/k=%d/ages=%s", n, k, ages)
				b.Run(prefix+"/path=seed", func(b *testing.B) {
					x := fixtureIndex(n, ages)
					b.ReportAllocs()
					var sel []pipeline.Candidate
					for b.Loop() {
						sel, _ = SeedCycle(x, Now, Model(0), k)
					}
					if len(sel) != k {
						b.Fatalf("selected %d, want %d", len(sel), k)
					}
				})
				b.Run(prefix+"/path=general", func(b *testing.B) {
					x := fixtureIndex(n, ages)
					cfg := cycleConfig(b, x, k)
					cfg.Sources = []pipeline.Source{pipeline.SourceFunc(
						func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] { return x.All() })}
					p := newPipeline(b, cfg)
					checkCycle(b, p, x, k)
					ctx := context.Background()
					b.ReportAllocs()
					for b.Loop() {
						p.Run(ctx)
					}
				})
				b.Run(prefix+"/path=default", func(b *testing.B) {
					x := fixtureIndex(n, ages)
					p := newPipeline(b, cycleConfig(b, x, k))
					checkCycle(b, p, x, k)
					ctx := context.Background()
					b.ReportAllocs()
					for b.Loop() {
						p.Run(ctx)
					}
				})
				b.Run(prefix+"/path=floor", func(b *testing.B) {
					x := fixtureIndex(n, ages)
					b.ReportAllocs()
					for b.Loop() {
						sink += floorScan(x)
					}
				})
			}
		}
	}
}

// checkCycle fails b unless a cycle of p selects what the seed's approach
// selects over x, and scores every entry.
func checkCycle(b *testing.B, p *pipeline.Pipeline, x index.Reader, k int) {
	b.Helper()
	o := p.Run(context.Background())
	if o.Err != nil {
		b.Fatal(o.Err)
	}
	want, scored := SeedCycle(x, Now, Model(0), k)
	if o.Scored != scored {
		b.Fatalf("cycle scored %d, seed approach %d", o.Scored, scored)
	}
	hashes := func(cs []pipeline.Candidate) []block.Hash {
		var hs []block.Hash
		for _, c := range cs {
			hs = append(hs, c.Hash)
		}
		return hs
	}
	if got, want := hashes(o.Selected), hashes(want); !slices.Equal(got, want) {
		b.Fatalf("cycle selected %d blocks that differ from the seed approach's %d", len(got), len(want))
	}
}

// slowStore answers every fetch after a fixed delay, and never holds a
// block in flat, so every cycle fetches its whole top K.
type slowStore struct{ delay time.Duration }

func (s slowStore) ContainsFlat(context.Context, string, block.Hash) bool { return false }

func (s slowStore) Materialize(ctx context.Context, _ string, _ block.Hash, m block.Meta) (int64, bool, error) {
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return int64(m.PayloadBytes), true, nil
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
}

// BenchmarkFetch is a whole cycle with K = 32 over a store that answers
// each fetch after 20 ms: the v2 preset (sequential) and v3 (parallel) with
// limits 4, 8 and 16. x-ideal is the cycle's time over the ideal
// ceil(K/limit) x delay (limit 1 for v2).
func BenchmarkFetch(b *testing.B) {
	const (
		k     = 32
		delay = 20 * time.Millisecond
	)
	x := fixtureIndex(1e4, Random)
	cases := []struct {
		preset string
		limit  int
	}{{presets.NameV2, 1}, {presets.NameV3, 4}, {presets.NameV3, 8}, {presets.NameV3, 16}}
	for _, c := range cases {
		name := fmt.Sprintf("k=%d/delay=%v/preset=%s", k, delay, c.preset)
		if c.preset == presets.NameV3 {
			name += fmt.Sprintf("/limit=%d", c.limit)
		}
		b.Run(name, func(b *testing.B) {
			o := presets.Options{
				Index: x, Store: slowStore{delay}, Model: Model(0), TopK: k,
				InstrLog: io.Discard, Clock: fixedClock,
			}
			if c.preset == presets.NameV3 {
				o.Limit = c.limit
			}
			p, err := presets.ByName(c.preset, o)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if out := p.Run(ctx); out.Fetched != k {
					b.Fatalf("fetched %d of %d (failed by %v)", out.Fetched, k, out.FailedBy)
				}
			}
			ideal := time.Duration((k+c.limit-1)/c.limit) * delay
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(ideal), "x-ideal")
		})
	}
}

// BenchmarkRequestPath times single Touch and Insert calls, the request
// path's writes, on a 1e6-entry index while default cycles (the v1 preset,
// K = 8) scan it back to back on another goroutine (cycles=on), and with
// no scan for comparison (cycles=off). It reports the latency quantiles of
// the single calls (p50-ns, p99-ns, p999-ns) and how many cycles ran per
// second meanwhile.
func BenchmarkRequestPath(b *testing.B) {
	const n = 1e6
	var (
		once sync.Once
		x    *index.Memory
		hs   []block.Hash
	)
	setup := func() {
		once.Do(func() {
			x = NewIndex(n, Random, time.Now) // its own: Touch and Insert change it
			for h := range x.All() {
				hs = append(hs, h)
			}
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
		})
	}
	for _, op := range []string{"touch", "insert"} {
		for _, cycles := range []string{"off", "on"} {
			b.Run(fmt.Sprintf("n=%d/op=%s/cycles=%s", int(n), op, cycles), func(b *testing.B) {
				setup()
				var stop atomic.Bool
				var ran atomic.Int64
				var wg sync.WaitGroup
				if cycles == "on" {
					cfg := cycleConfig(b, x, 8)
					cfg.Clock = time.Now
					p := newPipeline(b, cfg)
					wg.Go(func() {
						for !stop.Load() {
							p.Run(context.Background())
							ran.Add(1)
						}
					})
				}
				r := rand.New(rand.NewPCG(3, 4))
				lat := make([]time.Duration, 0, 1<<20)
				m := block.Meta{Seq: 1, Model: Model(0), PayloadBytes: 1 << 20}
				i := 0
				b.ReportAllocs()
				for b.Loop() {
					var h block.Hash
					if op == "touch" {
						h = hs[i%len(hs)]
					} else {
						for j := 0; j < len(h); j += 8 {
							h[j], h[j+1], h[j+2], h[j+3] = byte(r.Uint32()), byte(i), byte(i>>8), byte(i>>16)
							h[j+4], h[j+5], h[j+6], h[j+7] = byte(r.Uint32()), 0xee, byte(j), 0x11
						}
					}
					i++
					t := time.Now()
					if op == "touch" {
						x.Touch(h)
					} else {
						x.Insert(h, m)
					}
					d := time.Since(t)
					if len(lat) < cap(lat) {
						lat = append(lat, d)
					}
				}
				elapsed := b.Elapsed()
				stop.Store(true)
				wg.Wait()
				slices.Sort(lat)
				q := func(p float64) float64 { return float64(lat[int(math.Ceil(p*float64(len(lat))))-1]) }
				b.ReportMetric(q(0.50), "p50-ns")
				b.ReportMetric(q(0.99), "p99-ns")
				b.ReportMetric(q(0.999), "p999-ns")
				if cycles == "on" {
					b.ReportMetric(float64(ran.Load())/elapsed.Seconds(), "cycles/s")
				}
			})
		}
	}
}
