package snapshot_test

import (
	"context"
	"iter"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

var _ pipeline.Source = (*snapshot.RoomGate)(nil)

type roomFunc func(ns string) int64

func (f roomFunc) FreeBytes(ns string) int64 { return f(ns) }

// countingSource proposes blocks of the given sizes and counts its scans.
type countingSource struct {
	sizes []uint64
	scans int
}

func (s *countingSource) Candidates(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
	s.scans++
	return func(yield func(block.Hash, block.Meta) bool) {
		for i, n := range s.sizes {
			if !yield(block.Hash{31: byte(i)}, block.Meta{PayloadBytes: n}) {
				return
			}
		}
	}
}

func drain(seq iter.Seq2[block.Hash, block.Meta], stopAfter int) int {
	n := 0
	for range seq {
		if n++; n == stopAfter {
			break
		}
	}
	return n
}

func TestRoomGate(t *testing.T) {
	free := int64(100)
	src := &countingSource{sizes: []uint64{10, 0, 40, 1<<63 + 1, 20}} // 0 and > MaxInt64: unknown size
	g := snapshot.NewRoomGate(src, roomFunc(func(ns string) int64 {
		if ns != "ns-a" {
			t.Errorf("FreeBytes(%q), want the cycle's namespace", ns)
		}
		return free
	}))
	cy := &pipeline.Cycle{Namespace: "ns-a"}
	type step struct {
		free      int64
		stopAfter int // 0: drain
		want      int
	}
	var got, want []int
	for _, s := range []step{
		{free: 100, stopAfter: 2, want: 2}, // largest seen: 10 (a partial scan counts what it saw)
		{free: 9, want: 0},                 // closed: 9 < 10
		{free: 10, want: 5},                // open; largest seen now 40 (unknown sizes do not count)
		{free: 39, want: 0},
		{free: 40, want: 5},
		{free: 0, want: 0}, // no room at all
		{free: -5, want: 0},
	} {
		free = s.free
		want = append(want, s.want)
		got = append(got, drain(g.Candidates(context.Background(), cy), s.stopAfter))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("proposed per cycle mismatch (-want +got):\n%s", diff)
	}
	if src.scans != 3 {
		t.Errorf("the source was scanned %d times, want 3: a closed gate must not scan it", src.scans)
	}
}

func TestRoomGateValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		g    *snapshot.RoomGate
		want string
	}{
		{"empty", &snapshot.RoomGate{}, "snapshot: RoomGate.Source is nil, want the source to gate (e.g. snapshot.Index)\n" +
			"snapshot: RoomGate.Room is nil, want the flat tier's free room (a store with a capacity)"},
		{"the source's own problem", snapshot.NewRoomGate(snapshot.NewIndex(nil), roomFunc(nil)), "snapshot: Index.Index is nil, want the metadata index (an index.Reader)"},
		{"nil", nil, "snapshot: RoomGate is nil"},
		{"good", snapshot.NewRoomGate(snapshot.NewIndex(index.NewMemory(nil)), roomFunc(nil)), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := tt.g.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
