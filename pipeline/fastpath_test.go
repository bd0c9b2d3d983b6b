package pipeline_test

import (
	"context"
	"encoding/binary"
	"iter"
	"math"
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

// The fast path (fastpath.go) must return exactly what the general path
// returns. These tests run both on the same index and compare; a counting
// index tells which path ran.

var (
	_ pipeline.ReaderSource      = (*snapshot.Index)(nil)
	_ pipeline.ColumnScanner     = (*index.Memory)(nil)
	_ pipeline.ScoreBounder      = (*score.RFC0008)(nil)
	_ pipeline.ScoreBounder      = (*score.Recency)(nil)
	_ pipeline.ThresholdSelector = topk.Heap{}
	_ pipeline.ThresholdSelector = topk.Quickselect{}
)

var fpNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// fpIndex is an index.Memory that counts the general path's All calls;
// ScanColumns is promoted, so the fast path still finds it.
type fpIndex struct {
	*index.Memory
	alls atomic.Int64
}

func (x *fpIndex) All() iter.Seq2[block.Hash, block.Meta] {
	x.alls.Add(1)
	return x.Memory.All()
}

// fpPlain hides every method but Reader's: a custom index.
type fpPlain struct{ index.Reader }

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

// fpCompare compares the selections and counts of two outcomes; scores
// compare bit for bit (NaN equal to NaN).
func fpCompare(t *testing.T, want, got *pipeline.Outcome) {
	t.Helper()
	if diff := cmp.Diff(want.Selected, got.Selected, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("Selected mismatch (-general +fast):\n%s", diff)
	}
	if want.Scored != got.Scored {
		t.Errorf("Scored: general %d, fast %d", want.Scored, got.Scored)
	}
}

// checkFastPath runs one cycle on each path over the entries of data and
// compares them.
func checkFastPath(t *testing.T, data []byte, k int, scorer, selector byte) {
	x := &fpIndex{Memory: index.NewMemory(nil)}
	x.BulkLoad(fpEntries(data))
	s := fpScorer(scorer)
	var sel pipeline.Selector = topk.Heap{}
	if selector%2 == 1 {
		sel = topk.Quickselect{}
	}
	general := fpRun(t, fpConfig(snapshot.NewIndex(fpPlain{x}), s, sel, k))
	if x.alls.Load() != 1 {
		t.Fatalf("general path: All called %d times, want 1", x.alls.Load())
	}
	fast := fpRun(t, fpConfig(snapshot.NewIndex(x), s, sel, k))
	if x.alls.Load() != 1 {
		t.Fatalf("fast path not taken: All called again")
	}
	fpCompare(t, general, fast)
	if want := min(k, x.Len()); len(fast.Selected) != want {
		t.Errorf("selected %d, want %d", len(fast.Selected), want)
	}
}

// FuzzFastPath proves on arbitrary indexes (ties in score, equal hashes
// overwritten, the active model zero or set, odd weights, NaN) that the
// fast path selects exactly what the general path selects, in the same
// order with the same scores, and counts the same entries as scored.
func FuzzFastPath(f *testing.F) {
	f.Add([]byte("\x01\x00\x00\x01\x02\x00\x00\x01\x03\x10\x01\x02"), uint8(2), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, k, scorer, selector uint8) {
		checkFastPath(t, data, int(k%40)+1, scorer, selector)
	})
}

// TestFastPathMatchesGeneralPath runs the fuzz property over larger random
// indexes than the corpus holds, every scorer and both selectors.
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
		for _, k := range []int{1, 8, 64, 1024} {
			for scorer := range byte(7) {
				for selector := range byte(2) {
					checkFastPath(t, data, k, scorer, selector)
				}
			}
		}
	}
}

// TestFastPathOnlyWhenEveryStageSupportsIt: any stage that lacks its
// optional interface sends the cycle down the general path, which still
// selects the same.
func TestFastPathOnlyWhenEveryStageSupportsIt(t *testing.T) {
	data := make([]byte, 4*500)
	for i := range data {
		data[i] = byte(i*37 + i/7)
	}
	x := &fpIndex{Memory: index.NewMemory(nil)}
	x.BulkLoad(fpEntries(data))
	s := score.NewRFC0008(fpActive)
	want := fpRun(t, fpConfig(snapshot.NewIndex(x), s, topk.Heap{}, 8))
	if x.alls.Load() != 0 {
		t.Fatalf("fast path not taken with every stage supporting it")
	}
	cases := []struct {
		name string
		edit func(*pipeline.Config)
	}{
		{"custom source", func(c *pipeline.Config) {
			c.Sources = []pipeline.Source{pipeline.SourceFunc(func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
				return x.All()
			})}
		}},
		{"custom index", func(c *pipeline.Config) { c.Sources = []pipeline.Source{snapshot.NewIndex(fpPlain{x})} }},
		{"two sources", func(c *pipeline.Config) { c.Sources = append(c.Sources, snapshot.NewIndex(x)) }},
		{"custom scorer", func(c *pipeline.Config) { c.Scorer = pipeline.ScorerFunc(s.Score) }},
		{"custom selector", func(c *pipeline.Config) { c.Selector = topk.FullSort{} }},
		{"pre-filter", func(c *pipeline.Config) {
			c.PreFilters = []pipeline.Filter{pipeline.FilterFunc(func(context.Context, *pipeline.Cycle, pipeline.Candidate) string { return "" })}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := x.alls.Load()
			cfg := fpConfig(snapshot.NewIndex(x), s, topk.Heap{}, 8)
			tc.edit(&cfg)
			got := fpRun(t, cfg)
			if x.alls.Load() == before {
				t.Errorf("fast path taken, want the general path")
			}
			if tc.name == "two sources" { // the second source's entries are duplicates
				got.Scored = want.Scored
			}
			fpCompare(t, want, got)
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
