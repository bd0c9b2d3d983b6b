package score

import (
	"errors"
	"math"
	"time"

	"github.com/wombatkv/prefetch/block"
)

// DefaultGetTime is the expected duration of one GET when
// Deadline.GetTime is nil.
const DefaultGetTime = 100 * time.Millisecond

// Deadlines is what [Deadline] reads of a hint intake: when a request is
// due to read a block, and the block's place in the intake's order
// (earliest Due first, then arrival). snapshot.Hints implements it.
type Deadlines interface {
	// Due returns the earliest Due among the pending hints for h, and
	// whether there is one.
	Due(h block.Hash) (time.Time, bool)
	// Rank returns h's position in the intake's order, and whether h is
	// pending.
	Rank(h block.Hash) (int, bool)
}

// Deadline ranks hinted blocks by deadline. A block that can still land
// before its request (its Due is at least GetTime ahead of the cycle)
// scores -Rank, so the earliest Due comes first and, among the blocks of
// one request, its prefix first. A block too late to land in time still
// saves the time left, and more when it sits behind the request's own
// loads: it ranks after every block in time, the later deadline and then
// the deeper block (higher Seq) first. A block without a pending hint
// scores -Inf.
//
// Build one with [NewDeadline]; Hints is required, a nil GetTime means
// DefaultGetTime for every block. It holds no state of its own: it is as
// safe for concurrent use as its Hints and GetTime.
type Deadline struct {
	// Hints is the intake the cycle's hinted blocks come from.
	Hints Deadlines
	// GetTime is how long a GET of a block of the given payload size is
	// expected to take (nil means DefaultGetTime for any block).
	GetTime func(payloadBytes uint64) time.Duration
}

// NewDeadline returns the deadline scorer over hints, with getTime the
// expected duration of a GET (nil means DefaultGetTime). It checks nothing:
// [Deadline.Validate] does, and pipeline.New calls it.
func NewDeadline(hints Deadlines, getTime func(payloadBytes uint64) time.Duration) *Deadline {
	return &Deadline{Hints: hints, GetTime: getTime}
}

// Validate reports a missing Hints.
func (s *Deadline) Validate() error {
	if s == nil || s.Hints == nil {
		return errors.New("score: Deadline.Hints is nil, want the hint intake (snapshot.Hints)")
	}
	return nil
}

// lateScore is the score of a block due at once, too late to land: below
// the score -Rank of any block in time.
const lateScore = -1e15

// Score scores the hinted block h at time now.
func (s *Deadline) Score(now time.Time, h block.Hash, m block.Meta) float64 {
	due, ok := s.Hints.Due(h)
	if !ok {
		return math.Inf(-1) // not hinted
	}
	rank, _ := s.Hints.Rank(h)
	get := DefaultGetTime
	if s.GetTime != nil {
		get = s.GetTime(m.PayloadBytes)
	}
	slack := due.Sub(now)
	if slack >= get {
		return -float64(rank) // in time: earliest due first, a request's prefix first
	}
	return lateScore + float64(slack) + float64(m.Seq)
}
