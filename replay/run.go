package replay

import (
	"context"
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/internal/slru"
	"github.com/wombatkv/prefetch/internal/usefulness"
)

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
	// idx is the node's index, made with the replay's Env (newEnv): a
	// replay with no policy to build (none) has no Env and keeps no index,
	// as nothing could read it.
	idx      *index.Memory
	ptr      int // the next request to serve
	seen     []bool
	lastRead []int64 // the index's last access of each block seen
	next     []int32 // each block's next read, a position in m.refs (noRef: none)
	// oq is the oracle's queue when the replay has an oracle, told of
	// every change to a block that may make a GET able to bring it into
	// flat, or change its next read (note).
	oq *oracleQueue
	// flat is the flat tier: the store's own segmented LRU, over the
	// dense block numbers. where is its segment of every block (the
	// order's slice, read only), place where a prefetched block enters,
	// and victims scratch for what an admission evicts.
	flat      *slru.Order
	where     []slru.Segment
	place     slru.Place
	victims   []int32
	marks     []usefulness.Mark // the accounting's record of each block in flat
	pend      []bool
	pendAt    []int64
	gen       []uint32
	pendBytes int64
	pending   int // GETs in flight
	maxPend   int
	events    eventQueue // the GETs in flight, by completion
	issue     uint64
	wake      bool
	// link is the shared link (Settings.LinkBandwidth), nil for none:
	// then events times the GETs.
	link         *link
	cycle        uint64 // the cycles scheduled, each GET's window
	leases, pins int

	// Tallies.
	hits, late, cold int
	lateWait         int64
	stalls, prefix   []int64
	gets             int
	getBytes         int64
	cycles           int // the model's cycles, those skipped as idle included
	ran              int // the cycles the pipeline ran
	skipped          map[string]int
	failed           int
	canceled         int
	redundant        int
	hintDropped      uint64
	// tally is the store's accounting of the prefetched blocks.
	tally usefulness.Tally
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
		next:     make([]int32, u),
		flat:     slru.New(u, capacity, 0),
		marks:    make([]usefulness.Mark, u),
		pend:     make([]bool, u),
		pendAt:   make([]int64, u),
		gen:      make([]uint32, u),
		skipped:  map[string]int{},
		stalls:   make([]int64, 0, m.requests()),
		prefix:   make([]int64, 0, m.requests()),
	}
	r.where = r.flat.Segments()
	r.setAdmission(adm)
	return r
}

// DefaultPinShare is the share of flat that leases may pin: the store's
// own bound, store.PinShare.
const DefaultPinShare = slru.PinShare

// setAdmission sets where prefetched blocks enter flat, and the probation
// segment's budget that follows from it, as the store sets them from
// Config.Admission. Call it before the run starts.
func (r *run) setAdmission(adm Admission) {
	a := slru.Admission(adm)
	r.adm, r.place = adm, a.Place()
	r.flat.SetBudget(r.capacity, a.ProbationBudget(r.capacity))
	r.flat.SetTimed(r.capacity, a)
}

// note tells the oracle, if any, that block b may have become one a GET
// could bring into flat, or its next read may have moved.
func (r *run) note(b int32) {
	if r.oq != nil {
		r.oq.note(b)
	}
}

func (r *run) clock() time.Time { return time.Unix(0, r.now) }

// The tiers as the pipeline's stages see them.

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

// PendingGets returns the prefetch GETs in flight (filter.Pending), for a
// budget's cap on them.
func (r *run) PendingGets(string) int { return r.pending }

// Lease leases block h, if flat holds it, until until (snapshot.Leaser):
// it moves to the MRU end, and with pin it is also pinned, within
// DefaultPinShare of flat, as the store leases it. It counts as no read.
func (r *run) Lease(_ string, h block.Hash, until time.Time, pin bool) bool {
	b, ok := r.m.lookup(h)
	if !ok || r.where[b] == inNone {
		return false
	}
	r.leases++
	if r.flat.Lease(b, block.Nanos(until), pin) {
		r.pins++
	}
	return true
}

// FreeBytes returns the room where the admission puts a prefetched block,
// less the GETs in flight, as the store counts it (filter.Room).
func (r *run) FreeBytes(string) int64 { return max(r.flat.Room(r.place)-r.pendBytes, 0) }

// Materialize answers a GET at once (fetch.Materializer): a hit with the
// block's size if the cold tier holds it (every block seen so far), a
// miss otherwise. The GET's completion is scheduled on the virtual clock
// once the cycle returns (see schedule). As in the store's Materialize, a
// block not in flat and larger than flat admits where the admission puts
// it (the probation segment, or flat) fails with reason "too_large", and
// issues no GET.
func (r *run) Materialize(ctx context.Context, _ string, h block.Hash, _ block.Meta) (int64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	b, ok := r.m.lookup(h)
	if !ok || !r.seen[b] {
		return 0, false, nil
	}
	if size, most := r.m.size[b], r.flat.MaxSize(r.place); size > most && r.where[b] == inNone {
		return 0, false, tooLargeError{size, most}
	}
	return r.m.size[b], true, nil
}

// reasonTooLarge is store.ReasonTooLarge, which the lab does not import.
const reasonTooLarge = "too_large"

// tooLargeError is the failure of a GET of a block larger than flat
// admits (a pipeline.Reasoner).
type tooLargeError struct{ size, most int64 }

func (e tooLargeError) Error() string {
	return fmt.Sprintf("replay: a block of %d bytes, more than the flat tier admits (%d bytes)", e.size, e.most)
}

func (tooLargeError) Reason() string { return reasonTooLarge }
