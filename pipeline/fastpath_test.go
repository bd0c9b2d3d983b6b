package pipeline_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"log/slog"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// The scan's paths (fastpath.go, scan.go) must return exactly what a
// naive reference returns: collect every source's entries (the first
// source wins), score them all, sort, keep K. These tests run every path
// on the same index, with every scorer composition and extra sources, and
// compare; Outcome.Path tells which path ran.

var (
	_ pipeline.ReaderSource      = (*snapshot.Index)(nil)
	_ pipeline.ColumnScanner     = (*index.Memory)(nil)
	_ pipeline.ShardScanner      = (*index.Memory)(nil)
	_ pipeline.ZoneScanner       = (*index.Memory)(nil)
	_ pipeline.Getter            = (*index.Memory)(nil)
	_ pipeline.ScoreBounder      = (*score.RFC0008)(nil)
	_ pipeline.ScoreBounder      = (*score.Recency)(nil)
	_ pipeline.ScoreBounder      = score.Weighted(nil)
	_ pipeline.ThresholdSelector = topk.Heap{}
	_ pipeline.ThresholdSelector = topk.Quickselect{}
)

var fpNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// fpIndex is an index.Memory that counts the calls of All and Get, and the
// entries whose columns a zoned scan hands out; its other column scans are
// promoted.
type fpIndex struct {
	*index.Memory
	alls, gets, read atomic.Int64
}

func (x *fpIndex) ScanColumnsZoned(skip, skipRun func(int, index.Bounds) bool, f func(index.Columns) bool) {
	x.Memory.ScanColumnsZoned(skip, skipRun, func(c index.Columns) bool {
		x.read.Add(int64(c.Len()))
		return f(c)
	})
}

func (x *fpIndex) All() iter.Seq2[block.Hash, block.Meta] {
	x.alls.Add(1)
	return x.Memory.All()
}

func (x *fpIndex) Get(h block.Hash) (block.Meta, bool) {
	x.gets.Add(1)
	return x.Memory.Get(h)
}

// fpPlain hides every method but Reader's: a custom index, streamed by
// All; several sources beside it are deduplicated by remembering hashes.
type fpPlain struct{ index.Reader }

// fpGetter is a custom index that can look an entry up, but has no
// columns: streamed by All, other sources deduplicated by lookup.
type fpGetter struct{ x *fpIndex }

func (g fpGetter) All() iter.Seq2[block.Hash, block.Meta] { return g.x.All() }
func (g fpGetter) Len() int                               { return g.x.Len() }
func (g fpGetter) Get(h block.Hash) (block.Meta, bool)    { return g.x.Get(h) }

var fpActive = block.ModelDigest{0: 0xac}

// fpModel maps a small number to a model: 0 the zero digest, 1 the active
// one, others a stranger.
func fpModel(v byte) block.ModelDigest {
	switch v % 3 {
	case 0:
		return block.ModelDigest{}
	case 1:
		return fpActive
	}
	return block.ModelDigest{0: 0x57}
}

// fpEntries decodes fuzz input into index entries, 4 bytes each: hash
// byte, age (256 values, so scores tie), seq, model. Hashes
// from one byte repeat; the index keeps the last.
func fpEntries(data []byte) iter.Seq2[block.Hash, block.Meta] {
	return func(yield func(block.Hash, block.Meta) bool) {
		for i := 0; i+4 <= len(data); i += 4 {
			var h block.Hash
			h[0] = data[i]
			binary.BigEndian.PutUint16(h[30:], uint16(i/4)%uint16(1+data[i]%5))
			// 256 ages, 5 s apart over 21 minutes, some in the future.
			age := int64(data[i+1])*int64(5*time.Second) - int64(time.Minute)
			m := block.Meta{
				Seq:          uint32(data[i+2] % 3),
				LastAccessNs: fpNow.UnixNano() - age,
				Model:        fpModel(data[i+3]),
				PayloadBytes: uint64(i),
			}
			if !yield(h, m) {
				return
			}
		}
	}
}

// fpExtras returns the entries of a source beside the index, from the
// same data: every third entry with whose remainder (of 6) is in picks,
// half of them with a hash the index may hold, half with a hash of their
// own, all with other metadata than the index's (7 s fresher, another
// chain position), so which source wins shows in the scores.
func fpExtras(data []byte, picks ...int) []fpEntry {
	var es []fpEntry
	j := 0
	for h, m := range fpEntries(data) {
		if slices.Contains(picks, j%6) {
			if j%4 >= 2 {
				h[1] = 0xee
			}
			m.LastAccessNs += int64(7 * time.Second)
			m.Seq = (m.Seq + 1) % 3
			es = append(es, fpEntry{h, m})
		}
		j++
	}
	return es
}

type fpEntry struct {
	h block.Hash
	m block.Meta
}

func fpSource(es []fpEntry) pipeline.Source {
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

// fpScorer returns a scorer chosen by v: the defaults (with or without an
// active model), odd weights, a short half-life, a plain Recency.
func fpScorer(v byte) pipeline.ScoreBounder {
	s := score.NewRFC0008(fpActive)
	switch v % 7 {
	case 1:
		s.Active = block.ModelDigest{} // no model bonus for anyone
	case 2:
		s.Chain, s.Model = -0.4, 0.7
	case 3:
		s.Recency, s.HalfLife = 2.5, 7*time.Second
	case 4:
		s.Recency = 0 // bonuses only: every block ties with its class
	case 5:
		s.Chain = math.NaN() // no pruning; NaN scores rank last
	case 6:
		return score.NewRecency(30 * time.Second)
	}
	return s
}

// sameScore wraps a scorer without changing its score, and says so with
// Unwrap: it keeps the wrapped scorer's bound.
type sameScore struct {
	pipeline.Scorer
	calls *atomic.Int64
}

func (s sameScore) Score(now time.Time, h block.Hash, m block.Meta) float64 {
	s.calls.Add(1)
	return s.Scorer.Score(now, h, m)
}

func (s sameScore) Unwrap() pipeline.Scorer { return s.Scorer }

// fpCompose builds on s a composition chosen by v: s itself; score.Weighted
// of one term, of two, with zero weights beside one positive; s behind an
// Unwrap wrapper; and compositions that offer no bound: s as a
// ScorerFunc, a Weighted with such a term, a Weighted with a negative
// weight.
func fpCompose(s pipeline.ScoreBounder, v byte) pipeline.Scorer {
	plain := pipeline.ScorerFunc(s.Score)
	switch v % 8 {
	case 1:
		return score.Weighted{{Weight: 0.75, Scorer: s}}
	case 2:
		return score.Weighted{{Weight: 1, Scorer: s}, {Weight: 0.5, Scorer: score.NewRecency(45 * time.Second)}}
	case 3:
		return sameScore{s, new(atomic.Int64)}
	case 4:
		return plain
	case 5:
		return score.Weighted{{Weight: 1, Scorer: s}, {Weight: 1, Scorer: plain}}
	case 6:
		return score.Weighted{{Weight: -1, Scorer: s}}
	case 7:
		return score.Weighted{{Weight: 0, Scorer: score.NewRecency(0)}, {Weight: 2, Scorer: s}, {Weight: 0, Scorer: s}}
	}
	return s
}

func fpConfig(src pipeline.Source, s pipeline.Scorer, sel pipeline.Selector, k int) pipeline.Config {
	return pipeline.Config{
		TopK:     k,
		Sources:  []pipeline.Source{src},
		Scorer:   s,
		Selector: sel,
		Clock:    func() time.Time { return fpNow },
	}
}

func fpRun(t *testing.T, cfg pipeline.Config) *pipeline.Outcome {
	t.Helper()
	p, err := pipeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := p.Run(context.Background())
	if o.Err != nil {
		t.Fatalf("cycle failed: %v", o.Err)
	}
	return o
}

// fpReference is the naive cycle over cfg's sources and scorer: every
// distinct block (the first source wins), scored, sorted, truncated.
func fpReference(cfg pipeline.Config) *pipeline.Outcome {
	seen := map[block.Hash]bool{}
	var all []pipeline.Candidate
	for _, src := range cfg.Sources {
		for h, m := range src.Candidates(context.Background(), &pipeline.Cycle{Now: fpNow}) {
			if !seen[h] {
				seen[h] = true
				all = append(all, pipeline.Candidate{Hash: h, Meta: m, Score: cfg.Scorer.Score(fpNow, h, m)})
			}
		}
	}
	slices.SortFunc(all, func(a, b pipeline.Candidate) int { return pipeline.Compare(&a, &b) })
	return &pipeline.Outcome{Selected: all[:min(cfg.TopK, len(all))], Scored: len(all)}
}

// fpCompare compares the selections and counts of two outcomes; scores
// compare bit for bit (NaN equal to NaN).
func fpCompare(t *testing.T, name string, want, got *pipeline.Outcome) {
	t.Helper()
	same := func(a, b pipeline.Candidate) bool {
		return a.Hash == b.Hash && a.Meta == b.Meta && (a.Score == b.Score || math.IsNaN(a.Score) && math.IsNaN(b.Score))
	}
	// cmp.Diff only to report a difference: it is slow on long selections.
	if slices.EqualFunc(want.Selected, got.Selected, same) {
	} else if diff := cmp.Diff(want.Selected, got.Selected, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s: Selected mismatch (-reference +got):\n%s", name, diff)
	}
	if want.Scored != got.Scored {
		t.Errorf("%s: Scored %d, reference %d", name, got.Scored, want.Scored)
	}
}

// fpIndexOf returns an index of the entries of data.
func fpIndexOf(data []byte) *fpIndex {
	x := &fpIndex{Memory: index.NewMemory(nil)}
	x.BulkLoad(fpEntries(data))
	return x
}

// checkFastPath runs one cycle on each path over x, the index of the
// entries of data, with the scorer composition and the extra sources
// compose chooses, and compares each with the reference.
func checkFastPath(t *testing.T, x *fpIndex, data []byte, k int, scorer, selector, compose byte) {
	t.Helper()
	s := fpCompose(fpScorer(scorer), compose)
	var sel pipeline.Selector = topk.Heap{}
	if selector%2 == 1 {
		sel = topk.Quickselect{}
	}
	// compose>>3: no other source, one after the index, one before it,
	// or one on either side.
	var before, after []pipeline.Source
	switch compose >> 3 % 4 {
	case 1:
		after = append(after, fpSource(fpExtras(data, 0, 3)))
	case 2:
		before = append(before, fpSource(fpExtras(data, 0, 3)))
	case 3:
		before = append(before, fpSource(fpExtras(data, 0)))
		after = append(after, fpSource(fpExtras(data, 0, 3)))
	}
	with := func(idx index.Reader, sel pipeline.Selector) pipeline.Config {
		cfg := fpConfig(snapshot.NewIndex(idx), s, sel, k)
		cfg.Sources = slices.Concat(before, cfg.Sources, after)
		return cfg
	}
	want := fpReference(with(x, sel))
	pruned := pipeline.PathScored
	if _, ok := pipeline.AsScoreBounder(s); ok {
		pruned = pipeline.PathPruned
	}
	for _, tc := range []struct {
		name string
		cfg  pipeline.Config
		path pipeline.ScanPath
	}{
		{"index.Memory", with(x, sel), pruned},
		{"index with Get, no columns", with(fpGetter{x}, sel), pipeline.PathScored},
		{"index with neither", with(fpPlain{x}, sel), pipeline.PathScored},
		{"no threshold", with(x, pipeline.SelectorFunc(sel.Select)), pipeline.PathGeneral},
	} {
		got := fpRun(t, tc.cfg)
		if got.Path != tc.path {
			t.Fatalf("%s: path %q (%s), want %q", tc.name, got.Path, got.PathReason, tc.path)
		}
		fpCompare(t, tc.name, want, got)
	}
	if n := min(k, want.Scored); len(want.Selected) != n {
		t.Errorf("reference selected %d, want %d", len(want.Selected), n)
	}
	if pruned == pipeline.PathPruned {
		checkWarmStart(t, data, func(idx index.Reader) pipeline.Config { return with(idx, sel) })
	}
}

// checkWarmStart runs cycles of one pipeline over an index of data's
// entries that changes between them: the pruned path offers each cycle's
// selection first to the next (the warm start), and every cycle must
// still select what the reference selects over the index as it is then,
// with the same count. Between cycles the index loses some of the last
// selection, has some of it written with other metadata (older, another
// chain position), and gains entries.
func checkWarmStart(t *testing.T, data []byte, with func(index.Reader) pipeline.Config) {
	t.Helper()
	x := fpIndexOf(data)
	p, err := pipeline.New(with(x))
	if err != nil {
		t.Fatal(err)
	}
	for cycle := range 4 {
		want := fpReference(with(x))
		got := p.Run(context.Background())
		if got.Err != nil {
			t.Fatalf("warm start, cycle %d: %v", cycle, got.Err)
		}
		if got.Path != pipeline.PathPruned {
			t.Fatalf("warm start, cycle %d: path %q (%s), want pruned", cycle, got.Path, got.PathReason)
		}
		fpCompare(t, fmt.Sprintf("warm start, cycle %d", cycle), want, got)
		for i, c := range got.Selected {
			switch (i + cycle) % 3 {
			case 0:
				x.Remove(c.Hash)
			case 1:
				m := c.Meta
				m.LastAccessNs -= int64(time.Duration(i+1) * time.Minute)
				m.Seq = (m.Seq + 1) % 3
				x.Insert(c.Hash, m)
			}
		}
		for i := 0; i+4 <= len(data) && i < 64; i += 4 {
			var h block.Hash
			h[0], h[1], h[2] = data[i], byte(cycle+1), byte(i)
			x.Insert(h, block.Meta{Seq: uint32(data[i+2] % 3), LastAccessNs: fpNow.UnixNano() - int64(data[i+1])*int64(7*time.Second), Model: fpModel(data[i+3])})
		}
	}
}

// FuzzFastPath proves on arbitrary indexes (ties in score, equal hashes
// overwritten, the active model zero or set, odd weights, NaN), scorer
// compositions (score.Weighted, Unwrap wrappers, scorers that offer no
// bound) and extra sources on either side of the index, that every path
// selects exactly what the naive reference selects, in the same order with
// the same scores, and counts the same entries as scored.
func FuzzFastPath(f *testing.F) {
	f.Add([]byte("\x01\x00\x00\x01\x02\x00\x00\x01\x03\x10\x01\x02"), uint8(2), uint8(0), uint8(0), uint8(0))
	f.Add([]byte("\x01\x00\x00\x01\x02\x00\x00\x01\x03\x10\x01\x02\x01\x02\x00\x01"), uint8(2), uint8(0), uint8(0), uint8(8+1))
	f.Add([]byte("\x01\x00\x00\x01\x02\x00\x00\x01\x03\x10\x01\x02\x01\x02\x00\x01"), uint8(3), uint8(2), uint8(1), uint8(24+2))
	f.Fuzz(func(t *testing.T, data []byte, k, scorer, selector, compose uint8) {
		checkFastPath(t, fpIndexOf(data), data, int(k%40)+1, scorer, selector, compose)
	})
}

// TestFastPathMatchesGeneralPath runs the fuzz property over larger random
// indexes than the corpus holds, every scorer, both selectors, every
// composition and every layout of extra sources.
func TestFastPathMatchesGeneralPath(t *testing.T) {
	var seed uint64 = 1
	next := func() byte {
		seed = seed*6364136223846793005 + 1442695040888963407
		return byte(seed >> 56)
	}
	for _, n := range []int{0, 1, 7, 300, 5000} {
		data := make([]byte, 4*n)
		for i := range data {
			data[i] = next()
		}
		x := fpIndexOf(data)
		for ki, k := range []int{1, 8, 64, 1024} {
			for scorer := range byte(7) {
				for selector := range byte(2) {
					// Of the 32 compositions and layouts of extra
					// sources, all at up to 7 entries, a quarter at 300
					// and two at 5000 for each (k, scorer, selector):
					// at each size, every one for some.
					pick := scorer*3 + selector*5 + byte(ki)
					for c := range byte(32) {
						if n <= 7 || n == 300 && c%4 == pick%4 || c == pick%32 || c == (pick+16)%32 {
							checkFastPath(t, x, data, k, scorer, selector, c)
						}
					}
				}
			}
		}
	}
}

// TestScanPathReasons: each stage that lacks its optional interface sends
// the cycle down a slower path, named in Outcome.Path with the first
// missing piece in Outcome.PathReason, and the cycle still selects the
// same.
func TestScanPathReasons(t *testing.T) {
	data := make([]byte, 4*500)
	for i := range data {
		data[i] = byte(i*37 + i/7)
	}
	x := &fpIndex{Memory: index.NewMemory(nil)}
	x.BulkLoad(fpEntries(data))
	s := score.NewRFC0008(fpActive)
	want := fpRun(t, fpConfig(snapshot.NewIndex(x), s, topk.Heap{}, 8))
	if want.Path != pipeline.PathPruned || want.PathReason != "" || x.alls.Load() != 0 {
		t.Fatalf("path %q (%q), All called %d times: want the pruned path with every stage supporting it", want.Path, want.PathReason, x.alls.Load())
	}
	plain := pipeline.FilterFunc(func(context.Context, *pipeline.Cycle, pipeline.Candidate) string { return "" })
	cases := []struct {
		name   string
		edit   func(*pipeline.Config)
		path   pipeline.ScanPath
		reason string
	}{
		{"custom source", func(c *pipeline.Config) {
			c.Sources = []pipeline.Source{pipeline.SourceFunc(func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
				return x.All()
			})}
		}, pipeline.PathScored, "Sources[0] pipeline.SourceFunc is not a pipeline.ReaderSource"},
		{"custom sources", func(c *pipeline.Config) {
			src := pipeline.SourceFunc(func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] { return x.All() })
			c.Sources = []pipeline.Source{src, src}
		}, pipeline.PathScored, "none of the 2 Sources is a pipeline.ReaderSource"},
		{"custom index", func(c *pipeline.Config) { c.Sources = []pipeline.Source{snapshot.NewIndex(fpPlain{x})} },
			pipeline.PathScored, "Sources[0]'s index pipeline_test.fpPlain is not a pipeline.ColumnScanner"},
		{"two sources, no Get", func(c *pipeline.Config) {
			c.Sources = []pipeline.Source{snapshot.NewIndex(fpPlain{x}), snapshot.NewIndex(x)}
		}, pipeline.PathScored, "Sources[0]'s index pipeline_test.fpPlain is not a pipeline.Getter, which the other sources are deduplicated against"},
		{"two sources", func(c *pipeline.Config) { c.Sources = append(c.Sources, snapshot.NewIndex(x)) }, pipeline.PathPruned, ""},
		{"custom scorer", func(c *pipeline.Config) { c.Scorer = pipeline.ScorerFunc(s.Score) },
			pipeline.PathScored, "Scorer pipeline.ScorerFunc is not a pipeline.ScoreBounder"},
		{"wrapped scorer", func(c *pipeline.Config) { c.Scorer = sameScore{s, new(atomic.Int64)} }, pipeline.PathPruned, ""},
		{"weighted", func(c *pipeline.Config) { c.Scorer = score.Weighted{{Weight: 1, Scorer: s}} }, pipeline.PathPruned, ""},
		{"weighted, unbounded term", func(c *pipeline.Config) {
			c.Scorer = score.Weighted{{Weight: 1, Scorer: s}, {Weight: 0, Scorer: pipeline.ScorerFunc(s.Score)}}
		}, pipeline.PathScored, "Scorer score.Weighted offers no bound (its MaxBonus is +Inf)"},
		{"custom selector", func(c *pipeline.Config) { c.Selector = topk.FullSort{} },
			pipeline.PathGeneral, "Selector topk.FullSort is not a pipeline.ThresholdSelector"},
		{"custom selector and scorer", func(c *pipeline.Config) { c.Selector, c.Scorer = topk.FullSort{}, pipeline.ScorerFunc(s.Score) },
			pipeline.PathGeneral, "Selector topk.FullSort is not a pipeline.ThresholdSelector"},
		{"pre-filter", func(c *pipeline.Config) { c.PreFilters = []pipeline.Filter{plain} },
			pipeline.PathScored, "PreFilters[0] pipeline.FilterFunc is not a pipeline.InlineFilter"},
		{"two missing", func(c *pipeline.Config) {
			c.PreFilters, c.Scorer = []pipeline.Filter{plain}, pipeline.ScorerFunc(s.Score)
		},
			pipeline.PathScored, "Scorer pipeline.ScorerFunc is not a pipeline.ScoreBounder"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fpConfig(snapshot.NewIndex(x), s, topk.Heap{}, 8)
			tc.edit(&cfg)
			got := fpRun(t, cfg)
			if got.Path != tc.path || got.PathReason != tc.reason {
				t.Errorf("Path %q, PathReason %q; want %q, %q", got.Path, got.PathReason, tc.path, tc.reason)
			}
			if len(cfg.Sources) == 2 { // the second source's entries are duplicates
				got.Scored = want.Scored
			}
			fpCompare(t, tc.name, want, got)
		})
	}
}

// TestScanPathLoggedOnce: a pipeline logs its scan path at its first
// cycle, Info when it is not the pruned path, and not again while it
// stays the same.
func TestScanPathLoggedOnce(t *testing.T) {
	x := index.NewMemory(nil)
	x.BulkLoad(fpEntries([]byte("\x01\x00\x00\x01\x02\x00\x00\x01\x03\x10\x01\x02")))
	for _, tc := range []struct {
		name   string
		scorer pipeline.Scorer
		want   string
	}{
		{"scored", pipeline.ScorerFunc(score.NewRecency(0).Score),
			`level=INFO msg="prefetch scan path" path=scored cycle=1 reason="Scorer pipeline.ScorerFunc is not a pipeline.ScoreBounder"` + "\n"},
		{"pruned", score.NewRecency(0), `level=DEBUG msg="prefetch scan path" path=pruned cycle=1` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logBuf{}
			cfg := fpConfig(snapshot.NewIndex(x), tc.scorer, topk.Heap{}, 2)
			cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{
				Level: slog.LevelDebug,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			}))
			p := mustNew(t, cfg)
			for range 3 {
				p.Run(context.Background())
			}
			if got := logs.String(); got != tc.want {
				t.Errorf("logged after 3 cycles:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestExtraSourcesCostTheirOwnSize: beside an index.Memory, another
// source's blocks are looked up in the index once each, and the index is
// scanned in place, not streamed: no hash of the index is remembered.
// The first source wins, on whichever side of the index it is.
func TestExtraSourcesCostTheirOwnSize(t *testing.T) {
	x := &fpIndex{Memory: index.NewMemory(nil)}
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := 1; i <= 5000; i++ {
			var h block.Hash
			binary.BigEndian.PutUint64(h[:], uint64(i)*0x9e3779b97f4a7c15)
			if !yield(h, block.Meta{Seq: uint32(i % 3), LastAccessNs: fpNow.UnixNano() - int64(i)*int64(time.Second)}) {
				return
			}
		}
	})
	var old block.Hash // an entry of the index, old enough to be pruned
	for h, m := range x.Memory.All() {
		if m.LastAccessNs < fpNow.UnixNano()-int64(4000*time.Second) {
			old = h
			break
		}
	}
	fresh := block.Meta{Seq: 0, LastAccessNs: fpNow.UnixNano()}
	hints := []fpEntry{{old, fresh}, {block.Hash{0: 0xee}, fresh}, {block.Hash{0: 0xee}, block.Meta{Seq: 2}}}
	s := score.NewRFC0008(fpActive)
	for _, tc := range []struct {
		name      string
		hintFirst bool
		want      []block.Hash // at the top, in hash order
	}{
		{"hints after the index", false, []block.Hash{{0: 0xee}}}, // old keeps its index entry
		{"hints before the index", true, slices.SortedFunc(slices.Values([]block.Hash{{0: 0xee}, old}), block.Hash.Compare)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fpConfig(snapshot.NewIndex(x), s, topk.Heap{}, 8)
			cfg.Sources = append(cfg.Sources, fpSource(hints))
			if tc.hintFirst {
				slices.Reverse(cfg.Sources)
			}
			alls, gets := x.alls.Load(), x.gets.Load()
			got := fpRun(t, cfg)
			if got.Path != pipeline.PathPruned {
				t.Errorf("path %q (%s), want pruned", got.Path, got.PathReason)
			}
			if n := x.alls.Load() - alls; n != 0 {
				t.Errorf("the index was streamed %d times, want scanned in place", n)
			}
			if n := x.gets.Load() - gets; n != 2 {
				t.Errorf("%d lookups in the index, want one per distinct hinted block, 2", n)
			}
			fpCompare(t, tc.name, fpReference(cfg), got)
			top := hashesOf(got.Selected[:len(tc.want)])
			slices.SortFunc(top, block.Hash.Compare)
			if !slices.Equal(top, tc.want) {
				t.Errorf("top of the selection %v, want %v", top, tc.want)
			}
		})
	}
}

// TestFastPathCanceled: a canceled cycle stops the scan and reports the
// context's error, as the general path does.
func TestFastPathCanceled(t *testing.T) {
	x := &fpIndex{Memory: index.NewMemory(nil)}
	data := make([]byte, 4*20000)
	for i := range data {
		data[i] = byte(i * 13)
	}
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := range 20000 {
			var h block.Hash
			binary.BigEndian.PutUint64(h[:], uint64(i)*0x9e3779b97f4a7c15)
			if !yield(h, block.Meta{LastAccessNs: fpNow.UnixNano() - int64(i)}) {
				return
			}
		}
	})
	p, err := pipeline.New(fpConfig(snapshot.NewIndex(x), score.NewRFC0008(fpActive), topk.Heap{}, 8))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := p.Run(ctx)
	if o.Err != context.Canceled {
		t.Errorf("Err = %v, want context.Canceled", o.Err)
	}
	if o.Scored >= x.Len() {
		t.Errorf("Scored = %d: the scan did not stop early", o.Scored)
	}
	if x.alls.Load() != 0 {
		t.Errorf("general path taken")
	}
}

// panicScorer panics on its first Score in the fast path.
type panicScorer struct{ *score.RFC0008 }

func (panicScorer) Score(time.Time, block.Hash, block.Meta) float64 { panic("scorer bug") }

// TestFastPathPanicReleasesIndex: a stage that panics inside the column
// scan fails the cycle and leaves the index usable (its lock released).
func TestFastPathPanicReleasesIndex(t *testing.T) {
	x := &fpIndex{Memory: index.NewMemory(nil)}
	h := block.Hash{1}
	x.Insert(h, block.Meta{})
	p, err := pipeline.New(fpConfig(snapshot.NewIndex(x), panicScorer{score.NewRFC0008(fpActive)}, topk.Heap{}, 8))
	if err != nil {
		t.Fatal(err)
	}
	o := p.Run(context.Background())
	var pe *pipeline.PanicError
	if pe, _ = o.Err.(*pipeline.PanicError); pe == nil || pe.Stage != "scorer" {
		t.Fatalf("Err = %v, want a PanicError from the scorer, as the general path reports", o.Err)
	}
	done := make(chan bool)
	go func() { done <- x.Touch(h) }()
	select {
	case ok := <-done:
		if !ok {
			t.Error("Touch lost the entry")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Touch blocked: the scan kept the shard locked after the panic")
	}
}

// TestThresholdBeats pins the bar's tie rule: a candidate beats the K-th
// with a higher score, or an equal score and a lower hash.
func TestThresholdBeats(t *testing.T) {
	th := pipeline.Threshold{}
	if !th.Beats(math.Inf(-1), block.Hash{0xff}) {
		t.Error("an empty threshold must let everything in")
	}
	th = pipeline.Threshold{Full: true, Score: 1, Hash: block.Hash{5}}
	for _, tc := range []struct {
		s    float64
		h    byte
		want bool
	}{
		{1.5, 9, true}, {1, 4, true}, {1, 5, false}, {1, 6, false}, {0.5, 0, false}, {math.NaN(), 0, false},
	} {
		if got := th.Beats(tc.s, block.Hash{tc.h}); got != tc.want {
			t.Errorf("Beats(%v, %d) = %v, want %v", tc.s, tc.h, got, tc.want)
		}
	}
}

// TestScoredPathScorerMayReadTheIndex: a plain scorer runs outside the
// index's locks, so one that reads the index (a block's parent, say)
// while writers touch it cannot deadlock, as it could if it ran under a
// shard's read lock with a writer queued on that shard.
func TestScoredPathScorerMayReadTheIndex(t *testing.T) {
	x := index.NewMemory(func() time.Time { return fpNow })
	var hs []block.Hash
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := range 20000 {
			var h block.Hash
			binary.BigEndian.PutUint64(h[:], uint64(i)*0x9e3779b97f4a7c15)
			hs = append(hs, h)
			if !yield(h, block.Meta{Seq: uint32(i % 3), LastAccessNs: fpNow.UnixNano() - int64(i)}) {
				return
			}
		}
	})
	recency := score.NewRecency(0)
	reads := pipeline.ScorerFunc(func(now time.Time, h block.Hash, m block.Meta) float64 {
		if got, ok := x.Get(h); ok { // the block's own shard
			m = got
		}
		return recency.Score(now, h, m)
	})
	p := mustNew(t, fpConfig(snapshot.NewIndex(x), reads, topk.Heap{}, 8))
	stop := make(chan struct{})
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				x.Touch(hs[i*7919%len(hs)])
			}
		}
	}()
	done := make(chan *pipeline.Outcome)
	go func() {
		var o *pipeline.Outcome
		for range 5 {
			o = p.Run(context.Background())
		}
		done <- o
	}()
	select {
	case o := <-done:
		if o.Err != nil || o.Path != pipeline.PathScored || o.Scored != len(hs) {
			t.Errorf("Err %v, Path %q, Scored %d; want a clean scored cycle over %d entries", o.Err, o.Path, o.Scored, len(hs))
		}
	case <-time.After(time.Minute):
		t.Fatal("cycles with a scorer that reads the index did not finish: deadlocked with the writer?")
	}
	close(stop)
	<-writing
}

// TestScoredPathPanicReleasesIndex: a plain scorer that panics fails the
// cycle with a PanicError from the scorer and leaves the index unlocked.
func TestScoredPathPanicReleasesIndex(t *testing.T) {
	x := index.NewMemory(nil)
	h := block.Hash{1}
	x.Insert(h, block.Meta{})
	boom := pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { panic("scorer bug") })
	o := mustNew(t, fpConfig(snapshot.NewIndex(x), boom, topk.Heap{}, 8)).Run(context.Background())
	if pe, _ := o.Err.(*pipeline.PanicError); o.Path != pipeline.PathScored || pe == nil || pe.Stage != pipeline.StageScorer {
		t.Fatalf("Path %q, Err = %v; want a PanicError from the scorer on the scored path", o.Path, o.Err)
	}
	done := make(chan bool)
	go func() { done <- x.Touch(h) }()
	select {
	case ok := <-done:
		if !ok {
			t.Error("Touch lost the entry")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Touch blocked: the scan kept the shard locked after the panic")
	}
}

// TestPrunedPathPassesOverZones: at K = 8 the pruned path reads the
// columns of few of the index's entries, passing over the shards and runs
// whose last-access bounds cannot reach the K-th, and still counts every
// entry as ranked.
func TestPrunedPathPassesOverZones(t *testing.T) {
	const n = 50000
	x := &fpIndex{Memory: index.NewMemory(nil)}
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := range n {
			var h block.Hash
			binary.BigEndian.PutUint64(h[:], uint64(i)*0x9e3779b97f4a7c15)
			if !yield(h, block.Meta{Seq: uint32(i % 4), LastAccessNs: fpNow.UnixNano() - int64(i)*int64(time.Second)}) {
				return
			}
		}
	})
	o := fpRun(t, fpConfig(snapshot.NewIndex(x), score.NewRFC0008(fpActive), topk.Heap{}, 8))
	if o.Path != pipeline.PathPruned || o.Scored != n {
		t.Fatalf("Path %q, Scored %d; want the pruned path over %d entries", o.Path, o.Scored, n)
	}
	if read := x.read.Load(); read > n/10 {
		t.Errorf("the scan read the columns of %d of %d entries, want few: the zones that cannot reach the K-th passed over", read, n)
	}
	t.Logf("read the columns of %d of %d entries", x.read.Load(), n)
}
