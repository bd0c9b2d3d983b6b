package store

import (
	"time"

	"github.com/wombatkv/prefetch/internal/usefulness"
)

// Prefetch accounting: what became of each block a prefetch
// ([Store.Materialize]) published, and where the node's reads
// ([Store.Get]) were served, per namespace, in the words the replay lab
// uses (package internal/usefulness holds the one definition both
// share). A block's record is the Mark in its index entry, so it leaves
// with the block; the tallies, one per namespace, are guarded by mu.

// PrefetchStats are the prefetch accounting's figures, for one namespace
// or the whole store: Prefetched, then Useful, Late, WastedEvicted and
// WastedRemoved; the node's Reads by where flat or cold served them; the
// Lead, Wait and UnreadAge histograms; and Precision, Served, Wasted and
// Unread computed from them. Every figure is documented on the type it
// aliases (the lab's and the store's shared accounting).
type PrefetchStats = usefulness.Stats

// PrefetchHistogram is a histogram of [PrefetchStats]: fixed buckets,
// inclusive upper bounds in seconds, counts not cumulative.
type PrefetchHistogram = usefulness.Histogram

// flight is one shared cold fetch, as shared tracks it under fmu.
type flight struct {
	prefetch bool      // led by Materialize: what it publishes is prefetched
	joined   bool      // a Get joined it
	joinedAt time.Time // when the first Get joined it, on the accounting clock
}

// accountingNow returns the accounting clock's reading: wall, the wall
// clock's reading the caller took already, when the accounting runs on the
// wall clock (Config.Clock nil), which saves a second reading on the read
// path.
func (s *Store) accountingNow(wall time.Time) time.Time {
	if s.wallClock {
		return wall
	}
	return s.clock()
}

// tally returns namespace ns's tally, creating it. Call with mu held.
func (s *Store) tally(ns string) *usefulness.Tally {
	t := s.acct[ns]
	if t == nil {
		t = new(usefulness.Tally)
		s.acct[ns] = t
	}
	return t
}

// nsOfID returns the namespace of the block whose index key is id.
func nsOfID(id string) string { return id[:len(id)-65] }

// gone accounts for entry e leaving flat: evicted for budget or removed
// otherwise. Call with mu held; it costs nothing for a block that is not
// prefetched-unread.
func (s *Store) gone(e *entry, evicted bool, now time.Time) {
	if !s.accounting || !e.mark.Unread() {
		return
	}
	t := s.tally(nsOfID(e.key))
	if evicted {
		t.Evicted(&e.mark, now)
	} else {
		t.Removed(&e.mark, now)
	}
}

// published accounts for block n, just published by fl (nil for a Put),
// as e. A prefetch that a Get joined before it landed is late; one that
// none joined leaves e marked prefetched-unread. Call with mu held.
func (s *Store) published(n name, e *entry, fl *flight, late bool, joinedAt time.Time) {
	if !s.accounting || fl == nil || !fl.prefetch || e == nil {
		return
	}
	t, now := s.tally(n.ns), s.clock()
	if late {
		t.Late(joinedAt, now)
		return
	}
	e.mark = t.Published(now)
}

// countRead counts a read of block n that flat did not serve from an
// index entry: r is usefulness.ReadJoined or ReadCold.
func (s *Store) countRead(n name, r usefulness.Read) {
	if !s.accounting {
		return
	}
	s.mu.Lock()
	s.tally(n.ns).Read(r)
	s.mu.Unlock()
}

// hit counts a read of block n that flat served from entry e (the one
// indexed now), which Get reached by way via: ReadFlat for a read that
// found the block at once, or the way it fetched it (ReadJoined,
// ReadCold) for one that read it after a shared fetch. The first read of
// a prefetched block is useful whichever way it came (a prefetch can land
// between a read's miss and its fetch); any other counts as via. Call
// with mu held.
func (s *Store) hit(n name, e *entry, via usefulness.Read, now time.Time) {
	if !s.accounting {
		return
	}
	t := s.tally(n.ns)
	switch {
	case e != nil && e.mark.Unread(), e != nil && via == usefulness.ReadFlat:
		t.Hit(&e.mark, now)
	case via == usefulness.ReadFlat:
		var none usefulness.Mark
		t.Hit(&none, now)
	default:
		t.Read(via)
	}
}

// prefetchStats returns the accounting's figures: the whole store's and
// each namespace's.
func (s *Store) prefetchStats() (all PrefetchStats, byNS map[string]PrefetchStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all = new(usefulness.Tally).Stats() // the buckets, with no namespace yet
	byNS = make(map[string]PrefetchStats, len(s.acct))
	for ns, t := range s.acct {
		st := t.Stats()
		byNS[ns] = st
		all.Add(st)
	}
	return all, byNS
}
