package store

import (
	"container/list"
	"time"
)

// segment names the list an entry of the recency index lives on.
type segment uint8

const (
	protected segment = iota // the main list (every block when not in probation mode)
	probation                // prefetched blocks not read since (probation mode only)
)

// entry is one block of the flat tier in the recency index.
type entry struct {
	key   string    // "<ns>/<64 hex>": the index key and, joined to the root, the path
	size  int64     // payload bytes
	stamp time.Time // recency stamp, mirrored as the file's mtime
	seg   segment
	elem  *list.Element
}

// recency is the flat tier's byte-budgeted LRU index, optionally segmented
// (SLRU) with a probation list for prefetched blocks. Each list runs from
// the most recently used block (front) to the least (back). It does no I/O
// and is not safe for concurrent use: the Store guards it with its mutex.
type recency struct {
	budget     int64 // bytes the flat tier may hold
	probBudget int64 // bytes the probation list may hold (probation mode)
	bytes      int64 // bytes held, both lists
	probBytes  int64 // bytes held on the probation list
	main, prob list.List
	m          map[string]*entry
}

func newRecency(budget, probBudget int64) *recency {
	return &recency{budget: budget, probBudget: probBudget, m: make(map[string]*entry)}
}

// place says where admit puts a block.
type place uint8

const (
	placeFront     place = iota // most recently used end of the main list
	placeBack                   // least recently used end of the main list
	placeProbation              // most recently used end of the probation list
)

// admit makes room for a block of size bytes and records it at p. It
// returns the entries evicted to make room (their files are the caller's to
// remove) and the block's recency stamp. A block already indexed under key
// is replaced. The caller has checked that size fits the budget.
func (r *recency) admit(key string, size int64, p place, now time.Time) (evicted []*entry, stamp time.Time) {
	if old, ok := r.m[key]; ok {
		r.remove(old)
	}
	if p == placeProbation {
		for r.probBytes+size > r.probBudget && r.prob.Len() > 0 {
			evicted = append(evicted, r.evictOne(&r.prob))
		}
	}
	evicted = append(evicted, r.evictFor(size)...)
	e := &entry{key: key, size: size, stamp: now}
	switch p {
	case placeFront:
		e.elem = r.main.PushFront(e)
	case placeBack:
		// Stamp it just older than the current tail so that a reopened
		// store, which orders blocks by mtime, puts it back at the tail.
		if b := r.main.Back(); b != nil {
			if t := b.Value.(*entry).stamp.Add(-time.Microsecond); t.Before(now) {
				e.stamp = t
			}
		}
		e.elem = r.main.PushBack(e)
	case placeProbation:
		e.seg = probation
		e.elem = r.prob.PushFront(e)
		r.probBytes += size
	}
	r.bytes += size
	r.m[key] = e
	return evicted, e.stamp
}

// load records a block found on disk at Open. Blocks must be loaded from the
// oldest stamp to the newest; each lands at the front of the main list.
func (r *recency) load(key string, size int64, stamp time.Time) {
	if old, ok := r.m[key]; ok {
		r.remove(old)
	}
	e := &entry{key: key, size: size, stamp: stamp}
	e.elem = r.main.PushFront(e)
	r.bytes += size
	r.m[key] = e
}

// trim evicts least recently used blocks until the index fits its budget.
func (r *recency) trim() []*entry { return r.evictFor(0) }

// evictFor evicts least recently used blocks, probation's first, until
// size more bytes fit the budget.
func (r *recency) evictFor(size int64) (evicted []*entry) {
	for r.bytes+size > r.budget && r.prob.Len()+r.main.Len() > 0 {
		l := &r.prob
		if l.Len() == 0 {
			l = &r.main
		}
		evicted = append(evicted, r.evictOne(l))
	}
	return evicted
}

// touch marks the block under key as just used: it moves to the front of
// the main list (promoted out of probation). It reports false when key is
// not indexed.
func (r *recency) touch(key string, now time.Time) bool {
	e, ok := r.m[key]
	if !ok {
		return false
	}
	if e.seg == probation {
		r.prob.Remove(e.elem)
		r.probBytes -= e.size
		e.seg = protected
		e.elem = r.main.PushFront(e)
	} else {
		r.main.MoveToFront(e.elem)
	}
	if now.After(e.stamp) {
		e.stamp = now
	}
	return true
}

// forget drops key from the index (its file is gone or was never
// published).
func (r *recency) forget(key string) {
	if e, ok := r.m[key]; ok {
		r.remove(e)
	}
}

func (r *recency) evictOne(l *list.List) *entry {
	e := l.Back().Value.(*entry)
	r.remove(e)
	return e
}

func (r *recency) remove(e *entry) {
	if e.seg == probation {
		r.prob.Remove(e.elem)
		r.probBytes -= e.size
	} else {
		r.main.Remove(e.elem)
	}
	r.bytes -= e.size
	delete(r.m, e.key)
}

// order returns the indexed keys from the next to be evicted to the last,
// for tests and diagnostics.
func (r *recency) order() []string {
	keys := make([]string, 0, len(r.m))
	for _, l := range []*list.List{&r.prob, &r.main} {
		for el := l.Back(); el != nil; el = el.Prev() {
			keys = append(keys, el.Value.(*entry).key)
		}
	}
	return keys
}
