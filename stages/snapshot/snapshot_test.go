package snapshot_test

import (
	"context"
	"maps"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

var _ pipeline.Source = (*snapshot.Index)(nil)

func TestIndexStreamsEveryEntry(t *testing.T) {
	x := index.NewMemory(nil)
	want := map[block.Hash]block.Meta{}
	for i := range 500 {
		h := block.Hash{byte(i), byte(i >> 8), 31: byte(i * 7)}
		want[h] = block.Meta{Seq: uint32(i), LastAccessNs: int64(i)}
	}
	x.BulkLoad(maps.All(want))

	src := snapshot.NewIndex(x)
	if src.Index != x {
		t.Error("NewIndex did not keep the reader")
	}
	for pass := 1; pass <= 2; pass++ { // a new pass per cycle
		got := map[block.Hash]block.Meta{}
		n := 0
		for h, m := range src.Candidates(context.Background(), &pipeline.Cycle{Seq: uint64(pass)}) {
			got[h] = m
			n++
		}
		if n != len(want) {
			t.Errorf("pass %d yielded %d entries, want %d", pass, n, len(want))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pass %d mismatch (-want +got):\n%s", pass, diff)
		}
	}
	// Entries added between cycles show up in the next.
	x.Insert(block.Hash{0xff, 0xff}, block.Meta{})
	n := 0
	for range src.Candidates(context.Background(), &pipeline.Cycle{}) {
		n++
	}
	if n != len(want)+1 {
		t.Errorf("after an insert: %d entries, want %d", n, len(want)+1)
	}
}
