package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/replay"
	"github.com/wombatkv/prefetch/stages/snapshot"
	"github.com/wombatkv/prefetch/store"
)

// The lab and the real store agree: a small trace replayed by replay.Run
// and driven, request by request, against a store.Store on a temporary
// directory (a file:// cold tier that takes the lab's GET cost on the
// virtual clock of testing/synctest, the same policy's pipeline over the
// store and a real index.Memory, cycles at the lab's grid instants) gives
// the same prefetch accounting, field for field: Prefetched, Useful, Late,
// WastedEvicted, WastedRemoved, the four Reads, and the Lead, Wait and
// UnreadAge histograms, bucket counts and sums; and the same stall, GETs
// and cycles. Under the three admissions, mru, lru and probation.
//
// The histograms' sums can match exactly because every event the
// accounting times happens at the same instant in both: the synctest
// bubble's clock starts at 2000-01-01 00:00 UTC, and the trace's
// timestamps are that instant onwards, so even the absolute times agree.
//
// The traces are made so that three differences between the models do
// not show (each would make the figures differ, not the accounting):
//   - The lab serves a request whole at its arrival instant: a block it
//     loads from cold (or joins late) enters flat, evicting, at that
//     instant, and every read is at that instant. The store's request
//     takes its stall in virtual time: the block enters flat when its GET
//     ends, and a later read of the request is later. So no GET lands, no
//     cycle runs and no other request arrives while a request stalls (but
//     the prefetch it joined; a hint may, and arrives when the stall
//     ends, still before the cycle that reads it); a prefetched block is
//     read before any stall of its request (else the store's lead is
//     longer by the stall); and every eviction of an unread prefetched block is by a block a request
//     computes (Put, no stall) or by a prefetch landing, which happen at
//     the same instant in both (else the lab's unread age is shorter).
//   - The lab counts each of a cycle's GETs in flight from the cycle's
//     instant, those a one-after-another fetch stage has not started yet
//     too; the store counts a GET in flight from when it starts. A
//     request that reads such a queued block is late in the lab and a
//     cold read in the store. So the policies fetch one block per cycle
//     (TopK 1).
//   - The lab stops at the last request: a prefetch that lands after it is
//     no Prefetched block, where the store lands it. So the last cycle's
//     GET lands before the last request.
func TestLabAgreesWithStore(t *testing.T) {
	for _, c := range agreeCases {
		for _, adm := range []string{"mru", "lru", "probation:0.5"} {
			t.Run(c.name+"/"+adm, func(t *testing.T) { testAgreement(t, c, adm) })
		}
	}
}

// agreeCase is one trace and policy both sides replay, with the figures
// the lab must find (the test is about agreement, but agreement on
// nothing would prove nothing).
type agreeCase struct {
	name  string
	trace []agreeRequest
	// lead > 0: the hint policy, hinted a lead before each request; else
	// the scripted policy, fetching script[ms] at the cycle at ms.
	lead   time.Duration
	script map[int64][]uint64
	// want are the lab's figures under each admission.
	want  map[string]agreeWant
	stall time.Duration // the requests' stalls, summed
}

// agreeRequest is a request at ms after agreeStart reading blocks ids.
type agreeRequest struct {
	at  int64
	ids []uint64
}

// agreeWant are the lab's figures a case was made to produce.
type agreeWant struct {
	Prefetched, Useful, Late, WastedEvicted, Unread uint64
	Flat, Prefetch, Joined, Cold                    uint64
}

// getCost is one GET of a block: 200 ms, and 8 KiB at 1e9 B/s.
const getCost = 200*time.Millisecond + 8192*time.Nanosecond

// The cases, with TopK 1, a 500 ms grid, a GET of getCost and a flat tier
// of 4 blocks (flat after each step under mru admission, least recently
// used first; * marks a prefetched block not yet read).
var agreeCases = []agreeCase{
	{
		// The hint policy, 300 ms ahead: a request d ms after a grid
		// instant, 0 < d <= 300, is hinted to that instant's cycle.
		//
		//	   0  R1 computes 1 2                          [1 2]
		//	 350  R2 computes 3 4 (no cycle sees its hint) [1 2 3 4]
		//	 850  R3 computes 5 6                          [3 4 5 6]
		//	1000  cycle: R4's hint, fetch 1 (lands 1200)   [4 5 6 1*]
		//	1250  R4 reads 1: useful (lead 49.99 ms)       [4 5 6 1]
		//	      and 2: cold (stall until 1450)           [5 6 1 2]
		//	1500  cycle: R5's hint, fetch 3 (lands 1700)
		//	1600  R5 reads 3: late, waits 100.008 ms       [6 1 2 3]
		//	1750  R6 reads 1 2: flat (1 read twice counts once)  [6 3 1 2]
		//	2000  cycle: R7's hint, fetch 5 (lands 2200)   [3 1 2 5*]
		//	2220  R8 computes 7..10, evicting 5 unread     [7 8 9 10]
		//	2250  R7 reads 5: cold                         [8 9 10 5]
		//	2500  cycle: R9's hint, fetch 6 (lands 2700.008)
		//	2700  R9 reads 6: late, waits 8.192 µs         [9 10 5 6]
		//
		// With lru and probation admission the prefetched blocks enter
		// flat elsewhere, but each is read, or evicted first, before any
		// other eviction: the same figures.
		name: "hints",
		trace: []agreeRequest{
			{0, []uint64{1, 2}},
			{350, []uint64{3, 4}},
			{850, []uint64{5, 6}},
			{1250, []uint64{1, 2}},
			{1600, []uint64{3}},
			{1750, []uint64{1, 2}},
			{2220, []uint64{7, 8, 9, 10}},
			{2250, []uint64{5}},
			{2700, []uint64{6}},
		},
		lead: 300 * time.Millisecond,
		want: map[string]agreeWant{
			"mru":           {Prefetched: 4, Useful: 1, Late: 2, WastedEvicted: 1, Flat: 2, Prefetch: 1, Joined: 2, Cold: 2},
			"lru":           {Prefetched: 4, Useful: 1, Late: 2, WastedEvicted: 1, Flat: 2, Prefetch: 1, Joined: 2, Cold: 2},
			"probation:0.5": {Prefetched: 4, Useful: 1, Late: 2, WastedEvicted: 1, Flat: 2, Prefetch: 1, Joined: 2, Cold: 2},
		},
		stall: 2*getCost + (100*time.Millisecond + 8192*time.Nanosecond) + 8192*time.Nanosecond,
	},
	{
		// A scripted policy that fetches blocks long before (or never)
		// a request reads them.
		//
		//	   0  R1 computes 1 2                          [1 2]
		//	 100  R2 computes 3 4                          [1 2 3 4]
		//	 200  R3 computes 5 6                          [3 4 5 6]
		//	 500  cycle: fetch 1 (lands 700)               [4 5 6 1*]
		//	1000  cycle: fetch 2 (lands 1200)              [5 6 1* 2*]
		//	1500  cycle: fetch 3 (lands 1700)              [6 1* 2* 3*]
		//	2000  cycle: fetch 4 (lands 2200)              [1* 2* 3* 4*]
		//	2500  cycle: fetch 5 (lands 2700): it evicts 1 unread (age 2 s)
		//	                                               [2* 3* 4* 5*]
		//	2800  R4 reads 3: useful (lead 1.1 s)          [2* 4* 5* 3]
		//	      and 2, 4 and 5 are unread at the end
		//
		// With lru admission (and probation, whose segment holds 2
		// blocks) a prefetched block is the next to go: 2 evicts 1 unread,
		// 3 evicts 2, and 4 and 5 are in flat already (not fetched). R4
		// reads 3: useful.
		name: "script",
		trace: []agreeRequest{
			{0, []uint64{1, 2}},
			{100, []uint64{3, 4}},
			{200, []uint64{5, 6}},
			{2800, []uint64{3}},
		},
		script: map[int64][]uint64{500: {1}, 1000: {2}, 1500: {3}, 2000: {4}, 2500: {5}},
		want: map[string]agreeWant{
			"mru":           {Prefetched: 5, Useful: 1, WastedEvicted: 1, Unread: 3, Prefetch: 1},
			"lru":           {Prefetched: 3, Useful: 1, WastedEvicted: 2, Prefetch: 1},
			"probation:0.5": {Prefetched: 3, Useful: 1, WastedEvicted: 2, Prefetch: 1},
		},
	},
}

// agreeStart is the traces' first instant, in Unix ms: a second after the
// synctest bubble's clock starts (2000-01-01 00:00 UTC), so that the first
// hint, a lead before it, is in the bubble's future. It is a multiple of
// the interval, as the lab's grid is.
const agreeStart = 946684800000 + 1000

const (
	agreeNS       = "agree"
	agreeInterval = 500 * time.Millisecond
	agreeBPT      = 16 // bytes per token: 8 KiB blocks
	agreeBlock    = 512 * agreeBPT
	agreeFlat     = 4 * agreeBlock
)

func (c agreeCase) settings(adm replay.Admission) replay.Settings {
	return replay.Settings{
		BytesPerToken: agreeBPT,
		GetLatency:    200 * time.Millisecond,
		TopK:          1,
		Interval:      agreeInterval,
		Lead:          c.lead,
		Admission:     adm,
	}
}

// config is the case's policy, on either side: preset v2 (one GET after
// another) over the hint intake h, ranked as the intake orders its hints
// (earliest due first), or over the script, with the already-flat and
// in-flight filters before the selection, so that its one candidate is a
// block to fetch. The pipeline is grid-bound: a hint wakes no cycle.
// lookup is the index's.
func (c agreeCase) config(o presets.Options, lookup func(block.Hash) (block.Meta, bool), h *snapshot.Hints) (pipeline.Config, error) {
	o.Namespace = agreeNS
	cfg, err := presets.Config(presets.NameV2, o)
	if err != nil {
		return cfg, err
	}
	if h != nil {
		cfg.Sources = []pipeline.Source{h}
		cfg.Scorer = pipeline.ScorerFunc(func(_ time.Time, hash block.Hash, _ block.Meta) float64 {
			rank, _ := h.Rank(hash)
			return -float64(rank)
		})
	} else {
		cfg.Sources = []pipeline.Source{pipeline.SourceFunc(func(_ context.Context, cy *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
			return func(yield func(block.Hash, block.Meta) bool) {
				for _, id := range c.script[cy.Now.UnixMilli()-agreeStart] {
					if m, ok := lookup(replay.Hash(id)); ok && !yield(replay.Hash(id), m) {
						return
					}
				}
			}
		})}
		cfg.Scorer = pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return 0 })
	}
	cfg.PreFilters = append(cfg.PreFilters, cfg.Filters...)
	cfg.Filters = nil
	return cfg, nil
}

// labSide replays the case in the lab with 4 blocks of flat.
func (c agreeCase) labSide(t *testing.T, adm replay.Admission) replay.Result {
	t.Helper()
	pol := replay.Policy{
		Name:     c.name,
		UsesLead: c.lead > 0,
		Build: func(env *replay.Env) (replay.Built, error) {
			var h *snapshot.Hints
			if c.lead > 0 {
				h = env.Hints()
				h.SetNotify(nil)
			}
			cfg, err := c.config(env.PresetOptions(), env.Index.Get, h)
			return replay.Built{Config: cfg}, err
		},
	}
	tr := &replay.Trace{Name: "storeagree-" + c.name}
	unique := map[uint64]bool{}
	for _, rq := range c.trace {
		tr.Requests = append(tr.Requests, replay.Request{
			Timestamp:   agreeStart + rq.at,
			InputLength: int64(len(rq.ids) * 512),
			HashIDs:     rq.ids,
		})
		for _, id := range rq.ids {
			unique[id] = true
		}
	}
	// Half a byte over 4 blocks, so that the floor is 4 blocks whatever
	// the rounding.
	frac := (agreeFlat + 0.5) / float64(len(unique)*agreeBlock)
	res, err := replay.Run(context.Background(), tr, replay.Config{
		Settings:  c.settings(adm),
		Scenarios: []replay.Scenario{{Fraction: frac}},
		Policies:  []replay.Policy{pol},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("replay.Run returned %d results, want 1", len(res))
	}
	r := res[0]
	if r.CapacityBytes != agreeFlat {
		t.Fatalf("lab capacity = %d B, want %d (4 blocks)", r.CapacityBytes, agreeFlat)
	}
	return r
}

// storeFigures are what the store side measured beside its Stats.
type storeFigures struct {
	stats     store.Stats
	stallNs   int64 // the requests' stalls, summed
	cycles    int
	fetched   int // blocks the cycles' fetch stage fetched
	failedBy  map[string]int
	coldReads int // GETs of the cold tier
}

// slowCold is a cold tier whose reads take the lab's GET cost for their
// object's size on the clock (the bubble's virtual one).
type slowCold struct {
	store.Cold
	cost  func(int64) time.Duration
	reads *atomic.Int64
}

func (c slowCold) NewReader(ctx context.Context, key string) (io.ReadCloser, int64, map[string]string, error) {
	body, size, meta, err := c.Cold.NewReader(ctx, key)
	if err != nil {
		return nil, 0, nil, err
	}
	tm := time.NewTimer(c.cost(size))
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
		body.Close()
		return nil, 0, nil, ctx.Err()
	}
	c.reads.Add(1)
	return body, size, meta, nil
}

// storeSide drives the case against a real store, inside a synctest
// bubble: at each instant, the GETs that end then land (synctest.Wait),
// then the hints a lead ahead of their request arrive, then the grid
// cycle runs (on its own goroutine, as a worker's, until its GET starts
// or it ends), then the requests are served in order, each block with
// Put (first seen: the node computed it) or Get (seen before), the index
// told as the lab tells its own.
func (c agreeCase) storeSide(t *testing.T, adm string) storeFigures {
	t.Helper()
	flatDir, coldDir := t.TempDir(), t.TempDir()
	s := c.settings(replay.Admission{}).WithDefaults()
	var fig storeFigures
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		base, err := store.OpenCold(ctx, "file://"+coldDir)
		if err != nil {
			t.Fatal(err)
		}
		defer base.Close()
		var reads atomic.Int64
		st, err := store.Open(ctx, store.Config{
			FlatDir:    flatDir,
			Cold:       slowCold{Cold: base, cost: s.GetCost, reads: &reads},
			FlatBudget: agreeFlat,
			Admission:  adm,
			Clock:      time.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		idx := index.NewMemory(time.Now)
		var hints *snapshot.Hints
		if c.lead > 0 {
			hints = snapshot.NewHints(snapshot.HintsConfig{Lookup: idx.Get, Capacity: 1 << 20, Clock: time.Now})
		}
		cfg, err := c.config(presets.Options{
			Index:    idx,
			Store:    st,
			TopK:     s.TopK,
			Interval: s.Interval,
			InstrLog: io.Discard,
			Clock:    time.Now,
		}, idx.Get, hints)
		if err != nil {
			t.Fatal(err)
		}
		p, err := pipeline.New(cfg)
		if err != nil {
			t.Fatal(err)
		}

		at := func(ms int64) time.Time { return time.UnixMilli(agreeStart + ms) }
		if now := time.Now(); !now.Before(at(0).Add(-c.lead)) {
			t.Fatalf("the bubble starts at %v, want it before the first hint, at %v", now, at(0).Add(-c.lead))
		}
		// Every instant something happens at: hints, requests, and the
		// grid from the first request to the last, as the lab's.
		first, last := c.trace[0].at, c.trace[len(c.trace)-1].at
		var grid []time.Time
		for ms := first; ms <= last; ms += agreeInterval.Milliseconds() {
			grid = append(grid, at(ms))
		}
		instants := slices.Clone(grid)
		for _, rq := range c.trace {
			instants = append(instants, at(rq.at))
			if c.lead > 0 {
				instants = append(instants, at(rq.at).Add(-c.lead))
			}
		}
		slices.SortFunc(instants, time.Time.Compare)
		instants = slices.Compact(instants)

		done := make(chan *pipeline.Outcome, 1)
		running := false
		fig.failedBy = map[string]int{}
		collect := func(o *pipeline.Outcome) {
			running = false
			if o.Err != nil {
				t.Errorf("cycle at %v: %v", o.Start, o.Err)
			}
			for _, f := range o.Fetches {
				if f.Fetched() {
					fig.fetched++
				} else {
					fig.failedBy[f.Reason]++
				}
			}
		}
		seen := map[uint64]bool{}
		// serve reads a request's blocks, one after another.
		serve := func(ids []uint64) error {
			for j, id := range ids {
				h := replay.Hash(id)
				key := block.Key(h)
				if !seen[id] {
					seen[id] = true
					idx.Insert(h, agreeMeta(ids, j))
					if err := st.Put(ctx, agreeNS, key, agreePayload(id)); err != nil {
						return fmt.Errorf("Put of block %d: %w", id, err)
					}
					continue
				}
				idx.Touch(h)
				got, err := st.Get(ctx, agreeNS, key)
				if err != nil {
					return fmt.Errorf("Get of block %d: %w", id, err)
				}
				if !bytes.Equal(got, agreePayload(id)) {
					return fmt.Errorf("Get of block %d returned %d bytes, not the block's payload", id, len(got))
				}
			}
			return nil
		}
		for _, now := range instants {
			// A stall may outlast a hint's instant (the hint then
			// arrives when it ends, still before the next cycle reads
			// it), not a cycle's or a request's.
			if late := -time.Until(now); late > 0 && (slices.ContainsFunc(grid, now.Equal) || slices.ContainsFunc(c.trace, func(rq agreeRequest) bool { return at(rq.at).Equal(now) })) {
				t.Errorf("the requests before %v stalled past it by %v: the trace must let a request's stall end before the next cycle or request", now, late)
			}
			time.Sleep(time.Until(now))
			synctest.Wait() // the GETs that end now land first
			for _, rq := range c.trace {
				if c.lead == 0 || !at(rq.at).Add(-c.lead).Equal(now) {
					continue
				}
				var hs []snapshot.Hint
				for j, id := range rq.ids {
					hs = append(hs, snapshot.Hint{Hash: replay.Hash(id), Meta: agreeMeta(rq.ids, j), Due: at(rq.at)})
				}
				hints.Add(hs...)
			}
			if slices.ContainsFunc(grid, now.Equal) {
				if running {
					select {
					case o := <-done:
						collect(o)
					default:
						t.Errorf("the cycle before %v is still running: the trace must let each cycle's GETs land before the next cycle", now)
						collect(<-done)
					}
				}
				running = true
				fig.cycles++
				go func() { done <- p.Run(ctx) }()
				synctest.Wait() // until its GET starts, or it ends
			}
			for _, rq := range c.trace {
				if !at(rq.at).Equal(now) || t.Failed() {
					continue
				}
				if err := serve(rq.ids); err != nil {
					t.Errorf("request at +%d ms: %v", rq.at, err)
				}
				fig.stallNs += int64(time.Since(now))
			}
		}
		if running {
			collect(<-done)
		}
		synctest.Wait()
		fig.coldReads = int(reads.Load())
		fig.stats = st.Stats()
	})
	return fig
}

// agreeMeta is block ids[j]'s metadata, as the lab's index holds it.
func agreeMeta(ids []uint64, j int) block.Meta {
	m := block.Meta{Seq: uint32(j), PayloadBytes: agreeBlock}
	if j > 0 {
		m.Parent = replay.Hash(ids[j-1])
	}
	return m
}

// agreePayload is block id's payload: 8 KiB that name it.
func agreePayload(id uint64) []byte {
	line := fmt.Sprintf("block %07d\n", id)
	return bytes.Repeat([]byte(line), agreeBlock/len(line)+1)[:agreeBlock]
}

func testAgreement(t *testing.T, c agreeCase, adm string) {
	a, err := replay.ParseAdmission(adm)
	if err != nil {
		t.Fatal(err)
	}
	lab := c.labSide(t, a)
	got := c.storeSide(t, adm)
	if t.Failed() {
		return
	}

	p := lab.Prefetch
	have := agreeWant{
		Prefetched: p.Prefetched, Useful: p.Useful, Late: p.Late, WastedEvicted: p.WastedEvicted, Unread: p.Unread(),
		Flat: p.Reads.Flat, Prefetch: p.Reads.Prefetched, Joined: p.Reads.Joined, Cold: p.Reads.Cold,
	}
	if want := c.want[adm]; have != want {
		t.Errorf("lab's prefetch figures = %+v, want %+v (the trace no longer exercises what it was made for)", have, want)
	}
	if lab.Stall.TotalNs != int64(c.stall) {
		t.Errorf("lab's stall = %v, want %v", time.Duration(lab.Stall.TotalNs), c.stall)
	}

	// The agreement: the whole accounting, histograms and all.
	if diff := cmp.Diff(lab.Prefetch, got.stats.Prefetch); diff != "" {
		t.Errorf("store's Stats().Prefetch differs from the lab's Result.Prefetch (-lab +store):\n%s", diff)
	}
	if n := len(got.stats.PrefetchByNamespace); n != 1 {
		t.Errorf("store's PrefetchByNamespace has %d namespaces, want 1 (%q)", n, agreeNS)
	} else if diff := cmp.Diff(lab.Prefetch, got.stats.PrefetchByNamespace[agreeNS]); diff != "" {
		t.Errorf("store's PrefetchByNamespace[%q] differs from the lab's Result.Prefetch (-lab +store):\n%s", agreeNS, diff)
	}
	// And what led to it: the same stall, GETs, cycles and reads.
	if got.stallNs != lab.Stall.TotalNs {
		t.Errorf("store's requests stalled %v, the lab's %v", time.Duration(got.stallNs), time.Duration(lab.Stall.TotalNs))
	}
	if got.cycles != lab.Cycles {
		t.Errorf("store side ran %d cycles, the lab counts %d", got.cycles, lab.Cycles)
	}
	if got.fetched != lab.PrefetchGets || len(got.failedBy) != 0 || lab.FailedGets != 0 {
		t.Errorf("store's cycles fetched %d blocks (failed: %v), the lab's %d (failed: %d)", got.fetched, got.failedBy, lab.PrefetchGets, lab.FailedGets)
	}
	if want := lab.PrefetchGets + lab.ColdLoads; got.coldReads != want || got.stats.ColdGets != uint64(want) {
		t.Errorf("store's cold tier served %d GETs (Stats.ColdGets %d), want the lab's prefetch GETs + cold loads = %d + %d",
			got.coldReads, got.stats.ColdGets, lab.PrefetchGets, lab.ColdLoads)
	}
	if uint64(lab.Hits) != p.Reads.Flat+p.Reads.Prefetched || uint64(lab.LatePrefetchHits) != p.Reads.Joined || uint64(lab.ColdLoads) != p.Reads.Cold {
		t.Errorf("lab's hits %d, late hits %d, cold loads %d, but its Reads are %+v", lab.Hits, lab.LatePrefetchHits, lab.ColdLoads, p.Reads)
	}
	if got.stats.FlatBlocks != 4 || got.stats.FlatBytes != agreeFlat {
		t.Errorf("store's flat holds %d blocks, %d B, at the end, want 4 blocks, %d B (its budget)", got.stats.FlatBlocks, got.stats.FlatBytes, agreeFlat)
	}
}
