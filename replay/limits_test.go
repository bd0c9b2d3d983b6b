package replay

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/stages/snapshot"
)

// The shared link serves a request's load before a prefetch: the load
// takes its GET cost, as alone, and the prefetch it pauses lands later;
// a request that then reads the prefetched block joins its GET, which
// becomes the request's load. tiny's GETs: 10 ms, then 1000 B at 1e5 B/s,
// and a link of 1e5 B/s carries one at a time.
func TestLinkLoadsFirst(t *testing.T) {
	reqs := []Request{
		req(0, 1), req(0, 2), req(0, 3), // a flat of one block: 3 is left
		req(105, 2), // cold: 105 + 10 ms + 10 ms, the link its alone
		req(128, 1), // its prefetch, paused by that load, lands at 130
	}
	for _, tc := range []struct {
		name string
		bw   float64
		want tally
	}{
		// The prefetch of 1 at 100 ms lands at 120 ms, before its read.
		{"no link", 0, tally{Hits: 1, Cold: 1, GETs: 1, Useful: 1,
			Stalls: []time.Duration{0, 0, 0, 20 * time.Millisecond, 0}, Prefix: []time.Duration{0, 0, 0, 20 * time.Millisecond, 0}}},
		// Ready at 110 ms, 500 B moved by 115, paused while 2 loads
		// (115 to 125), 300 B more by 128: the read joins and waits for
		// the last 200 B, 2 ms.
		{"link", 1e5, tally{Late: 1, Cold: 1, GETs: 1, Useful: 1,
			Stalls: []time.Duration{0, 0, 0, 20 * time.Millisecond, 2 * time.Millisecond}, Prefix: []time.Duration{0, 0, 0, 20 * time.Millisecond, 2 * time.Millisecond}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTinyRun(t, blk, reqs...)
			if tc.bw > 0 {
				r.link = newLink(tc.bw, tiny.GetBandwidth, int64(tiny.GetLatency))
			}
			r.timing = timing{limit: 8}
			serveAll(r, 0, 3)
			fetchNow(r, 100, 1)
			serveAll(r, 3, 5)
			if diff := cmp.Diff(tc.want, tallyOf(r)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// Prefetches share what the loads leave, equally: two GETs on a link of
// one GET's bandwidth take twice as long (both land at 30 ms, not 20),
// and a sequential fetcher's window holds the second until the first
// lands, as without a link. The read at 25 ms joins what is in flight.
func TestLinkPrefetchesShare(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	for _, tc := range []struct {
		name   string
		timing timing
		bw     float64
		want   tally
	}{
		{"v3, no link: both landed at 20 ms", timing{limit: 8}, 0, tally{Hits: 2, GETs: 2, Useful: 2}},
		// 750 B of each moved by 25 ms: 1 joins and takes the link for
		// its last 250 B (2.5 ms), then 2 (2.5 ms more).
		{"v3, link", timing{limit: 8}, 1e5, tally{Late: 2, GETs: 2, Useful: 2, Stalls: []time.Duration{ms(5)}, Prefix: []time.Duration{ms(22.5)}}},
		// 1 landed at 20 ms; 2 started then, its latency ends at 30 ms,
		// it lands at 40 ms: a wait of 15 ms, link or not.
		{"v2, no link", timing{sequential: true}, 0, tally{Hits: 1, Late: 1, GETs: 2, Useful: 2, Stalls: []time.Duration{ms(15)}, Prefix: []time.Duration{ms(15)}}},
		{"v2, link", timing{sequential: true}, 1e5, tally{Hits: 1, Late: 1, GETs: 2, Useful: 2, Stalls: []time.Duration{ms(15)}, Prefix: []time.Duration{ms(15)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTinyRun(t, 2*blk, req(0, 1), req(0, 2), req(0, 3, 4), req(25, 1, 2))
			if tc.bw > 0 {
				r.link = newLink(tc.bw, tiny.GetBandwidth, int64(tiny.GetLatency))
			}
			r.timing = tc.timing
			serveAll(r, 0, 3)
			fetchNow(r, 0, 1, 2)
			serveAll(r, 3, 4)
			got := tallyOf(r)
			got.Stalls, got.Prefix = got.Stalls[3:], got.Prefix[3:]
			if len(tc.want.Stalls) == 0 {
				tc.want.Stalls, tc.want.Prefix = []time.Duration{0}, []time.Duration{0}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// The lab counts its GETs in flight for a budget's cap (filter.Pending):
// hint-v3 never has more in flight than Settings.MaxInFlight.
func TestLabMaxInFlight(t *testing.T) {
	ids := make([]uint64, 20)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	// Flat of 20: the 10 blocks at 100.. evict 1..10, which the hinted
	// request at 2 s reads again with 11..20 (leased).
	tr := &Trace{Name: "tiny", Requests: []Request{req(0, ids...), req(0, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109), req(2000, ids...)}}
	for _, tc := range []struct{ cap, want int }{{3, 3}, {8, 8}, {100, 8}} { // TopK 8 per cycle
		s := tiny
		s.MaxInFlight, s.GetsPerSecond, s.Burst = tc.cap, 1000, 100
		res, err := Run(context.Background(), tr, Config{
			Settings: s, Scenarios: []Scenario{{Fraction: 20.0 / 30}},
			Policies: byName(PolicyNone, PolicyHintV3), Leads: []time.Duration{time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := res[1].MaxInFlight; got != tc.want || res[1].Settings.MaxInFlight != tc.cap {
			t.Errorf("MaxInFlight %d: most in flight %d (settings %d), want %d", tc.cap, got, res[1].Settings.MaxInFlight, tc.want)
		}
		if res[1].PrefetchGets != 10 || res[1].Hits != 20 {
			t.Errorf("MaxInFlight %d: %d GETs, %d hits; want the 10 evicted fetched, all 20 hit", tc.cap, res[1].PrefetchGets, res[1].Hits)
		}
	}
}

// A hinted block in flat is leased when its hint arrives: with touch it
// moves to the MRU end, with pin it outlives a burst of new blocks that
// evicts everything else (the pins hold 2 of the 8 blocks: DefaultPinShare),
// and without a lease it is the first to go. The burst at 1995 ms comes
// just before the hinted read is due, too late for a GET.
func TestLabLease(t *testing.T) {
	tr := &Trace{Name: "tiny", Requests: []Request{
		req(0, 1), req(0, 2), req(0, 3), req(0, 4), req(0, 5), req(0, 6), req(0, 7), req(0, 8), // flat of 8: 1 is the LRU end
		req(1500, 2),
		req(1995, 9, 10, 11, 12, 13, 14, 15, 16), // computed: all of flat but the pins
		req(2000, 1),                             // hinted at 1000 ms
	}}
	for _, tc := range []struct {
		lease              snapshot.LeaseMode
		wantHits, wantCold int
	}{
		{snapshot.LeaseNone, 1, 1},
		{snapshot.LeaseTouch, 1, 1}, // at the MRU end at 1000 ms, evicted at 1995 all the same
		{snapshot.LeasePin, 2, 0},   // pinned until 3 s (Due + 1 s)
	} {
		s := tiny
		s.Lease = tc.lease
		res, err := Run(context.Background(), tr, Config{
			Settings: s, Scenarios: []Scenario{{Fraction: 8.0 / 16}},
			Policies: byName(PolicyNone, PolicyHintV3), Leads: []time.Duration{time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := res[1]; got.Hits != tc.wantHits || got.ColdLoads != tc.wantCold || got.PrefetchGets != 0 {
			t.Errorf("lease %s: %d hits, %d cold loads, %d GETs; want %d, %d, 0", tc.lease, got.Hits, got.ColdLoads, got.PrefetchGets, tc.wantHits, tc.wantCold)
		}
	}
}

// Touch leases save the block a later read would have pushed out: flat of
// 2, the hinted 1 at the LRU end, 3 computed before 1 is due.
func TestLabLeaseTouch(t *testing.T) {
	tr := &Trace{Name: "tiny", Requests: []Request{
		req(0, 1), req(0, 2), // 1 is the LRU end
		req(1995, 3), // evicts the LRU end
		req(2000, 1), // hinted at 1000 ms
	}}
	for _, tc := range []struct {
		lease    snapshot.LeaseMode
		wantHits int
	}{{snapshot.LeaseNone, 0}, {snapshot.LeaseTouch, 1}, {snapshot.LeasePin, 1}} {
		s := tiny
		s.Lease = tc.lease
		res, err := Run(context.Background(), tr, Config{
			Settings: s, Scenarios: []Scenario{{Fraction: 2.0 / 3}},
			Policies: byName(PolicyNone, PolicyHintV3), Leads: []time.Duration{time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := res[1]; got.Hits != tc.wantHits || got.PrefetchGets != 0 {
			t.Errorf("lease %s: %d hits, %d GETs; want %d, 0", tc.lease, got.Hits, got.PrefetchGets, tc.wantHits)
		}
	}
}

// The guess admission keeps a right guess as the MRU end would, and drops
// a wrong one as the LRU end would, once its TTL has run out: flat of 2,
// a prefetch of 3 at 100 ms (it lands at 120 ms, evicting 1), a new block
// at 500 ms, then a read of the guess (right) or of 2 (wrong).
func TestLabGuessAdmission(t *testing.T) {
	for _, tc := range []struct {
		admission            string
		rightHits, wrongHits int
	}{
		{"mru", 1, 0},             // keeps the guess, loses 2
		{"lru", 0, 1},             // loses the guess, keeps 2
		{"guess:0.5:1s", 1, 0},    // young at 500 ms: kept over 2
		{"guess:0.5:100ms", 0, 1}, // stale at 500 ms: the first to go
	} {
		for _, right := range []bool{true, false} {
			last := req(600, 3)
			if !right {
				last = req(600, 2)
			}
			adm, err := ParseAdmission(tc.admission)
			if err != nil {
				t.Fatal(err)
			}
			r := newTinyRun(t, 2*blk, req(0, 3), req(0, 1), req(0, 2), req(500, 4), last)
			r.setAdmission(adm)
			r.timing = timing{limit: 8}
			serveAll(r, 0, 3)
			fetchNow(r, 100, 3)
			for i := 3; i < 5; i++ {
				r.now = r.m.t[i]
				r.complete(r.now)
				r.flat.Advance(r.now)
				r.serve(i)
			}
			want := tc.wrongHits
			if right {
				want = tc.rightHits
			}
			if r.hits != want {
				t.Errorf("%s, guess right %v: %d hits, want %d", tc.admission, right, r.hits, want)
			}
		}
	}
}
