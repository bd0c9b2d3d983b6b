package slru

import "iter"

// Segment is the list an entry is on.
type Segment uint8

const (
	None      Segment = iota // not in the order
	Main                     // the main list: every entry read, and prefetched ones under "mru" and "lru"
	Probation                // prefetched entries not read since ("probation:F" only)
	Pinned                   // entries pinned until a deadline ([Order.Pin])
	Guess                    // guessed entries not read since, until their TTL runs out ([PlaceGuess])
	nSegments
)

// Place is where [Order.Admit] puts an entry.
type Place uint8

const (
	PlaceFront     Place = iota // most recently used end of the main list
	PlaceBack                   // least recently used end of the main list
	PlaceProbation              // most recently used end of the probation list
	PlaceGuess                  // the guess list, for the guess TTL ([Order.SetGuess])
)

// list is a doubly linked list over an Order's prev and next arrays: head
// is the most recently used end, tail the least; -1 is no entry.
type list struct{ head, tail int32 }

// Order is a byte-weighted segmented LRU over the handles 0..n-1: a main
// list and a probation list, each from the most recently used entry to
// the least, with a byte budget for all entries together and one for the
// probation list; and two lists bound by time ([Order.Pin],
// [PlaceGuess]), each with a byte budget of its own, on the clock the
// caller advances ([Order.Advance]). The zero Order is not ready: use
// [New].
type Order struct {
	budget, probBudget int64
	pinBudget          int64
	guessBudget        int64
	guessTTL           int64 // ns
	now                int64 // ns, the latest Advance
	bytes              int64
	segBytes           [nSegments]int64
	segLen             [nSegments]int
	members            int
	seg                []Segment
	size               []int64
	prev, next         []int32
	deadline           []int64         // Pinned: until; Guess: admitted + TTL
	lists              [nSegments]list // by Segment; lists[None] is unused
	pins               pinHeap
}

// New returns an empty order over the handles 0..n-1 that holds at most
// budget bytes, at most probBudget of them on the probation list
// (clamped to 0..budget).
func New(n int, budget, probBudget int64) *Order {
	o := &Order{}
	for i := range o.lists {
		o.lists[i] = list{-1, -1}
	}
	o.SetBudget(budget, probBudget)
	o.Grow(n)
	return o
}

// Grow makes the handles 0..n-1 valid. It never shrinks the order, and
// moves the slice [Order.Segments] returns.
func (o *Order) Grow(n int) {
	if k := n - len(o.seg); k > 0 {
		o.seg = append(o.seg, make([]Segment, k)...)
		o.size = append(o.size, make([]int64, k)...)
		o.prev = append(o.prev, make([]int32, k)...)
		o.next = append(o.next, make([]int32, k)...)
		o.deadline = append(o.deadline, make([]int64, k)...)
	}
}

// SetBudget sets the budgets, probBudget clamped to 0..budget. It evicts
// nothing: call [Order.Trim] if the entries may no longer fit.
func (o *Order) SetBudget(budget, probBudget int64) {
	o.budget, o.probBudget = budget, min(max(probBudget, 0), budget)
}

// Budget returns the bytes the order may hold.
func (o *Order) Budget() int64 { return o.budget }

// ProbationBudget returns the bytes the probation list may hold.
func (o *Order) ProbationBudget() int64 { return o.probBudget }

// Bytes returns the bytes held, both lists.
func (o *Order) Bytes() int64 { return o.bytes }

// ProbationBytes returns the bytes held on the probation list.
func (o *Order) ProbationBytes() int64 { return o.segBytes[Probation] }

// SegmentBytes returns the bytes held on segment s.
func (o *Order) SegmentBytes(s Segment) int64 {
	if s == None || s >= nSegments {
		return 0
	}
	return o.segBytes[s]
}

// Len returns the entries held.
func (o *Order) Len() int { return o.members }

// Segment returns the list h is on, None when h is not in the order.
func (o *Order) Segment(h int32) Segment { return o.seg[h] }

// Segments returns the list of every handle, indexed by handle. It is the
// order's own slice, to read only, and is current until the next
// [Order.Grow].
func (o *Order) Segments() []Segment { return o.seg }

// MaxSize returns the largest entry Admit takes at p: the budget, or the
// probation budget for PlaceProbation.
func (o *Order) MaxSize(p Place) int64 {
	switch p {
	case PlaceProbation:
		return o.probBudget
	case PlaceGuess:
		return o.guessBudget
	}
	return o.budget
}

// Room returns the bytes an entry admitted at p may take without evicting
// anything (0 when there are none).
func (o *Order) Room(p Place) int64 {
	free := o.budget - o.bytes
	switch p {
	case PlaceProbation:
		free = min(free, o.probBudget-o.segBytes[Probation])
	case PlaceGuess:
		free = min(free, o.guessBudget-o.segBytes[Guess])
	}
	return max(free, 0)
}

// Admit records h, of size bytes, at p, after evicting what the budgets
// require, and returns victims with the evicted handles appended, from
// the first evicted on. An h already in the order is removed first (it is
// not a victim). An entry larger than MaxSize(p) is refused: Admit
// reports false and changes nothing.
//
// The eviction order is the one rule of the order: at PlaceProbation,
// probation's least recently used entries go until the entry fits the
// probation budget (at PlaceGuess, the oldest guesses until it fits the
// guess budget); then, at any place, entries go until it fits the
// budget, in this order: the guesses whose TTL has run out (oldest
// first), probation's least recently used entries, the main list's, the
// guesses still within their TTL, and last the pinned entries (the
// longest pinned first), which only an entry larger than the budget less
// the pin budget can reach.
func (o *Order) Admit(h int32, size int64, p Place, victims []int32) ([]int32, bool) {
	if size > o.MaxSize(p) {
		return victims, false
	}
	o.Remove(h)
	switch p {
	case PlaceProbation:
		for o.segBytes[Probation]+size > o.probBudget && o.lists[Probation].tail >= 0 {
			victims = append(victims, o.evict(Probation))
		}
	case PlaceGuess:
		for o.segBytes[Guess]+size > o.guessBudget && o.lists[Guess].tail >= 0 {
			victims = append(victims, o.evict(Guess))
		}
	}
	for o.bytes+size > o.budget && o.members > 0 {
		victims = append(victims, o.evictOne())
	}
	o.size[h] = size
	switch p {
	case PlaceFront:
		o.pushFront(Main, h)
	case PlaceBack:
		o.pushBack(Main, h)
	case PlaceProbation:
		o.pushFront(Probation, h)
	case PlaceGuess:
		o.deadline[h] = satAdd(o.now, o.guessTTL)
		o.pushFront(Guess, h)
	}
	return victims, true
}

// Load records h, of size bytes, at the most recently used end of the main
// list without evicting anything, to rebuild an order from the oldest
// entry to the newest; call [Order.Trim] after. An h already in the order
// is removed first.
func (o *Order) Load(h int32, size int64) {
	o.Remove(h)
	o.size[h] = size
	o.pushFront(Main, h)
}

// Trim evicts, in Admit's order, until the order fits its budget, and
// returns victims with the evicted handles appended.
func (o *Order) Trim(victims []int32) []int32 {
	for o.segBytes[Probation] > o.probBudget {
		victims = append(victims, o.evict(Probation))
	}
	for o.segBytes[Guess] > o.guessBudget {
		victims = append(victims, o.evict(Guess))
	}
	for o.segBytes[Pinned] > o.pinBudget {
		o.unpin(o.lists[Pinned].tail)
	}
	for o.bytes > o.budget && o.members > 0 {
		victims = append(victims, o.evictOne())
	}
	return victims
}

// Touch marks h as just read: it moves to the most recently used end of
// the main list, promoted out of probation or the guesses; a pinned entry
// stays pinned until its deadline. It reports false when h is not in the
// order.
func (o *Order) Touch(h int32) bool {
	s := o.seg[h]
	if s == None {
		return false
	}
	if s == Pinned || s == Main && o.lists[Main].head == h {
		return true
	}
	o.unlink(h)
	o.pushFront(Main, h)
	return true
}

// Remove drops h from the order, and reports whether it was there.
func (o *Order) Remove(h int32) bool {
	if o.seg[h] == None {
		return false
	}
	o.unlink(h)
	return true
}

// Clear empties the order.
func (o *Order) Clear() {
	for s := Main; s < nSegments; s++ {
		for h := o.lists[s].head; h >= 0; h = o.next[h] {
			o.seg[h] = None
		}
		o.lists[s] = list{-1, -1}
	}
	o.bytes, o.segBytes, o.segLen, o.members = 0, [nSegments]int64{}, [nSegments]int{}, 0
	o.pins = o.pins[:0]
}

// Oldest returns the least recently used entry of segment s, and false
// when s is empty.
func (o *Order) Oldest(s Segment) (int32, bool) {
	if s == None {
		return -1, false
	}
	t := o.lists[s].tail
	return t, t >= 0
}

// All yields the entries from the next to be evicted to the last, in
// Admit's order: the guesses past their TTL, the probation list, the main
// list, the guesses within their TTL, the pinned entries, each from its
// least recently used end. The order must not change while it runs.
func (o *Order) All() iter.Seq[int32] {
	return func(yield func(int32) bool) {
		young := o.lists[Guess].tail
		for ; young >= 0 && o.deadline[young] <= o.now; young = o.prev[young] {
			if !yield(young) {
				return
			}
		}
		for _, s := range [...]Segment{Probation, Main} {
			for h := o.lists[s].tail; h >= 0; h = o.prev[h] {
				if !yield(h) {
					return
				}
			}
		}
		for h := young; h >= 0; h = o.prev[h] {
			if !yield(h) {
				return
			}
		}
		for h := o.lists[Pinned].tail; h >= 0; h = o.prev[h] {
			if !yield(h) {
				return
			}
		}
	}
}

// evictOne evicts the next victim, in Admit's order.
func (o *Order) evictOne() int32 {
	if g := o.lists[Guess].tail; g >= 0 && o.deadline[g] <= o.now {
		return o.evict(Guess)
	}
	for _, s := range [...]Segment{Probation, Main, Guess} {
		if o.lists[s].tail >= 0 {
			return o.evict(s)
		}
	}
	return o.evict(Pinned)
}

func (o *Order) evict(s Segment) int32 {
	h := o.lists[s].tail
	o.unlink(h)
	return h
}

func (o *Order) unlink(h int32) {
	s := o.seg[h]
	l := &o.lists[s]
	p, n := o.prev[h], o.next[h]
	if p >= 0 {
		o.next[p] = n
	} else {
		l.head = n
	}
	if n >= 0 {
		o.prev[n] = p
	} else {
		l.tail = p
	}
	o.bytes -= o.size[h]
	o.segBytes[s] -= o.size[h]
	o.segLen[s]--
	o.members--
	o.seg[h] = None
}

func (o *Order) pushFront(s Segment, h int32) {
	l := &o.lists[s]
	o.prev[h], o.next[h] = -1, l.head
	if l.head >= 0 {
		o.prev[l.head] = h
	} else {
		l.tail = h
	}
	l.head = h
	o.link(s, h)
}

func (o *Order) pushBack(s Segment, h int32) {
	l := &o.lists[s]
	o.prev[h], o.next[h] = l.tail, -1
	if l.tail >= 0 {
		o.next[l.tail] = h
	} else {
		l.head = h
	}
	l.tail = h
	o.link(s, h)
}

func (o *Order) link(s Segment, h int32) {
	o.seg[h] = s
	o.bytes += o.size[h]
	o.segBytes[s] += o.size[h]
	o.segLen[s]++
	o.members++
}
