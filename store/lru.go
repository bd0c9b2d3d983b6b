package store

import (
	"time"

	"github.com/wombatkv/prefetch/internal/slru"
	"github.com/wombatkv/prefetch/internal/usefulness"
)

// place says where admit puts a block: the front or back of the main
// list, or the probation list (see [slru.Place]).
type place = slru.Place

const (
	placeFront     = slru.PlaceFront     // most recently used end of the main list
	placeBack      = slru.PlaceBack      // least recently used end of the main list
	placeProbation = slru.PlaceProbation // most recently used end of the probation list
)

// entry is one block of the flat tier in the recency index.
type entry struct {
	key   string          // "<ns>/<64 hex>": the index key and, joined to the root, the path
	size  int64           // payload bytes
	stamp time.Time       // recency stamp, mirrored as the file's mtime
	mark  usefulness.Mark // prefetched and unread since, and when (prefetch accounting)
}

// recency is the flat tier's byte-budgeted LRU index, optionally segmented
// with a probation list for prefetched blocks: the module's one segmented
// LRU ([slru.Order], which the replay lab simulates too) over handles,
// with the block ids and recency stamps that are the store's own. It does
// no I/O and is not safe for concurrent use: the Store guards it with its
// mutex.
type recency struct {
	o       *slru.Order
	ids     map[string]int32 // key to handle
	ents    []*entry         // handle to entry; nil for a free handle
	free    []int32          // free handles
	victims []int32          // scratch for the order's victims
}

func newRecency(budget, probBudget int64) *recency {
	return &recency{o: slru.New(0, budget, probBudget), ids: make(map[string]int32)}
}

// timed sets the lists bound by time of an index of budget bytes, as
// every tier sets them (slru.Order.SetTimed).
func (r *recency) timed(budget int64, adm slru.Admission) { r.o.SetTimed(budget, adm) }

// pinned returns the bytes the leases pin.
func (r *recency) pinned() int64 { return r.o.SegmentBytes(slru.Pinned) }

// bytes returns the bytes flat holds, both lists.
func (r *recency) bytes() int64 { return r.o.Bytes() }

// room returns the bytes a block admitted at p may take without evicting
// anything.
func (r *recency) room(p place) int64 { return r.o.Room(p) }

// maxSize returns the largest block that may enter flat at p.
func (r *recency) maxSize(p place) int64 { return r.o.MaxSize(p) }

// get returns the entry indexed under key, or nil. An entry is replaced,
// not changed, when its block is admitted again, so it names one
// publication.
func (r *recency) get(key string) *entry {
	if h, ok := r.ids[key]; ok {
		return r.ents[h]
	}
	return nil
}

// handle returns key's handle, allocating one if key has none.
func (r *recency) handle(key string) int32 {
	if h, ok := r.ids[key]; ok {
		return h
	}
	var h int32
	if n := len(r.free); n > 0 {
		h, r.free = r.free[n-1], r.free[:n-1]
	} else {
		h = int32(len(r.ents))
		r.ents = append(r.ents, nil)
		r.o.Grow(len(r.ents))
	}
	r.ids[key] = h
	return h
}

// release frees handle h, whose block has left the order, and returns its
// entry.
func (r *recency) release(h int32) *entry {
	e := r.ents[h]
	r.ents[h] = nil
	delete(r.ids, e.key)
	r.free = append(r.free, h)
	return e
}

// evicted releases the order's victims and returns their entries.
func (r *recency) evicted() []*entry {
	var out []*entry
	for _, h := range r.victims {
		out = append(out, r.release(h))
	}
	r.victims = r.victims[:0]
	return out
}

// admit makes room for a block of size bytes and records it at p. It
// returns the entries evicted to make room (their files are the caller's to
// remove) and the block's recency stamp. A block already indexed under key
// is replaced. The caller has checked that size fits maxSize(p).
func (r *recency) admit(key string, size int64, p place, now time.Time) (evicted []*entry, stamp time.Time) {
	r.o.Advance(now.UnixNano()) // pins end, guesses age, on the wall clock
	h := r.handle(key)
	r.o.Remove(h)
	e := &entry{key: key, size: size, stamp: now}
	if p == placeBack {
		// Stamp it just older than the current tail so that a reopened
		// store, which orders blocks by mtime, puts it back at the tail.
		// (The tail may be evicted below; the stamp is then older than
		// needed, which orders the same.)
		if t, ok := r.o.Oldest(slru.Main); ok {
			if s := r.ents[t].stamp.Add(-time.Microsecond); s.Before(now) {
				e.stamp = s
			}
		}
	}
	r.ents[h] = e
	var ok bool
	r.victims, ok = r.o.Admit(h, size, p, r.victims[:0])
	if !ok {
		r.release(h)
	}
	return r.evicted(), e.stamp
}

// load records a block found on disk at Open. Blocks must be loaded from the
// oldest stamp to the newest; each lands at the front of the main list.
func (r *recency) load(key string, size int64, stamp time.Time) {
	h := r.handle(key)
	r.ents[h] = &entry{key: key, size: size, stamp: stamp}
	r.o.Load(h, size)
}

// trim evicts least recently used blocks until the index fits its budget.
func (r *recency) trim() []*entry {
	r.victims = r.o.Trim(r.victims[:0])
	return r.evicted()
}

// touch marks the block under key as just used: it moves to the front of
// the main list (promoted out of probation). It returns the block's entry,
// or nil when key is not indexed.
func (r *recency) touch(key string, now time.Time) *entry {
	h, ok := r.ids[key]
	if !ok || !r.o.Touch(h) {
		return nil
	}
	e := r.ents[h]
	if now.After(e.stamp) {
		e.stamp = now
	}
	return e
}

// forget drops key from the index (its file is gone or was never
// published).
func (r *recency) forget(key string) {
	if h, ok := r.ids[key]; ok {
		r.o.Remove(h)
		r.release(h)
	}
}

// order returns the indexed keys from the next to be evicted to the last,
// for tests and diagnostics.
func (r *recency) order() []string {
	keys := make([]string, 0, r.o.Len())
	for h := range r.o.All() {
		keys = append(keys, r.ents[h].key)
	}
	return keys
}
