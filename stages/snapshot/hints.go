package snapshot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// Hint tells the prefetcher that a request will read a block at about Due:
// the node knows it from its scheduler queue, its router or the
// tokenizer, before it serves the request.
type Hint struct {
	Hash block.Hash
	// Meta is what the node knows of the block (Parent, Seq,
	// PayloadBytes, Model). When HintsConfig.Lookup is set, the index's
	// metadata is proposed instead.
	Meta block.Meta
	// Due is when the request is expected to read the block. A Due past
	// the range of time.Time.UnixNano (after the year 2262) is held as
	// its last instant, so such a hint stays pending until it is dropped
	// as the oldest; one before that range (the year 1677, the zero
	// time.Time among them) is already past, and leaves at the next cycle.
	Due time.Time
}

// maxDue is the last instant a hint's Due is told apart from a later one
// (block.Nanos clamps beyond it).
var maxDue = time.Unix(0, math.MaxInt64)

// DefaultHintCapacity is the default bound of a [Hints] intake.
const DefaultHintCapacity = 4096

// HintsConfig configures [Hints]. Zero fields mean the defaults.
type HintsConfig struct {
	// Capacity bounds the pending hints (default DefaultHintCapacity).
	// When the intake is full, Add drops the oldest hint and counts it
	// (see [Hints.Dropped]).
	Capacity int
	// Lookup returns the index's metadata of a hinted block (for
	// example (*index.Memory).Get). A block it does not know is held back:
	// the hint stays pending and is proposed from the first cycle at which
	// the index knows the block (a request computes it first, say). Nil
	// proposes every hint with its own Hint.Meta.
	Lookup func(block.Hash) (block.Meta, bool)
	// Notify, when set, is called after each Add, outside the intake's
	// lock. Wire it to (*pipeline.Worker).Wake so that a hint starts a
	// cycle at once instead of at the next tick; a burst of hints while a
	// cycle runs coalesces into one more cycle. See also [Hints.SetNotify].
	Notify func()
	// Grace keeps a hint proposed until the cycle's clock reaches Due +
	// Grace (default 0: a hint is proposed only while it is still ahead of
	// the cycle, Now < Due, and dropped once Due has passed).
	Grace time.Duration
	// Clock stamps each hint at Add and each fetch the intake observes,
	// for the lag and slack of [Hints.Stats]: give it the pipeline's
	// Config.Clock (the replay lab's virtual clock, say). Nil means
	// time.Now, the pipeline's default.
	Clock func() time.Time
}

type hintEntry struct {
	hash    block.Hash
	meta    block.Meta
	due     int64  // ns since the Unix epoch
	arrival uint64 // Add order
	added   int64  // Clock at Add, ns since the Unix epoch
	served  bool   // a cycle fetched the block or found it in flat
	seen    bool   // a cycle has seen it (and leased its block, if set to)
}

// Hints is the hint intake and the [pipeline.Source] of hinted blocks. A
// node calls Add from any goroutine (the request path, a router); each
// cycle proposes every pending hinted block once, with the earliest Due
// among its pending hints (see [Hints.Due]), earliest Due first, then in
// the order those hints arrived. A hint stays pending until its Due (plus Grace) has passed at a
// cycle's clock, so a block missed at first (not yet in the index, or in
// flat then and evicted before the request) is proposed again by later
// cycles; the cycle's filters skip what is already in flat or in flight.
//
// Hints is safe for concurrent use. Its memory is bounded by Capacity:
// when full, Add drops the oldest pending hint and counts it.
//
// Hints is also a [pipeline.Observer]: it reads each finished cycle's
// fetches to count what became of its hints, as [Hints.Stats] reports
// (added, dropped, expired unserved, served, and how long after Add and
// how long before Due their blocks landed).
type Hints struct {
	capacity int
	lookup   func(block.Hash) (block.Meta, bool)
	grace    time.Duration
	clock    func() time.Time
	invalid  error // HintsConfig.Validate at NewHints

	mu      sync.Mutex
	notify  func()
	ring    []hintEntry // FIFO of pending hints: ring[(head+i)%len(ring)], i < n
	head, n int
	dropped uint64
	arrived uint64
	due     map[block.Hash]int64 // earliest pending Due, as of the last cycle
	rank    map[block.Hash]int   // position in the last cycle's order
	acct    hintAccount          // what became of the hints (hints_stats.go)
	lease   lease                // what to lease (lease.go); no leaser: none
}

// Validate reports a negative Capacity or Grace.
func (c HintsConfig) Validate() error {
	var errs []error
	if c.Capacity < 0 {
		errs = append(errs, fmt.Errorf("snapshot: HintsConfig.Capacity = %d, want >= 1 (0 means the default, %d)", c.Capacity, DefaultHintCapacity))
	}
	if c.Grace < 0 {
		errs = append(errs, fmt.Errorf("snapshot: HintsConfig.Grace = %v, want >= 0", c.Grace))
	}
	return errors.Join(errs...)
}

// NewHints returns an empty intake. It checks nothing: [Hints.Validate]
// reports what is wrong with cfg (pipeline.New calls it for the intake
// among Config.Sources), and until then a negative Capacity counts as the
// default and a negative Grace as 0.
func NewHints(cfg HintsConfig) *Hints {
	h := &Hints{
		capacity: cfg.Capacity,
		lookup:   cfg.Lookup,
		grace:    cfg.Grace,
		notify:   cfg.Notify,
		clock:    cfg.Clock,
		invalid:  cfg.Validate(),
		due:      make(map[block.Hash]int64),
		rank:     make(map[block.Hash]int),
		acct:     newHintAccount(),
	}
	if h.capacity <= 0 {
		h.capacity = DefaultHintCapacity
	}
	h.grace = max(h.grace, 0)
	if h.clock == nil {
		h.clock = time.Now
	}
	return h
}

// Validate reports what was wrong with the intake's HintsConfig.
func (h *Hints) Validate() error {
	if h == nil {
		return errors.New("snapshot: Hints is nil, want an intake from NewHints")
	}
	return h.invalid
}

// SetNotify replaces the function called after each Add (see
// HintsConfig.Notify), for a worker built after its intake:
//
//	w := pipeline.NewWorker(p)
//	hints.SetNotify(w.Wake)
func (h *Hints) SetNotify(f func()) {
	h.mu.Lock()
	h.notify = f
	h.mu.Unlock()
}

// Add queues hints, dropping the oldest pending ones if the intake is
// full, then calls the notify function (if any hint was given). It never
// blocks on a cycle in progress.
func (h *Hints) Add(hints ...Hint) {
	if len(hints) == 0 {
		return
	}
	added := block.Nanos(h.clock())
	h.mu.Lock()
	for _, x := range hints {
		h.arrived++
		e := hintEntry{hash: x.Hash, meta: x.Meta, due: block.Nanos(x.Due), arrival: h.arrived, added: added}
		if h.n == len(h.ring) && len(h.ring) < h.capacity {
			h.grow()
		}
		if h.n == len(h.ring) {
			h.ring[h.head] = e // full: overwrite the oldest
			h.head = (h.head + 1) % len(h.ring)
			h.dropped++
			continue
		}
		h.ring[(h.head+h.n)%len(h.ring)] = e
		h.n++
	}
	notify := h.notify
	h.mu.Unlock()
	if notify != nil {
		notify()
	}
}

// grow doubles the ring, up to the capacity, keeping the order (the ring
// grows with use: a large bound costs nothing until it is reached).
func (h *Hints) grow() {
	ring := make([]hintEntry, min(h.capacity, max(64, 2*len(h.ring))))
	for i := range h.n {
		ring[i] = h.ring[(h.head+i)%len(h.ring)]
	}
	h.ring, h.head = ring, 0
}

// Len returns the number of pending hints (expired ones leave at the next
// cycle).
func (h *Hints) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Dropped returns how many hints Add has dropped because the intake was
// full.
func (h *Hints) Dropped() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dropped
}

// Due returns the earliest Due among the pending hints for hash, as of the
// last cycle's Candidates, and whether there is one. A scorer uses it to
// rank hinted blocks by deadline.
func (h *Hints) Due(hash block.Hash) (time.Time, bool) {
	h.mu.Lock()
	d, ok := h.due[hash]
	h.mu.Unlock()
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, d), true
}

// Rank returns the position of hash in the last cycle's order (earliest
// Due first, then arrival), and whether it is pending.
func (h *Hints) Rank(hash block.Hash) (int, bool) {
	h.mu.Lock()
	r, ok := h.rank[hash]
	h.mu.Unlock()
	return r, ok
}

// Candidates drops the hints whose Due (plus Grace) is not after the
// cycle's clock, leases the blocks of the hints it sees for the first time
// (when [Hints.SetLease] says to, before it returns), then streams each hinted block once, earliest pending Due
// first, then in the arrival order of that hint, with its metadata (from Lookup when set; a
// block Lookup does not know is held back).
func (h *Hints) Candidates(_ context.Context, cy *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
	now := block.Nanos(cy.Now)
	grace := int64(h.grace)
	h.mu.Lock()
	clear(h.due)
	clear(h.rank)
	live := make([]hintEntry, 0, h.n)
	kept := 0
	ls := h.lease
	var leases []leaseCall
	for i := range h.n {
		e := h.ring[(h.head+i)%len(h.ring)]
		if e.due <= math.MaxInt64-grace && now >= e.due+grace {
			if !e.served {
				h.acct.expired++
			}
			continue // served by now
		}
		if !e.seen {
			e.seen = true
			if ls.leaser != nil && now < e.due {
				leases = append(leases, leaseCall{hash: e.hash, until: leaseUntil(e.due, ls.grace)})
			}
		}
		h.ring[(h.head+kept)%len(h.ring)] = e
		kept++
		if i, seen := h.rank[e.hash]; seen {
			if e.due < live[i].due {
				live[i].due = e.due
				live[i].arrival = e.arrival
			}
			continue
		}
		h.rank[e.hash] = len(live)
		live = append(live, e)
	}
	slices.SortFunc(live, func(a, b hintEntry) int {
		if c := cmp.Compare(a.due, b.due); c != 0 {
			return c
		}
		return cmp.Compare(a.arrival, b.arrival)
	})
	for i, e := range live {
		h.due[e.hash] = e.due
		h.rank[e.hash] = i
	}
	for i := kept; i < h.n; i++ {
		h.ring[(h.head+i)%len(h.ring)] = hintEntry{}
	}
	h.n = kept
	h.mu.Unlock()
	if len(leases) > 0 {
		h.leaseAll(ls, cy.Namespace, leases)
	}
	return func(yield func(block.Hash, block.Meta) bool) {
		for _, e := range live {
			m := e.meta
			if h.lookup != nil {
				var ok bool
				if m, ok = h.lookup(e.hash); !ok {
					continue
				}
			}
			if !yield(e.hash, m) {
				return
			}
		}
	}
}
