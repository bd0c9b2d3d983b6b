package store

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/wombatkv/prefetch/internal/usefulness"
)

// BenchmarkGetFlat is the request path's read of a block flat holds, with
// the prefetch accounting and without it (the store's accounting switched
// off in the package): the difference is the accounting's cost per read.
// The block was prefetched and read once, so each read is a plain flat
// read, the steady case.
//
//	go test ./store -run X -bench GetFlat -count 6 -benchtime 20000x
func BenchmarkGetFlat(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10} {
		for _, on := range []bool{false, true} {
			b.Run("size="+strconv.Itoa(size)+"/accounting="+strconv.FormatBool(on), func(b *testing.B) {
				ctx := context.Background()
				s := open(b, Config{})
				s.accounting = on
				blk := newBlock(b, size)
				if err := s.PutCold(ctx, testNS, blk.key(), blk.payload); err != nil {
					b.Fatal(err)
				}
				if _, _, err := s.Materialize(ctx, testNS, blk.hash, blk.meta()); err != nil {
					b.Fatal(err)
				}
				key := blk.key()
				if _, err := s.Get(ctx, testNS, key); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Get(ctx, testNS, key); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkFlatBlockMemory measures the heap the flat tier's index takes
// per block (its entry, key, handle and map slot), with the accounting's
// Mark in each entry, over 100,000 blocks; and reports the entry's and the
// Mark's own sizes.
//
//	go test ./store -run X -bench FlatBlockMemory -benchtime 3x
func BenchmarkFlatBlockMemory(b *testing.B) {
	const n = 100_000
	hexes := make([]string, n)
	for i := range hexes {
		hexes[i] = newBlock(b, 0).hash.String()
	}
	var per float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := newRecency(1<<50, 0)
		now := time.Now()
		var t usefulness.Tally
		for _, hx := range hexes {
			id := name{ns: testNS, hex: hx}.id()
			r.admit(id, 1000, placeFront, now)
			r.get(id).mark = t.Published(now)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(r)
	}
	b.ReportMetric(per, "B/block")
	b.ReportMetric(float64(unsafe.Sizeof(entry{})), "B/entry")
	b.ReportMetric(float64(unsafe.Sizeof(usefulness.Mark{})), "B/mark")
}

// BenchmarkReadAccounting isolates what the accounting adds to a flat
// read, which BenchmarkGetFlat measures among its file system calls: the
// lookup of the namespace's tally and the count, under the store's lock,
// against the lock and index lookup the read takes anyway.
//
//	go test ./store -run X -bench ReadAccounting -count 10
func BenchmarkReadAccounting(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run("accounting="+strconv.FormatBool(on), func(b *testing.B) {
			ctx := context.Background()
			s := open(b, Config{})
			s.accounting = on
			blk := newBlock(b, 100)
			if err := s.Put(ctx, testNS, blk.key(), blk.payload); err != nil {
				b.Fatal(err)
			}
			n := name{ns: testNS, hex: blk.hash.String()}
			id := n.id()
			b.ReportAllocs()
			for b.Loop() {
				now := time.Now()
				s.mu.Lock()
				e := s.rec.touch(id, now)
				if s.accounting {
					s.hit(n, e, usefulness.ReadFlat, s.accountingNow(now))
				}
				s.mu.Unlock()
			}
		})
	}
}
