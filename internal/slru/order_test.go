package slru

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// op is one call on an Order, for the tables.
type op struct {
	do   string // "admit", "touch", "remove", "load", "trim", "budget"
	h    int32
	size int64 // admit, load; the budget for "budget"
	at   Place // admit
	prob int64 // "budget": the probation budget
}

func admit(h int32, size int64, at Place) op { return op{do: "admit", h: h, size: size, at: at} }
func touch(h int32) op                       { return op{do: "touch", h: h} }

// apply runs o on ord and returns the victims (nil for none) and whether
// the call reported true.
func apply(ord *Order, o op) ([]int32, bool) {
	switch o.do {
	case "admit":
		return ord.Admit(o.h, o.size, o.at, nil)
	case "touch":
		return nil, ord.Touch(o.h)
	case "remove":
		return nil, ord.Remove(o.h)
	case "load":
		ord.Load(o.h, o.size)
	case "trim":
		return ord.Trim(nil), true
	case "budget":
		ord.SetBudget(o.size, o.prob)
	}
	return nil, true
}

func TestOrder(t *testing.T) {
	const a, b, c, d, p, q, r = 0, 1, 2, 3, 4, 5, 6
	tests := []struct {
		name        string
		budget      int64
		probBudget  int64
		ops         []op
		wantEvicted []int32
		wantRefused int // admits refused
		wantOrder   []int32
		wantBytes   int64
		wantProb    int64
	}{
		{
			name:        "front: the least recently admitted goes",
			budget:      30,
			ops:         []op{admit(a, 10, PlaceFront), admit(b, 10, PlaceFront), admit(c, 10, PlaceFront), admit(d, 10, PlaceFront)},
			wantEvicted: []int32{a},
			wantOrder:   []int32{b, c, d},
			wantBytes:   30,
		},
		{
			name:        "a touch protects an entry",
			budget:      30,
			ops:         []op{admit(a, 10, PlaceFront), admit(b, 10, PlaceFront), admit(c, 10, PlaceFront), touch(a), admit(d, 10, PlaceFront)},
			wantEvicted: []int32{b},
			wantOrder:   []int32{c, a, d},
			wantBytes:   30,
		},
		{
			name:        "back: an unread prefetched entry goes first, the last admitted first",
			budget:      30,
			ops:         []op{admit(a, 10, PlaceFront), admit(b, 10, PlaceFront), admit(p, 10, PlaceBack), admit(q, 10, PlaceBack)},
			wantEvicted: []int32{p},
			wantOrder:   []int32{q, a, b},
			wantBytes:   30,
		},
		{
			name:        "bytes, not entries: a large entry evicts several",
			budget:      30,
			ops:         []op{admit(a, 10, PlaceFront), admit(b, 5, PlaceFront), admit(c, 15, PlaceFront), admit(d, 20, PlaceFront)},
			wantEvicted: []int32{a, b, c},
			wantOrder:   []int32{d},
			wantBytes:   20,
		},
		{
			name:       "probation: prefetched entries hold at most their share",
			budget:     100,
			probBudget: 20,
			ops: []op{
				admit(a, 10, PlaceFront), admit(p, 10, PlaceProbation), admit(q, 10, PlaceProbation), admit(r, 10, PlaceProbation),
			},
			wantEvicted: []int32{p},
			wantOrder:   []int32{q, r, a},
			wantBytes:   30,
			wantProb:    20,
		},
		{
			name:       "probation: budget eviction takes probation first",
			budget:     40,
			probBudget: 20,
			ops: []op{
				admit(p, 10, PlaceProbation), admit(a, 10, PlaceFront), admit(b, 10, PlaceFront), admit(c, 10, PlaceFront), admit(d, 10, PlaceFront),
			},
			wantEvicted: []int32{p},
			wantOrder:   []int32{a, b, c, d},
			wantBytes:   40,
		},
		{
			name:       "probation: a read promotes to the main list",
			budget:     40,
			probBudget: 20,
			ops: []op{
				admit(a, 10, PlaceFront), admit(p, 10, PlaceProbation), admit(q, 10, PlaceProbation), touch(p),
				admit(b, 10, PlaceFront), admit(c, 10, PlaceFront),
			},
			wantEvicted: []int32{q},
			wantOrder:   []int32{a, p, b, c},
			wantBytes:   40,
		},
		{
			// The cap and the budget both bind: the victims are the same
			// whichever is enforced first, the shortest run of probation's
			// oldest, then main's, that satisfies both.
			name:       "probation: cap and budget together",
			budget:     40,
			probBudget: 20,
			ops: []op{
				admit(p, 10, PlaceProbation), admit(q, 10, PlaceProbation), admit(a, 10, PlaceFront), admit(b, 10, PlaceFront),
				admit(r, 20, PlaceProbation),
			},
			wantEvicted: []int32{p, q},
			wantOrder:   []int32{r, a, b},
			wantBytes:   40,
			wantProb:    20,
		},
		{
			// The lab used to evict main entries to make room for it,
			// admit it, then evict it at once for the cap; the store
			// refused it before its GET. Now both refuse it.
			name:        "probation: an entry larger than the probation budget is refused, nothing evicted",
			budget:      30,
			probBudget:  15,
			ops:         []op{admit(a, 10, PlaceFront), admit(b, 10, PlaceFront), admit(p, 10, PlaceProbation), admit(q, 20, PlaceProbation)},
			wantRefused: 1,
			wantOrder:   []int32{p, a, b},
			wantBytes:   30,
			wantProb:    10,
		},
		{
			name:        "probation:1: prefetched entries may fill the budget, and go first",
			budget:      30,
			probBudget:  30,
			ops:         []op{admit(p, 10, PlaceProbation), admit(q, 10, PlaceProbation), admit(r, 10, PlaceProbation), admit(a, 10, PlaceFront)},
			wantEvicted: []int32{p},
			wantOrder:   []int32{q, r, a},
			wantBytes:   30,
			wantProb:    20,
		},
		{
			name:        "an entry larger than the budget is refused",
			budget:      30,
			ops:         []op{admit(a, 10, PlaceFront), admit(b, 31, PlaceFront)},
			wantRefused: 1,
			wantOrder:   []int32{a},
			wantBytes:   10,
		},
		{
			name:      "re-admitting a handle replaces it, and it is no victim",
			budget:    30,
			ops:       []op{admit(a, 10, PlaceFront), admit(b, 10, PlaceFront), admit(a, 20, PlaceFront)},
			wantOrder: []int32{b, a},
			wantBytes: 30,
		},
		{
			name:        "trim after the budget shrank",
			budget:      30,
			probBudget:  10,
			ops:         []op{{do: "load", h: a, size: 10}, {do: "load", h: b, size: 10}, admit(p, 10, PlaceProbation), {do: "budget", size: 15, prob: 5}, {do: "trim"}},
			wantEvicted: []int32{p, a},
			wantOrder:   []int32{b},
			wantBytes:   10,
		},
		{
			name:      "touching or removing an absent handle changes nothing",
			budget:    20,
			ops:       []op{admit(a, 10, PlaceFront), touch(b), {do: "remove", h: c}},
			wantOrder: []int32{a},
			wantBytes: 10,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ord := New(8, tc.budget, tc.probBudget)
			var evicted []int32
			refused := 0
			for _, o := range tc.ops {
				v, ok := apply(ord, o)
				evicted = append(evicted, v...)
				if o.do == "admit" && !ok {
					refused++
				}
			}
			if diff := cmp.Diff(tc.wantEvicted, evicted); diff != "" {
				t.Errorf("evicted mismatch (-want +got):\n%s", diff)
			}
			if refused != tc.wantRefused {
				t.Errorf("refused %d admits, want %d", refused, tc.wantRefused)
			}
			if diff := cmp.Diff(tc.wantOrder, slices.Collect(ord.All())); diff != "" {
				t.Errorf("order mismatch (-want +got):\n%s", diff)
			}
			if ord.Bytes() != tc.wantBytes || ord.ProbationBytes() != tc.wantProb {
				t.Errorf("bytes %d, probation %d; want %d, %d", ord.Bytes(), ord.ProbationBytes(), tc.wantBytes, tc.wantProb)
			}
			checkAccounts(t, ord)
		})
	}
}

func TestRoom(t *testing.T) {
	ord := New(4, 100, 30)
	ord.Admit(0, 50, PlaceFront, nil)
	ord.Admit(1, 20, PlaceProbation, nil)
	for _, tc := range []struct {
		at   Place
		want int64
	}{{PlaceFront, 30}, {PlaceBack, 30}, {PlaceProbation, 10}} {
		if got := ord.Room(tc.at); got != tc.want {
			t.Errorf("Room(%d) = %d, want %d", tc.at, got, tc.want)
		}
	}
	ord.SetBudget(60, 30)
	if got := ord.Room(PlaceFront); got != 0 {
		t.Errorf("Room over budget = %d, want 0", got)
	}
}

// checkAccounts checks the order's sums and segments against its lists.
func checkAccounts(t *testing.T, ord *Order) {
	t.Helper()
	var bytes, prob int64
	n := 0
	for h := range ord.All() {
		n++
		bytes += ord.size[h]
		if ord.Segment(h) == Probation {
			prob += ord.size[h]
		}
	}
	members := 0
	for _, s := range ord.Segments() {
		if s != None {
			members++
		}
	}
	if bytes != ord.Bytes() || prob != ord.ProbationBytes() || n != ord.Len() || members != n {
		t.Errorf("accounts: bytes %d/%d, probation %d/%d, entries %d/%d/%d (listed/held)", bytes, ord.Bytes(), prob, ord.ProbationBytes(), n, ord.Len(), members)
	}
	for s := Main; s < nSegments; s++ {
		var sb int64
		for h := ord.lists[s].head; h >= 0; h = ord.next[h] {
			sb += ord.size[h]
		}
		if sb != ord.SegmentBytes(s) {
			t.Errorf("accounts: segment %d holds %d bytes, counted %d", s, sb, ord.SegmentBytes(s))
		}
	}
}

// ref is the order written the plain way: slices, least recently used
// first, and the eviction rule as the doc states it.
type ref struct {
	budget, probBudget int64
	main, prob         []int32
	size               map[int32]int64
}

func (r *ref) held(l []int32) (n int64) {
	for _, h := range l {
		n += r.size[h]
	}
	return n
}

func (r *ref) drop(h int32) {
	r.main = slices.DeleteFunc(r.main, func(x int32) bool { return x == h })
	r.prob = slices.DeleteFunc(r.prob, func(x int32) bool { return x == h })
}

func (r *ref) admit(h int32, size int64, at Place) (victims []int32, ok bool) {
	limit := r.budget
	if at == PlaceProbation {
		limit = r.probBudget
	}
	if size > limit {
		return nil, false
	}
	r.drop(h)
	for at == PlaceProbation && r.held(r.prob)+size > r.probBudget && len(r.prob) > 0 {
		victims, r.prob = append(victims, r.prob[0]), r.prob[1:]
	}
	for r.held(r.prob)+r.held(r.main)+size > r.budget {
		if len(r.prob) > 0 {
			victims, r.prob = append(victims, r.prob[0]), r.prob[1:]
		} else {
			victims, r.main = append(victims, r.main[0]), r.main[1:]
		}
	}
	r.size[h] = size
	switch at {
	case PlaceFront:
		r.main = append(r.main, h)
	case PlaceBack:
		r.main = append([]int32{h}, r.main...)
	case PlaceProbation:
		r.prob = append(r.prob, h)
	}
	return victims, true
}

func (r *ref) touch(h int32) {
	if slices.Contains(r.main, h) || slices.Contains(r.prob, h) {
		r.drop(h)
		r.main = append(r.main, h)
	}
}

// TestOrderMatchesReference runs random admits, touches and removes
// against the plain reference and compares victims and order at each step.
func TestOrderMatchesReference(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		const handles = 12
		budget := 20 + rng.Int64N(60)
		probBudget := rng.Int64N(budget + 1)
		ord := New(handles, budget, probBudget)
		rf := &ref{budget: budget, probBudget: probBudget, size: map[int32]int64{}}
		for step := range 300 {
			h := rng.Int32N(handles)
			var got, want []int32
			var gotOK, wantOK bool
			switch k := rng.IntN(10); {
			case k < 6:
				size, at := 1+rng.Int64N(25), Place(rng.IntN(3))
				got, gotOK = ord.Admit(h, size, at, nil)
				want, wantOK = rf.admit(h, size, at)
			case k < 9:
				gotOK, wantOK = ord.Touch(h), slices.Contains(rf.main, h) || slices.Contains(rf.prob, h)
				rf.touch(h)
			default:
				gotOK, wantOK = ord.Remove(h), slices.Contains(rf.main, h) || slices.Contains(rf.prob, h)
				rf.drop(h)
			}
			wantOrder := append(slices.Clone(rf.prob), rf.main...)
			if !slices.Equal(want, got) || gotOK != wantOK {
				t.Fatalf("seed %d step %d: victims %v, ok %v; want %v, %v", seed, step, got, gotOK, want, wantOK)
			}
			if got := slices.Collect(ord.All()); !slices.Equal(wantOrder, got) {
				t.Fatalf("seed %d step %d: order %v, want %v", seed, step, got, wantOrder)
			}
		}
		checkAccounts(t, ord)
	}
}

func TestClear(t *testing.T) {
	ord := New(4, 100, 50)
	ord.Admit(0, 10, PlaceFront, nil)
	ord.Admit(1, 10, PlaceProbation, nil)
	ord.Clear()
	if ord.Len() != 0 || ord.Bytes() != 0 || ord.ProbationBytes() != 0 || ord.Segment(0) != None || ord.Segment(1) != None {
		t.Errorf("after Clear: %d entries, %d bytes, %d on probation, segments %v", ord.Len(), ord.Bytes(), ord.ProbationBytes(), ord.Segments())
	}
	checkAccounts(t, ord)
}
