package store

import (
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/internal/slru"
)

// Leases and the GETs in flight: what the hint preset asks of the flat
// tier (presets.Options.Lease, through snapshot.Leaser) and what its GET
// budget's cap reads (filter.Pending).

// PinShare is the share of FlatBudget that leases may pin at once: pins
// can never hold all of flat, so a block up to the rest of the budget
// always fits without unpinning anything.
const PinShare = slru.PinShare

// LeaseStats counts the leases of hinted blocks ([Store.Lease]).
type LeaseStats struct {
	// Touched counts leases that moved their block to the most recently
	// used end without pinning it: touch leases, and pin leases the pin
	// budget had no room for (PinRefused).
	Touched uint64
	// Pinned counts pin leases granted; PinRefused those the pin budget
	// (PinShare of FlatBudget) had no room for.
	Pinned, PinRefused uint64
	// Missed counts leases of blocks flat did not hold: nothing to lease.
	Missed uint64
	// PinnedBytes is the payload pinned now, at most PinShare of
	// FlatBudget.
	PinnedBytes int64
}

// Lease implements snapshot.Leaser: a request will read block h of
// namespace ns by until. If flat holds h, it moves to the most recently
// used end, as a read would move it but without counting as a read (no
// prefetch becomes useful by it, no file time changes); with pin it is
// also kept from eviction until until (on the wall clock), within
// PinShare of FlatBudget, past which it is only moved. A read does not end
// a pin: it ends at until. Lease reports whether flat held h. It does no
// I/O.
func (s *Store) Lease(ns string, h block.Hash, until time.Time, pin bool) bool {
	n, err := nameOf(ns, h)
	if err != nil || s.closed.Load() {
		return false
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	hd, ok := s.rec.ids[n.id()]
	if !ok {
		s.lease.Missed++
		return false
	}
	s.rec.o.Advance(now.UnixNano())
	if pin {
		if s.rec.o.Pin(hd, block.Nanos(until)) {
			s.lease.Pinned++
			return true
		}
		s.lease.PinRefused++
	}
	s.rec.touch(n.id(), now)
	s.lease.Touched++
	return true
}

// leaseStats returns the lease counts. Call with mu held.
func (s *Store) leaseStats() LeaseStats {
	st := s.lease
	st.PinnedBytes = s.rec.pinned()
	return st
}

// PendingGets implements filter.Pending: the cold GETs that prefetches
// (Materialize) lead in namespace ns now. A Get's own GET, and a prefetch
// that joined one, do not count.
func (s *Store) PendingGets(ns string) int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.prefetching[ns]
}
