package score

import (
	"math"
	"time"

	"github.com/wombatkv/prefetch/block"
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
func minLastAccess(nowNs int64, bar, bonus, w, mag float64, halfLife time.Duration) int64 {
	if !finite(w) || w <= 0 || math.IsNaN(bar) || math.IsNaN(bonus) || math.IsInf(bonus, 0) {
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

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
