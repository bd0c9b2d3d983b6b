// Package score holds the score stage: [pipeline.Scorer] implementations
// that map one block to a float64, higher meaning fetch sooner.
//
// [RFC0008] is the seed's formula with every weight and the half-life
// configurable; [Recency] is its recency term alone; [Weighted] sums other
// scorers with weights, for experiments; [Deadline] ranks hinted blocks by
// when their requests are due (the hint preset's scorer); [Frequency]
// ranks blocks by how often they were read lately, the decayed access
// counts an index.Memory keeps with index.Options.CountHalfLife. Every scorer
// reads time only from the cycle's clock reading it is handed, so it runs
// unchanged on the replay lab's virtual clock.
//
// RFC0008, Recency and a Weighted of them bound their scores
// ([pipeline.ScoreBounder]), which lets a cycle over an index.Memory pass
// over the blocks that cannot reach its top K without scoring them.
package score

import (
	"math"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// Defaults of [RFC0008] (RFC 0008 §6, as in the seed's score_block).
const (
	DefaultRecencyWeight = 1.0
	DefaultChainWeight   = 0.3
	DefaultModelWeight   = 0.2
	DefaultHalfLife      = 600 * time.Second
)

// RFC0008 is the seed's score:
//
//	score = Recency * exp(-ln2 * age / HalfLife)
//	      + Chain   * [block is a chain head (Seq 0)]
//	      + Model   * [block's model == Active]
//
// where age = now - last access, clamped at 0 (a block touched "in the
// future", by clock skew, counts as just touched). A zero Active digest
// disables the model bonus for every block, zero-digest blocks included.
//
// Build one with [NewRFC0008] to get the defaults, then adjust fields. It
// is a value type with no state: safe for concurrent use.
type RFC0008 struct {
	// Recency, Chain and Model are the weights of the three terms.
	Recency, Chain, Model float64
	// HalfLife is the recency term's half-life; <= 0 means the default.
	HalfLife time.Duration
	// Active is the model being served; the zero digest disables the
	// model bonus.
	Active block.ModelDigest
}

// NewRFC0008 returns the seed's scorer for the active model: weights 1.0 /
// 0.3 / 0.2 and a 600 s half-life.
func NewRFC0008(active block.ModelDigest) *RFC0008 {
	return &RFC0008{
		Recency:  DefaultRecencyWeight,
		Chain:    DefaultChainWeight,
		Model:    DefaultModelWeight,
		HalfLife: DefaultHalfLife,
		Active:   active,
	}
}

// Score scores m at time now.
func (s *RFC0008) Score(now time.Time, _ block.Hash, m block.Meta) float64 {
	v := s.Recency * decay(now.UnixNano(), m.LastAccessNs, s.HalfLife)
	if m.Seq == 0 {
		v += s.Chain
	}
	if m.Model == s.Active && !s.Active.IsZero() {
		v += s.Model
	}
	return v
}

// decay returns 2^(-age/halfLife), with age clamped at 0.
func decay(nowNs, lastNs int64, halfLife time.Duration) float64 {
	if halfLife <= 0 {
		halfLife = DefaultHalfLife
	}
	if lastNs >= nowNs {
		return 1
	}
	age := float64(nowNs) - float64(lastNs) // in float64: no overflow
	return math.Exp(-math.Ln2 / float64(halfLife) * age)
}

// Recency scores a block by its recency alone: exp(-ln2 * age / HalfLife),
// in (0, 1], age clamped at 0. It is RFC 0008 with the bonuses removed.
type Recency struct {
	// HalfLife is the half-life; <= 0 means DefaultHalfLife.
	HalfLife time.Duration
}

// NewRecency returns a recency scorer with the given half-life (0 means
// DefaultHalfLife).
func NewRecency(halfLife time.Duration) *Recency { return &Recency{HalfLife: halfLife} }

// Score scores m at time now.
func (s *Recency) Score(now time.Time, _ block.Hash, m block.Meta) float64 {
	return decay(now.UnixNano(), m.LastAccessNs, s.HalfLife)
}

// Term is one weighted scorer of a [Weighted] sum.
type Term struct {
	Weight float64
	Scorer pipeline.Scorer
}

// Weighted sums its terms: score = sum of Weight * Scorer.Score. It lets an
// experiment mix signals without writing a scorer.
//
// When every term's scorer offers a score bound (RFC0008, Recency, another
// Weighted of them, or a wrapper of one, see pipeline.AsScoreBounder) and
// every weight is finite and at least 0, Weighted offers the weighted sum
// of their bounds (it is a pipeline.ScoreBounder), so a cycle over an
// index.Memory keeps the pruned path. With one term of positive weight
// that bound is exactly as tight as the term's; with several it is looser
// (see [Weighted.MinLastAccess]). Otherwise its MaxBonus is +Inf: it
// offers no bound, and a cycle scores every block, outside the index's
// locks, as it does a plain pipeline.ScorerFunc.
type Weighted []Term

// Score returns the weighted sum of the terms' scores.
func (w Weighted) Score(now time.Time, h block.Hash, m block.Meta) float64 {
	var v float64
	for _, t := range w {
		v += t.Weight * t.Scorer.Score(now, h, m)
	}
	return v
}
