package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
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
// UnreadAge histograms, sums included; and the same stall, GETs and
// cycles.
//
// The histograms' sums can match exactly because every event the
// accounting times happens at the same instant in both: the synctest
// bubble's clock starts at 2000-01-01 00:00 UTC, and the trace's
// timestamps are that instant onwards, so even the absolute times agree.
// The trace is made so that the two models' one difference of timing does
// not show: the lab serves a request whole at its arrival instant (a
// block a request loads from cold enters flat then), where the store's
// request takes its stall in virtual time (the block enters flat when its
// GET ends). So no GET lands, no cycle runs and no other request arrives
// while a request stalls (but the prefetch it joined); a prefetched block
// read by a request is read before any stall of that request; and every
// eviction of an unread prefetched block is by a block a request computes
// (Put, no stall) or by a prefetch landing, at the same instant in both.
func TestLabAgreesWithStore(t *testing.T) {
	for _, adm := range []string{"mru", "lru", "probation:0.5"} {
		t.Run(adm, func(t *testing.T) { testAgreement(t, adm) })
	}
}

// The agreement trace, in ms after agreeStart, with TopK 1, a 500 ms grid,
// a 300 ms lead, 200 ms (+ 8.192 µs) per GET and a flat tier of 4 blocks
// (flat after each step, least recently used first; * marks a prefetched
// block not yet read):
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
// With lru and probation admission the prefetched blocks enter flat
// elsewhere, but every eviction takes the same blocks at the same instants
// (a prefetched block is read, or evicted first, before any other
// eviction): the same figures, through the store's and the lab's own
// admission code.
var agreeTrace = []struct {
	at  int64 // ms after agreeStart
	ids []uint64
}{
	{0, []uint64{1, 2}},
	{350, []uint64{3, 4}},
	{850, []uint64{5, 6}},
	{1250, []uint64{1, 2}},
	{1600, []uint64{3}},
	{1750, []uint64{1, 2}},
	{2220, []uint64{7, 8, 9, 10}},
	{2250, []uint64{5}},
	{2700, []uint64{6}},
}

// agreeStart is the trace's first instant, in Unix ms: a second after the
// synctest bubble's clock starts (2000-01-01 00:00 UTC), so that the first
// hint, a lead before it, is in the bubble's future. It is a multiple of
// the interval, as the lab's grid is.
const agreeStart = 946684800000 + 1000

const (
	agreeNS       = "agree"
	agreeLead     = 300 * time.Millisecond
	agreeInterval = 500 * time.Millisecond
	agreeBPT      = 16 // bytes per token: 8 KiB blocks
)

func agreeSettings(adm replay.Admission) replay.Settings {
	return replay.Settings{
		BytesPerToken: agreeBPT,
		GetLatency:    200 * time.Millisecond,
		TopK:          1,
		Interval:      agreeInterval,
		Lead:          agreeLead,
		Admission:     adm,
	}
}

// agreeConfig is the policy both sides run: preset v2 (one GET after
// another) over the hint intake, ranked as the intake orders its hints
// (earliest due first), with the already-flat and in-flight filters before
// the selection, so that its one candidate is a block to fetch. The
// pipeline is grid-bound: a hint wakes no cycle.
func agreeConfig(o presets.Options, h *snapshot.Hints) (pipeline.Config, error) {
	o.Namespace = agreeNS
	cfg, err := presets.Config(presets.NameV2, o)
	if err != nil {
		return cfg, err
	}
	cfg.Sources = []pipeline.Source{h}
	cfg.Scorer = pipeline.ScorerFunc(func(_ time.Time, hash block.Hash, _ block.Meta) float64 {
		rank, _ := h.Rank(hash)
		return -float64(rank)
	})
	cfg.PreFilters = append(cfg.PreFilters, cfg.Filters...)
	cfg.Filters = nil
	return cfg, nil
}

func agreeLabTrace() *replay.Trace {
	tr := &replay.Trace{Name: "storeagree"}
	for _, rq := range agreeTrace {
		tr.Requests = append(tr.Requests, replay.Request{
			Timestamp:   agreeStart + rq.at,
			InputLength: int64(len(rq.ids) * 512),
			HashIDs:     rq.ids,
		})
	}
	return tr
}

// labSide replays the trace in the lab with 4 blocks of flat.
func labSide(t *testing.T, adm replay.Admission) replay.Result {
	t.Helper()
	s := agreeSettings(adm)
	pol := replay.Policy{
		Name:     "hint-seq",
		UsesLead: true,
		Build: func(env *replay.Env) (replay.Built, error) {
			h := env.Hints()
			h.SetNotify(nil)
			cfg, err := agreeConfig(env.PresetOptions(), h)
			return replay.Built{Config: cfg}, err
		},
	}
	tr := agreeLabTrace()
	// 10 unique blocks of 8 KiB: 40% is 4 blocks.
	res, err := replay.Run(context.Background(), tr, replay.Config{
		Settings:  s,
		Scenarios: []replay.Scenario{{Fraction: 0.4}},
		Policies:  []replay.Policy{pol},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("replay.Run returned %d results, want 1", len(res))
	}
	r := res[0]
	if want := int64(4 * 512 * agreeBPT); r.CapacityBytes != want {
		t.Fatalf("lab capacity = %d B, want %d (4 blocks)", r.CapacityBytes, want)
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

// storeSide drives the trace against a real store, inside a synctest
// bubble: at each instant, the GETs that end then land (synctest.Wait),
// then the hints a lead ahead of their request arrive, then the grid
// cycle runs (on its own goroutine, as a worker's, until its GET starts
// or it ends), then the requests are served in order, each block with
// Put (first seen: the node computed it) or Get (seen before), the index
// told as the lab tells its own.
func storeSide(t *testing.T, adm string, budget int64) storeFigures {
	t.Helper()
	flatDir, coldDir := t.TempDir(), t.TempDir()
	s := agreeSettings(replay.Admission{}).WithDefaults()
	var fig storeFigures
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		base, err := store.OpenCold(ctx, "file://"+coldDir)
		if err != nil {
			t.Fatal(err)
		}
		defer base.Close()
		var reads atomic.Int64
		cold := slowCold{Cold: base, cost: s.GetCost, reads: &reads}
		st, err := store.Open(ctx, store.Config{
			FlatDir:    flatDir,
			Cold:       cold,
			FlatBudget: budget,
			Admission:  adm,
			Clock:      time.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		idx := index.NewMemory(time.Now)
		hints := snapshot.NewHints(snapshot.HintsConfig{Lookup: idx.Get, Capacity: 1 << 20, Clock: time.Now})
		cfg, err := agreeConfig(presets.Options{
			Index:    idx,
			Store:    st,
			TopK:     s.TopK,
			Interval: s.Interval,
			InstrLog: io.Discard,
			Clock:    time.Now,
		}, hints)
		if err != nil {
			t.Fatal(err)
		}
		p, err := pipeline.New(cfg)
		if err != nil {
			t.Fatal(err)
		}

		at := func(ms int64) time.Time { return time.UnixMilli(agreeStart + ms) }
		if now := time.Now(); !now.Before(at(0).Add(-agreeLead)) {
			t.Fatalf("the bubble starts at %v, want it before the first hint, at %v", now, at(0).Add(-agreeLead))
		}
		// Every instant something happens at: hints, requests, and the
		// grid from the first request to the last, as the lab's.
		first, last := agreeTrace[0].at, agreeTrace[len(agreeTrace)-1].at
		var instants []time.Time
		var grid []time.Time
		for c := first; c <= last; c += agreeInterval.Milliseconds() {
			grid = append(grid, at(c))
		}
		instants = append(instants, grid...)
		for _, rq := range agreeTrace {
			instants = append(instants, at(rq.at), at(rq.at).Add(-agreeLead))
		}
		slices.SortFunc(instants, time.Time.Compare)
		instants = slices.Compact(instants)

		seen := map[uint64]bool{}
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
			time.Sleep(time.Until(now))
			synctest.Wait() // the GETs that end now land first
			for _, rq := range agreeTrace {
				if !at(rq.at).Add(-agreeLead).Equal(now) {
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
			for _, rq := range agreeTrace {
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
	m := block.Meta{Seq: uint32(j), PayloadBytes: 512 * agreeBPT}
	if j > 0 {
		m.Parent = replay.Hash(ids[j-1])
	}
	return m
}

// agreePayload is block id's payload: 8 KiB that name it.
func agreePayload(id uint64) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("block %07d\n", id)), 512*agreeBPT/14+1)[:512*agreeBPT]
}

func testAgreement(t *testing.T, adm string) {
	a, err := replay.ParseAdmission(adm)
	if err != nil {
		t.Fatal(err)
	}
	lab := labSide(t, a)
	got := storeSide(t, adm, lab.CapacityBytes)
	if t.Failed() {
		return
	}

	// The lab's own figures, as the trace's comment works them out: the
	// test is about agreement, but agreement on nothing would prove
	// nothing.
	want := struct {
		Prefetched, Useful, Late, WastedEvicted, Unread uint64
		Flat, Prefetch, Joined, Cold                    uint64
	}{4, 1, 2, 1, 0, 2, 1, 2, 2}
	p := lab.Prefetch
	have := want
	have.Prefetched, have.Useful, have.Late, have.WastedEvicted, have.Unread = p.Prefetched, p.Useful, p.Late, p.WastedEvicted, p.Unread()
	have.Flat, have.Prefetch, have.Joined, have.Cold = p.Reads.Flat, p.Reads.Prefetched, p.Reads.Joined, p.Reads.Cold
	if have != want {
		t.Errorf("lab's prefetch figures = %+v, want %+v (the trace no longer exercises what it was made for)", have, want)
	}
	const cost = 200*time.Millisecond + 8192*time.Nanosecond // 8 KiB at 1e9 B/s
	if want := 2*cost + (100*time.Millisecond + 8192*time.Nanosecond) + 8192*time.Nanosecond; lab.Stall.TotalNs != int64(want) {
		t.Errorf("lab's stall = %v, want %v (two cold loads, waits of 100.008192 ms and 8.192 µs)", time.Duration(lab.Stall.TotalNs), want)
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
	// And what led to it: the same stall, GETs, cycles and flat reads.
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
	if got.stats.FlatBlocks != 4 {
		t.Errorf("store's flat holds %d blocks at the end, want 4 (its budget)", got.stats.FlatBlocks)
	}
}
