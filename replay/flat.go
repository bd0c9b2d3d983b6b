package replay

import "github.com/wombatkv/prefetch/internal/slru"

// The flat tier: the store's segmented LRU (internal/slru, as
// store.Config.Admission configures it), over the run's dense block
// numbers, with the lab's tallies of what it evicts.

// inNone is r.where[b] for a block not in flat; otherwise it is slru.Main
// or slru.Probation.
const inNone = slru.None

// dropVictims accounts for the blocks the last admission evicted: an
// unread prefetched block is wasted.
func (r *run) dropVictims() {
	for _, v := range r.victims {
		r.note(v)
		if r.unread[v] {
			r.unread[v] = false
			r.evictedUnread++
		}
	}
}

// demandInsert puts b, just read by a request, at the MRU end (nowhere if
// it is larger than flat).
func (r *run) demandInsert(b int32) {
	r.victims, _ = r.flat.Admit(b, r.m.size[b], slru.PlaceFront, r.victims[:0])
	r.dropVictims()
}

// admit puts b, whose prefetch completed, where the admission says. A
// block larger than it admits (flat, or the probation segment) is wasted
// and evicts nothing.
func (r *run) admit(b int32) {
	var ok bool
	r.victims, ok = r.flat.Admit(b, r.m.size[b], r.place, r.victims[:0])
	r.dropVictims()
	if !ok {
		r.evictedUnread++
		return
	}
	r.unread[b] = true
}

// touch moves b, read by a request, to the MRU end.
func (r *run) touch(b int32) { r.flat.Touch(b) }

// emptyFlat empties flat, as a restart does: an unread prefetched block is
// wasted.
func (r *run) emptyFlat() {
	for b := range r.flat.All() {
		r.note(b)
		if r.unread[b] {
			r.unread[b] = false
			r.evictedUnread++
		}
	}
	r.flat.Clear()
}
