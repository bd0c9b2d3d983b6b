package index_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
)

// colHash spreads i over the shards.
func colHash(i int) block.Hash {
	var h block.Hash
	binary.LittleEndian.PutUint64(h[:8], uint64(i)*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(h[24:], uint64(i))
	return h
}

// scanColumns collects what ScanColumns shows, checking that every run's
// columns agree with each other and that no entry shows twice.
func scanColumns(t *testing.T, x *index.Memory) map[block.Hash]block.Meta {
	t.Helper()
	got := map[block.Hash]block.Meta{}
	x.ScanColumns(func(c index.Columns) bool {
		if len(c.Hashes) != c.Len() || len(c.Metas) != c.Len() || len(c.Seqs) != c.Len() || c.Len() == 0 {
			t.Fatalf("columns of lengths %d, %d, %d, %d", c.Len(), len(c.Seqs), len(c.Hashes), len(c.Metas))
		}
		for i, h := range c.Hashes {
			if c.Metas[i].LastAccessNs != c.LastAccessNs[i] {
				t.Fatalf("entry %x: Metas.LastAccessNs %d, column %d", h[:4], c.Metas[i].LastAccessNs, c.LastAccessNs[i])
			}
			if c.Metas[i].Seq != c.Seqs[i] {
				t.Fatalf("entry %x: Metas.Seq %d, column %d", h[:4], c.Metas[i].Seq, c.Seqs[i])
			}
			if _, dup := got[h]; dup {
				t.Fatalf("entry %x seen twice", h[:4])
			}
			got[h] = c.Metas[i]
		}
		return true
	})
	return got
}

func allEntries(x *index.Memory) map[block.Hash]block.Meta {
	got := map[block.Hash]block.Meta{}
	for h, m := range x.All() {
		got[h] = m
	}
	return got
}

// TestScanColumnsMatchesAll: the columns hold exactly what All streams,
// through inserts, touches, replacements and removals (which move the last
// entry of a shard into the hole).
func TestScanColumnsMatchesAll(t *testing.T) {
	clock := time.Unix(1000, 0)
	x := index.NewMemory(func() time.Time { return clock })
	const n = 20000
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := range n {
			if !yield(colHash(i), block.Meta{Seq: uint32(i), LastAccessNs: int64(i), PayloadBytes: uint64(i)}) {
				return
			}
		}
	})
	check := func(stage string) {
		t.Helper()
		if diff := cmp.Diff(allEntries(x), scanColumns(t, x)); diff != "" {
			t.Fatalf("%s: columns differ from All (-All +columns):\n%s", stage, diff)
		}
	}
	check("bulk load")
	for i := 0; i < n; i += 3 {
		x.Touch(colHash(i))
	}
	check("touch")
	for i := 1; i < n; i += 5 {
		x.Insert(colHash(i), block.Meta{Seq: 7})
	}
	check("replace")
	for i := 2; i < n; i += 2 {
		x.Remove(colHash(i))
	}
	check("remove")
	for i := n; i < n+500; i++ {
		x.Insert(colHash(i), block.Meta{Seq: 9})
	}
	check("insert")
	m, _ := x.Get(colHash(3))
	if m.LastAccessNs != clock.UnixNano() {
		t.Errorf("touched entry: LastAccessNs %d, want %d", m.LastAccessNs, clock.UnixNano())
	}
	if got := len(scanColumns(t, x)); got != x.Len() {
		t.Errorf("columns hold %d entries, Len %d", got, x.Len())
	}
}

func TestScanColumnsStops(t *testing.T) {
	x := index.NewMemory(nil)
	for i := range 1000 {
		x.Insert(colHash(i), block.Meta{})
	}
	runs := 0
	x.ScanColumns(func(index.Columns) bool { runs++; return runs < 3 })
	if runs != 3 {
		t.Errorf("f called %d times after returning false on the 3rd", runs)
	}
	empty := index.NewMemory(nil)
	empty.ScanColumns(func(index.Columns) bool { t.Error("f called on an empty index"); return true })
}

// TestScanColumnsWithWriters runs column scans against concurrent writers
// (run it with -race): each scan sees consistent columns and every entry
// that was present throughout.
func TestScanColumnsWithWriters(t *testing.T) {
	x := index.NewMemory(nil)
	const stable = 5000
	for i := range stable {
		x.Insert(colHash(i), block.Meta{})
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				x.Touch(colHash(i % stable))
				h := colHash(stable + w*1_000_000 + i%1000)
				x.Insert(h, block.Meta{Seq: 1})
				x.Remove(h)
			}
		})
	}
	for range 50 {
		got := scanColumns(t, x)
		for i := range stable {
			if _, ok := got[colHash(i)]; !ok {
				t.Fatalf("scan missed stable entry %d", i)
			}
		}
	}
	close(stop)
	wg.Wait()
}

// TestScanColumnsPanicUnlocks: a panic in f leaves no shard locked.
func TestScanColumnsPanicUnlocks(t *testing.T) {
	x := index.NewMemory(nil)
	h := colHash(1)
	x.Insert(h, block.Meta{})
	func() {
		defer func() { _ = recover() }()
		x.ScanColumns(func(index.Columns) bool { panic("boom") })
	}()
	done := make(chan struct{})
	go func() { x.Touch(h); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Touch blocked after a panicking scan")
	}
}

// TestScanColumnsBounded: skip is asked about each shard that holds
// entries, with its entry count and bounds at least every entry's time,
// and (ScanColumnsZoned) skipRun about each of its runs, with the count
// and bounds the run's Columns carry; what they pass over is not seen.
// Passing over the shards and runs whose bounds fall below a time finds
// every entry at or after it.
func TestScanColumnsBounded(t *testing.T) {
	for _, zoned := range []bool{false, true} {
		t.Run(fmt.Sprintf("zoned=%v", zoned), func(t *testing.T) { testScanColumnsBounded(t, zoned) })
	}
}

func testScanColumnsBounded(t *testing.T, zoned bool) {
	x := index.NewMemory(nil)
	const n = 20000
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := range n {
			if !yield(colHash(i), block.Meta{Seq: uint32(i % 7), LastAccessNs: int64(i)}) {
				return
			}
		}
	})
	for i := 0; i < n; i += 5 {
		x.Remove(colHash(i))
	}
	for _, cut := range []int64{math.MinInt64, 0, n / 2, n - 100, n - 1, n} {
		var (
			shard, run index.Bounds
			left       int // entries of the current shard not yet seen or passed over
			runN       int
			asked      int // entries in shards skip was asked about
			passed     int // of those, in shards or runs it passed over
			got        = map[block.Hash]int64{}
		)
		skip := func(n int, b index.Bounds) bool {
			if n <= 0 || left != 0 {
				t.Fatalf("cut %d: skip asked about %d entries, %d of the last shard unseen", cut, n, left)
			}
			asked += n
			if b.Max() < cut {
				passed += n
				return true
			}
			shard, left = b, n
			return false
		}
		skipRun := func(n int, b index.Bounds) bool {
			if n <= 0 || n > left || b.HeadMax > shard.HeadMax || b.TailMax > shard.TailMax {
				t.Fatalf("cut %d: run of %d entries, bounds %+v, in a shard of %d left, bounds %+v", cut, n, b, left, shard)
			}
			run, runN = b, n
			if b.Max() < cut {
				left -= n
				passed += n
				return true
			}
			return false
		}
		f := func(c index.Columns) bool {
			if zoned && (c.Len() != runN || c.Bounds != run) {
				t.Fatalf("cut %d: run of %d entries, bounds %+v; skipRun was told %d, %+v", cut, c.Len(), c.Bounds, runN, run)
			}
			for i, ts := range c.LastAccessNs {
				b := c.TailMax
				if c.Seqs[i] == 0 {
					b = c.HeadMax
				}
				if ts > b {
					t.Fatalf("cut %d: entry at %d (seq %d) above its run's bound %d", cut, ts, c.Seqs[i], b)
				}
				got[c.Hashes[i]] = ts
			}
			left -= c.Len()
			return true
		}
		if zoned {
			x.ScanColumnsZoned(skip, skipRun, f)
		} else {
			x.ScanColumnsBounded(skip, f)
		}
		if asked != x.Len() || left != 0 {
			t.Errorf("cut %d: skip asked about %d entries, Len %d, %d left unseen", cut, asked, x.Len(), left)
		}
		for h, m := range x.All() {
			if _, ok := got[h]; m.LastAccessNs >= cut && !ok {
				t.Fatalf("cut %d: entry at %d passed over", cut, m.LastAccessNs)
			}
		}
		if len(got)+passed != x.Len() {
			t.Errorf("cut %d: saw %d entries and passed over %d, Len %d", cut, len(got), passed, x.Len())
		}
		if cut == n-100 && zoned && len(got) > 5000 {
			t.Errorf("cut %d: read %d entries to find the newest 100", cut, len(got))
		}
	}
	runs := 0
	x.ScanColumnsBounded(func(int, index.Bounds) bool { return false }, func(index.Columns) bool { runs++; return runs < 3 })
	if runs != 3 {
		t.Errorf("f called %d times after returning false on the 3rd", runs)
	}
	x.ScanColumnsBounded(func(int, index.Bounds) bool { return true }, func(index.Columns) bool {
		t.Fatal("f called for a shard skip passed over")
		return true
	})
}

// TestScanColumnsBoundedWithWriters checks the bounds' promise against
// concurrent writers (run it with -race): a Touch that has returned before
// a scan starts raises its shard's bound to at least its time, so a scan
// that passes over every shard whose bounds fall below that time still
// sees the touched entry, with that time or a later one; so does one that
// also passes over every run whose bounds do. Meanwhile other
// writers churn a crowded shard, and every run's bounds hold its entries.
func TestScanColumnsBoundedWithWriters(t *testing.T) {
	clock := &atomic.Int64{}
	clock.Store(1_000_000)
	x := index.NewMemory(func() time.Time { return time.Unix(0, clock.Load()) })
	const stable = 5000
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := range stable {
			if !yield(colHash(i), block.Meta{Seq: uint32(i % 3), LastAccessNs: int64(i)}) {
				return
			}
		}
	})
	type touched struct {
		h  block.Hash
		at int64
	}
	var last atomic.Pointer[touched]
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { // touches stable entries on a rising clock
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h := colHash(i * 7 % stable)
			at := clock.Add(1)
			x.Touch(h)
			last.Store(&touched{h, at})
		}
	})
	wg.Go(func() { // churns one shard
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var h block.Hash
			binary.BigEndian.PutUint64(h[8:16], uint64(i%300+1))
			if i%600 < 300 {
				x.Insert(h, block.Meta{Seq: uint32(i % 2)})
			} else {
				x.Remove(h)
			}
		}
	})
	for range 200 {
		tc := last.Load()
		if tc == nil {
			continue
		}
		seen := false
		skip := func(_ int, b index.Bounds) bool { return b.Max() < tc.at }
		x.ScanColumnsZoned(skip, skip, func(c index.Columns) bool {
			for i, ts := range c.LastAccessNs {
				if b := c.Bounds.TailMax; c.Seqs[i] == 0 && ts > c.HeadMax || c.Seqs[i] != 0 && ts > b {
					t.Errorf("entry at %d above its run's bounds %+v", ts, c.Bounds)
				}
				if c.Hashes[i] == tc.h {
					seen = true
					if ts < tc.at {
						t.Errorf("touched entry seen at %d, touched at %d", ts, tc.at)
					}
				}
			}
			return true
		})
		if !seen {
			t.Fatalf("a bounded scan passed over an entry touched at %d before it began", tc.at)
		}
	}
	close(stop)
	wg.Wait()
}
