package replay

import (
	"context"
	"iter"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// Oracle is the lab's clairvoyant stage, a pipeline.Source and a
// pipeline.Scorer both ([Env.Oracle]). It reads the trace ahead of the
// clock, which no node can: a policy built on it is a bound to measure
// others by (oracle-v3, the share of the oracle), not one to deploy.
//
// As a source it proposes, in order of next use, the blocks that are
// seen, not in flat, not in flight and read again later, until it has the
// cycle's TopK and has finished the request of the K-th (so that ties by
// id are complete). As a scorer it gives a block it proposed in the cycle
// minus the index of the request that next reads it: the soonest ranks
// first, equal ones by the lower id.
//
// A cycle costs O((K + c) log n) for c changes to the run's state since
// the last (a block read, evicted, landed, canceled): the blocks a GET
// could bring into flat wait in a queue by next use, which the run keeps
// up to date as their state changes.
type Oracle struct {
	r     *run
	stamp uint32
	mark  []uint32
	// nextUse is the request that next reads each block proposed in the
	// cycle marked stamp.
	nextUse []int32
	q       oracleQueue
	picked  []int32 // scratch: the cycle's proposals, as queue keys
}

// Oracle returns the replay's clairvoyant stage, made at the first call.
func (e *Env) Oracle() *Oracle {
	if e.oracle == nil {
		r := e.r
		n := len(r.m.ids)
		e.oracle = &Oracle{r: r, mark: make([]uint32, n), nextUse: make([]int32, n)}
		e.oracle.q.init(r)
		r.oq = &e.oracle.q
	}
	return e.oracle
}

// Candidates streams the blocks read soonest that a GET could bring into
// flat (pipeline.Source). The sequence can be consumed once.
func (o *Oracle) Candidates(_ context.Context, cy *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
	return func(yield func(block.Hash, block.Meta) bool) {
		m := o.r.m
		o.stamp++
		o.picked = o.q.soonest(cy.TopK, o.picked[:0])
		for _, k := range o.picked {
			b := m.refs[k]
			o.mark[b] = o.stamp
			o.nextUse[b] = m.requestOf(k)
		}
		for _, k := range o.picked {
			b := m.refs[k]
			if !yield(Hash(m.ids[b]), m.meta(b, 0)) {
				return
			}
		}
	}
}

// Score returns minus the index of the next request that reads h
// (pipeline.Scorer). It is meant for the blocks the same cycle's
// Candidates proposed; a block they did not reach scores -Inf.
func (o *Oracle) Score(_ time.Time, h block.Hash, _ block.Meta) float64 {
	b, ok := o.r.m.lookup(h)
	if !ok || o.mark[b] != o.stamp {
		return math.Inf(-1)
	}
	return -float64(o.nextUse[b])
}

// oracleQueue holds the blocks a GET could bring into flat (seen, not in
// flat, not in flight, read again later: eligible) by next use. A block's
// key is the position in m.refs of its next read (r.next), so keys order
// as the requests that next read the blocks, then as the blocks' first
// places in those requests: the order in which a walk forward through the
// requests meets them.
//
// The queue is a min-heap of keys, cleaned lazily: the run notes every
// block whose eligibility or key may have changed ([run.note]), a cycle
// first queues the noted blocks that are eligible under their current
// key, and an entry that no longer names an eligible block under its key
// is dropped when it reaches the top. Entries are at most twice the
// blocks (plus a constant): past that the queue is rebuilt from its live
// entries.
type oracleQueue struct {
	r    *run
	keys refHeap
	// queued is each block's key in keys, or -1 when it has no live
	// entry.
	queued  []int32
	noted   []bool
	pending []int32 // the noted blocks
	started bool
}

func (q *oracleQueue) init(r *run) {
	q.r = r
	n := len(r.m.ids)
	q.queued = make([]int32, n)
	for b := range q.queued {
		q.queued[b] = -1
	}
	q.noted = make([]bool, n)
}

// note records that block b's eligibility or key may have changed.
func (q *oracleQueue) note(b int32) {
	if !q.noted[b] {
		q.noted[b] = true
		q.pending = append(q.pending, b)
	}
}

// eligible reports whether a GET could bring b into flat, and b is read
// again.
func (q *oracleQueue) eligible(b int32) bool {
	r := q.r
	return r.seen[b] && r.where[b] == inNone && !r.pend[b] && r.next[b] != noRef
}

// enqueue gives b a live entry under its current key, if it is eligible
// and has none.
func (q *oracleQueue) enqueue(b int32) {
	if k := q.r.next[b]; q.queued[b] != k && q.eligible(b) {
		q.queued[b] = k
		q.keys.push(k)
	}
}

// sync brings the queue up to date with the run's state.
func (q *oracleQueue) sync() {
	if !q.started {
		// The first cycle (the oracle may be made mid-run): every block.
		q.started = true
		for _, b := range q.pending {
			q.noted[b] = false
		}
		q.pending = q.pending[:0]
		for b := range q.queued {
			q.enqueue(int32(b))
		}
	}
	for _, b := range q.pending {
		q.noted[b] = false
		q.enqueue(b)
	}
	q.pending = q.pending[:0]
	if len(q.keys) > 2*len(q.queued)+64 {
		live := q.keys[:0]
		for _, k := range q.keys {
			if q.queued[q.r.m.refs[k]] == k {
				live = append(live, k)
			}
		}
		slices.Sort(live) // a sorted slice is a heap
		q.keys = live
	}
}

// soonest appends to dst, in key order, the keys of the eligible blocks
// read soonest: the first k, and then those read by the same request as
// the k-th.
func (q *oracleQueue) soonest(k int, dst []int32) []int32 {
	q.sync()
	r, m := q.r, q.r.m
	last := int32(-1) // the request of the last key taken
	from := len(dst)
	for len(q.keys) > 0 {
		key := q.keys[0]
		b := m.refs[key]
		if q.queued[b] != key {
			q.keys.pop() // stale: b was queued again under a later key
			continue
		}
		if !q.eligible(b) || r.next[b] != key {
			q.keys.pop()
			q.queued[b] = -1 // a note queues it again when it may be eligible
			continue
		}
		rq := m.requestOf(key)
		if len(dst)-from >= k && rq != last {
			break
		}
		q.keys.pop()
		dst = append(dst, key)
		last = rq
	}
	for _, key := range dst[from:] {
		q.keys.push(key) // still live: they stay queued
	}
	return dst
}

// refHeap is a min-heap of positions in m.refs.
type refHeap []int32

// push adds k.
func (h *refHeap) push(k int32) {
	*h = append(*h, k)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if q[p] <= q[i] {
			break
		}
		q[p], q[i] = q[i], q[p]
		i = p
	}
}

// pop removes the least key, which h must hold.
func (h *refHeap) pop() {
	q := *h
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	*h = q
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && q[c+1] < q[c] {
			c++
		}
		if q[i] <= q[c] {
			break
		}
		q[i], q[c] = q[c], q[i]
		i = c
	}
}

// requestOf returns the request that holds reference k.
func (m *model) requestOf(k int32) int32 {
	return int32(sort.Search(m.requests(), func(i int) bool { return m.start[i+1] > k }))
}
