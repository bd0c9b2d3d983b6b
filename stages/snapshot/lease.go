package snapshot

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/wombatkv/prefetch/block"
)

// Leaser holds a hinted block in flat until its request reads it: a store
// with a capacity implements it, and so does the replay lab's node.
//
// Lease tells the flat tier that a request will read block h of namespace
// ns by until. If flat holds h, it moves to the most recently used end,
// as a read would move it but without counting as a read; with pin, it is
// also kept from eviction until until, within the tier's own bound on
// pinned bytes (past the bound it is only moved). Lease reports whether
// flat held h. It must not block on I/O: the intake calls it during a
// cycle, once per hint.
type Leaser interface {
	Lease(ns string, h block.Hash, until time.Time, pin bool) bool
}

// LeaseMode is what an intake asks of the flat tier for the block of each
// new hint ([Hints.SetLease]).
type LeaseMode string

// Lease modes.
const (
	// LeaseNone leases nothing: a hinted block in flat may be evicted
	// before its request, like any other.
	LeaseNone LeaseMode = "none"
	// LeaseTouch moves a hinted block that flat holds to the most
	// recently used end when the hint first reaches a cycle. It costs no
	// GET and needs no bound: the block is as safe as one just read.
	LeaseTouch LeaseMode = "touch"
	// LeasePin moves it there and pins it until the hint's Due plus the
	// lease's grace, within the flat tier's bound on pinned bytes.
	LeasePin LeaseMode = "pin"
)

// DefaultLeaseGrace is how long after its Due a pinned hinted block stays
// pinned by default: room for a request served a little later than the
// node expected.
const DefaultLeaseGrace = time.Second

// ParseLeaseMode returns the lease mode s names: "none", "touch" or "pin".
func ParseLeaseMode(s string) (LeaseMode, error) {
	m := LeaseMode(s)
	if err := m.Validate(); err != nil {
		return "", err
	}
	return m, nil
}

// Validate reports a mode that is none of the lease modes.
func (m LeaseMode) Validate() error {
	switch m {
	case LeaseNone, LeaseTouch, LeasePin:
		return nil
	}
	return fmt.Errorf("snapshot: lease mode %q, want %q, %q or %q", string(m), LeaseNone, LeaseTouch, LeasePin)
}

// lease is an intake's lease setting (Hints.SetLease), under Hints.mu.
type lease struct {
	leaser Leaser
	pin    bool
	grace  time.Duration
}

// leaseCall is one lease to make, outside the intake's lock.
type leaseCall struct {
	hash  block.Hash
	until time.Time
}

// SetLease has the intake lease the block of each new hint from l when the
// hint first reaches a cycle (the cycle that proposes it, at the instant
// it arrives for an event-driven worker): with LeaseTouch the block, if
// flat holds it, moves to the most recently used end; with LeasePin it is
// also pinned until the hint's Due plus grace. A hint whose Due has passed
// by then is not leased. LeaseNone (or a nil l with it) turns leasing off.
// It reports a bad mode, a nil l with LeaseTouch or LeasePin, and a
// negative grace, and then changes nothing.
//
// Each lease the tier grants (Lease reports true) counts in
// HintStats.Leased. Set it before the first cycle, or between cycles.
func (h *Hints) SetLease(mode LeaseMode, l Leaser, grace time.Duration) error {
	var errs []error
	if err := mode.Validate(); err != nil {
		errs = append(errs, err)
	}
	if l == nil && mode != LeaseNone {
		errs = append(errs, fmt.Errorf("snapshot: lease mode %q needs a Leaser (a store with a capacity), got nil", string(mode)))
	}
	if grace < 0 {
		errs = append(errs, fmt.Errorf("snapshot: lease grace %v, want >= 0", grace))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if mode == LeaseNone {
		h.lease = lease{}
		return nil
	}
	h.lease = lease{leaser: l, pin: mode == LeasePin, grace: grace}
	return nil
}

// leaseAll makes the leases of calls through ls in namespace ns, and
// counts those granted.
func (h *Hints) leaseAll(ls lease, ns string, calls []leaseCall) {
	granted := 0
	for _, c := range calls {
		if ls.leaser.Lease(ns, c.hash, c.until, ls.pin) {
			granted++
		}
	}
	if granted > 0 {
		h.mu.Lock()
		h.acct.leased += uint64(granted)
		h.mu.Unlock()
	}
}

// leaseUntil returns due (ns since the Unix epoch) plus grace, saturated
// at the last instant Due can hold.
func leaseUntil(due int64, grace time.Duration) time.Time {
	if due > math.MaxInt64-int64(grace) {
		return maxDue
	}
	return time.Unix(0, due+int64(grace))
}
