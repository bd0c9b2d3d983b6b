package score

import (
	"math"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// The score bounds below implement pipeline.ScoreBounder, which lets a
// cycle skip, without scoring it, a block that cannot enter the top K.

// Bonus returns the part of m's score that does not depend on its last
// access: the chain bonus if m is a chain head, plus the model bonus if m's
// model is Active (and Active is set).
func (s *RFC0008) Bonus(m *block.Meta) float64 {
	var b float64
	if m.Seq == 0 {
		b += s.Chain
	}
	if m.Model == s.Active && !s.Active.IsZero() {
		b += s.Model
	}
	return b
}

// MaxBonus returns the largest [RFC0008.Bonus] a chain head (head) or
// another block can have: the chain bonus for a head, plus the model bonus
// if it is positive and Active is set.
func (s *RFC0008) MaxBonus(head bool) float64 {
	var b float64
	if head {
		b = s.Chain
	}
	if !s.Active.IsZero() {
		b += max(s.Model, 0)
	}
	return b
}

// MinLastAccess returns a time before which every block whose bonus is at
// most bonus scores below bar at now: the age at which the recency term
// falls below bar - bonus, less a margin for rounding. It returns
// math.MinInt64 (no pruning) when a weight is not finite or the recency
// weight is not positive, and math.MaxInt64 when no such block can reach
// bar.
func (s *RFC0008) MinLastAccess(now time.Time, bar, bonus float64) int64 {
	if !finite(s.Chain) || !finite(s.Model) {
		return math.MinInt64
	}
	mag := math.Abs(s.Chain) + math.Abs(s.Model)
	return minLastAccess(now.UnixNano(), bar, bonus, s.Recency, mag, s.HalfLife)
}

// Bonus returns 0: a Recency score is its recency term alone.
func (s *Recency) Bonus(*block.Meta) float64 { return 0 }

// MaxBonus returns 0.
func (s *Recency) MaxBonus(bool) float64 { return 0 }

// MinLastAccess returns a time before which every block scores below bar
// minus bonus at now.
func (s *Recency) MinLastAccess(now time.Time, bar, bonus float64) int64 {
	return minLastAccess(now.UnixNano(), bar, bonus, 1, 0, s.HalfLife)
}

// minLastAccess returns the earliest last access at which a block can
// still score w * decay(age) + bonus >= bar, less a margin that absorbs
// every rounding of the scorer's float arithmetic: its sums and exp
// (covered by a relative slack of 1e-9 on bar, against errors near 1e-16
// of the terms' magnitude, mag being the other terms' weights) and the
// conversion of the two nanosecond times to float64, which rounds them to
// 256 ns at today's epoch (covered by 1 us on the age).
//
// With w = 0 a block's score is its bonus whatever its age: every block
// scores below bar (math.MaxInt64) when bonus does, none is ruled out
// otherwise.
func minLastAccess(nowNs int64, bar, bonus, w, mag float64, halfLife time.Duration) int64 {
	if !finite(w) || w < 0 || math.IsNaN(bar) || math.IsNaN(bonus) || math.IsInf(bonus, 0) {
		return math.MinInt64
	}
	if w == 0 {
		if bonus < bar-1e-9*(math.Abs(bar)+math.Abs(bonus)+mag) {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	if math.IsInf(bar, 1) { // finite weights give finite scores
		return math.MaxInt64
	}
	if halfLife <= 0 {
		halfLife = DefaultHalfLife
	}
	slack := 1e-9 * (math.Abs(bar) + math.Abs(bonus) + w + mag)
	// A block scores below bar when w * decay < bar - bonus - slack, i.e.
	// when decay < q. decay is in (0, 1] and falls with age.
	q := (bar - bonus - slack) / w
	switch {
	case !(q > 0): // every block may reach bar (or bar is -Inf)
		return math.MinInt64
	case q > 1: // not even a block touched now reaches bar
		return math.MaxInt64
	}
	// decay(age) = exp(-ln2 * age / halfLife) = q at age ageQ.
	ageQ := -math.Log(q) / math.Ln2 * float64(halfLife)
	ageQ = ageQ*(1+1e-9) + 1000
	cut := float64(nowNs) - ageQ
	if cut <= math.MinInt64 {
		return math.MinInt64
	}
	// Rounding cut down keeps the bound conservative.
	return int64(math.Floor(cut))
}

// timeFree reports whether every score of sb is at most its largest
// bonus whatever the block's last access: an RFC 0008 of recency weight 0,
// or a Weighted of such terms. A bounder it does not know is taken to
// depend on time, which is always sound (it is then given a share of the
// bar).
func timeFree(sb pipeline.ScoreBounder) bool {
	switch s := sb.(type) {
	case *RFC0008:
		return s.Recency == 0 && finite(s.Chain) && finite(s.Model)
	case Weighted:
		if !s.bounded() {
			return false
		}
		for _, t := range s {
			if t.Weight != 0 && !timeFree(bounder(t.Scorer)) {
				return false
			}
		}
		return true
	}
	return false
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Weighted's bound. A Weighted is a pipeline.ScoreBounder when its bound
// exists (see bounded): every term's scorer offers one (through
// pipeline.AsScoreBounder, so a scorer wrapper with Unwrap counts) and
// every weight is finite and nonnegative. Then each term's score is at
// most its recency part plus its bonus, and so is their weighted sum:
//
//	sum w_i s_i <= sum w_i f_i(t) + sum w_i Bonus_i
//
// with sum w_i f_i non-decreasing in the last access t, as w_i >= 0.
// Otherwise MaxBonus is +Inf: the cycle treats the Weighted as a plain
// scorer and never calls it under an index lock (a term that offers no
// bound never promised it could run there).

// maxWeightedTerms bounds the terms whose rounding MinLastAccess's margin
// covers (about 1e-16 per term against a margin of 1e-9).
const maxWeightedTerms = 1 << 16

// bounded reports whether w's bound exists.
func (w Weighted) bounded() bool {
	if len(w) > maxWeightedTerms {
		return false
	}
	for _, t := range w {
		if !finite(t.Weight) || t.Weight < 0 {
			return false
		}
		if _, ok := pipeline.AsScoreBounder(t.Scorer); !ok {
			return false
		}
	}
	return true
}

// bounder returns the bound of a term that offers one (bounded checked
// it), or nil.
func bounder(s pipeline.Scorer) pipeline.ScoreBounder {
	sb, _ := pipeline.AsScoreBounder(s)
	return sb
}

// Bonus returns the weighted sum of the terms' bonuses for m (the terms
// of weight 0 add nothing), or +Inf if a term offers no bound.
func (w Weighted) Bonus(m *block.Meta) float64 {
	var b float64
	for _, t := range w {
		if t.Weight == 0 {
			continue
		}
		sb, ok := t.Scorer.(pipeline.ScoreBounder)
		if !ok {
			if sb = bounder(t.Scorer); sb == nil {
				return math.Inf(1)
			}
		}
		b += t.Weight * sb.Bonus(m)
	}
	return b
}

// MaxBonus returns the weighted sum of the terms' MaxBonus, or +Inf when
// w's bound does not exist.
func (w Weighted) MaxBonus(head bool) float64 {
	if !w.bounded() {
		return math.Inf(1)
	}
	var b float64
	for _, t := range w {
		if t.Weight != 0 {
			b += t.Weight * bounder(t.Scorer).MaxBonus(head)
		}
	}
	return b
}

// MinLastAccess returns a time before which every block whose bonus is at
// most bonus scores below bar at now, or math.MinInt64 when w's bound does
// not exist.
//
// With one term of positive weight w (the others weigh 0 and add
// nothing), the sum is w times that term's score, and its bound is the
// term's for bar/w and bonus/w: as tight as the term's own. With several,
// a block is ruled out when each such term scores below its share of the
// bar: the term's largest bonus plus an equal share of what the bar asks
// beyond the sum of the largest bonuses. That is sound for any terms but
// prunes less than a bound of the sum would when the terms decay
// differently, and it makes no use of bonus (nor of a block's kind).
// Either way a relative margin of 1e-9 on bar covers the rounding of the
// weighted sum.
func (w Weighted) MinLastAccess(now time.Time, bar, bonus float64) int64 {
	if !w.bounded() || math.IsNaN(bar) || math.IsNaN(bonus) || math.Abs(bar) > 1e300 {
		return math.MinInt64
	}
	var (
		k    int     // terms of positive weight
		one  int     // the last of them
		sumB float64 // sum of w_i * (term i's largest bonus)
		magB float64 // the same of absolute values
	)
	for i, t := range w {
		if t.Weight == 0 {
			continue
		}
		k, one = k+1, i
		sb := bounder(t.Scorer)
		bm := max(sb.MaxBonus(true), sb.MaxBonus(false))
		sumB += t.Weight * bm
		magB += t.Weight * math.Abs(bm)
	}
	switch k {
	case 0: // every score is 0 (or NaN)
		if bar > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	case 1:
		// score = fl(w * s): s < (bar - slack)/w keeps it below bar,
		// and a bonus fl(w * b) <= bonus has b below the bonus/w
		// passed on, with margins far above the rounding of either.
		wt := w[one].Weight
		slack := 1e-9*math.Abs(bar) + 1e-290
		b := (bonus + 1e-12*math.Abs(bonus) + 1e-290) / wt
		b += 1e-12 * math.Abs(b)
		return bounder(w[one].Scorer).MinLastAccess(now, (bar-slack)/wt, b)
	}
	if !finite(sumB) || !finite(magB) {
		return math.MinInt64
	}
	// A term whose score does not depend on the last access (timeFree)
	// scores at most its largest bonus bm_i. Each of the kt others gets
	// the bar x_i = bm_i + e/(kt w_i), so that the x_i and the bm_i weigh
	// bar - slack in all; a block below every x_i scores below bar.
	slack := 1e-9*(math.Abs(bar)+magB) + 1e-290
	e := bar - sumB - slack
	kt := 0
	for _, t := range w {
		if t.Weight != 0 && !timeFree(bounder(t.Scorer)) {
			kt++
		}
	}
	if kt == 0 { // every score is at most sumB
		if e > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	cut := int64(math.MaxInt64)
	for _, t := range w {
		if t.Weight == 0 {
			continue
		}
		sb := bounder(t.Scorer)
		if timeFree(sb) {
			continue
		}
		bm := max(sb.MaxBonus(true), sb.MaxBonus(false))
		cut = min(cut, sb.MinLastAccess(now, bm+e/(float64(kt)*t.Weight), bm))
		if cut == math.MinInt64 {
			break
		}
	}
	return cut
}
