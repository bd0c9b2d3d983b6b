package replay

import (
	"container/heap"
	"slices"

	"github.com/wombatkv/prefetch/pipeline"
)

// GETs in flight: the cycle's fetches scheduled on the virtual clock, and
// their completions.

// event is a GET's completion: at time t, the issue-th GET of the run,
// fetching block b (stale unless gen matches the block's current GET).
type event struct {
	t     int64
	issue uint64
	b     int32
	gen   uint32
}

func (e event) before(o event) bool { return e.t < o.t || e.t == o.t && e.issue < o.issue }

// eventQueue is the GETs in flight by completion: a min-heap by time,
// then issue order (container/heap).
type eventQueue []event

func (q eventQueue) Len() int           { return len(q) }
func (q eventQueue) Less(i, j int) bool { return q[i].before(q[j]) }
func (q eventQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }

// Push and Pop are heap.Interface's; push and pop below are what the run
// calls.
func (q *eventQueue) Push(x any) { *q = append(*q, x.(event)) }

func (q *eventQueue) Pop() any {
	old := *q
	n := len(old) - 1
	e := old[n]
	*q = old[:n]
	return e
}

// push adds e: heap.Push, less its boxing of e into an interface (an
// allocation per GET). heap.Fix sifts e up from the end.
func (q *eventQueue) push(e event) {
	*q = append(*q, e)
	heap.Fix(q, len(*q)-1)
}

// pop removes and returns the earliest event, which q must hold: heap.Pop,
// less its boxing. heap.Fix sifts the last event down from the top.
func (q *eventQueue) pop() event {
	old := *q
	top := old[0]
	n := len(old) - 1
	old[0] = old[n]
	*q = old[:n]
	if n > 0 {
		heap.Fix(q, 0)
	}
	return top
}

// schedule turns a cycle's fetched results into GETs in flight, in the
// order of o.Fetches (the order the fetch stage was handed them), timed
// by the policy's fetch strategy: v2's i-th GET completes at the cycle
// time plus the first i costs; v3's GET starts at the cycle time or when
// an earlier GET of the cycle completes, at most limit at once (errgroup's
// SetLimit), and completes after its own cost.
func (r *run) schedule(o *pipeline.Outcome) {
	t0 := r.now
	cum := t0
	r.cycle++
	var window []int64 // completion times of the cycle's GETs in flight
	for _, f := range o.Fetches {
		if !f.Fetched() {
			r.failed++
			continue
		}
		b, ok := r.m.lookup(f.Hash)
		if !ok {
			continue
		}
		r.gets++
		r.getBytes += f.Bytes
		if r.pend[b] || r.where[b] != inNone {
			// A GET of a block already in flat or in flight (a policy
			// without those filters): it changes nothing and is wasted.
			r.redundant++
			continue
		}
		var done int64
		if r.link != nil {
			limit := r.timing.limit
			if r.timing.sequential {
				limit = 1
			}
			r.issue++
			r.link.prefetch(b, r.issue, r.cycle, limit, float64(r.m.size[b]))
			r.pend[b] = true
			r.pendAt[b] = -1 // the link knows
			r.gen[b]++
			r.pendBytes += r.m.size[b]
			r.pending++
			r.maxPend = max(r.maxPend, r.pending)
			continue
		}
		if r.timing.sequential {
			cum = addSat(cum, r.m.cost[b])
			done = cum
		} else {
			start := t0
			if len(window) == r.timing.limit {
				i := slices.Index(window, slices.Min(window))
				start = window[i]
				window = slices.Delete(window, i, i+1)
			}
			done = addSat(start, r.m.cost[b])
			window = append(window, done)
		}
		r.pend[b] = true
		r.pendAt[b] = done
		r.gen[b]++
		r.pendBytes += r.m.size[b]
		r.pending++
		r.maxPend = max(r.maxPend, r.pending)
		r.issue++
		r.events.push(event{t: done, issue: r.issue, b: b, gen: r.gen[b]})
	}
}

// complete lands the GETs that complete at or before t, in time order,
// then issue order, and reports whether any did.
func (r *run) complete(t int64) bool {
	landed := false
	if r.link != nil {
		r.link.advance(t, func(b int32, at int64) {
			r.flat.Advance(at)
			r.land(b, at)
			landed = true
		})
		return landed
	}
	for len(r.events) > 0 && r.events[0].t <= t {
		e := r.events.pop()
		b := e.b
		if !r.pend[b] || r.gen[b] != e.gen {
			continue // consumed by a late hit, or canceled by a restart
		}
		r.flat.Advance(e.t)
		r.land(b, e.t)
		landed = true
	}
	return landed
}

// land admits b, whose prefetch GET completed at t.
func (r *run) land(b int32, t int64) {
	r.pend[b] = false
	r.pendBytes -= r.m.size[b]
	r.pending--
	r.admit(b, t)
	r.note(b) // flat may not admit it
}

// restart empties flat and cancels the GETs in flight; the index and the
// cold tier survive.
func (r *run) restart() {
	r.emptyFlat(r.now)
	for b, p := range r.pend {
		if p {
			r.note(int32(b))
			r.pend[b] = false
			r.gen[b]++
			r.canceled++
		}
	}
	r.pendBytes = 0
	r.pending = 0
	r.events = r.events[:0]
	if r.link != nil {
		r.link.cancel()
	}
}
