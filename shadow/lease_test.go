package shadow

import (
	"context"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/internal/slru"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// The simulated tiers grant what the store grants a hint policy: leases
// and the count of GETs in flight its cap reads.
var (
	_ snapshot.Leaser = (*Tiers)(nil)
	_ filter.Pending  = (*Tiers)(nil)
)

// TestTiersLeaseAndPending: the would-be GETs in flight are counted until
// they land; a lease moves a block to the MRU end, a pin keeps it from
// eviction until its deadline and within a quarter of the budget, after
// which it is evicted in its turn; a lease of a block the tier does not
// hold, or of another namespace, grants nothing.
func TestTiersLeaseAndPending(t *testing.T) {
	ctx := context.Background()
	c := &clock{}
	adm, err := slru.ParseAdmission("mru")
	if err != nil {
		t.Fatal(err)
	}
	tr := newTiers(testNS, 400, adm, 10*time.Millisecond, c.now)
	A, B, C, D, E, F := hashOf(1), hashOf(2), hashOf(3), hashOf(4), hashOf(5), hashOf(6)
	m := block.Meta{PayloadBytes: 100}
	for _, h := range []block.Hash{A, B} {
		if _, ok, err := tr.Materialize(ctx, testNS, h, m); !ok || err != nil {
			t.Fatalf("Materialize: %v, %v", ok, err)
		}
	}
	if n := tr.PendingGets(testNS); n != 2 {
		t.Errorf("PendingGets = %d with two would-be GETs in flight, want 2", n)
	}
	if n := tr.PendingGets("other"); n != 0 {
		t.Errorf("PendingGets of another namespace = %d, want 0", n)
	}
	c.advance(10 * time.Millisecond) // A and B land: flat A B
	if n := tr.PendingGets(testNS); n != 0 {
		t.Errorf("PendingGets = %d once the GETs landed, want 0", n)
	}
	tr.read(C, 100, c.now()) // A B C
	tr.read(D, 100, c.now()) // A B C D: full
	if !tr.Lease(testNS, A, c.now().Add(time.Hour), true) {
		t.Fatal("Lease(A) = false, want true: the tier holds it")
	}
	if tr.Lease(testNS, E, c.now().Add(time.Hour), false) || tr.Lease("other", B, c.now().Add(time.Hour), false) {
		t.Error("a lease of a block the tier does not hold, or of another namespace, was granted")
	}
	tr.read(E, 100, c.now()) // evicts B, not the pinned A
	tr.read(F, 100, c.now()) // evicts C
	for h, want := range map[block.Hash]bool{A: true, B: false, C: false, D: true, E: true, F: true} {
		if got := tr.ContainsFlat(ctx, testNS, h); got != want {
			t.Errorf("ContainsFlat(%x) = %v, want %v", h[0], got, want)
		}
	}
	c.advance(2 * time.Hour) // the pin ends: A is at the MRU end from then on
	tr.read(B, 100, c.now()) // evicts D, the least recent
	if !tr.ContainsFlat(ctx, testNS, A) || tr.ContainsFlat(ctx, testNS, D) {
		t.Error("after the pin ended, want A in flat (back at the MRU end) and D evicted")
	}
}
