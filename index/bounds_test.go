package index

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
	"unsafe"

	"github.com/wombatkv/prefetch/block"
)

// checkShards fails t unless every shard of x is consistent: its entry
// count, its bounds and its zones' bounds at least every entry's time of
// their kind, the hot columns equal to the rows, the counts column (only
// in an index that keeps counts) as long and as large as the chunk's
// others, every chunk and zone but the last full, and the slot table
// holding exactly one word per entry, in Robin Hood order, each leading
// to its entry.
func checkShards(t testing.TB, x *Memory) {
	t.Helper()
	total := 0
	for si := range x.shards {
		s := &x.shards[si]
		n := int(s.n.Load())
		total += n
		if n == 0 && len(s.hot) == 0 && len(s.slots.cur.w) == 0 {
			continue
		}
		if x.halfLife == 0 && s.counts != nil || x.halfLife > 0 && len(s.counts) != len(s.hot) {
			t.Fatalf("shard %d: %d count columns for %d chunks (half-life %v)", si, len(s.counts), len(s.hot), x.halfLife)
		}
		seen := 0
		for hi, hc := range s.hot {
			if x.halfLife > 0 {
				if cs := s.counts[hi]; len(cs) != len(hc.last) || cap(cs) != cap(hc.last) {
					t.Fatalf("shard %d chunk %d: counts of length %d, capacity %d; times %d, %d", si, hi, len(cs), cap(cs), len(hc.last), cap(hc.last))
				}
				for k, c := range s.counts[hi] {
					if !(c >= 1) {
						t.Fatalf("shard %d chunk %d entry %d: count %v, below 1", si, hi, k, c)
					}
				}
			}
			if hi < len(s.hot)-1 && len(hc.last) != hotSize {
				t.Fatalf("shard %d: chunk %d of %d holds %d entries", si, hi, len(s.hot), len(hc.last))
			}
			if len(hc.last) == 0 || len(hc.seqs) != len(hc.last) {
				t.Fatalf("shard %d chunk %d: hot columns of lengths %d, %d", si, hi, len(hc.last), len(hc.seqs))
			}
			k := 0
			for zi := range hc.zones {
				z := &hc.zones[zi]
				if zi < len(hc.zones)-1 && len(z.hashes) != zoneSize || len(z.hashes) == 0 || len(z.metas) != len(z.hashes) || len(hc.bounds) != len(hc.zones) {
					t.Fatalf("shard %d chunk %d zone %d of %d: %d hashes, %d rows", si, hi, zi, len(hc.zones), len(z.hashes), len(z.metas))
				}
				last, seqs := hc.times(zi)
				if len(last) != len(z.hashes) {
					t.Fatalf("shard %d chunk %d zone %d: %d times, %d hashes", si, hi, zi, len(last), len(z.hashes))
				}
				for j, ts := range last {
					m := &z.metas[j]
					if m.LastAccessNs != ts || m.Seq != seqs[j] {
						t.Fatalf("shard %d entry %d: row (%d, %d), hot columns (%d, %d)", si, seen, m.LastAccessNs, m.Seq, ts, seqs[j])
					}
					head := seqs[j] == 0
					if zb := &hc.bounds[zi]; ts > zb.bound(head) {
						t.Fatalf("shard %d zone %d: entry at %d above the zone's bound %d (head %v)", si, zi, ts, zb.bound(head), head)
					}
					if ts > s.bound(head) {
						t.Fatalf("shard %d: entry at %d above the shard's bound %d (head %v)", si, ts, s.bound(head), head)
					}
					a, _, slot := s.slots.find(s, &z.hashes[j], x.fingerprint(&z.hashes[j]))
					if a == nil || slot != int32(seen) {
						t.Fatalf("shard %d: entry %d found at slot %d", si, seen, slot)
					}
					seen++
					k++
				}
			}
			if k != len(hc.last) {
				t.Fatalf("shard %d chunk %d: %d hot entries, %d in zones", si, hi, len(hc.last), k)
			}
		}
		if seen != n {
			t.Fatalf("shard %d: n = %d, holds %d", si, n, seen)
		}
		words := 0
		for _, a := range []*slotArray{&s.slots.cur, &s.slots.old} {
			for p, w := range a.w {
				if w == 0 {
					continue
				}
				words++
				if sl := a.slot(w); sl < 0 || int(sl) >= n {
					t.Fatalf("shard %d: word for slot %d of %d", si, sl, n)
				}
				prev := p - 1
				if prev < 0 {
					prev = len(a.w) - 1
				}
				// Robin Hood order: a word off its home follows a word no
				// nearer its own.
				if d := dist(a.home(w>>a.k), p, len(a.w)); d > 0 {
					pw := a.w[prev]
					if pw == 0 || dist(a.home(pw>>a.k), prev, len(a.w)) < d-1 {
						t.Fatalf("shard %d: word at %d, %d from home, after one %d from its", si, p, d, dist(a.home(pw>>a.k), prev, len(a.w)))
					}
				}
			}
		}
		for p := 0; p < s.slots.drain; p++ {
			if s.slots.old.w[p] != 0 {
				t.Fatalf("shard %d: drained position %d of old holds a word", si, p)
			}
		}
		if words != n {
			t.Fatalf("shard %d: %d words for %d entries", si, words, n)
		}
	}
	if total != x.Len() {
		t.Fatalf("shards hold %d entries, Len %d", total, x.Len())
	}
}

// FuzzShardBounds runs random sequences of writes over a few dozen hashes,
// most in one shard (so its columns and slot table grow, drain and shrink),
// on a clock that moves both ways, in an index without access counts and
// in one that keeps them, and checks after every step that the bounds hold
// every entry's time, the shard is consistent, and the index holds what a
// map would, counts included.
func FuzzShardBounds(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("\x00\x10\x20\x30\x41\x51\x62\x72\x83\x93\xa4\xb4\xc5\xd5\xe6\xf6\x07\x17"))
	many := make([]byte, 0, 3000)
	for i := range 1500 { // grow one shard past a chunk and through several tables
		many = append(many, 0x00|byte(i)<<4, byte(i))
	}
	f.Add(many)
	f.Fuzz(func(t *testing.T, ops []byte) {
		for _, halfLife := range []time.Duration{0, 20 * time.Microsecond} {
			fuzzShard(t, ops, halfLife)
		}
	})
}

// fuzzShard runs FuzzShardBounds's ops on an index that keeps counts of
// the given half-life (or none), keeping a model of the counts too.
func fuzzShard(t *testing.T, ops []byte, halfLife time.Duration) {
	now := int64(1_000_000)
	x, err := New(Options{Now: func() time.Time { return time.Unix(0, now) }, CountHalfLife: halfLife})
	if err != nil {
		t.Fatal(err)
	}
	want := map[block.Hash]block.Meta{}
	counts := map[block.Hash]float32{} // as of the entry's last access
	hl := float64(halfLife)
	access := func(h block.Hash, t int64) {
		c, ok := counts[h]
		if !ok {
			counts[h] = 1
			return
		}
		if last := want[h].LastAccessNs; t > last {
			counts[h] = float32(float64(c)*math.Exp2(-float64(t-last)/hl) + 1)
		} else {
			counts[h] = c + 1
		}
	}
	checkCounts := func(step int) {
		for h, m := range want {
			got, ok := x.AccessCountAt(h, time.Unix(0, m.LastAccessNs))
			if halfLife == 0 {
				if ok {
					t.Fatalf("step %d: a count in an index without counts", step)
				}
				continue
			}
			if w := float64(counts[h]); !ok || math.Abs(got-w) > 1e-5*w {
				t.Fatalf("step %d: AccessCountAt(%x, its last access) = %v, %v; want %v", step, h[:16], got, ok, w)
			}
		}
	}
	key := func(b byte, i int) block.Hash {
		var h block.Hash
		if b&1 == 0 { // one shard: only the middle bytes differ
			binary.BigEndian.PutUint64(h[8:16], uint64(i))
		} else {
			binary.LittleEndian.PutUint64(h[:8], uint64(i)*0x9e3779b97f4a7c15+1)
		}
		return h
	}
	for step := 0; step+1 < len(ops); step += 2 {
		op, arg := ops[step], ops[step+1]
		h := key(op>>3, int(arg)|int(op>>4&1)<<8) // up to 512 hashes
		switch op & 7 {
		case 0, 1: // insert (the most common, to grow)
			m := block.Meta{Seq: uint32(arg % 3), PayloadBytes: uint64(arg)}
			x.Insert(h, m)
			access(h, now)
			m.LastAccessNs = now
			want[h] = m
		case 2: // touch
			if _, ok := want[h]; x.Touch(h) != ok {
				t.Fatalf("step %d: Touch reports %v, want %v", step, !ok, ok)
			}
			if m, ok := want[h]; ok {
				access(h, now)
				m.LastAccessNs = now
				want[h] = m
			}
		case 3: // bulk load, lowering or raising a time
			m := block.Meta{Seq: uint32(arg % 2), LastAccessNs: now - int64(arg)*1000}
			x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) { yield(h, m) })
			access(h, m.LastAccessNs)
			want[h] = m
		case 4, 5: // remove
			if _, ok := want[h]; x.Remove(h) != ok {
				t.Fatalf("step %d: Remove reports %v, want %v", step, !ok, ok)
			}
			delete(want, h)
			delete(counts, h)
		case 6: // the clock moves, either way
			now += int64(arg) - 100
		case 7: // a scan, which tightens stale bounds
			x.ScanColumns(func(Columns) bool { return true })
		}
		if len(want) < 100 || step%32 == 0 {
			checkShards(t, x)
			checkCounts(step)
		}
	}
	checkShards(t, x)
	checkCounts(len(ops))
	got := map[block.Hash]block.Meta{}
	for h, m := range x.All() {
		got[h] = m
	}
	if len(got) != len(want) {
		t.Fatalf("All yields %d entries, want %d", len(got), len(want))
	}
	for h, m := range want {
		if g, ok := x.Get(h); !ok || g != m {
			t.Fatalf("Get(%x) = %+v, %v; want %+v", h[:16], g, ok, m)
		}
	}
}

// TestBoundsTighten: bounds fall back to the maximum once the entry that
// set them is gone: at once for a zone, at the next scan for a shard.
func TestBoundsTighten(t *testing.T) {
	x := NewMemory(nil)
	h := func(i int) block.Hash {
		var h block.Hash
		binary.BigEndian.PutUint64(h[8:16], uint64(i)) // all in one shard
		return h
	}
	const n = 100
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := range n {
			if !yield(h(i), block.Meta{Seq: uint32(i % 2), LastAccessNs: int64(i)}) {
				return
			}
		}
	})
	s := x.shardOf(&block.Hash{})
	bounds := func() Bounds { return Bounds{s.headMax.Load(), s.tailMax.Load()} }
	if got, want := bounds(), (Bounds{HeadMax: 98, TailMax: 99}); got != want {
		t.Fatalf("after the load: shard bounds %+v, want %+v", got, want)
	}
	x.Remove(h(99))
	x.Remove(h(98))
	// Stale-high until a scan: a bound, not yet the maximum.
	if got := bounds(); got.HeadMax < 96 || got.TailMax < 97 {
		t.Fatalf("after the removes: shard bounds %+v below the entries", got)
	}
	var zones []Bounds
	x.ScanColumns(func(c Columns) bool { zones = append(zones, c.Bounds); return true })
	if got, want := bounds(), (Bounds{HeadMax: 96, TailMax: 97}); got != want {
		t.Errorf("after a scan: shard bounds %+v, want %+v", got, want)
	}
	// Zones in insertion order: the full zones of 0-31, 32-63, 64-95, then
	// the fourth (entries 96, 97), each exact.
	want := []Bounds{{30, 31}, {62, 63}, {94, 95}, {96, 97}}
	if len(zones) != len(want) {
		t.Fatalf("scan saw %d zones, want %d", len(zones), len(want))
	}
	for i := range want {
		if zones[i] != want[i] {
			t.Errorf("zone %d: bounds %+v, want %+v", i, zones[i], want[i])
		}
	}
	// A zone with no chain head, and an empty index.
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) { yield(h(96), block.Meta{Seq: 5, LastAccessNs: 1}) })
	x.ScanColumns(func(c Columns) bool {
		if c.Len() == 2 && c.HeadMax != math.MinInt64 {
			t.Errorf("zone without a chain head: HeadMax %d, want math.MinInt64", c.HeadMax)
		}
		return true
	})
	for i := range n {
		x.Remove(h(i))
	}
	x.ScanColumns(func(Columns) bool { t.Error("f called on an empty index"); return true })
	checkShards(t, x)
}

// TestShardSize: a shard fills 3 cache lines exactly, the counts column
// included (its slice header took part of the padding).
func TestShardSize(t *testing.T) {
	if got := unsafe.Sizeof(shard{}); got != 192 {
		t.Errorf("a shard takes %d bytes, want 192: adjust its padding", got)
	}
}
