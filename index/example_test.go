package index_test

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
)

// ScanColumns reads the last-access column in place: here, to find the
// most recently used block.
func ExampleMemory_ScanColumns() {
	x := index.NewMemory(nil)
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i, t := range []int64{10, 30, 20} {
			if !yield(block.Hash{byte(i + 1)}, block.Meta{LastAccessNs: t}) {
				return
			}
		}
	})
	var newest int64
	var h block.Hash
	x.ScanColumns(func(c index.Columns) bool {
		for i, t := range c.LastAccessNs {
			if t > newest {
				newest, h = t, c.Hashes[i]
			}
		}
		return true
	})
	fmt.Println(h[0], newest)
	// Output: 2 30
}

// ScanColumnsZoned finds the K most recently used blocks without reading
// most of the index: once it holds K, it passes over every shard, and
// every run of a shard, whose bounds show no entry newer than its K-th.
func ExampleMemory_ScanColumnsZoned() {
	x := index.NewMemory(nil)
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := range 100_000 {
			h := block.Hash{byte(i), byte(i >> 8), byte(i >> 16)}
			if !yield(h, block.Meta{Seq: uint32(i % 32), LastAccessNs: int64(i)}) {
				return
			}
		}
	})
	const k = 3
	var top []int64 // ascending: top[0] is the K-th newest so far
	offer := func(t int64) {
		if len(top) == k && t <= top[0] {
			return
		}
		if len(top) == k {
			top = top[1:]
		}
		i, _ := slices.BinarySearch(top, t)
		top = slices.Insert(top, i, t)
	}
	cannotBeat := func(b index.Bounds) bool { return len(top) == k && b.Max() <= top[0] }
	read := 0
	skip := func(n int, b index.Bounds) bool { return cannotBeat(b) }
	x.ScanColumnsZoned(skip, skip, func(c index.Columns) bool {
		read += c.Len()
		for _, t := range c.LastAccessNs {
			offer(t)
		}
		return true
	})
	fmt.Println(top, read < x.Len()/10)
	// Output: [99997 99998 99999] true
}

func ExampleNewMemory() {
	now := time.Unix(1_700_000_000, 0)
	x := index.NewMemory(func() time.Time { return now })

	head := block.Hash{1}
	x.Insert(head, block.Meta{Seq: 0, PayloadBytes: 1024, LastAccessNs: 5}) // stamped: now
	x.BulkLoad(maps.All(map[block.Hash]block.Meta{
		{2}: {Parent: head, Seq: 1, LastAccessNs: now.Add(-time.Hour).UnixNano()}, // kept as given
	}))
	now = now.Add(time.Minute)
	x.Touch(block.Hash{2})

	for _, h := range []block.Hash{{1}, {2}} {
		m, ok := x.Get(h)
		fmt.Println(h.String()[:2], ok, m.Seq, time.Unix(0, m.LastAccessNs).UTC().Format(time.TimeOnly))
	}
	fmt.Println("len", x.Len(), "removed", x.Remove(head), "len", x.Len())
	// Output:
	// 01 true 0 22:13:20
	// 02 true 1 22:14:20
	// len 2 removed true len 1
}

// New with a CountHalfLife keeps a decayed access count per entry: each
// Insert, BulkLoad entry and Touch adds 1, and the count halves every
// half-life.
func ExampleNew() {
	now := time.Unix(1_700_000_000, 0)
	x, err := index.New(index.Options{Now: func() time.Time { return now }, CountHalfLife: time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	hot, cold := block.Hash{1}, block.Hash{2}
	x.Insert(hot, block.Meta{})
	x.Insert(cold, block.Meta{})
	for range 3 {
		now = now.Add(time.Minute)
		x.Touch(hot)
	}
	for _, h := range []block.Hash{hot, cold} {
		c, ok := x.AccessCount(h)
		fmt.Println(h.String()[:2], c, ok)
	}
	_, err = index.New(index.Options{CountHalfLife: -time.Second})
	fmt.Println(err)
	// Output:
	// 01 1.875 true
	// 02 0.125 true
	// index: CountHalfLife = -1s, want > 0 to keep access counts (0 keeps none)
}
