package store

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// TestLease: a touch lease moves a block to the MRU end; a pin keeps it
// through evictions, within PinShare of the budget (past it, a pin lease
// only touches); a lease of a block flat does not hold misses; each is
// counted. Flat holds 4 blocks of 100 B, and pins at most one.
func TestLease(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{FlatBudget: 400})
	bs := make([]testBlock, 8)
	keys := map[string]string{}
	for i := range bs {
		bs[i] = newBlock(t, 100)
		keys[testNS+"/"+bs[i].hash.String()] = string(rune('a' + i))
	}
	a, b, c, d, e, f, g, h := bs[0], bs[1], bs[2], bs[3], bs[4], bs[5], bs[6], bs[7]
	put := func(x testBlock) {
		t.Helper()
		if err := s.Put(ctx, testNS, x.key(), x.payload); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range []testBlock{a, b, c, d} {
		put(x)
	}
	far := time.Now().Add(time.Hour)
	if !s.Lease(testNS, a.hash, far, false) { // b c d a
		t.Fatal("Lease(a) = false, want true: flat holds it")
	}
	put(e) // evicts b: c d a e
	if s.Lease(testNS, b.hash, far, true) {
		t.Error("Lease(b) = true after its eviction, want false")
	}
	s.Lease(testNS, c.hash, far, true) // pinned: d a e
	s.Lease(testNS, d.hash, far, true) // the pin budget is full: touched, a e d
	for _, x := range []testBlock{f, g, h} {
		put(x) // evict a, e, d: c is pinned
	}
	var order []string
	for _, k := range s.rec.order() {
		order = append(order, keys[k])
	}
	if diff := cmp.Diff([]string{"f", "g", "h", "c"}, order); diff != "" {
		t.Errorf("flat, next to be evicted first, mismatch (-want +got):\n%s", diff)
	}
	want := LeaseStats{Touched: 2, Pinned: 1, PinRefused: 1, Missed: 1, PinnedBytes: 100}
	if diff := cmp.Diff(want, s.Stats().Lease); diff != "" {
		t.Errorf("Stats.Lease mismatch (-want +got):\n%s", diff)
	}
	if s.Lease("bad/ns", c.hash, far, true) || s.Lease(testNS, newBlock(t, 1).hash, far, false) {
		t.Error("Lease of a bad namespace or an unknown block = true, want false")
	}
}

// TestLeaseExpires: a pin ends at its deadline, on the wall clock (a
// bubble's here): the block goes back to the MRU end of the main list, and
// is evicted in its turn from then on.
func TestLeaseExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := open(t, Config{FlatBudget: 400})
		var bs []testBlock
		for range 6 {
			x := newBlock(t, 100)
			bs = append(bs, x)
		}
		for _, x := range bs[:4] {
			if err := s.Put(ctx, testNS, x.key(), x.payload); err != nil {
				t.Fatal(err)
			}
		}
		s.Lease(testNS, bs[0].hash, time.Now().Add(time.Second), true)
		time.Sleep(2 * time.Second)
		if err := s.Put(ctx, testNS, bs[4].key(), bs[4].payload); err != nil { // the pin has ended: 0 at the MRU end, 1 goes
			t.Fatal(err)
		}
		if err := s.Put(ctx, testNS, bs[5].key(), bs[5].payload); err != nil { // 2 goes
			t.Fatal(err)
		}
		for i, want := range []bool{true, false, false, true, true, true} {
			if got := s.ContainsFlat(ctx, testNS, bs[i].hash); got != want {
				t.Errorf("block %d in flat = %v, want %v", i, got, want)
			}
		}
		if got := s.Stats().Lease.PinnedBytes; got != 0 {
			t.Errorf("PinnedBytes = %d after the deadline, want 0", got)
		}
	})
}

// TestPendingGets counts the cold GETs prefetches lead, by namespace: one
// while a Materialize's GET runs, none for a Get's own, none after.
func TestPendingGets(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{FlatBudget: 1 << 20})
	p, r := newBlock(t, 1000), newBlock(t, 1000)
	for _, x := range []testBlock{p, r} {
		if err := s.PutCold(ctx, testNS, x.key(), x.payload); err != nil {
			t.Fatal(err)
		}
	}
	var during []int
	s.hooks = &testHooks{afterChunk: func(int64) {
		during = append(during, s.PendingGets(testNS), s.PendingGets("tp-other"))
	}}
	if _, found, err := s.Materialize(ctx, testNS, p.hash, p.meta()); err != nil || !found {
		t.Fatalf("Materialize = found %v, err %v", found, err)
	}
	if _, err := s.Get(ctx, testNS, r.key()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 0, 0, 0}, during); diff != "" {
		t.Errorf("PendingGets (this namespace, another) during the prefetch's GET, then the Get's, mismatch (-want +got):\n%s", diff)
	}
	if got := s.PendingGets(testNS); got != 0 {
		t.Errorf("PendingGets after = %d, want 0", got)
	}
}

var (
	_ snapshot.Leaser = (*Store)(nil)
	_ filter.Pending  = (*Store)(nil)
)

// TestGuessAdmission: under "guess:F:TTL" a prefetched block is evicted
// after the blocks read while it is younger than TTL (on the wall clock, a
// bubble's here), and first once it is older.
func TestGuessAdmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := open(t, Config{FlatBudget: 400, Admission: "guess:0.5:1s"})
		var bs []testBlock
		for range 6 {
			bs = append(bs, newBlock(t, 100))
		}
		put := func(x testBlock) {
			t.Helper()
			if err := s.Put(ctx, testNS, x.key(), x.payload); err != nil {
				t.Fatal(err)
			}
		}
		put(bs[0])
		put(bs[1])
		put(bs[2])
		g := bs[3]
		if err := s.PutCold(ctx, testNS, g.key(), g.payload); err != nil {
			t.Fatal(err)
		}
		if _, found, err := s.Materialize(ctx, testNS, g.hash, g.meta()); err != nil || !found {
			t.Fatalf("Materialize = found %v, err %v", found, err)
		}
		put(bs[4]) // the guess is young: 0 goes
		time.Sleep(2 * time.Second)
		put(bs[5]) // the guess is stale: it goes
		for i, want := range []bool{false, true, true, false, true, true} {
			if got := s.ContainsFlat(ctx, testNS, bs[i].hash); got != want {
				t.Errorf("block %d in flat = %v, want %v", i, got, want)
			}
		}
	})
}

// TestLeaseFarFuture: a pin until a time beyond 2262 (where UnixNano is
// undefined) holds, as one until the end of time would, within the pin
// budget; it does not wrap into the past and end at once.
func TestLeaseFarFuture(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{FlatBudget: 400})
	a := newBlock(t, 100)
	if err := s.Put(ctx, testNS, a.key(), a.payload); err != nil {
		t.Fatal(err)
	}
	if !s.Lease(testNS, a.hash, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), true) {
		t.Fatal("Lease = false, want true: flat holds the block")
	}
	for range 4 { // three blocks fill the rest of flat; a fourth evicts, not a
		b := newBlock(t, 100)
		if err := s.Put(ctx, testNS, b.key(), b.payload); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats().Lease; st.Pinned != 1 || st.PinnedBytes != 100 {
		t.Errorf("Stats.Lease = %+v, want the block pinned (1, 100 bytes)", st)
	}
	if _, err := s.Get(ctx, testNS, a.key()); err != nil || !s.ContainsFlat(ctx, testNS, a.hash) {
		t.Errorf("the pinned block left flat (Get: %v)", err)
	}
}
