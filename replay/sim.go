package replay

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/internal/slru"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// Where a block is in flat: r.where[b].
const (
	inNone = slru.None      // not in flat
	inMain = slru.Main      // the main LRU
	inProb = slru.Probation // the probation segment (AdmitProbation)
)

// event is a GET's completion: at time t, the issue-th GET of the run,
// fetching block b (stale unless gen matches the block's current GET).
type event struct {
	t     int64
	issue uint64
	b     int32
	gen   uint32
}

func (e event) before(o event) bool { return e.t < o.t || e.t == o.t && e.issue < o.issue }

// run is one replay of a trace under one scenario and one policy: the
// simulated flat and cold tiers, the GETs in flight, the index, and the
// tallies. Its methods ContainsFlat, InFlight, Materialize and FreeBytes
// are the tiers as the pipeline's stages see them (filter.Flat,
// filter.InFlight, fetch.Materializer, filter.Room).
//
// The pipeline calls Materialize during a cycle, possibly from several
// goroutines (fetch.Parallel); Materialize only reads the run's state and
// answers at once. The GETs are scheduled when the cycle has returned, in
// the order of Outcome.Fetches, which is the order the fetch stage was
// handed the candidates (see schedule).
type run struct {
	m        *model
	capacity int64
	adm      Admission
	timing   timing
	now      int64
	idx      *index.Memory
	ptr      int // the next request to serve
	seen     []bool
	lastRead []int64 // the index's last access of each block seen
	// flat is the flat tier: the store's own segmented LRU, over the
	// dense block numbers. where is its segment of every block (the
	// order's slice, read only), place where a prefetched block enters,
	// and victims scratch for what an admission evicts.
	flat      *slru.Order
	where     []slru.Segment
	place     slru.Place
	victims   []int32
	unread    []bool // prefetched, not yet read
	pend      []bool
	pendAt    []int64
	gen       []uint32
	pendBytes int64
	pending   int // GETs in flight
	maxPend   int
	events    []event // a min-heap
	issue     uint64
	wake      bool

	// Tallies.
	hits, late, cold int
	lateWait         int64
	stalls, prefix   []int64
	gets             int
	getBytes         int64
	useful           int
	cycles           int // the model's cycles, those skipped as idle included
	ran              int // the cycles the pipeline ran
	skipped          map[string]int
	failed           int
	evictedUnread    int
	canceled         int
	redundant        int
	hintDropped      uint64
}

// timing is how a fetch stage's GETs of one cycle complete: one after
// another (v2), or a sliding window of limit in flight (v3).
type timing struct {
	sequential bool
	limit      int
}

func newRun(m *model, capacity int64, adm Admission) *run {
	u := len(m.ids)
	r := &run{
		m:        m,
		capacity: capacity,
		adm:      adm,
		seen:     make([]bool, u),
		lastRead: make([]int64, u),
		flat:     slru.New(u, capacity, 0),
		unread:   make([]bool, u),
		pend:     make([]bool, u),
		pendAt:   make([]int64, u),
		gen:      make([]uint32, u),
		skipped:  map[string]int{},
		stalls:   make([]int64, 0, m.requests()),
		prefix:   make([]int64, 0, m.requests()),
	}
	r.where = r.flat.Segments()
	r.setAdmission(adm)
	r.idx = index.NewMemory(r.clock)
	return r
}

// setAdmission sets where prefetched blocks enter flat, and the probation
// segment's budget that follows from it, as the store sets them from
// Config.Admission. Call it before the run starts.
func (r *run) setAdmission(adm Admission) {
	a := slru.Admission(adm)
	r.adm, r.place = adm, a.Place()
	r.flat.SetBudget(r.capacity, a.ProbationBudget(r.capacity))
}

func (r *run) clock() time.Time { return time.Unix(0, r.now) }

// --- the flat tier ---

// dropVictims accounts for the blocks the last admission evicted: an
// unread prefetched block is wasted.
func (r *run) dropVictims() {
	for _, v := range r.victims {
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

// --- the tiers as the stages see them ---

// ContainsFlat reports whether flat holds the block (filter.Flat).
func (r *run) ContainsFlat(_ context.Context, _ string, h block.Hash) bool {
	b, ok := r.m.lookup(h)
	return ok && r.where[b] != inNone
}

// InFlight reports whether a GET of the block is in flight
// (filter.InFlight).
func (r *run) InFlight(_ string, h block.Hash) bool {
	b, ok := r.m.lookup(h)
	return ok && r.pend[b]
}

// FreeBytes returns the room where the admission puts a prefetched block,
// less the GETs in flight, as the store counts it (filter.Room).
func (r *run) FreeBytes(string) int64 { return max(r.flat.Room(r.place)-r.pendBytes, 0) }

// Materialize answers a GET at once (fetch.Materializer): a hit with the
// block's size if the cold tier holds it (every block seen so far), a
// miss otherwise. The GET's completion is scheduled on the virtual clock
// once the cycle returns (see schedule).
func (r *run) Materialize(ctx context.Context, _ string, h block.Hash, _ block.Meta) (int64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	b, ok := r.m.lookup(h)
	if !ok || !r.seen[b] {
		return 0, false, nil
	}
	return r.m.size[b], true, nil
}

// --- GETs in flight ---

func (r *run) pushEvent(e event) {
	r.events = append(r.events, e)
	h := r.events
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].before(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (r *run) popEvent() event {
	h := r.events
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if l+1 < n && h[l+1].before(h[l]) {
			c = l + 1
		}
		if !h[c].before(h[i]) {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	r.events = h
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
		r.pushEvent(event{t: done, issue: r.issue, b: b, gen: r.gen[b]})
	}
}

// complete lands the GETs that complete at or before t, in time order,
// then issue order, and reports whether any did.
func (r *run) complete(t int64) bool {
	landed := false
	for len(r.events) > 0 && r.events[0].t <= t {
		e := r.popEvent()
		b := e.b
		if !r.pend[b] || r.gen[b] != e.gen {
			continue // consumed by a late hit, or canceled by a restart
		}
		r.pend[b] = false
		r.pendBytes -= r.m.size[b]
		r.pending--
		r.admit(b)
		landed = true
	}
	return landed
}

// restart empties flat and cancels the GETs in flight; the index and the
// cold tier survive.
func (r *run) restart() {
	for b := range r.flat.All() {
		if r.unread[b] {
			r.unread[b] = false
			r.evictedUnread++
		}
	}
	r.flat.Clear()
	for b, p := range r.pend {
		if p {
			r.pend[b] = false
			r.gen[b]++
			r.canceled++
		}
	}
	r.pendBytes = 0
	r.pending = 0
	r.events = r.events[:0]
}

// serve replays request i at its time (r.now).
func (r *run) serve(i int) {
	m := r.m
	t := r.now
	var stall, prefix int64
	missed := false
	for j := m.start[i]; j < m.start[i+1]; j++ {
		b := m.refs[j]
		h := Hash(m.ids[b])
		r.lastRead[b] = t
		if !r.seen[b] {
			// Computed: no stall; it enters the index, cold and flat.
			r.seen[b] = true
			r.idx.Insert(h, m.meta(b, 0))
			r.demandInsert(b)
			continue
		}
		r.idx.Touch(h)
		cost := m.cost[b]
		switch {
		case r.where[b] != inNone:
			r.hits++
			r.touch(b)
			if r.unread[b] {
				r.unread[b] = false
				r.useful++
			}
			if missed {
				prefix += cost
			}
		case r.pend[b]:
			r.late++
			wait := max(0, r.pendAt[b]-(t+stall))
			stall += wait
			r.lateWait += wait
			r.useful++
			r.pend[b] = false
			r.gen[b]++
			r.pendBytes -= m.size[b]
			r.pending--
			r.demandInsert(b)
			if missed {
				prefix += cost
			} else {
				prefix += wait
			}
			missed = true
		default:
			r.cold++
			stall += cost
			prefix += cost
			r.demandInsert(b)
			missed = true
		}
	}
	r.stalls = append(r.stalls, stall)
	r.prefix = append(r.prefix, prefix)
}

// hintsOf returns request i's blocks as hints due at its time.
func (r *run) hintsOf(i int, dst []snapshot.Hint) []snapshot.Hint {
	m := r.m
	due := time.Unix(0, m.t[i])
	dst = dst[:0]
	for j := m.start[i]; j < m.start[i+1]; j++ {
		b := m.refs[j]
		dst = append(dst, snapshot.Hint{Hash: Hash(m.ids[b]), Meta: m.meta(b, 0), Due: due})
	}
	return dst
}

// play replays the whole trace with the policy's pipeline (nil for no
// prefetch): at each instant, GET completions land first, then the
// restart, then hints become visible, then the cycle (on the grid, or
// woken by a hint), then the requests of that instant in trace order.
//
// Grid cycles in an idle stretch that provably repeat the last one are
// credited without running (see idle.go), unless runIdle.
func (r *run) play(ctx context.Context, b *built, lead time.Duration, restart, runIdle bool) error {
	m := r.m
	n := m.requests()
	if n == 0 {
		return nil
	}
	first, last := m.t[0], m.t[n-1]
	const never = int64(1<<63 - 1)
	nextCycle := never
	var interval int64
	if b.p != nil {
		interval = int64(b.p.Config().Interval)
		nextCycle = addSat(first, interval-1) / interval * interval
		if first < 0 {
			nextCycle = first / interval * interval
		}
	}
	restartAt := never
	if restart {
		restartAt = first + (last-first)/2
	}
	H := int64(lead)
	hintPtr := n
	if b.hints != nil {
		hintPtr = 0
	}
	var scratch []snapshot.Hint
	// The last cycle's skip counts while it fetched nothing and nothing
	// has happened since, for quietFunc's again.
	var quietSkips map[string]int
	quietValid := false
	for r.ptr < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := m.t[r.ptr]
		if nextCycle <= last && nextCycle < t {
			t = nextCycle
		}
		if hintPtr < n && m.t[hintPtr]-H < t {
			t = m.t[hintPtr] - H
		}
		if restartAt < t {
			t = restartAt
		}
		r.now = t
		changed := r.complete(t)
		if restartAt == t {
			r.restart()
			restartAt = never
			changed = true
		}
		r.wake = false
		for hintPtr < n && m.t[hintPtr]-H == t {
			scratch = r.hintsOf(hintPtr, scratch)
			b.hints.Add(scratch...)
			hintPtr++
			changed = true
		}
		if changed {
			quietValid = false
		}
		grid := nextCycle == t && nextCycle <= last
		if grid {
			nextCycle = addSat(nextCycle, interval)
		}
		if grid || (r.wake && b.p != nil) {
			o := b.p.Run(ctx)
			if o.Err != nil {
				return o.Err
			}
			r.cycles++
			r.ran++
			for k, v := range o.Skipped {
				r.skipped[k] += v
			}
			r.schedule(o)
			served := r.ptr < n && m.t[r.ptr] == t
			if len(o.Fetches) > 0 || served {
				quietValid = false
			} else {
				again := quietValid && maps.Equal(quietSkips, o.Skipped)
				quietSkips, quietValid = o.Skipped, true
				if !runIdle && b.quiet != nil && r.pending == 0 && r.failed == 0 {
					nextCycle = r.skipIdle(b, o, again, nextCycle, interval, min(m.t[r.ptr], hintTime(m, hintPtr, H), restartAt), last)
				}
			}
		}
		for r.ptr < n && m.t[r.ptr] == t {
			r.serve(r.ptr)
			r.ptr++
			quietValid = false
		}
	}
	if b.hints != nil {
		r.hintDropped = b.hints.Dropped()
	}
	return nil
}

// hintTime returns when request i becomes a hint, or never past the end.
func hintTime(m *model, i int, lead int64) int64 {
	if i >= m.requests() {
		return 1<<63 - 1
	}
	return m.t[i] - lead
}

// skipIdle credits the grid cycles from next on that come before end (the
// next event) and no later than last, as far as the policy promises they
// repeat o, the cycle just run at r.now, and returns the next cycle to
// run.
func (r *run) skipIdle(b *built, o *pipeline.Outcome, again bool, next, interval, end, last int64) int64 {
	upto := min(end-1, last)
	if next > upto {
		return next
	}
	upto = min(upto, b.quiet(r, o, end, again))
	if next > upto {
		return next
	}
	k := (upto-next)/interval + 1
	r.cycles += int(k)
	for reason, v := range o.Skipped {
		r.skipped[reason] += int(k) * v
	}
	return addSat(next, k*interval)
}
