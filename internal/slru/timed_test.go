package slru

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// step is one call on an Order for the timed tests: "admit", "pin",
// "touch", "advance", "pinbudget", "trim".
type step struct {
	do   string
	h    int32
	n    int64 // admit: size; pin: until; advance: now; pinbudget: bytes
	at   Place
	want bool // pin's report
}

func TestTimedSegments(t *testing.T) {
	const a, b, c, d, e, g1, g2, g3 = 0, 1, 2, 3, 4, 5, 6, 7
	front := func(h int32, n int64) step { return step{do: "admit", h: h, n: n, at: PlaceFront} }
	guess := func(h int32, n int64) step { return step{do: "admit", h: h, n: n, at: PlaceGuess} }
	pinned := func(h int32, until int64, want bool) step { return step{do: "pin", h: h, n: until, want: want} }
	advance := func(now int64) step { return step{do: "advance", n: now} }
	for _, tc := range []struct {
		name        string
		budget      int64
		pinBudget   int64
		guessBudget int64
		ttl         int64
		steps       []step
		wantEvicted []int32
		wantOrder   []int32
		wantPinned  int64
	}{
		{
			name: "a pinned entry outlives the LRU end", budget: 30, pinBudget: 10,
			steps:       []step{front(a, 10), front(b, 10), front(c, 10), pinned(a, 100, true), front(d, 10)},
			wantEvicted: []int32{b}, wantOrder: []int32{c, d, a}, wantPinned: 10,
		},
		{
			name: "past the pin budget an entry is only touched", budget: 30, pinBudget: 10,
			steps:       []step{front(a, 10), front(b, 10), front(c, 10), pinned(a, 100, true), pinned(b, 100, false), front(d, 10)},
			wantEvicted: []int32{c}, wantOrder: []int32{b, d, a}, wantPinned: 10,
		},
		{
			name: "a pin expires to the MRU end of main", budget: 30, pinBudget: 10,
			steps:       []step{front(a, 10), front(b, 10), pinned(a, 100, true), front(c, 10), advance(100), front(d, 10)},
			wantEvicted: []int32{b}, wantOrder: []int32{c, a, d},
		},
		{
			name: "pinned again keeps the later deadline; the earlier record is stale", budget: 30, pinBudget: 10,
			steps: []step{
				front(a, 10), pinned(a, 100, true), pinned(a, 200, true), pinned(a, 150, true), advance(150),
				front(b, 10), front(c, 10), front(d, 10),
			},
			wantEvicted: []int32{b}, wantOrder: []int32{c, d, a}, wantPinned: 10,
		},
		{
			name: "a read does not unpin", budget: 20, pinBudget: 10,
			steps:       []step{front(a, 10), pinned(a, 100, true), {do: "touch", h: a}, front(b, 10), front(c, 10)},
			wantEvicted: []int32{b}, wantOrder: []int32{c, a}, wantPinned: 10,
		},
		{
			name: "a deadline already past pins nothing", budget: 20, pinBudget: 10,
			steps:     []step{advance(50), front(a, 10), front(b, 10), pinned(a, 50, false)},
			wantOrder: []int32{b, a},
		},
		{
			name: "only an entry larger than budget less pin budget evicts pins, the longest pinned first", budget: 30, pinBudget: 20,
			steps:       []step{front(a, 10), front(b, 10), pinned(a, 100, true), pinned(b, 100, true), front(c, 10), front(d, 25)},
			wantEvicted: []int32{c, a, b}, wantOrder: []int32{d},
		},
		{
			name: "a young guess goes after main, a stale one first", budget: 40, guessBudget: 20, ttl: 10,
			steps: []step{
				guess(g1, 10), front(a, 10), front(b, 10), front(c, 10),
				front(d, 10), // g1 is young: a goes
				advance(10),
				front(e, 10), // g1's TTL ran out: it goes
			},
			wantEvicted: []int32{a, g1}, wantOrder: []int32{b, c, d, e},
		},
		{
			name: "the guess budget: the oldest guess goes", budget: 100, guessBudget: 20, ttl: 10,
			steps:       []step{guess(g1, 10), guess(g2, 10), guess(g3, 10)},
			wantEvicted: []int32{g1}, wantOrder: []int32{g2, g3},
		},
		{
			name: "a read promotes a guess to main", budget: 30, guessBudget: 20, ttl: 10,
			steps:       []step{guess(g1, 10), front(a, 10), {do: "touch", h: g1}, advance(20), front(b, 10), front(c, 10)},
			wantEvicted: []int32{a}, wantOrder: []int32{g1, b, c},
		},
		{
			name: "a guess larger than its budget is refused", budget: 100, guessBudget: 20, ttl: 10,
			steps:     []step{guess(g1, 10), guess(g2, 30)},
			wantOrder: []int32{g1},
		},
		{
			name: "trim unpins past a shrunk pin budget", budget: 30, pinBudget: 20,
			steps:     []step{front(a, 10), front(b, 10), pinned(a, 100, true), pinned(b, 100, true), {do: "pinbudget", n: 10}, {do: "trim"}},
			wantOrder: []int32{a, b}, wantPinned: 10,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := New(8, tc.budget, 0)
			o.SetPinBudget(tc.pinBudget)
			o.SetGuess(tc.guessBudget, tc.ttl)
			var evicted []int32
			for i, s := range tc.steps {
				switch s.do {
				case "admit":
					var v []int32
					v, _ = o.Admit(s.h, s.n, s.at, nil)
					evicted = append(evicted, v...)
				case "pin":
					if got := o.Pin(s.h, s.n); got != s.want {
						t.Errorf("step %d: Pin(%d, %d) = %v, want %v", i, s.h, s.n, got, s.want)
					}
				case "touch":
					o.Touch(s.h)
				case "advance":
					o.Advance(s.n)
				case "pinbudget":
					o.SetPinBudget(s.n)
				case "trim":
					evicted = append(evicted, o.Trim(nil)...)
				}
				checkAccounts(t, o)
			}
			if diff := cmp.Diff(tc.wantEvicted, evicted); diff != "" {
				t.Errorf("evicted mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantOrder, slices.Collect(o.All())); diff != "" {
				t.Errorf("eviction order mismatch (-want +got):\n%s", diff)
			}
			if got := o.SegmentBytes(Pinned); got != tc.wantPinned || got > o.PinBudget() {
				t.Errorf("pinned bytes %d, want %d", got, tc.wantPinned)
			}
		})
	}
}

// TestAllIsEvictionOrder: on random operations over every segment, All
// lists exactly the victims a budget squeezed to nothing takes, in order.
func TestAllIsEvictionOrder(t *testing.T) {
	for seed := range int64(40) {
		o := New(16, 200, 40)
		o.SetPinBudget(50)
		o.SetGuess(60, 30)
		x := uint64(seed)*2654435761 + 1
		rnd := func(n int) int { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return int(x % uint64(n)) }
		now := int64(0)
		for range 200 {
			h := int32(rnd(16))
			switch rnd(6) {
			case 0, 1:
				o.Admit(h, int64(1+rnd(30)), Place(rnd(4)), nil)
			case 2:
				o.Touch(h)
			case 3:
				o.Pin(h, now+int64(rnd(60)))
			case 4:
				now += int64(rnd(10))
				o.Advance(now)
			case 5:
				o.Remove(h)
			}
			checkAccounts(t, o)
			if o.SegmentBytes(Pinned) > o.PinBudget() {
				t.Fatalf("seed %d: %d bytes pinned, over the pin budget %d", seed, o.SegmentBytes(Pinned), o.PinBudget())
			}
		}
		want := slices.Collect(o.All())
		var got []int32
		for o.Len() > 0 {
			got = append(got, o.evictOne())
		}
		if !slices.Equal(want, got) {
			t.Fatalf("seed %d: All %v, evicted %v", seed, want, got)
		}
	}
}
