package score

import (
	"errors"
	"time"

	"github.com/wombatkv/prefetch/block"
)

// AccessCounter is what [Frequency] reads of an index: a block's decayed
// access count as of a given time. *index.Memory implements it, and
// keeps counts when built with index.Options.CountHalfLife.
type AccessCounter interface {
	// AccessCountAt returns h's access count decayed to at, and whether
	// there is one.
	AccessCountAt(h block.Hash, at time.Time) (float64, bool)
}

// Frequency ranks blocks by how often they were read lately: a block
// scores its access count in Counts decayed to the cycle's clock reading
// (for an index.Memory, each Insert, BulkLoad entry and Touch adds 1 and
// the count halves every index.Options.CountHalfLife; see
// index.Memory.AccessCount), and 0 when Counts holds none for it (a block
// the index does not hold, proposed by another source).
//
// It looks every block it scores up in Counts, which takes one of the
// index's shard locks. That is safe because Frequency is not a
// [pipeline.ScoreBounder]: a cycle calls a scorer while the index holds a
// lock only on the pruned path, which only a ScoreBounder opens, so it
// takes the scored path and scores each shard's rows once the shard's lock
// is released. The price is one lookup a block, about what a Get costs:
// 0.2 s a cycle over 1e6 entries on the project's 2-core machine, against
// 10 ms for a Recency cycle, which prunes (BenchmarkFrequencyCycle). A
// scan that read the counts in place (index.Columns.Counts) would not pay
// it; the pipeline has no such path yet. Weighted with another scorer,
// it keeps the Weighted from bounding its scores, for the same reason.
//
// Build one with [NewFrequency]; Counts is required. It holds no state of
// its own: it is as safe for concurrent use as its Counts.
type Frequency struct {
	// Counts is the index whose access counts rank the blocks.
	Counts AccessCounter
}

// NewFrequency returns the frequency scorer over counts. It checks
// nothing: [Frequency.Validate] does, and pipeline.New calls it.
func NewFrequency(counts AccessCounter) *Frequency { return &Frequency{Counts: counts} }

// Validate reports a missing Counts, and an index that keeps no counts (a
// Counts with a CountHalfLife method, as index.Memory has, that returns 0:
// every block would score 0).
func (s *Frequency) Validate() error {
	if s == nil || s.Counts == nil {
		return errors.New("score: Frequency.Counts is nil, want the index (an index.Memory built with index.Options.CountHalfLife > 0)")
	}
	if hl, ok := s.Counts.(interface{ CountHalfLife() time.Duration }); ok && hl.CountHalfLife() <= 0 {
		return errors.New("score: Frequency.Counts keeps no access counts (its CountHalfLife is 0), want an index built with index.Options.CountHalfLife > 0")
	}
	return nil
}

// Score scores h at time now: its access count decayed to now, or 0.
func (s *Frequency) Score(now time.Time, h block.Hash, _ block.Meta) float64 {
	c, _ := s.Counts.AccessCountAt(h, now)
	return c
}
