package bench

import (
	"context"
	"fmt"
	"io"
	"iter"
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
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
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

// benchDefault times the v1 preset's cycle over x with top k, after
// checking that it selects what the seed's approach selects.
func benchDefault(b *testing.B, x *index.Memory, k int) {
	want, scored := SeedCycle(x, Now, Model(0), k)
	benchCycle(b, cycleConfig(b, x, k), pipeline.PathPruned, want, scored)
}

// benchCycle times the cycles of a pipeline of cfg, after checking that
// one takes path and selects want, having scored scored entries.
func benchCycle(b *testing.B, cfg pipeline.Config, path pipeline.ScanPath, want []pipeline.Candidate, scored int) {
	p := newPipeline(b, cfg)
	checkCycleAgainst(b, p, path, want, scored)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p.Run(ctx)
	}
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

// rowFloorScan reads every entry's hash and metadata row (a few bytes of
// each of their cache lines) and nothing else: the least a cycle must
// read to hand every entry to a Scorer.
func rowFloorScan(x *index.Memory) int64 {
	var sum int64
	x.ScanColumns(func(c index.Columns) bool {
		for i := range c.Hashes {
			h, m := &c.Hashes[i], &c.Metas[i]
			sum += int64(h[0]) + int64(h[31]) + int64(m.Parent[0]) + int64(m.Seq) + m.LastAccessNs + int64(m.Layout[15])
		}
		return true
	})
	return sum
}

var sink int64

// readmeScorer is the README's custom scorer in ten lines, a
// pipeline.ScorerFunc over score.Recency: recently used chain heads of
// the active model first, everything else by recency.
func readmeScorer() pipeline.Scorer {
	recency := score.NewRecency(10 * time.Minute)
	activeModel := Model(0)
	return pipeline.ScorerFunc(func(now time.Time, h block.Hash, m block.Meta) float64 {
		s := recency.Score(now, h, m)
		if m.IsChainHead() && m.Model == activeModel {
			s += 1
		}
		return s
	})
}

// extraSource is a 10-block source to put after the index: five blocks
// the index holds too, proposed as just-touched chain heads of the active
// model (the index's entries win: it comes first), and five blocks only
// it proposes, as fresh as that, which enter the top K.
func extraSource(x index.Reader) pipeline.Source {
	var es []entry
	fresh := block.Meta{Seq: 0, Model: Model(0), PayloadBytes: 1 << 20, LastAccessNs: Now.UnixNano()}
	for h := range x.All() {
		if es = append(es, entry{h, fresh}); len(es) == 5 {
			break
		}
	}
	for i := range 5 {
		es = append(es, entry{block.Hash{0: 0xee, 31: byte(i)}, fresh})
	}
	return pipeline.SourceFunc(func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
		return func(yield func(block.Hash, block.Meta) bool) {
			for _, e := range es {
				if !yield(e.h, e.m) {
					return
				}
			}
		}
	})
}

type entry struct {
	h block.Hash
	m block.Meta
}

// BenchmarkCycle is the front half of a cycle (snapshot, score, select)
// over an index.Memory of N entries, on these paths, run in this order so
// that each cycle runs next to the floor it is compared with:
//
//   - path=seed: the seed's run_cycle ([SeedCycle]);
//   - path=general: the v1 preset with its source hidden behind a
//     pipeline.SourceFunc, which is no pipeline.ReaderSource: the cycle
//     scores every entry as the index streams them (index.Memory.All, a
//     shard copied at a time), pipeline.PathScored;
//   - path=func-scorer: the v1 preset with the README's custom scorer, a
//     pipeline.ScorerFunc, which offers no score bound
//     (pipeline.PathScored);
//   - path=row-floor: a loop reading every entry's hash and metadata row
//     ([rowFloorScan]): the least any scorer's cycle must read;
//   - path=weighted: the v1 preset with its scorer in a score.Weighted of
//     one term, which bounds its score as that term does
//     (pipeline.PathPruned);
//   - path=extra-source: the v1 preset with a 10-block source after the
//     index ([extraSource]; pipeline.PathPruned);
//   - path=default: the v1 preset itself, as a node runs it
//     (pipeline.PathPruned);
//   - path=floor: a loop reading only each entry's last-access time.
//
// Before timing, each cycle is checked to take its path and to select
// exactly what the seed's approach selects (for func-scorer and
// extra-source, the seed's approach with their scorer and sources).
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
					want, scored := SeedCycle(x, Now, Model(0), k)
					benchCycle(b, cfg, pipeline.PathScored, want, scored)
				})
				b.Run(prefix+"/path=func-scorer", func(b *testing.B) {
					x := fixtureIndex(n, ages)
					cfg := cycleConfig(b, x, k)
					cfg.Scorer = readmeScorer()
					want, scored := referenceCycle(cfg, k)
					benchCycle(b, cfg, pipeline.PathScored, want, scored)
				})
				b.Run(prefix+"/path=row-floor", func(b *testing.B) {
					x := fixtureIndex(n, ages)
					b.ReportAllocs()
					for b.Loop() {
						sink += rowFloorScan(x)
					}
				})
				b.Run(prefix+"/path=weighted", func(b *testing.B) {
					x := fixtureIndex(n, ages)
					cfg := cycleConfig(b, x, k)
					cfg.Scorer = score.Weighted{{Weight: 1, Scorer: cfg.Scorer}}
					want, scored := SeedCycle(x, Now, Model(0), k)
					benchCycle(b, cfg, pipeline.PathPruned, want, scored)
				})
				b.Run(prefix+"/path=extra-source", func(b *testing.B) {
					x := fixtureIndex(n, ages)
					cfg := cycleConfig(b, x, k)
					cfg.Sources = append(cfg.Sources, extraSource(x))
					want, scored := referenceCycle(cfg, k)
					benchCycle(b, cfg, pipeline.PathPruned, want, scored)
				})
				b.Run(prefix+"/path=default", func(b *testing.B) { benchDefault(b, fixtureIndex(n, ages), k) })
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

// BenchmarkScoredPath measures the choice behind the scored path (a
// scorer that offers no bound) at N = 1e6, K = 8, random ages, with the
// README's scorer ([readmeScorer]):
//
//   - where=copy: the cycle as it runs (pipeline.PathScored on an
//     index.Memory): each shard's rows copied out under the shard's lock
//     and scored once the lock is released;
//   - where=stream: the same cycle over the index's All (the index
//     behind a plain index.Reader), which copies a shard at a time and
//     yields outside the lock, taken 256 entries at a time;
//   - where=in-place: the design not taken, scoring each row in place
//     under the shard's read lock ([inPlaceCycle]), which deadlocks a
//     scorer that reads the index once a writer queues on the shard;
//   - where=row-floor: [rowFloorScan].
func BenchmarkScoredPath(b *testing.B) {
	const n, k = 1_000_000, 8
	prefix := fmt.Sprintf("n=%d/k=%d/ages=%s", n, k, Random)
	x := fixtureIndex(n, Random)
	for _, where := range []string{"copy", "stream"} {
		b.Run(prefix+"/where="+where, func(b *testing.B) {
			cfg := cycleConfig(b, x, k)
			cfg.Scorer = readmeScorer()
			if where == "stream" {
				cfg.Sources = []pipeline.Source{snapshot.NewIndex(plainReader{x})}
			}
			want, scored := referenceCycle(cfg, k)
			benchCycle(b, cfg, pipeline.PathScored, want, scored)
		})
	}
	b.Run(prefix+"/where=in-place", func(b *testing.B) {
		cfg := cycleConfig(b, x, k)
		cfg.Scorer = readmeScorer()
		sc := cfg.Scorer
		want, _ := referenceCycle(cfg, k)
		got := inPlaceCycle(x, sc, k, nil)
		if !slices.Equal(got, want) {
			b.Fatal("the in-place scan selects other blocks than the reference")
		}
		b.ReportAllocs()
		for b.Loop() {
			got = inPlaceCycle(x, sc, k, got)
		}
	})
	b.Run(prefix+"/where=row-floor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink += rowFloorScan(x)
		}
	})
}

// plainReader hides every method of an index but index.Reader's.
type plainReader struct{ index.Reader }

// inPlaceCycle selects the k best entries of x by sc as the scored path
// does, but scoring each row in place, under its shard's read lock.
func inPlaceCycle(x *index.Memory, sc pipeline.Scorer, k int, dst []pipeline.Candidate) []pipeline.Candidate {
	var th pipeline.Threshold
	return topk.Heap{}.SelectThreshold(dst, k, &th, func(yield func(pipeline.Candidate) bool) {
		x.ScanColumns(func(c index.Columns) bool {
			for i := range c.Hashes {
				s := sc.Score(Now, c.Hashes[i], c.Metas[i])
				if th.Full && (s < th.Score || !th.Beats(s, c.Hashes[i])) {
					continue
				}
				if !yield(pipeline.Candidate{Hash: c.Hashes[i], Meta: c.Metas[i], Score: s}) {
					return false
				}
			}
			return true
		})
	})
}

// checkCycleAgainst fails b unless a cycle of p takes path and selects the
// blocks of want, in order, having scored scored entries.
func checkCycleAgainst(b *testing.B, p *pipeline.Pipeline, path pipeline.ScanPath, want []pipeline.Candidate, scored int) {
	b.Helper()
	o := p.Run(context.Background())
	if o.Err != nil {
		b.Fatal(o.Err)
	}
	if o.Path != path {
		b.Fatalf("cycle took path %q (%s), want %q", o.Path, o.PathReason, path)
	}
	if o.Scored != scored {
		b.Fatalf("cycle scored %d, the reference %d", o.Scored, scored)
	}
	hashes := func(cs []pipeline.Candidate) []block.Hash {
		var hs []block.Hash
		for _, c := range cs {
			hs = append(hs, c.Hash)
		}
		return hs
	}
	if got, want := hashes(o.Selected), hashes(want); !slices.Equal(got, want) {
		b.Fatalf("cycle selected %d blocks that differ from the reference's %d", len(got), len(want))
	}
}

// referenceCycle is the seed's approach with cfg's sources and scorer:
// collect every candidate (a block proposed twice is taken from the first
// source), score them all, sort them (pipeline.Compare) and keep k. It
// returns the selection and the number scored.
func referenceCycle(cfg pipeline.Config, k int) ([]pipeline.Candidate, int) {
	seen := map[block.Hash]bool{}
	var all []pipeline.Candidate
	cy := &pipeline.Cycle{Now: Now, TopK: k}
	for _, src := range cfg.Sources {
		for h, m := range src.Candidates(context.Background(), cy) {
			if !seen[h] {
				seen[h] = true
				all = append(all, pipeline.Candidate{Hash: h, Meta: m, Score: cfg.Scorer.Score(Now, h, m)})
			}
		}
	}
	slices.SortFunc(all, func(a, b pipeline.Candidate) int { return pipeline.Compare(&a, &b) })
	return all[:min(k, len(all))], len(all)
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
			p, err := presets.New(c.preset, o)
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
				lat := timeRequests(b, x, hs, op, 4)
				elapsed := b.Elapsed()
				stop.Store(true)
				wg.Wait()
				reportLatency(b, lat, "p50-ns", "p99-ns", "p999-ns")
				if cycles == "on" {
					b.ReportMetric(float64(ran.Load())/elapsed.Seconds(), "cycles/s")
				}
			})
		}
	}
}
