package index_test

import (
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
)

var _ index.Reader = (*index.Memory)(nil)

// hashOf spreads i over a hash the way content hashes spread over shards.
func hashOf(i uint64) block.Hash {
	var h block.Hash
	binary.LittleEndian.PutUint64(h[:8], i*0x9e3779b97f4a7c15+1)
	binary.BigEndian.PutUint64(h[24:], i)
	return h
}

// sameShardHash returns hashes that differ only in their middle bytes: the
// index's shard function reads the first and last 8 bytes, so all of these
// land in one shard and every Remove there swap-deletes inside one slice.
func sameShardHash(i uint64) block.Hash {
	var h block.Hash
	binary.BigEndian.PutUint64(h[8:16], i)
	return h
}

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func collect(x index.Reader) map[block.Hash]block.Meta {
	got := map[block.Hash]block.Meta{}
	for h, m := range x.All() {
		got[h] = m
	}
	return got
}

func TestInsertStampsClock(t *testing.T) {
	clk := newFakeClock(time.Unix(1_700_000_000, 0))
	x := index.NewMemory(clk.Now)
	h := hashOf(1)
	x.Insert(h, block.Meta{Seq: 3, PayloadBytes: 1024, LastAccessNs: 42, Model: block.ModelDigest{7}})

	want := block.Meta{Seq: 3, PayloadBytes: 1024, LastAccessNs: clk.Now().UnixNano(), Model: block.ModelDigest{7}}
	got, ok := x.Get(h)
	if !ok {
		t.Fatal("Get after Insert: not found")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Insert mismatch (-want +got):\n%s", diff)
	}

	// Insert of a present hash replaces it and stamps again; Len stays.
	clk.Advance(time.Minute)
	x.Insert(h, block.Meta{Seq: 4})
	got, _ = x.Get(h)
	if got.Seq != 4 || got.LastAccessNs != clk.Now().UnixNano() {
		t.Errorf("re-Insert: got Seq %d LastAccessNs %d, want 4 and %d", got.Seq, got.LastAccessNs, clk.Now().UnixNano())
	}
	if x.Len() != 1 {
		t.Errorf("Len after re-Insert = %d, want 1", x.Len())
	}
}

func TestNewMemoryNilClockIsWallClock(t *testing.T) {
	x := index.NewMemory(nil)
	before := time.Now().UnixNano()
	x.Insert(hashOf(1), block.Meta{})
	after := time.Now().UnixNano()
	m, _ := x.Get(hashOf(1))
	if m.LastAccessNs < before || m.LastAccessNs > after {
		t.Errorf("LastAccessNs = %d, want within [%d, %d]", m.LastAccessNs, before, after)
	}
}

func TestBulkLoadKeepsTimestamps(t *testing.T) {
	clk := newFakeClock(time.Unix(1_700_000_000, 0))
	x := index.NewMemory(clk.Now)
	want := map[block.Hash]block.Meta{}
	for i := range uint64(100) {
		want[hashOf(i)] = block.Meta{Seq: uint32(i), LastAccessNs: int64(i) * 1e9, Flags: uint32(i) << 8}
	}
	x.BulkLoad(maps.All(want))
	if x.Len() != len(want) {
		t.Errorf("Len = %d, want %d", x.Len(), len(want))
	}
	if diff := cmp.Diff(want, collect(x)); diff != "" {
		t.Errorf("All after BulkLoad mismatch (-want +got):\n%s", diff)
	}
	// A second load replaces, keeping the new timestamps.
	x.BulkLoad(maps.All(map[block.Hash]block.Meta{hashOf(3): {Seq: 99, LastAccessNs: 5}}))
	if m, _ := x.Get(hashOf(3)); m.Seq != 99 || m.LastAccessNs != 5 {
		t.Errorf("reloaded entry = %+v, want Seq 99 LastAccessNs 5", m)
	}
	if x.Len() != len(want) {
		t.Errorf("Len after reload = %d, want %d", x.Len(), len(want))
	}
}

func TestTouch(t *testing.T) {
	clk := newFakeClock(time.Unix(1_700_000_000, 0))
	x := index.NewMemory(clk.Now)
	h := hashOf(9)
	x.BulkLoad(maps.All(map[block.Hash]block.Meta{h: {Seq: 2, LastAccessNs: 1}}))
	clk.Advance(time.Hour)
	if !x.Touch(h) {
		t.Fatal("Touch of a present hash returned false")
	}
	m, _ := x.Get(h)
	if m.LastAccessNs != clk.Now().UnixNano() || m.Seq != 2 {
		t.Errorf("after Touch: %+v, want Seq 2 and LastAccessNs %d", m, clk.Now().UnixNano())
	}
	if x.Touch(hashOf(10)) {
		t.Error("Touch of an absent hash returned true")
	}
	if _, ok := x.Get(hashOf(10)); ok || x.Len() != 1 {
		t.Errorf("Touch of an absent hash inserted it (Len %d)", x.Len())
	}
}

func TestGetAbsent(t *testing.T) {
	x := index.NewMemory(nil)
	if m, ok := x.Get(hashOf(1)); ok || m != (block.Meta{}) {
		t.Errorf("Get on empty index = %+v, %v", m, ok)
	}
	if x.Len() != 0 || len(collect(x)) != 0 {
		t.Error("empty index is not empty")
	}
}

func TestRemove(t *testing.T) {
	for _, layout := range []struct {
		name string
		hash func(uint64) block.Hash
	}{{"spread", hashOf}, {"one shard", sameShardHash}} {
		t.Run(layout.name, func(t *testing.T) {
			const n = 5000
			x := index.NewMemory(nil)
			want := map[block.Hash]block.Meta{}
			for i := range uint64(n) {
				h := layout.hash(i)
				m := block.Meta{Seq: uint32(i), LastAccessNs: int64(i)}
				want[h] = m
				x.BulkLoad(maps.All(map[block.Hash]block.Meta{h: m}))
			}
			// Remove in random order, checking after every step that the
			// swap with the last slot left every other entry findable.
			rng := rand.New(rand.NewPCG(1, 2))
			order := rng.Perm(n)
			for step, i := range order {
				h := layout.hash(uint64(i))
				if !x.Remove(h) {
					t.Fatalf("Remove(%d) of a present hash returned false", i)
				}
				if x.Remove(h) {
					t.Fatalf("second Remove(%d) returned true", i)
				}
				delete(want, h)
				if x.Len() != len(want) {
					t.Fatalf("Len = %d after %d removes, want %d", x.Len(), step+1, len(want))
				}
				if step%500 == 0 || len(want) < 20 {
					for wh, wm := range want {
						if gm, ok := x.Get(wh); !ok || gm != wm {
							t.Fatalf("after removing %d: Get(%x) = %+v, %v; want %+v", i, wh[:4], gm, ok, wm)
						}
					}
					if got := collect(x); !maps.Equal(want, got) {
						t.Fatalf("All after %d removes: %d entries, want %d (or values differ)", step+1, len(got), len(want))
					}
				}
				if step == n/2 {
					// Touch and re-insert work on entries moved by swaps.
					for wh, wm := range want {
						if !x.Touch(wh) {
							t.Fatalf("Touch of a kept entry returned false")
						}
						wm.LastAccessNs = time.Now().UnixNano()
						x.BulkLoad(maps.All(map[block.Hash]block.Meta{wh: wm}))
						want[wh] = wm
						break
					}
				}
			}
			if x.Len() != 0 || len(collect(x)) != 0 {
				t.Fatalf("index not empty after removing everything: Len %d", x.Len())
			}
			// The index is usable again after being emptied.
			x.Insert(layout.hash(7), block.Meta{Seq: 7})
			if m, ok := x.Get(layout.hash(7)); !ok || m.Seq != 7 || x.Len() != 1 {
				t.Errorf("Insert after emptying: %+v, %v, Len %d", m, ok, x.Len())
			}
		})
	}
}

func TestRemoveAbsent(t *testing.T) {
	x := index.NewMemory(nil)
	x.Insert(sameShardHash(1), block.Meta{})
	if x.Remove(sameShardHash(2)) {
		t.Error("Remove of an absent hash returned true")
	}
	if x.Len() != 1 {
		t.Errorf("Len = %d, want 1", x.Len())
	}
}

func TestAllSeesEachEntryOnce(t *testing.T) {
	x := index.NewMemory(nil)
	const n = 20000
	for i := range uint64(n) {
		x.Insert(hashOf(i), block.Meta{Seq: uint32(i)})
	}
	for i := range uint64(300) { // a crowded shard too
		x.Insert(sameShardHash(i+1), block.Meta{Seq: uint32(n + i)})
	}
	seen := map[block.Hash]int{}
	for h, m := range x.All() {
		seen[h]++
		if want, _ := x.Get(h); want != m {
			t.Fatalf("All yielded %+v for %x, Get says %+v", m, h[:4], want)
		}
	}
	if len(seen) != n+300 {
		t.Errorf("All yielded %d distinct hashes, want %d", len(seen), n+300)
	}
	for h, c := range seen {
		if c != 1 {
			t.Errorf("All yielded %x %d times", h[:4], c)
		}
	}
	// The sequence can be ranged over again, and stops when asked.
	count := 0
	for range x.All() {
		if count++; count == 10 {
			break
		}
	}
	if count != 10 {
		t.Errorf("early break: %d iterations, want 10", count)
	}
	if len(collect(x)) != n+300 {
		t.Error("a second pass after an early break did not see every entry")
	}
}

// TestAllBodyMayWriteTheIndex ranges over All and calls Touch, Insert, Get,
// Remove and a nested All from the loop body. A scan that held a shard lock
// while yielding would deadlock here; the watchdog turns that into a
// failure instead of a hung test binary.
func TestAllBodyMayWriteTheIndex(t *testing.T) {
	x := index.NewMemory(nil)
	const n = 2000
	for i := range uint64(n) {
		x.Insert(hashOf(i), block.Meta{Seq: uint32(i)})
	}
	done := make(chan int)
	go func() {
		visited := 0
		for h, m := range x.All() {
			visited++
			x.Touch(h)
			x.Get(h)
			x.Insert(h, m)                               // same shard, same entry
			x.Insert(hashOf(uint64(n)+uint64(m.Seq)), m) // new entries
			if m.Seq%100 == 0 {
				for range x.All() {
					break
				}
			}
		}
		done <- visited
	}()
	select {
	case visited := <-done:
		if visited < n {
			t.Errorf("visited %d entries, want at least the %d present at the start", visited, n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ranging over All while writing the index from the loop body deadlocked")
	}
}

// TestConcurrentWritersAndScans runs writers, touchers, removers and
// scanners at once (meaningful under -race) and checks no insert is lost.
func TestConcurrentWritersAndScans(t *testing.T) {
	x := index.NewMemory(nil)
	const writers, perWriter = 8, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var scans atomic.Int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				seen := map[block.Hash]bool{}
				for h := range x.All() {
					if seen[h] {
						t.Errorf("a scan saw %x twice", h[:4])
						return
					}
					seen[h] = true
				}
				_ = x.Len()
				scans.Add(1)
			}
		}()
	}
	var writersWG sync.WaitGroup
	for w := range uint64(writers) {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for i := range uint64(perWriter) {
				h := hashOf(w*perWriter + i)
				x.Insert(h, block.Meta{Seq: uint32(i)})
				x.Touch(h)
				// Churn: insert and remove a scratch entry in a crowded shard.
				tmp := sameShardHash(w*perWriter + i + 1)
				x.Insert(tmp, block.Meta{})
				if !x.Remove(tmp) {
					t.Errorf("Remove of a just-inserted scratch entry failed")
				}
			}
		}()
	}
	writersWG.Wait()
	close(stop)
	wg.Wait()

	if got, want := x.Len(), writers*perWriter; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
	for i := range uint64(writers * perWriter) {
		if _, ok := x.Get(hashOf(i)); !ok {
			t.Fatalf("insert %d lost", i)
		}
	}
	if got := len(collect(x)); got != writers*perWriter {
		t.Errorf("All sees %d entries, want %d", got, writers*perWriter)
	}
	if scans.Load() == 0 {
		t.Log("no scan completed while writers ran (a slow machine); the final checks still hold")
	}
}

// TestMemoryShards: an index of any shard count holds, finds, scans and
// removes the same entries; the count is rounded up to a power of two and
// clamped to [1, MaxShards].
func TestMemoryShards(t *testing.T) {
	for _, tc := range []struct{ ask, want int }{{-1, 1}, {0, 1}, {1, 1}, {3, 4}, {64, 64}, {index.MaxShards, index.MaxShards}, {1 << 30, index.MaxShards}} {
		x := index.NewMemoryShards(func() time.Time { return time.Unix(0, 42) }, tc.ask)
		if got := x.Shards(); got != tc.want {
			t.Errorf("NewMemoryShards(%d): %d shards, want %d", tc.ask, got, tc.want)
		}
		want := map[block.Hash]block.Meta{}
		for i := range 3000 {
			var h block.Hash
			binary.BigEndian.PutUint64(h[24:], uint64(i))                                      // small ids, as the lab's
			m := block.Meta{Seq: uint32(i % 5), LastAccessNs: 42, PayloadBytes: uint64(i + 1)} // Insert stamps the clock's 42
			x.Insert(h, m)
			want[h] = m
		}
		for h := range want {
			if h[31]%3 == 0 {
				x.Remove(h)
				delete(want, h)
			}
		}
		got := map[block.Hash]block.Meta{}
		x.ScanColumns(func(c index.Columns) bool {
			for i, h := range c.Hashes {
				got[h] = c.Metas[i]
			}
			return true
		})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%d shards: scanned entries differ (-want +got):\n%s", tc.want, diff)
		}
		for h, m := range want {
			if g, ok := x.Get(h); !ok || g != m {
				t.Fatalf("%d shards: Get(%x) = %v, %v", tc.want, h[24:], g, ok)
			}
		}
		if x.Len() != len(want) {
			t.Errorf("%d shards: Len %d, want %d", tc.want, x.Len(), len(want))
		}
	}
}
