package replay

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/pipeline"
)

// Small numbers make the expected figures easy to check by hand: a block
// of 1 token holds 1000 B and one GET of it costs 10 ms + 1000 B / 1e5 B/s
// = 20 ms.
var tiny = Settings{BlockTokens: 1, BytesPerToken: 1000, GetLatency: 10 * time.Millisecond, GetBandwidth: 1e5}.WithDefaults()

const (
	blk  = 1000                  // bytes of a 1-token block
	cost = 20 * time.Millisecond // one GET of it
)

// req builds a request at ms with one 1-token block per id.
func req(ms int64, ids ...uint64) Request {
	return Request{Timestamp: ms, InputLength: int64(len(ids)), HashIDs: ids}
}

func newTinyRun(t *testing.T, capacity int64, reqs ...Request) *run {
	t.Helper()
	m := prepare(&Trace{Name: "tiny", Requests: reqs}, tiny)
	return newRun(m, capacity, Admission{Mode: AdmitMRU})
}

// serveAll serves requests [from, to) at their times.
func serveAll(r *run, from, to int) {
	for i := from; i < to; i++ {
		r.now = r.m.t[i]
		r.complete(r.now)
		r.serve(i)
		r.ptr = i + 1
	}
}

// fetchNow issues GETs of ids at time ms, as a cycle whose fetch stage got
// them in this order would.
func fetchNow(r *run, ms int64, ids ...uint64) {
	r.now = ms * int64(time.Millisecond)
	r.complete(r.now)
	o := &pipeline.Outcome{}
	for _, id := range ids {
		b, _ := r.m.lookup(Hash(id))
		o.Fetches = append(o.Fetches, pipeline.FetchResult{Hash: Hash(id), Bytes: r.m.size[b]})
	}
	r.schedule(o)
}

type tally struct {
	Hits, Late, Cold, GETs, Useful int
	Stalls, Prefix                 []time.Duration
}

func tallyOf(r *run) tally {
	d := func(ns []int64) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, v := range ns {
			out[i] = time.Duration(v)
		}
		return out
	}
	st := r.tally.Stats()
	return tally{r.hits, r.late, r.cold, r.gets, int(st.Useful + st.Late), d(r.stalls), d(r.prefix)}
}

func TestGetCost(t *testing.T) {
	s := Settings{}.WithDefaults()
	if got, want := s.GetCost(512*131072), 97108864*time.Nanosecond; got != want {
		t.Errorf("GetCost(64 MiB) = %v, want %v (docs/replay-model.md)", got, want)
	}
	if got, want := tiny.GetCost(blk), cost; got != want {
		t.Errorf("tiny GetCost = %v, want %v", got, want)
	}
	// Truncated to whole nanoseconds: 1 B at 3 B/s is 333333333.3 ns.
	s.GetBandwidth, s.GetLatency = 3, 0
	if got, want := s.GetCost(1), 333333333*time.Nanosecond; got != want {
		t.Errorf("GetCost(1 B at 3 B/s) = %v, want %v", got, want)
	}
}

func TestBlockSizes(t *testing.T) {
	s := Settings{}.WithDefaults()
	// 1200 tokens in 3 blocks: 512, 512, 176. An id keeps its first size.
	m := prepare(&Trace{Requests: []Request{
		{Timestamp: 0, InputLength: 1200, HashIDs: []uint64{7, 8, 9}},
		{Timestamp: 1, InputLength: 600, HashIDs: []uint64{7, 8}},    // 8 would be 88 tokens: keeps 512
		{Timestamp: 2, InputLength: 5000, HashIDs: []uint64{10, 11}}, // clamped to 512
		{Timestamp: 3, InputLength: 100, HashIDs: []uint64{12, 13}},  // 100-512 < 1: clamped to 1
	}}, s)
	want := []int64{512, 512, 176, 512, 512, 512, 1}
	got := make([]int64, len(m.size))
	for i, b := range m.size {
		got[i] = b / s.BytesPerToken
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("block tokens mismatch (-want +got):\n%s", diff)
	}
	if m.reusedRefs != 2 || m.uniqueBytes != (512*5+176+1)*s.BytesPerToken {
		t.Errorf("reused %d, unique bytes %d, want 2 and %d", m.reusedRefs, m.uniqueBytes, (512*5+176+1)*s.BytesPerToken)
	}
}

func TestHashOrder(t *testing.T) {
	for _, c := range [][2]uint64{{0, 1}, {255, 256}, {1 << 40, 1<<40 + 1}, {7, 1 << 63}} {
		if Hash(c[0]).Compare(Hash(c[1])) >= 0 {
			t.Errorf("Hash(%d) does not order before Hash(%d)", c[0], c[1])
		}
		if id, ok := ID(Hash(c[1])); !ok || id != c[1] {
			t.Errorf("ID(Hash(%d)) = %d, %v", c[1], id, ok)
		}
	}
	h := Hash(1)
	h[0] = 1
	if _, ok := ID(h); ok {
		t.Error("ID accepted a hash not made by Hash")
	}
}

// Each request rule on a flat of 2 blocks: computed, hit, eviction from
// the LRU end, cold loads one after another.
func TestRequestRules(t *testing.T) {
	r := newTinyRun(t, 2*blk,
		req(0, 1, 2),    // computed, computed: flat [2 1]
		req(1000, 1, 2), // hit, hit
		req(2000, 3),    // computed: evicts 1 (the LRU end): flat [3 2]
		req(3000, 1, 2), // 1 cold (evicts 2), 2 cold (evicts 3)
	)
	serveAll(r, 0, 4)
	want := tally{Hits: 2, Cold: 2,
		Stalls: []time.Duration{0, 0, 0, 2 * cost},
		Prefix: []time.Duration{0, 0, 0, 2 * cost}}
	if diff := cmp.Diff(want, tallyOf(r)); diff != "" {
		t.Errorf("tally mismatch (-want +got):\n%s", diff)
	}
	if r.flat.Bytes() != 2*blk {
		t.Errorf("flat holds %d B, want %d", r.flat.Bytes(), 2*blk)
	}
}

// A prefetched block read before eviction is useful; after a first miss,
// prefix accounting charges every later re-used block a full GET.
func TestPrefetchHitAndPrefixAccounting(t *testing.T) {
	r := newTinyRun(t, 10*blk,
		req(0, 1, 2, 3),
		req(5000, 1, 2, 3),
	)
	serveAll(r, 0, 1)
	r.now = 1000 * int64(time.Millisecond)
	r.restart() // flat empties; index and cold survive
	r.timing = timing{limit: 8}
	fetchNow(r, 2000, 2) // lands at 2.02 s, long before the request
	serveAll(r, 1, 2)
	// 1: cold (the first miss), 2: hit on the prefetched block, 3: cold.
	want := tally{Hits: 1, Cold: 2, GETs: 1, Useful: 1,
		Stalls: []time.Duration{0, 2 * cost},
		Prefix: []time.Duration{0, 3 * cost}}
	if diff := cmp.Diff(want, tallyOf(r)); diff != "" {
		t.Errorf("tally mismatch (-want +got):\n%s", diff)
	}
}

// A request reading a block whose GET is in flight waits for the rest of
// it, counted from its own stall so far (its loads run one after another).
func TestLatePrefetchHit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fetchAtMs int64
		ids       []uint64 // read by the second request
		wantStall time.Duration
		wantCold  int
	}{
		// GET at 4.990 s lands at 5.010 s; the request at 5 s waits 10 ms.
		{"waits the rest", 4990, []uint64{2}, 10 * time.Millisecond, 0},
		// Block 1 is a cold load first (20 ms): the GET has landed by
		// then, so block 2 waits nothing.
		{"hidden behind a cold load", 4995, []uint64{1, 2}, cost, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTinyRun(t, 10*blk, req(0, 1, 2), req(5000, tc.ids...))
			serveAll(r, 0, 1)
			r.now = int64(time.Second)
			r.restart()
			r.timing = timing{limit: 8}
			fetchNow(r, tc.fetchAtMs, 2)
			serveAll(r, 1, 2)
			got := tallyOf(r)
			if got.Late != 1 || got.Useful != 1 || got.Cold != tc.wantCold || got.Stalls[1] != tc.wantStall {
				t.Errorf("late %d, useful %d, cold %d, stall %v; want 1, 1, %d, %v", got.Late, got.Useful, got.Cold, got.Stalls[1], tc.wantCold, tc.wantStall)
			}
			// The GET's completion does nothing more: the block is in
			// flat once, from the request.
			r.complete(10 * int64(time.Second))
			if unread := r.tally.Stats().Unread(); r.flat.Bytes() != int64(len(tc.ids))*blk || unread != 0 {
				t.Errorf("after the completion: flat %d B, %d unread; want %d B, 0", r.flat.Bytes(), unread, int64(len(tc.ids))*blk)
			}
		})
	}
}

// v2 completes a cycle's GETs one after another; v3 keeps at most limit in
// flight, each starting when an earlier one of the cycle completes.
func TestFetchTiming(t *testing.T) {
	for _, tc := range []struct {
		name string
		tm   timing
		want []time.Duration // completion of blocks 1, 2, 3
	}{
		{"v2 sequential", timing{sequential: true}, []time.Duration{cost, 2 * cost, 3 * cost}},
		{"v3 limit 8", timing{limit: 8}, []time.Duration{cost, cost, cost}},
		{"v3 limit 2", timing{limit: 2}, []time.Duration{cost, cost, 2 * cost}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTinyRun(t, 10*blk, req(0, 1, 2, 3))
			serveAll(r, 0, 1)
			r.restart()
			r.timing = tc.tm
			fetchNow(r, 1000, 1, 2, 3)
			var got []time.Duration
			for id := uint64(1); id <= 3; id++ {
				b, _ := r.m.lookup(Hash(id))
				got = append(got, time.Duration(r.pendAt[b])-time.Second)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("completions after the cycle mismatch (-want +got):\n%s", diff)
			}
			if !r.InFlight("", Hash(3)) || r.ContainsFlat(context.Background(), "", Hash(3)) {
				t.Error("block 3 should be in flight, not in flat")
			}
			r.complete(int64(time.Second) + int64(3*cost))
			if r.InFlight("", Hash(3)) || !r.ContainsFlat(context.Background(), "", Hash(3)) {
				t.Error("block 3 should have landed in flat")
			}
		})
	}
}

// Completions at one instant land in issue order: the first issued is
// older in the LRU and evicted first.
func TestCompletionOrderAndWaste(t *testing.T) {
	r := newTinyRun(t, 2*blk, req(0, 1), req(1, 2), req(2, 3), req(9000, 4), req(9001, 2))
	serveAll(r, 0, 3) // flat [3 2]
	r.restart()
	r.timing = timing{limit: 8}
	fetchNow(r, 1000, 1, 2, 3) // all land at 1.02 s: 1, then 2 (evicts nothing), then 3 evicts 1
	r.complete(int64(2 * time.Second))
	if r.ContainsFlat(context.Background(), "", Hash(1)) || !r.ContainsFlat(context.Background(), "", Hash(2)) {
		t.Error("want block 1 evicted by block 3's completion, block 2 kept")
	}
	// 4 is computed and evicts 2 (unread: wasted); 2 is then a cold load
	// and evicts 3 (unread: wasted).
	serveAll(r, 3, 5)
	got := tallyOf(r)
	if wasted := r.tally.Stats().Wasted(); got.GETs != 3 || got.Useful != 0 || wasted != 3 || got.Cold != 1 {
		t.Errorf("GETs %d, useful %d, evicted unread %d, cold %d; want 3, 0, 3, 1", got.GETs, got.Useful, wasted, got.Cold)
	}
}

// A restart empties flat and cancels the GETs in flight.
func TestRestartCancels(t *testing.T) {
	r := newTinyRun(t, 10*blk, req(0, 1, 2), req(5000, 1, 2))
	serveAll(r, 0, 1)
	r.restart()
	r.timing = timing{limit: 8}
	fetchNow(r, 1000, 1)
	r.now = 1010 * int64(time.Millisecond)
	r.restart() // cancels block 1's GET, which would land at 1.02 s
	serveAll(r, 1, 2)
	got := tallyOf(r)
	if got.Late != 0 || got.Cold != 2 || got.GETs != 1 || got.Useful != 0 || r.canceled != 1 {
		t.Errorf("late %d, cold %d, GETs %d, useful %d, canceled %d; want 0, 2, 1, 0, 1", got.Late, got.Cold, got.GETs, got.Useful, r.canceled)
	}
	if r.flat.Bytes() != 2*blk {
		t.Errorf("flat holds %d B after the request, want %d", r.flat.Bytes(), 2*blk)
	}
}

// Admission: MRU puts a prefetched block with the demand loads; LRU puts
// it where the next eviction takes it; probation keeps at most F of the
// capacity for prefetched blocks and evicts them first.
func TestAdmission(t *testing.T) {
	for _, tc := range []struct {
		adm       Admission
		wantFlat  []uint64 // after block 4 is computed, the next evicted first
		wantEvict int      // unread prefetched blocks evicted
	}{
		{Admission{Mode: AdmitMRU}, []uint64{3, 1, 4}, 0},
		{Admission{Mode: AdmitLRU}, []uint64{2, 3, 4}, 1},
		{Admission{Mode: AdmitProbation, Fraction: 0.34}, []uint64{2, 3, 4}, 1},
		{Admission{Mode: AdmitProbation, Fraction: 1}, []uint64{2, 3, 4}, 1},
		// The segment (333 B) cannot take a block (1000 B): the GET is
		// wasted and evicts nothing.
		{Admission{Mode: AdmitProbation, Fraction: 0.333}, []uint64{2, 3, 4}, 1},
	} {
		t.Run(tc.adm.String(), func(t *testing.T) {
			r := newTinyRun(t, 3*blk, req(0, 1), req(1, 2), req(2, 3), req(3000, 4))
			r.setAdmission(tc.adm)
			serveAll(r, 0, 1)
			r.now = 1
			r.restart()
			serveAll(r, 1, 3) // flat [3 2]
			r.timing = timing{limit: 8}
			fetchNow(r, 1000, 1)
			r.complete(int64(2 * time.Second)) // flat full: 1 is admitted where the mode says
			serveAll(r, 3, 4)                  // 4 is computed and evicts one block
			var got []uint64
			for b := range r.flat.All() {
				got = append(got, r.m.ids[b])
			}
			if diff := cmp.Diff(tc.wantFlat, got); diff != "" {
				t.Errorf("flat (next evicted first) mismatch (-want +got):\n%s", diff)
			}
			if wasted := r.tally.Stats().Wasted(); wasted != uint64(tc.wantEvict) {
				t.Errorf("evicted unread = %d, want %d", wasted, tc.wantEvict)
			}
		})
	}
}

// The event order at one instant: completions, restart, cycle, requests;
// cycles on the grid from the first multiple at or after the first
// request; the oracle fetches the block used soonest.
func TestPlayOracle(t *testing.T) {
	tr := &Trace{Name: "tiny", Requests: []Request{
		req(0, 1), req(0, 2), req(0, 3), // fill a flat of 2: 1 is evicted
		req(900, 4), // evicts 2
		req(1500, 1), req(1600, 2),
	}}
	res, err := Run(context.Background(), tr, Config{
		Settings:  tiny,
		Scenarios: []Scenario{{Fraction: 0.5}}, // 2 of 4 blocks
		Policies:  byName(PolicyNone, PolicyOracleV3),
	})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Policy                 string
		Hits, Late, Cold, GETs int
		Useful, Cycles         int
		Stall                  time.Duration
	}
	var got []row
	for _, r := range res {
		got = append(got, row{r.Policy, r.Hits, r.LatePrefetchHits, r.ColdLoads, r.PrefetchGets, r.Useful, r.Cycles, time.Duration(r.Stall.TotalNs)})
	}
	// Cycles at 0, 0.5, 1 and 1.5 s. At 0 nothing is seen yet. At 0.5 s
	// the oracle fetches 1 (2 is in flat); it lands at 0.52 s and evicts 2
	// (flat [1 3]); at 0.9 s block 4 evicts 3 (flat [4 1]). At 1 s it
	// fetches 2, which lands at 1.02 s and evicts 1 (wasted). At 1.5 s,
	// before the request, it fetches 1 again: the request waits 20 ms for
	// it (a late hit) and evicts 4; at 1.6 s 2 is a hit.
	want := []row{
		{PolicyNone, 0, 0, 2, 0, 0, 0, 2 * cost},
		{PolicyOracleV3, 1, 1, 0, 3, 2, 4, cost},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results mismatch (-want +got):\n%s", diff)
	}
	if res[1].Share != 1 || res[0].Share != 0 {
		t.Errorf("shares = %v, %v; want 0 and 1", res[0].Share, res[1].Share)
	}
}

func TestSummarize(t *testing.T) {
	ms := int64(time.Millisecond)
	got := summarize([]int64{0, 0, 10 * ms, 20 * ms, 70 * ms})
	want := Stall{TotalS: 0.1, MeanMs: 20, P50Ms: 10, P99Ms: 70, TotalNs: 100 * ms}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarize mismatch (-want +got):\n%s", diff)
	}
}

// A GET too slow for an int64 of nanoseconds takes for ever: it never
// lands, rather than landing before it started.
func TestGetCostSaturates(t *testing.T) {
	s := Settings{GetBandwidth: 1e-300, GetLatency: time.Duration(math.MaxInt64 - 5)}.WithDefaults()
	for _, n := range []int64{1, 1 << 30} {
		if got := s.GetCost(n); got != math.MaxInt64 {
			t.Errorf("GetCost(%d) at 1e-300 B/s = %v, want the largest Duration", n, got)
		}
	}
}
