package store

import (
	"context"
	"testing"
)

// TestFreeBytesCountsFetchesInFlight: while a cold fetch is being written
// to flat, FreeBytes already leaves its size out (filter.Room's contract),
// so a free-room policy cannot promise the same room twice. Under
// probation admission the room is the probation segment's, and the fetch
// counts against it too (it used to be left out of that room).
func TestFreeBytesCountsFetchesInFlight(t *testing.T) {
	for _, tc := range []struct {
		admission  string
		wantBefore int64
	}{
		{"mru", 1 << 20},
		{"probation:0.5", 1 << 19},
	} {
		t.Run(tc.admission, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, Config{FlatBudget: 1 << 20, Admission: tc.admission})
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
			if before != tc.wantBefore {
				t.Errorf("FreeBytes before the fetch = %d, want %d", before, tc.wantBefore)
			}
			if want := before - 100_000; during != want {
				t.Errorf("FreeBytes during the fetch = %d, want %d (free before, less the block)", during, want)
			}
			if after != before-100_000 {
				t.Errorf("FreeBytes after the fetch = %d, want %d (the block counted once)", after, before-100_000)
			}
		})
	}
}
