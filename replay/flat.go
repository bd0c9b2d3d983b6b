package replay

import (
	"time"

	"github.com/wombatkv/prefetch/internal/slru"
)

// The flat tier: the store's segmented LRU (internal/slru, as
// store.Config.Admission configures it), over the run's dense block
// numbers, and the store's accounting of what became of each prefetched
// block (internal/usefulness): a Mark beside each block, events told to
// the run's Tally at their virtual instant, so that the lab's useful, late
// and wasted are the store's.

// at is the virtual instant ns as a time.Time, for the accounting.
func at(ns int64) time.Time { return time.Unix(0, ns) }

// inNone is r.where[b] for a block not in flat; otherwise it is slru.Main
// or slru.Probation.
const inNone = slru.None

// dropVictims accounts for the blocks the last admission, at now,
// evicted: an unread prefetched block is wasted.
func (r *run) dropVictims(now int64) {
	for _, v := range r.victims {
		r.note(v)
		r.tally.Evicted(&r.marks[v], at(now))
	}
}

// demandInsert puts b, just read by a request at now, at the MRU end
// (nowhere if it is larger than flat).
func (r *run) demandInsert(b int32, now int64) {
	r.victims, _ = r.flat.Admit(b, r.m.size[b], slru.PlaceFront, r.victims[:0])
	r.dropVictims(now)
}

// admit puts b, whose prefetch completed at now, where the admission
// says. A block larger than it admits (flat, or the probation segment) is
// wasted at once and evicts nothing.
func (r *run) admit(b int32, now int64) {
	var ok bool
	r.victims, ok = r.flat.Admit(b, r.m.size[b], r.place, r.victims[:0])
	r.dropVictims(now)
	mark := r.tally.Published(at(now))
	if !ok {
		r.tally.Evicted(&mark, at(now))
		return
	}
	r.marks[b] = mark
}

// touch moves b, read by a request, to the MRU end.
func (r *run) touch(b int32) { r.flat.Touch(b) }

// emptyFlat empties flat, as a restart at now does: an unread prefetched
// block is wasted (removed, as the store counts a block that leaves flat
// otherwise than by eviction).
func (r *run) emptyFlat(now int64) {
	for b := range r.flat.All() {
		r.note(b)
		r.tally.Removed(&r.marks[b], at(now))
	}
	r.flat.Clear()
}
