package index

import (
	"math"
	"time"

	"github.com/wombatkv/prefetch/block"
)

// AccessCount returns h's decayed access count as of the index clock's
// now, and whether there is one: ok is false, and the count 0, when h is
// absent or when the index keeps no counts ([Memory.CountHalfLife] is 0,
// see [Options].CountHalfLife).
//
// The count says how often the entry was accessed, each access weighing
// less the longer ago it was: with H the half-life, an access Δ ago
// weighs 2^(−Δ/H). Every Insert, every entry of a BulkLoad and every
// Touch is an access, at the entry's new last access t: an entry last
// accessed at last whose count was c there has, after it, the count
// c·2^(−max(0, t−last)/H) + 1, and a new entry starts at 1. A clock that
// stepped back (t before last) does not decay the count, nor raise it by
// more than the access's 1. The index stores each entry's count as of the
// entry's LastAccessNs, as a float32 (about 7 significant digits: a count
// past 2^24, 16.7 million, no longer grows by 1 an access), and
// AccessCount decays it to now: c·2^(−max(0, now−LastAccessNs)/H).
//
// A steady rate of r accesses a second holds a count near r·H/ln 2, so
// counts compare how often entries were used over the last few
// half-lives. [SaveSnapshot] keeps the counts and [LoadSnapshot] restores
// them.
func (x *Memory) AccessCount(h block.Hash) (count float64, ok bool) {
	if x.halfLife == 0 {
		return 0, false
	}
	return x.AccessCountAt(h, x.now())
}

// AccessCountAt is [Memory.AccessCount] decayed to at rather than to the
// index clock's now: a cycle's scorer reads counts as of the cycle's
// clock reading (a count is not decayed back up to an at before the
// entry's last access). score.Frequency reads it.
func (x *Memory) AccessCountAt(h block.Hash, at time.Time) (count float64, ok bool) {
	if x.halfLife == 0 {
		return 0, false
	}
	now := block.Nanos(at)
	s := x.shardOf(&h)
	fp := x.fingerprint(&h)
	s.rlock()
	_, _, i := s.slots.find(s, &h, fp)
	if i < 0 {
		s.mu.RUnlock()
		return 0, false
	}
	hi, k := i>>hotBits, i&hotMask
	c, last := s.counts[hi][k], s.hot[hi].last[k]
	s.mu.RUnlock()
	return decayed(c, last, now, x.halfLife), true
}

// CountHalfLife returns the half-life of the index's access counts
// ([Options].CountHalfLife), 0 when it keeps none (or x is nil, so that a
// check of a nil *Memory held in an interface reports no counts).
func (x *Memory) CountHalfLife() time.Duration {
	if x == nil {
		return 0
	}
	return time.Duration(x.halfLife)
}

// decayed returns the count c stored as of last, decayed to now with the
// half-life h (in nanoseconds): c·2^(−max(0, now−last)/h).
func decayed(c float32, last, now int64, h float64) float64 {
	if now <= last {
		return float64(c)
	}
	d := now - last
	if d < 0 { // overflowed: more than 292 years
		return 0
	}
	return float64(c) * math.Exp2(-float64(d)/h)
}

// accessed returns the count after an access at t of an entry last
// accessed at last, whose count was c there.
func accessed(c float32, last, t int64, h float64) float32 {
	return float32(decayed(c, last, t, h) + 1)
}
