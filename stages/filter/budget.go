package filter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/wombatkv/prefetch/pipeline"
)

// Budget caps the GETs a pipeline starts, with three separate limits:
//
//   - PerCycle: at most that many candidates per cycle;
//   - MaxInFlight: at most that many GETs in flight at once across the
//     worker, every cycle and every pipeline over the same tiers counted
//     (read through [Pending], which a store and the replay lab
//     implement), so that overlapping event-driven cycles cannot together
//     start more than a grid of one fan-out would;
//   - a token bucket that refills at Rate per second up to Burst tokens:
//     the average GET rate, and its depth, the GETs banked during a quiet
//     spell.
//
// An event-driven pipeline (woken by every hint) so spends no more than a
// grid of TopK per Interval would, yet can follow a burst at once. The
// depth and the cap are different things: a deeper bucket lets a burst of
// hints take more GETs in the seconds after a quiet spell (at 16/s, a
// depth of 8 + 16 x D is D seconds of rate banked, worth about D seconds
// of extra lead), while MaxInFlight bounds the parallelism of those GETs
// whatever the depth. A candidate the budget lets through takes one token;
// the rest of the cycle's candidates are skipped with reason
// pipeline.SkipBudget and may pass at a later cycle. The limits are
// checked in the order above, so a candidate the cap refuses takes no
// token.
//
// The bucket is a [rate.Limiter] read at the cycle's clock (Cycle.Now),
// never the wall clock, so the budget runs unchanged on the replay lab's
// virtual time. The bucket starts full, and a clock that steps back
// refills nothing: the bucket is read at the latest time it has seen. A
// token short of whole by less than one nanosecond of refill (rounding:
// 16/s for 62.5 ms is one token) counts as whole. Put Budget last among
// Config.Filters, so that tokens go only to candidates no other filter
// drops; a fetch that then fails keeps its token spent (the GET was made).
//
// Rate and Burst shape the bucket when the budget is first used: set them
// before. [Budget.Validate] reports fields out of range (pipeline.New
// calls it); Skip treats a negative field, or a NaN Rate, as 0. Budget is
// safe for concurrent use.
type Budget struct {
	// PerCycle is the most candidates passed in one cycle; 0 means no
	// cap of its own (TopK still bounds a cycle).
	PerCycle int
	// Rate is the bucket's refill in tokens per second, at most 1e18; 0
	// means no rate cap.
	Rate float64
	// Burst is the bucket's depth: the most tokens it banks during a quiet
	// spell, so the most GETs a burst of candidates can take before the
	// rate holds them back (spread over cycles when MaxInFlight or
	// PerCycle is lower). 0 means PerCycle, or 1 when PerCycle is 0.
	Burst int
	// MaxInFlight is the most GETs in flight at once that the budget lets
	// a cycle add to: a candidate passes only while Pending's count plus
	// the candidates this cycle passed is below it. 0 means no cap (the
	// fetcher's own Limit still bounds one cycle).
	MaxInFlight int
	// Pending counts the GETs in flight across the worker; required when
	// MaxInFlight is set.
	Pending Pending

	mu     sync.Mutex
	seq    uint64 // cycle whose spending `used` counts
	used   int
	bucket *rate.Limiter // made at the first Skip, when Rate > 0
	latest time.Time     // the latest cycle clock the bucket was read at
}

// maxRate bounds Budget.Rate.
const maxRate = 1e18

// NewBudget returns a budget of perCycle GETs per cycle and rate per second
// with a bucket burst deep (0 values as in [Budget]), and no cap on the
// GETs in flight: set MaxInFlight and Pending for one. It checks nothing:
// [Budget.Validate] does, and pipeline.New calls it.
func NewBudget(perCycle int, rate float64, burst int) *Budget {
	return &Budget{PerCycle: perCycle, Rate: rate, Burst: burst}
}

// Pending reports how many prefetch GETs are in flight in namespace ns:
// started, by any cycle of any pipeline over the same tiers, and not yet
// finished. A store that tracks its fetches implements it, and so does
// the replay lab's simulated node. It must be cheap: [Budget] asks it for
// every candidate it is shown.
type Pending interface {
	PendingGets(ns string) int
}

// PendingFunc adapts a function to [Pending].
type PendingFunc func(ns string) int

// PendingGets calls f(ns).
func (f PendingFunc) PendingGets(ns string) int { return f(ns) }

// Validate reports every field of b that is out of range.
func (b *Budget) Validate() error {
	if b == nil {
		return errors.New("filter: Budget is nil")
	}
	var errs []error
	if b.PerCycle < 0 {
		errs = append(errs, fmt.Errorf("filter: Budget.PerCycle = %d, want >= 0 (0 means no cap of its own)", b.PerCycle))
	}
	if !(b.Rate >= 0 && b.Rate <= maxRate) {
		errs = append(errs, fmt.Errorf("filter: Budget.Rate = %v, want 0 <= Rate <= %g (0 means no rate cap)", b.Rate, maxRate))
	}
	if b.Burst < 0 {
		errs = append(errs, fmt.Errorf("filter: Budget.Burst = %d, want >= 0 (0 means PerCycle, or 1 when PerCycle is 0)", b.Burst))
	}
	if b.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("filter: Budget.MaxInFlight = %d, want >= 0 (0 means no cap on the GETs in flight)", b.MaxInFlight))
	}
	if b.MaxInFlight > 0 && b.Pending == nil {
		errs = append(errs, fmt.Errorf("filter: Budget.MaxInFlight = %d needs Budget.Pending, what counts the GETs in flight (a store, the replay lab); or set MaxInFlight to 0 for no cap", b.MaxInFlight))
	}
	return errors.Join(errs...)
}

func (b *Budget) depth() int {
	switch {
	case b.Burst > 0:
		return b.Burst
	case b.PerCycle > 0:
		return b.PerCycle
	}
	return 1
}

// Skip passes c and takes a token when the budget allows, else returns
// pipeline.SkipBudget.
func (b *Budget) Skip(_ context.Context, cy *pipeline.Cycle, _ pipeline.Candidate) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cy.Seq != b.seq {
		b.seq, b.used = cy.Seq, 0
	}
	if b.PerCycle > 0 && b.used >= b.PerCycle {
		return pipeline.SkipBudget
	}
	if b.MaxInFlight > 0 && b.Pending != nil && b.Pending.PendingGets(cy.Namespace)+b.used >= b.MaxInFlight {
		return pipeline.SkipBudget
	}
	if b.Rate > 0 {
		if b.bucket == nil {
			b.bucket = rate.NewLimiter(rate.Limit(b.Rate), b.depth()) // full
			b.latest = cy.Now
		}
		if cy.Now.After(b.latest) {
			b.latest = cy.Now
		}
		if !b.bucket.AllowN(b.latest, 1) {
			return pipeline.SkipBudget
		}
	}
	b.used++
	return ""
}

// Room reports how many bytes the flat tier can take without evicting
// anything: its free space, less what the fetches in flight will take. A
// store with a capacity implements it.
type Room interface {
	FreeBytes(ns string) int64
}

// RoomFunc adapts a function to [Room].
type RoomFunc func(ns string) int64

// FreeBytes calls f(ns).
func (f RoomFunc) FreeBytes(ns string) int64 { return f(ns) }

// FreeRoom is a budget in bytes: it passes a candidate only if its payload
// (Meta.PayloadBytes) fits in the flat tier's free room, less what the
// cycle has already passed. A block of unknown size (see block.Meta.Size)
// never passes, with reason pipeline.SkipUnknownSize: it could need any
// room, and fetching it could evict. A fetch it lets
// through evicts nothing, so it cannot push out a block a request would
// have hit: this is what makes a background prefetch safe when the
// ranking is only a guess. It passes nothing once flat is full; it pays
// when flat has room, above all right after a restart emptied it. Skipped
// candidates get reason pipeline.SkipNoRoom.
//
// Put FreeRoom after the filters that drop blocks already in flat or in
// flight. It is safe for concurrent use.
type FreeRoom struct {
	// Room reports the flat tier's free room (a store with a capacity).
	Room Room

	mu      sync.Mutex
	seq     uint64
	planned int64
}

// NewFreeRoom returns the free-room filter over r.
func NewFreeRoom(r Room) *FreeRoom { return &FreeRoom{Room: r} }

// Validate reports a missing Room.
func (f *FreeRoom) Validate() error {
	if f == nil || f.Room == nil {
		return errors.New("filter: FreeRoom.Room is nil, want the flat tier's Room (a store with a capacity)")
	}
	return nil
}

// Skip passes c when it fits in the free room left this cycle.
func (f *FreeRoom) Skip(_ context.Context, cy *pipeline.Cycle, c pipeline.Candidate) string {
	need, known := c.Meta.Size()
	if !known {
		return pipeline.SkipUnknownSize
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if cy.Seq != f.seq {
		f.seq, f.planned = cy.Seq, 0
	}
	if f.Room.FreeBytes(cy.Namespace)-f.planned < need {
		return pipeline.SkipNoRoom
	}
	f.planned += need
	return ""
}
