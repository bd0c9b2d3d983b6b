package score_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/score"
)

var (
	_ pipeline.ScoreBounder = (*score.RFC0008)(nil)
	_ pipeline.ScoreBounder = (*score.Recency)(nil)
	_ pipeline.ScoreBounder = score.Weighted(nil)
)

var boundNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

var boundActive = block.ModelDigest{0: 0xac}

func boundMeta(seq uint32, model byte, last int64) block.Meta {
	m := block.Meta{Seq: seq, LastAccessNs: last}
	switch model % 3 {
	case 1:
		m.Model = boundActive
	case 2:
		m.Model = block.ModelDigest{0: 0x57}
	}
	return m
}

// checkBound checks the ScoreBounder contract for s on block m against
// bar: if m was last accessed before the cut for its own bonus, or for the
// largest bonus, it must score below bar (or NaN); and its bonus is at most
// the largest.
func checkBound(t *testing.T, s pipeline.ScoreBounder, m block.Meta, bar float64) {
	t.Helper()
	got := s.Score(boundNow, block.Hash{}, m)
	b := s.Bonus(&m)
	maxb := s.MaxBonus(m.Seq == 0)
	if b > maxb && !math.IsNaN(maxb) {
		t.Fatalf("Bonus = %v > MaxBonus(head %v) = %v for %+v", b, m.Seq == 0, maxb, m)
	}
	for _, bonus := range []float64{b, maxb, max(s.MaxBonus(true), s.MaxBonus(false))} {
		cut := s.MinLastAccess(boundNow, bar, bonus)
		if m.LastAccessNs < cut && !(got < bar) && !math.IsNaN(got) {
			t.Fatalf("%+v: block last accessed %d ns before the cut scores %v, not below bar %v (bonus %v)",
				s, cut-m.LastAccessNs, got, bar, bonus)
		}
	}
}

// checkAtOwnScore is the sharpest case: a block that scores exactly bar
// (or just above it) must never be pruned.
func checkAtOwnScore(t *testing.T, s pipeline.ScoreBounder, m block.Meta) {
	t.Helper()
	v := s.Score(boundNow, block.Hash{}, m)
	for _, bar := range []float64{v, math.Nextafter(v, math.Inf(-1)), v - 1e-12, v + 1e-12, math.Nextafter(v, math.Inf(1))} {
		checkBound(t, s, m, bar)
	}
}

func boundScorers() []pipeline.ScoreBounder {
	zero := score.NewRFC0008(block.ModelDigest{})
	neg := score.NewRFC0008(boundActive)
	neg.Chain, neg.Model = -0.3, 0.9
	steep := score.NewRFC0008(boundActive)
	steep.Recency, steep.HalfLife = 3, time.Millisecond
	flat := score.NewRFC0008(boundActive)
	flat.HalfLife = 1 << 62
	bonusOnly := score.NewRFC0008(boundActive)
	bonusOnly.Recency = 0
	def := score.NewRFC0008(boundActive)
	return []pipeline.ScoreBounder{
		def, zero, neg, steep, flat, bonusOnly,
		score.NewRecency(0), score.NewRecency(time.Second),
		// One term of positive weight: that term's bound, scaled.
		score.Weighted{{Weight: 1, Scorer: def}},
		score.Weighted{{Weight: 0.37, Scorer: steep}},
		score.Weighted{{Weight: 0, Scorer: flat}, {Weight: 3e5, Scorer: neg}, {Weight: 0, Scorer: zero}},
		// Several: equal shares of the bar.
		score.Weighted{{Weight: 1, Scorer: def}, {Weight: 0.5, Scorer: score.NewRecency(time.Second)}},
		score.Weighted{{Weight: 2, Scorer: neg}, {Weight: 1e-3, Scorer: flat}, {Weight: 0.7, Scorer: bonusOnly}},
		score.Weighted{{Weight: 1, Scorer: score.Weighted{{Weight: 1, Scorer: def}, {Weight: 1, Scorer: steep}}}, {Weight: 0.25, Scorer: zero}},
		// A term whose score does not depend on time, beside one that does.
		score.Weighted{{Weight: 1, Scorer: score.NewRecency(5 * time.Minute)}, {Weight: 0.3, Scorer: bonusOnly}},
		score.Weighted{{Weight: 0.5, Scorer: bonusOnly}, {Weight: 2, Scorer: bonusOnly}},
		// A wrapper that keeps the term's score, and says so.
		score.Weighted{{Weight: 1.5, Scorer: unwrapper{def}}, {Weight: 1, Scorer: zero}},
	}
}

// unwrapper wraps a scorer without changing its score (Unwrap).
type unwrapper struct{ pipeline.Scorer }

func (u unwrapper) Unwrap() pipeline.Scorer { return u.Scorer }

// TestBoundNeverPrunesABlockThatReachesTheBar checks the contract over
// ages from the future to a hundred half-lives, densely near the ages a
// cycle meets, for every scorer shape.
func TestBoundNeverPrunesABlockThatReachesTheBar(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	nowNs := boundNow.UnixNano()
	for _, s := range boundScorers() {
		for range 20000 {
			var age int64
			switch r.IntN(4) {
			case 0:
				age = r.Int64N(int64(time.Hour))
			case 1:
				age = r.Int64N(int64(100 * 600 * time.Second))
			case 2:
				age = r.Int64N(int64(10*time.Millisecond)) - int64(time.Millisecond)
			default:
				age = r.Int64N(1 << 62)
			}
			m := boundMeta(uint32(r.IntN(3)), byte(r.IntN(3)), nowNs-age)
			checkAtOwnScore(t, s, m)
			other := boundMeta(uint32(r.IntN(3)), byte(r.IntN(3)), nowNs-r.Int64N(int64(time.Hour)))
			checkBound(t, s, m, s.Score(boundNow, block.Hash{}, other))
		}
	}
}

// TestBoundIsTight: the cut is no more than a millisecond earlier than
// the exact boundary while the recency term is not negligible, so the fast
// path really prunes.
func TestBoundIsTight(t *testing.T) {
	s := score.NewRFC0008(boundActive)
	nowNs := boundNow.UnixNano()
	for _, age := range []time.Duration{0, time.Second, time.Minute, 10 * time.Minute, time.Hour} {
		for seq := range uint32(2) {
			m := boundMeta(seq, 1, nowNs-int64(age))
			bar := s.Score(boundNow, block.Hash{}, m)
			cut := s.MinLastAccess(boundNow, bar, s.Bonus(&m))
			if slack := time.Duration(m.LastAccessNs - cut); slack < 0 || slack > time.Millisecond {
				t.Errorf("age %v seq %d: cut %v before the block that scores the bar, want within [0, 1ms]", age, seq, slack)
			}
		}
	}
}

func TestBoundEdges(t *testing.T) {
	nan := score.NewRFC0008(boundActive)
	nan.Model = math.NaN()
	inf := score.NewRFC0008(boundActive)
	inf.Recency = math.Inf(1)
	neg := score.NewRFC0008(boundActive)
	neg.Recency = -1
	def := score.NewRFC0008(boundActive)
	for _, tc := range []struct {
		name string
		s    pipeline.ScoreBounder
		bar  float64
		want int64
	}{
		{"NaN weight prunes nothing", nan, 1, math.MinInt64},
		{"infinite weight prunes nothing", inf, 1, math.MinInt64},
		{"negative recency prunes nothing", neg, 1, math.MinInt64},
		{"NaN bar prunes nothing", def, math.NaN(), math.MinInt64},
		{"-Inf bar prunes nothing", def, math.Inf(-1), math.MinInt64},
		{"bar within the bonus prunes nothing", def, 0.5, math.MinInt64},
		{"unreachable bar prunes everything", def, 1.6, math.MaxInt64},
		{"+Inf bar prunes everything", def, math.Inf(1), math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.MinLastAccess(boundNow, tc.bar, tc.s.MaxBonus(true)); got != tc.want {
				t.Errorf("MinLastAccess(bar %v) = %d, want %d", tc.bar, got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		s    *score.RFC0008
		head bool
		want float64
	}{
		{def, true, 0.5}, {def, false, 0.2},
		{score.NewRFC0008(block.ModelDigest{}), true, 0.3},
		{score.NewRFC0008(block.ModelDigest{}), false, 0},
	} {
		if got := tc.s.MaxBonus(tc.head); got != tc.want {
			t.Errorf("MaxBonus(head %v) with active %x = %v, want %v", tc.head, tc.s.Active[:1], got, tc.want)
		}
	}
	negChain := score.NewRFC0008(boundActive)
	negChain.Chain = -0.3
	if got := negChain.MaxBonus(true); math.Abs(got-(-0.1)) > 1e-15 {
		t.Errorf("MaxBonus(head) with chain weight -0.3 = %v, want -0.1", got)
	}
	m := boundMeta(0, 1, 0)
	if got := def.Bonus(&m); got != 0.5 {
		t.Errorf("Bonus(head, active) = %v, want 0.5", got)
	}
	zero := block.Meta{}
	if got := score.NewRFC0008(block.ModelDigest{}).Bonus(&zero); got != 0.3 {
		t.Errorf("Bonus(head, zero model) with no active model = %v, want 0.3 (no model bonus)", got)
	}
}

// FuzzBound checks the contract for arbitrary weights, half-lives, blocks
// and bars, of RFC0008 and of a Weighted of it with weight w1, alone and
// beside a Recency of weight w2.
func FuzzBound(f *testing.F) {
	f.Add(1.0, 0.3, 0.2, int64(600e9), uint8(0), uint8(1), int64(5e9), 0.0, 1.0, 0.0)
	f.Add(1.0, 0.3, 0.2, int64(600e9), uint8(1), uint8(2), int64(-5e9), -1e-9, 0.5, 2.0)
	f.Add(2.5, -0.4, 0.7, int64(1), uint8(0), uint8(0), int64(1e18), 0.1, 3.0, 1e-9)
	f.Fuzz(func(t *testing.T, recency, chain, model float64, halfLife int64, seq, modelSel uint8, age int64, barOffset, w1, w2 float64) {
		s := score.NewRFC0008(boundActive)
		if modelSel >= 128 {
			s.Active = block.ModelDigest{}
		}
		s.Recency, s.Chain, s.Model, s.HalfLife = recency, chain, model, time.Duration(halfLife)
		last := boundNow.UnixNano() - age
		if age < 0 && last < boundNow.UnixNano() || age > 0 && last > boundNow.UnixNano() {
			t.Skip("age overflows")
		}
		m := boundMeta(uint32(seq%3), modelSel, last)
		for _, sb := range []pipeline.ScoreBounder{
			s,
			score.Weighted{{Weight: w1, Scorer: s}},
			score.Weighted{{Weight: w1, Scorer: s}, {Weight: w2, Scorer: score.NewRecency(time.Duration(halfLife / 3))}},
		} {
			checkAtOwnScore(t, sb, m)
			checkBound(t, sb, m, sb.Score(boundNow, block.Hash{}, m)+barOffset)
		}
	})
}

// TestWeightedBoundEdges: a Weighted whose bound does not exist (a term
// that offers none, a negative or non-finite weight) says so with a
// MaxBonus of +Inf and prunes nothing; one whose weights are all 0 scores
// 0 everywhere.
func TestWeightedBoundEdges(t *testing.T) {
	def := score.NewRFC0008(boundActive)
	plain := pipeline.ScorerFunc(def.Score)
	for _, tc := range []struct {
		name string
		w    score.Weighted
	}{
		{"a term that offers no bound", score.Weighted{{Weight: 1, Scorer: def}, {Weight: 1, Scorer: plain}}},
		{"such a term of weight 0", score.Weighted{{Weight: 1, Scorer: def}, {Weight: 0, Scorer: plain}}},
		{"a Weighted term that offers none", score.Weighted{{Weight: 1, Scorer: score.Weighted{{Weight: 1, Scorer: plain}}}}},
		{"a negative weight", score.Weighted{{Weight: -0.5, Scorer: def}}},
		{"a NaN weight", score.Weighted{{Weight: math.NaN(), Scorer: def}}},
		{"an infinite weight", score.Weighted{{Weight: math.Inf(1), Scorer: def}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := pipeline.AsScoreBounder(tc.w); ok {
				t.Error("AsScoreBounder found a bound")
			}
			for _, head := range []bool{true, false} {
				if got := tc.w.MaxBonus(head); !math.IsInf(got, 1) {
					t.Errorf("MaxBonus(%v) = %v, want +Inf", head, got)
				}
			}
			if got := tc.w.MinLastAccess(boundNow, 10, 0); got != math.MinInt64 {
				t.Errorf("MinLastAccess = %d, want math.MinInt64 (no pruning)", got)
			}
		})
	}
	zero := score.Weighted{{Weight: 0, Scorer: def}}
	for _, tc := range []struct {
		bar  float64
		want int64
	}{{1e-300, math.MaxInt64}, {0, math.MinInt64}, {-1, math.MinInt64}} {
		if got := zero.MinLastAccess(boundNow, tc.bar, 0); got != tc.want {
			t.Errorf("all weights 0: MinLastAccess(bar %v) = %d, want %d", tc.bar, got, tc.want)
		}
	}
	if got := (score.Weighted{}).MaxBonus(true); got != 0 {
		t.Errorf("empty Weighted: MaxBonus = %v, want 0", got)
	}
}

// TestWeightedBoundIsTight: with one term of positive weight the bound is
// as tight as the term's own (within a millisecond of the exact cut), and
// per kind of block; with two alike terms, equal shares are exact too.
func TestWeightedBoundIsTight(t *testing.T) {
	def := score.NewRFC0008(boundActive)
	nowNs := boundNow.UnixNano()
	for _, w := range []score.Weighted{
		{{Weight: 2.5, Scorer: def}},
		{{Weight: 0, Scorer: score.NewRecency(0)}, {Weight: 0.3, Scorer: def}},
		{{Weight: 1, Scorer: score.NewRecency(0)}, {Weight: 1, Scorer: score.NewRecency(0)}},
	} {
		for _, age := range []time.Duration{time.Second, time.Minute, 10 * time.Minute, time.Hour} {
			for seq := range uint32(2) {
				m := boundMeta(seq, 1, nowNs-int64(age))
				bar := w.Score(boundNow, block.Hash{}, m)
				for _, bonus := range []float64{w.Bonus(&m), w.MaxBonus(seq == 0)} {
					cut := w.MinLastAccess(boundNow, bar, bonus)
					if slack := time.Duration(m.LastAccessNs - cut); slack < 0 || slack > time.Millisecond {
						t.Errorf("%v, age %v seq %d bonus %v: cut %v before the block that scores the bar, want within [0, 1ms]", w, age, seq, bonus, slack)
					}
				}
			}
		}
	}
}

// TestWeightedBoundTimeFreeTerm: a term whose score does not depend on the
// last access (RFC 0008 of recency weight 0) takes no share of the bar, so
// recency plus such a term is bounded as tightly as recency alone for the
// blocks of the largest bonus; and a Weighted of such terms alone rules
// out every block when the bar is above its largest score.
func TestWeightedBoundTimeFreeTerm(t *testing.T) {
	bonusOnly := score.NewRFC0008(boundActive)
	bonusOnly.Recency = 0
	nowNs := boundNow.UnixNano()
	w := score.Weighted{{Weight: 1, Scorer: score.NewRecency(5 * time.Minute)}, {Weight: 0.3, Scorer: bonusOnly}}
	// (Beyond a few half-lives the recency share is so small beside the
	// bonus that the margin on the bar is worth milliseconds of age.)
	for _, age := range []time.Duration{time.Second, time.Minute, 10 * time.Minute} {
		m := boundMeta(0, 1, nowNs-int64(age)) // a chain head of the active model
		bar := w.Score(boundNow, block.Hash{}, m)
		cut := w.MinLastAccess(boundNow, bar, w.Bonus(&m))
		if slack := time.Duration(m.LastAccessNs - cut); slack < 0 || slack > time.Millisecond {
			t.Errorf("age %v: cut %v before the block that scores the bar, want within [0, 1ms]", age, slack)
		}
	}
	only := score.Weighted{{Weight: 0.5, Scorer: bonusOnly}, {Weight: 2, Scorer: bonusOnly}}
	top := only.MaxBonus(true)
	if got := only.MinLastAccess(boundNow, top+1e-6, top); got != math.MaxInt64 {
		t.Errorf("time-free terms, bar above their largest score: cut %d, want MaxInt64 (every block below)", got)
	}
	if got := only.MinLastAccess(boundNow, top, top); got != math.MinInt64 {
		t.Errorf("time-free terms, bar at their largest score: cut %d, want MinInt64 (none ruled out)", got)
	}
}
