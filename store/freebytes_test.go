package store

import (
	"context"
	"testing"
)

// TestFreeBytesCountsFetchesInFlight: while a cold fetch is being written
// to flat, FreeBytes already leaves its size out (filter.Room's contract),
// so a free-room policy cannot promise the same room twice.
func TestFreeBytesCountsFetchesInFlight(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{FlatBudget: 1 << 20})
	b := newBlock(t, 100_000)
	if err := s.PutCold(ctx, testNS, b.key(), b.payload); err != nil {
		t.Fatal(err)
	}
	before := s.FreeBytes(testNS)
	var during int64 = -1
	s.hooks = &testHooks{afterChunk: func(int64) {
		if during < 0 {
			during = s.FreeBytes(testNS)
		}
	}}
	if _, found, err := s.Materialize(ctx, testNS, b.hash, b.meta()); err != nil || !found {
		t.Fatalf("Materialize = found %v, err %v", found, err)
	}
	after := s.FreeBytes(testNS)
	if want := before - 100_000; during != want {
		t.Errorf("FreeBytes during the fetch = %d, want %d (free before, less the block)", during, want)
	}
	if after != before-100_000 {
		t.Errorf("FreeBytes after the fetch = %d, want %d (the block counted once)", after, before-100_000)
	}
}
