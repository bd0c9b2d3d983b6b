package replay

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestEventQueue: events come out by time, then issue order, however they
// went in and however pushes and pops interleave.
func TestEventQueue(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q eventQueue
	var want []event
	var got []event
	issue := uint64(0)
	for range 2000 {
		if rng.IntN(3) > 0 || len(q) == 0 {
			issue++
			e := event{t: rng.Int64N(50), issue: issue}
			q.push(e)
			want = append(want, e)
			continue
		}
		// The earliest of what is held must come out.
		slices.SortFunc(want, func(a, b event) int {
			if a.before(b) {
				return -1
			}
			return 1
		})
		got = append(got, q.pop())
		if got[len(got)-1] != want[0] {
			t.Fatalf("pop %d = %+v, want %+v", len(got), got[len(got)-1], want[0])
		}
		want = want[1:]
	}
	if len(q) != len(want) {
		t.Errorf("%d events left, want %d", len(q), len(want))
	}
}
