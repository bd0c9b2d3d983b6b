package shadow

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/internal/slru"
	"github.com/wombatkv/prefetch/internal/usefulness"
)

// Tiers is a shadow's simulated flat tier: what the candidate's stages
// are built over in place of the node's store. It answers the filters'
// questions (ContainsFlat, InFlight, FreeBytes, PendingGets) from the
// simulation and grants the hint intake's leases (Lease) as the store
// does, so a hint policy in shadow keeps its cap on GETs in flight and its
// lease; its Materialize records a would-be GET and returns at once: it
// does no I/O, ever. It is safe for concurrent use.
type Tiers struct {
	ns    string
	clock func() time.Time
	place slru.Place

	mu      sync.Mutex
	flat    *slru.Order
	ids     map[block.Hash]int32 // block to handle, for the blocks in flat
	hashes  []block.Hash         // handle to block
	marks   []usefulness.Mark    // handle to its accounting record
	free    []int32
	victims []int32
	landing landings // would-be GETs in flight, by landing time
	pending map[block.Hash]*landing
	pendB   int64

	tally      usefulness.Tally
	wouldFetch uint64
	getSum     time.Duration // the live GETs observed
	getN       uint64
	getDefault time.Duration
}

// landing is a would-be GET in flight.
type landing struct {
	h    block.Hash
	size int64
	at   time.Time // when it lands
	seq  uint64    // issue order, which orders landings at one instant
	i    int       // index in the heap
}

func newTiers(ns string, budget int64, adm slru.Admission, getCost time.Duration, clock func() time.Time) *Tiers {
	t := &Tiers{
		ns:         ns,
		clock:      clock,
		place:      adm.Place(),
		flat:       slru.New(0, budget, adm.ProbationBudget(budget)),
		ids:        make(map[block.Hash]int32),
		pending:    make(map[block.Hash]*landing),
		getDefault: getCost,
	}
	t.flat.SetTimed(budget, adm) // guesses' TTL and leases' pins, as the store's
	return t
}

// ContainsFlat reports whether the simulated flat tier holds block h (a
// filter.Flat).
func (t *Tiers) ContainsFlat(_ context.Context, ns string, h block.Hash) bool {
	if ns != t.ns {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.land(t.clock())
	_, ok := t.inFlat(h)
	return ok
}

// InFlight reports whether a would-be GET of block h has not landed yet
// (a filter.InFlight).
func (t *Tiers) InFlight(ns string, h block.Hash) bool {
	if ns != t.ns {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.land(t.clock())
	_, ok := t.pending[h]
	return ok
}

// PendingGets returns the would-be GETs in flight in namespace ns
// (filter.Pending), for a candidate's cap on GETs in flight, as the store
// counts its prefetches' GETs.
func (t *Tiers) PendingGets(ns string) int {
	if ns != t.ns {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.land(t.clock())
	return len(t.pending)
}

// Lease leases block h of namespace ns until until, as the store does
// (snapshot.Leaser): if the simulated tier holds it, it moves to the most
// recently used end, or with pin is pinned until until within
// slru.PinShare of the budget. It counts as no read. It reports whether
// the tier held h.
func (t *Tiers) Lease(ns string, h block.Hash, until time.Time, pin bool) bool {
	if ns != t.ns {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.land(t.clock())
	hd, ok := t.inFlat(h)
	if ok {
		t.flat.Lease(hd, block.Nanos(until), pin)
	}
	return ok
}

// FreeBytes returns the room where the admission puts a prefetched block,
// less the would-be GETs in flight, as the store counts it (a
// filter.Room).
func (t *Tiers) FreeBytes(ns string) int64 {
	if ns != t.ns {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.land(t.clock())
	return max(t.flat.Room(t.place)-t.pendB, 0)
}

// errTooLarge is the store's failure for a block flat cannot admit.
type errTooLarge struct{ size, max int64 }

func (e errTooLarge) Error() string {
	return fmt.Sprintf("shadow: block of %d bytes, more than the simulated flat tier admits (%d bytes)", e.size, e.max)
}

// Reason returns "too_large", the store's reason (store.ReasonTooLarge).
func (e errTooLarge) Reason() string { return "too_large" }

// Materialize records a would-be GET of block h, of m.PayloadBytes, and
// returns at once (a fetch.Materializer that fetches nothing): found, as
// the store says of a block already in flat or in flight without a new
// GET, and of a new GET, which lands one observed GET time from now. A
// block larger than the simulated tier admits fails with reason
// "too_large", as in the store.
func (t *Tiers) Materialize(ctx context.Context, ns string, h block.Hash, m block.Meta) (int64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	size, _ := m.Size()
	if ns != t.ns {
		return size, true, nil // not simulated
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock()
	t.land(now)
	if _, ok := t.inFlat(h); ok {
		return size, true, nil
	}
	if _, ok := t.pending[h]; ok {
		return size, true, nil
	}
	if max := t.flat.MaxSize(t.place); size > max {
		return 0, false, errTooLarge{size, max}
	}
	t.wouldFetch++
	l := &landing{h: h, size: size, at: now.Add(t.getCost()), seq: t.wouldFetch}
	heap.Push(&t.landing, l)
	t.pending[h] = l
	t.pendB += size
	return size, true, nil
}

// read is the node's read of block h, of size bytes, at now: a would-be
// useful hit, a late join, or a read the candidate did not serve. The
// block then is in flat (the node's read brings it there, as a Get does).
func (t *Tiers) read(h block.Hash, size int64, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.land(now)
	if hd, ok := t.inFlat(h); ok {
		t.tally.Hit(&t.marks[hd], now)
		t.flat.Touch(hd)
		return
	}
	if l, ok := t.pending[h]; ok {
		t.tally.Late(now, l.at)
		t.tally.Read(usefulness.ReadJoined)
		heap.Remove(&t.landing, l.i)
		delete(t.pending, h)
		t.pendB -= l.size
		size = max(size, l.size)
	} else {
		t.tally.Read(usefulness.ReadCold)
	}
	t.admit(h, size, slru.PlaceFront, usefulness.Mark{}, now)
}

// land admits the would-be GETs that have landed by now, each marked as
// published when it landed, the tier's clock advanced to each landing
// (pins end, guesses age) and then to now. Call with mu held.
func (t *Tiers) land(now time.Time) {
	for len(t.landing) > 0 && !t.landing[0].at.After(now) {
		l := heap.Pop(&t.landing).(*landing)
		delete(t.pending, l.h)
		t.pendB -= l.size
		t.flat.Advance(block.Nanos(l.at))
		t.admit(l.h, l.size, t.place, t.tally.Published(l.at), l.at)
	}
	t.flat.Advance(block.Nanos(now))
}

// inFlat returns block h's handle when the simulated tier holds it.
func (t *Tiers) inFlat(h block.Hash) (int32, bool) {
	hd, ok := t.ids[h]
	if !ok || t.flat.Segment(hd) == slru.None {
		return 0, false
	}
	return hd, true
}

// admit enters block h at p with mark m, evicting for the budget (an
// unread prefetched victim is wasted). A block larger than p admits is
// not entered; a prefetched one is then wasted at once.
func (t *Tiers) admit(h block.Hash, size int64, p slru.Place, m usefulness.Mark, now time.Time) {
	hd, ok := t.ids[h]
	if !ok {
		if n := len(t.free); n > 0 {
			hd, t.free = t.free[n-1], t.free[:n-1]
		} else {
			hd = int32(len(t.hashes))
			t.hashes = append(t.hashes, block.Hash{})
			t.marks = append(t.marks, usefulness.Mark{})
			t.flat.Grow(len(t.hashes))
		}
		t.ids[h], t.hashes[hd] = hd, h
	}
	t.tally.Removed(&t.marks[hd], now) // a copy replaced (none in practice)
	t.marks[hd] = m
	var admitted bool
	t.victims, admitted = t.flat.Admit(hd, size, p, t.victims[:0])
	for _, v := range t.victims {
		t.tally.Evicted(&t.marks[v], now)
		t.release(v)
	}
	if !admitted {
		t.tally.Evicted(&t.marks[hd], now)
		t.release(hd)
	}
}

// release frees handle hd, whose block left the simulated tier.
func (t *Tiers) release(hd int32) {
	delete(t.ids, t.hashes[hd])
	t.marks[hd] = usefulness.Mark{}
	t.free = append(t.free, hd)
}

// observe records a live GET of duration d.
func (t *Tiers) observe(d time.Duration) {
	t.mu.Lock()
	t.getSum += d
	t.getN++
	t.mu.Unlock()
}

// getCost is the GET time a would-be GET takes: the mean of the live GETs
// observed, or the configured default before any. Call with mu held.
func (t *Tiers) getCost() time.Duration {
	if t.getN == 0 {
		return t.getDefault
	}
	return t.getSum / time.Duration(t.getN)
}

// landings is a min-heap of would-be GETs by landing time, then issue
// order (as the lab lands its GETs).
type landings []*landing

func (q landings) Len() int { return len(q) }
func (q landings) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q landings) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].i, q[j].i = i, j
}
func (q *landings) Push(x any) {
	l := x.(*landing)
	l.i = len(*q)
	*q = append(*q, l)
}
func (q *landings) Pop() any {
	old := *q
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return l
}
