package slru

import (
	"container/heap"
	"math"
)

// The segments bound by time: pinned entries, kept from eviction until a
// deadline, and guesses, protected for a TTL and then evicted first. Both
// read the order's clock, which the caller advances (Advance) before it
// admits, pins or evicts: the store with its wall clock, the lab with its
// virtual one, both in nanoseconds.

// PinShare is the share of a tier's budget that leases may pin at once
// (store.PinShare, the lab's and the shadows' tiers alike): pins can never
// hold all of a tier, so an entry up to the rest of the budget always fits
// without unpinning anything.
const PinShare = 0.25

// SetTimed sets the lists bound by time of an order of budget bytes as
// every tier sets them: the guess list as adm says (a "guess:F:TTL"
// admission), and PinShare of the budget for the leases' pins.
func (o *Order) SetTimed(budget int64, adm Admission) {
	o.SetGuess(adm.GuessBudget(budget), int64(adm.TTL))
	o.SetPinBudget(int64(float64(budget) * PinShare))
}

// Lease is a hinted entry's lease (snapshot.Leaser, as every tier grants
// it): with pin, h is pinned until the deadline until (nanoseconds, as
// Advance's clock) if the pin budget has room, and it reports true;
// otherwise h moves to the most recently used end of the main list, as a
// read would move it, and it reports false. Advance the clock first.
func (o *Order) Lease(h int32, until int64, pin bool) (pinned bool) {
	if pin && o.Pin(h, until) {
		return true
	}
	o.Touch(h)
	return false
}

// SetPinBudget sets the most bytes [Order.Pin] may hold pinned (clamped to
// 0..the budget; 0, the default, pins nothing). A bound below the budget
// is what keeps pins from taking all of the order: an entry up to the
// budget less the pin budget always fits without unpinning anything. It
// evicts nothing and unpins nothing: call [Order.Trim] for that.
func (o *Order) SetPinBudget(bytes int64) { o.pinBudget = min(max(bytes, 0), o.budget) }

// PinBudget returns the most bytes the order holds pinned.
func (o *Order) PinBudget() int64 { return o.pinBudget }

// SetGuess sets the guess list's byte budget (clamped to 0..the budget)
// and its TTL in nanoseconds: an entry admitted at [PlaceGuess] at time t
// is evicted only after the main list's entries until t + ttl, and before
// every other entry from then on; a read promotes it to the main list.
// Set it before admitting guesses: the TTL of a guess is fixed when it is
// admitted.
func (o *Order) SetGuess(budget, ttl int64) {
	o.guessBudget, o.guessTTL = min(max(budget, 0), o.budget), max(ttl, 0)
}

// Now returns the order's clock: the latest time [Order.Advance] was
// given, in nanoseconds.
func (o *Order) Now() int64 { return o.now }

// Advance sets the order's clock to now (a clock that steps back is held
// at the latest time seen) and returns to the most recently used end of
// the main list every pinned entry whose deadline is not after it. Guesses
// past their TTL need nothing: they are evicted first from then on.
func (o *Order) Advance(now int64) {
	o.now = max(o.now, now)
	for len(o.pins) > 0 && o.pins[0].until <= o.now {
		p := heap.Pop(&o.pins).(pin)
		if o.seg[p.h] == Pinned && o.deadline[p.h] == p.until {
			o.unpin(p.h)
		}
	}
}

// Pin keeps h from eviction until until (ns, on the order's clock) and
// moves it to the most recently used end of what it leaves, as a read
// would: a lease for a request known to read h by then. A pinned entry
// pinned again keeps the later deadline. When the pin budget has no room
// for h, h is only touched ([Order.Touch]). Pin reports whether h is
// pinned; a handle not in the order, or a deadline not after the order's
// clock, pins nothing (the latter only touches h).
func (o *Order) Pin(h int32, until int64) bool {
	switch o.seg[h] {
	case None:
		return false
	case Pinned:
		if until > o.deadline[h] {
			o.deadline[h] = until
			o.pushPin(h, until)
		}
		return true
	}
	if until <= o.now || o.segBytes[Pinned]+o.size[h] > o.pinBudget {
		o.Touch(h)
		return false
	}
	o.unlink(h)
	o.deadline[h] = until
	o.pushFront(Pinned, h)
	o.pushPin(h, until)
	return true
}

// Deadline returns until when h is pinned, or when its TTL as a guess
// runs out, and false for an entry on neither list.
func (o *Order) Deadline(h int32) (int64, bool) {
	if s := o.seg[h]; s == Pinned || s == Guess {
		return o.deadline[h], true
	}
	return 0, false
}

// unpin moves the pinned h to the most recently used end of the main list.
func (o *Order) unpin(h int32) {
	o.unlink(h)
	o.pushFront(Main, h)
}

// pushPin records a deadline of h, and drops the stale records when they
// outnumber the pinned entries, so the heap stays within a small multiple
// of the entries pinned.
func (o *Order) pushPin(h int32, until int64) {
	if len(o.pins) > 64 && len(o.pins) > 2*o.segLen[Pinned] {
		live := o.pins[:0]
		for _, p := range o.pins {
			if o.seg[p.h] == Pinned && o.deadline[p.h] == p.until {
				live = append(live, p)
			}
		}
		o.pins = live
		heap.Init(&o.pins)
	}
	heap.Push(&o.pins, pin{until: until, h: h})
}

// pin is one deadline of a pinned entry; stale once the entry's deadline
// moved or it left the list.
type pin struct {
	until int64
	h     int32
}

// pinHeap is the deadlines by time, then handle (container/heap).
type pinHeap []pin

func (q pinHeap) Len() int { return len(q) }
func (q pinHeap) Less(i, j int) bool {
	return q[i].until < q[j].until || q[i].until == q[j].until && q[i].h < q[j].h
}
func (q pinHeap) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *pinHeap) Push(x any)   { *q = append(*q, x.(pin)) }
func (q *pinHeap) Pop() any {
	old := *q
	p := old[len(old)-1]
	*q = old[:len(old)-1]
	return p
}

// satAdd returns a + b, held at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
