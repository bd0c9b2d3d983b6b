package filter_test

import (
	"context"
	"iter"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/filter"
)

var (
	_ pipeline.Filter = (*filter.Budget)(nil)
	_ pipeline.Filter = (*filter.FreeRoom)(nil)
)

// passes runs n candidates through f in cycle seq at virtual time ms and
// returns how many it passed.
func passes(f pipeline.Filter, seq uint64, ms int64, n int) int {
	cy := &pipeline.Cycle{Seq: seq, Now: time.UnixMilli(ms)}
	ok := 0
	for range n {
		if f.Skip(context.Background(), cy, pipeline.Candidate{Meta: block.Meta{PayloadBytes: 10}}) == "" {
			ok++
		}
	}
	return ok
}

func TestBudget(t *testing.T) {
	type step struct {
		seq  uint64
		ms   int64
		n    int
		want int
	}
	for _, tc := range []struct {
		name  string
		b     *filter.Budget
		steps []step
	}{
		{"per cycle only", filter.NewBudget(3, 0, 0), []step{
			{1, 0, 5, 3}, {2, 0, 5, 3}, {2, 0, 5, 0}, // a new cycle resets, the same does not
		}},
		{"16/s bursts of 8", filter.NewBudget(8, 16, 8), []step{
			{1, 0, 20, 8},       // a full bucket
			{2, 62, 20, 0},      // 0.992 token
			{3, 63, 20, 1},      // 1.008 tokens
			{4, 500, 20, 7},     // 0.008 + 16 x 0.437 = 7.0
			{5, 10_000, 20, 8},  // refilled to the burst, no more
			{6, 10_000, 20, 0},  // same instant: empty
			{7, 9_000, 20, 0},   // the clock stepped back: no refill
			{8, 10_125, 20, 2},  // 125 ms after the last refill
			{9, 100_000, 20, 8}, // capped by the per-cycle 8
		}},
		{"rate with a deeper burst than a cycle", filter.NewBudget(4, 16, 8), []step{
			{1, 0, 20, 4}, {2, 0, 20, 4}, {3, 0, 20, 0},
		}},
		{"burst 0 means the per-cycle cap", filter.NewBudget(2, 1, 0), []step{
			{1, 0, 5, 2}, {2, 500, 5, 0}, {3, 1000, 5, 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want, got []int
			for _, s := range tc.steps {
				want = append(want, s.want)
				got = append(got, passes(tc.b, s.seq, s.ms, s.n))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("passed per cycle mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// exactBucket is a token bucket in exact integer arithmetic, for integer
// rates: credit counts tokens in billionths, and a token is 1e9 of them.
type exactBucket struct {
	rate, depth int64 // tokens per second, tokens
	credit      int64
	last        int64 // ns; the latest time seen
	primed      bool
}

func (b *exactBucket) allow(now int64) bool {
	switch {
	case !b.primed:
		b.credit, b.last, b.primed = b.depth*1e9, now, true
	case now > b.last:
		dt := min(now-b.last, b.depth*1e9) // enough to fill at 1/s
		b.credit = min(b.depth*1e9, b.credit+b.rate*dt)
		b.last = now
	}
	if b.credit < 1e9 {
		return false
	}
	b.credit -= 1e9
	return true
}

// TestBudgetMatchesExactBucket runs the budget against exact arithmetic on
// a clock of whole microseconds, with steps back: its float arithmetic
// must never gain or lose a token (a token is never short of whole by
// less than a nanosecond's refill there, so rounding cannot decide).
func TestBudgetMatchesExactBucket(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for run := range 300 {
		rate, burst := int64(1+r.IntN(64)), 1+r.IntN(16)
		b := filter.NewBudget(0, float64(rate), burst)
		ref := &exactBucket{rate: rate, depth: int64(burst)}
		period := int64(time.Second) / rate
		now := int64(1_700_000_000) * int64(time.Second)
		for seq := uint64(1); seq <= 200; seq++ {
			if r.IntN(10) == 0 {
				now -= r.Int64N(int64(time.Second)/1000) * 1000 // a step back
			} else {
				now += r.Int64N(2*period/1000+1) * 1000
			}
			cy := &pipeline.Cycle{Seq: seq, Now: time.Unix(0, now)}
			for k := range 1 + r.IntN(4) {
				want := ref.allow(now)
				got := b.Skip(context.Background(), cy, pipeline.Candidate{}) == ""
				if got != want {
					t.Fatalf("run %d (%d/s, burst %d), cycle %d at %d us, candidate %d: passed %v, exact bucket %v",
						run, rate, burst, seq, now/1000, k, got, want)
				}
			}
		}
	}
}

func TestBudgetReason(t *testing.T) {
	b := filter.NewBudget(1, 0, 0)
	cy := &pipeline.Cycle{Seq: 1}
	b.Skip(context.Background(), cy, pipeline.Candidate{})
	if got := b.Skip(context.Background(), cy, pipeline.Candidate{}); got != pipeline.SkipBudget {
		t.Errorf("reason = %q, want %q", got, pipeline.SkipBudget)
	}
}

// The budget filters' reasons live in pipeline, with the values the
// metrics and logs show.
func TestSkipReasonsLiveInPipeline(t *testing.T) {
	for _, tt := range []struct{ home, want string }{
		{pipeline.SkipBudget, "budget"},
		{pipeline.SkipNoRoom, "no_room"},
	} {
		if tt.home != tt.want {
			t.Errorf("pipeline's %q, want %q", tt.home, tt.want)
		}
	}
}

// TestValidate: pipeline.New reports a filter's bad fields, the same for
// a filter from its constructor as for a struct literal; the constructors
// never panic.
func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    pipeline.Filter
		want []string
	}{
		{"NewBudget(-1, -1, -1)", filter.NewBudget(-1, -1, -1), []string{
			"pipeline: Filters[0]: filter: Budget.PerCycle = -1, want >= 0 (0 means no cap of its own)",
			"pipeline: Filters[0]: filter: Budget.Rate = -1, want 0 <= Rate <= 1e+18 (0 means no rate cap)",
			"pipeline: Filters[0]: filter: Budget.Burst = -1, want >= 0 (0 means PerCycle, or 1 when PerCycle is 0)",
		}},
		{"Budget{Burst: -1}", &filter.Budget{Burst: -1}, []string{
			"pipeline: Filters[0]: filter: Budget.Burst = -1, want >= 0 (0 means PerCycle, or 1 when PerCycle is 0)",
		}},
		{"NaN rate", filter.NewBudget(0, math.NaN(), 0), []string{
			"pipeline: Filters[0]: filter: Budget.Rate = NaN, want 0 <= Rate <= 1e+18 (0 means no rate cap)",
		}},
		{"infinite rate", &filter.Budget{Rate: math.Inf(1)}, []string{
			"pipeline: Filters[0]: filter: Budget.Rate = +Inf, want 0 <= Rate <= 1e+18 (0 means no rate cap)",
		}},
		{"a good budget", filter.NewBudget(8, 16, 8), nil},
		{"MaxInFlight without Pending", &filter.Budget{MaxInFlight: 8}, []string{
			"pipeline: Filters[0]: filter: Budget.MaxInFlight = 8 needs Budget.Pending, what counts the GETs in flight (a store, the replay lab); or set MaxInFlight to 0 for no cap",
		}},
		{"negative MaxInFlight", &filter.Budget{MaxInFlight: -1}, []string{
			"pipeline: Filters[0]: filter: Budget.MaxInFlight = -1, want >= 0 (0 means no cap on the GETs in flight)",
		}},
		{"a capped budget", &filter.Budget{Rate: 16, Burst: 16, MaxInFlight: 8, Pending: filter.PendingFunc(func(string) int { return 0 })}, nil},
		{"nil *Budget", (*filter.Budget)(nil), []string{"pipeline: Filters[0]: filter: Budget is nil"}},
		{"Backoff{-1, -1, -1}", &filter.Backoff{Base: -1, Max: -1, MaxEntries: -1}, []string{
			"pipeline: Filters[0]: filter: Backoff.Base = -1ns, want >= 0 (0 means the default, 1s)",
			"pipeline: Filters[0]: filter: Backoff.Max = -1ns, want >= 0 (0 means the default, 5m0s)",
			"pipeline: Filters[0]: filter: Backoff.MaxEntries = -1, want >= 0 (0 means the default, 65536)",
		}},
		{"NewBackoff(0, 0)", filter.NewBackoff(0, 0), nil},
		{"NewFreeRoom(nil)", filter.NewFreeRoom(nil), []string{
			"pipeline: Filters[0]: filter: FreeRoom.Room is nil, want the flat tier's Room (a store with a capacity)",
		}},
		{"NewAlreadyFlat(nil)", filter.NewAlreadyFlat(nil), []string{
			"pipeline: Filters[0]: filter: AlreadyFlat.Flat is nil, want the flat tier (a store)",
		}},
		{"NewNotInFlight(nil)", filter.NewNotInFlight(nil), []string{
			"pipeline: Filters[0]: filter: NotInFlight.InFlight is nil, want what tracks the fetches in flight (a store)",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pipeline.New(pipeline.Config{
				Sources:  []pipeline.Source{pipeline.SourceFunc(func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] { return nil })},
				Scorer:   pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return 0 }),
				Selector: pipeline.SelectorFunc(func(dst []pipeline.Candidate, _ int, _ iter.Seq[pipeline.Candidate]) []pipeline.Candidate { return dst }),
				Filters:  []pipeline.Filter{tt.f},
			})
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("New error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// A budget used on its own treats out-of-range fields as 0: no cap.
func TestBudgetOutOfRangeIsNoCap(t *testing.T) {
	for _, b := range []*filter.Budget{filter.NewBudget(-1, -1, -1), filter.NewBudget(0, math.NaN(), 0)} {
		if got := passes(b, 1, 0, 100); got != 100 {
			t.Errorf("Budget{%d, %v, %d} passed %d of 100, want all", b.PerCycle, b.Rate, b.Burst, got)
		}
	}
}

func TestFreeRoom(t *testing.T) {
	free := int64(25)
	f := filter.NewFreeRoom(filter.RoomFunc(func(ns string) int64 { return free }))
	// Blocks of 10 B: two fit in 25 B in one cycle, a third does not.
	if got := passes(f, 1, 0, 3); got != 2 {
		t.Errorf("cycle 1 passed %d, want 2", got)
	}
	// The store has not yet taken them: the next cycle plans afresh.
	if got := passes(f, 2, 0, 3); got != 2 {
		t.Errorf("cycle 2 passed %d, want 2", got)
	}
	free = 9
	if got := passes(f, 3, 0, 1); got != 0 {
		t.Errorf("with 9 B free, passed %d blocks of 10 B, want 0", got)
	}
	cy := &pipeline.Cycle{Seq: 4}
	if got := f.Skip(context.Background(), cy, pipeline.Candidate{Meta: block.Meta{PayloadBytes: 10}}); got != pipeline.SkipNoRoom {
		t.Errorf("reason = %q, want %q", got, pipeline.SkipNoRoom)
	}
	// A block of unknown size never passes, however much room there is:
	// it could need any of it, and fetching it could evict.
	free = 1 << 40
	for _, size := range []uint64{0, 1<<63 + 1, ^uint64(0)} {
		if got := f.Skip(context.Background(), cy, pipeline.Candidate{Meta: block.Meta{PayloadBytes: size}}); got != pipeline.SkipUnknownSize {
			t.Errorf("PayloadBytes %d with 1 TiB free: reason %q, want %q", size, got, pipeline.SkipUnknownSize)
		}
	}
	if got := f.Skip(context.Background(), cy, pipeline.Candidate{Meta: block.Meta{PayloadBytes: 10}}); got != "" {
		t.Errorf("10 B with 1 TiB free: reason %q, want none", got)
	}
}

// TestBudgetMaxInFlight: the cap counts the GETs already in flight (from
// any cycle) plus those the cycle passed, and a candidate it refuses takes
// no token from the bucket.
func TestBudgetMaxInFlight(t *testing.T) {
	pending := 0
	b := &filter.Budget{Rate: 16, Burst: 8, MaxInFlight: 8, Pending: filter.PendingFunc(func(string) int { return pending })}
	for _, s := range []struct {
		seq     uint64
		ms      int64
		pending int
		n, want int
	}{
		{1, 0, 0, 5, 5},     // 5 of 8 tokens, 5 of 8 slots
		{2, 10, 5, 5, 3},    // 3 slots left; tokens 3.16 -> 0.16
		{3, 20, 8, 5, 0},    // no slot: no token taken (0.32 banked)
		{4, 500, 2, 20, 6},  // 0.32 + 7.68 = 8.0 tokens, 6 slots: 2 tokens left
		{5, 500, 0, 20, 2},  // same instant, the GETs landed: the 2 tokens
		{6, 1000, 8, 20, 0}, // full: 8 tokens banked
		{7, 1000, 3, 20, 5}, // 5 slots, 5 of the 8 tokens
	} {
		pending = s.pending
		if got := passes(b, s.seq, s.ms, s.n); got != s.want {
			t.Errorf("cycle %d at %d ms with %d in flight: passed %d of %d, want %d", s.seq, s.ms, s.pending, got, s.n, s.want)
		}
	}
}

// TestBudgetCapOverlappingCycles replays event-driven cycles on a virtual
// clock, each woken by a burst of candidates, whose GETs take 300 ms and
// outlive the cycle that started them: with the cap the GETs in flight
// never exceed it, and every figure is exact.
func TestBudgetCapOverlappingCycles(t *testing.T) {
	const getMs = 300
	for _, tc := range []struct {
		name              string
		maxInFlight       int
		wantGets, wantMax int
	}{
		// Tokens per cycle 16 -> 8, 9.6 -> 8, 3.2 -> 3, 3.4 -> 3, 5.2 ->
		// 5, 5.0 -> 5, 1.6 -> 1: 33 GETs, 19 in flight at 200 ms.
		{"no cap", 0, 33, 19},
		// 8 at 0; none at 100 and 200 (8 in flight, the bucket fills
		// to 11.2); 8 at 400 (12.8 tokens) and at 700 (9.6), when the
		// earlier 8 have landed; 6 at 1000 (6.4 tokens); 2 at 1100
		// (2.0 tokens, 6 in flight).
		{"cap 8", 8, 32, 8},
		// 4 at 0, 400, 700 and 1000 (the bucket stays near full), none
		// at 100, 200 and 1100.
		{"cap 4", 4, 16, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var done []int64 // completion times of the GETs started
			now := int64(0)
			inFlight := func(string) int {
				n := 0
				for _, d := range done {
					if d > now {
						n++
					}
				}
				return n
			}
			b := &filter.Budget{PerCycle: 8, Rate: 16, Burst: 16, MaxInFlight: tc.maxInFlight}
			if tc.maxInFlight > 0 {
				b.Pending = filter.PendingFunc(inFlight)
			}
			most := 0
			for seq, at := range []int64{0, 100, 200, 400, 700, 1000, 1100} {
				now = at
				passed := passes(b, uint64(seq+1), at, 8)
				for range passed {
					done = append(done, at+getMs)
				}
				most = max(most, inFlight(""))
			}
			if len(done) != tc.wantGets || most != tc.wantMax {
				t.Errorf("GETs %d, most in flight %d; want %d and %d", len(done), most, tc.wantGets, tc.wantMax)
			}
		})
	}
}
