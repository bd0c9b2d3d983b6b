package index_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
)

// counting returns an index that keeps counts of half-life h, on clk.
func counting(t testing.TB, clk *fakeClock, h time.Duration) *index.Memory {
	t.Helper()
	x, err := index.New(index.Options{Now: clk.Now, CountHalfLife: h})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestOptionsValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		o      index.Options
		want   []string // the errors' lines, in order; none for a valid o
		shards int      // of the index New builds from a valid o
	}{
		{"zero: the defaults", index.Options{}, nil, index.MaxShards},
		{"shards rounded up", index.Options{Shards: 3, CountHalfLife: time.Nanosecond}, nil, 4},
		{"one shard", index.Options{Shards: 1}, nil, 1},
		{"max shards", index.Options{Shards: index.MaxShards}, nil, index.MaxShards},
		{"negative shards", index.Options{Shards: -1}, []string{
			"index: Shards = -1, want 1 to 4096, rounded up to a power of two (0 means the default, 4096)",
		}, 0},
		{"too many shards", index.Options{Shards: 4097}, []string{
			"index: Shards = 4097, want 1 to 4096, rounded up to a power of two (0 means the default, 4096)",
		}, 0},
		{"negative half-life", index.Options{CountHalfLife: -time.Minute}, []string{
			"index: CountHalfLife = -1m0s, want > 0 to keep access counts (0 keeps none)",
		}, 0},
		{"every problem at once", index.Options{Shards: 1 << 20, CountHalfLife: -1}, []string{
			"index: Shards = 1048576, want 1 to 4096, rounded up to a power of two (0 means the default, 4096)",
			"index: CountHalfLife = -1ns, want > 0 to keep access counts (0 keeps none)",
		}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			verr := tt.o.Validate()
			x, err := index.New(tt.o)
			if tt.want == nil {
				if verr != nil || err != nil {
					t.Fatalf("Validate = %v, New = %v; want both nil", verr, err)
				}
				if x.Shards() != tt.shards || x.CountHalfLife() != tt.o.CountHalfLife {
					t.Errorf("New: %d shards, half-life %v; want %d, %v", x.Shards(), x.CountHalfLife(), tt.shards, tt.o.CountHalfLife)
				}
				return
			}
			if verr == nil || err == nil || x != nil {
				t.Fatalf("Validate = %v, New = %v, %v; want errors and no index", verr, x, err)
			}
			if diff := cmp.Diff(tt.want, strings.Split(verr.Error(), "\n")); diff != "" {
				t.Errorf("Validate mismatch (-want +got):\n%s", diff)
			}
			if err.Error() != verr.Error() {
				t.Errorf("New's error %q, Validate's %q", err, verr)
			}
		})
	}
}

// TestAccessCount follows one entry's count through every kind of access,
// on a fake clock, with a half-life of a minute: every value is exact.
func TestAccessCount(t *testing.T) {
	clk := newFakeClock(time.Unix(1_700_000_000, 0))
	t0 := clk.Now()
	x := counting(t, clk, time.Minute)
	h := hashOf(1)
	step := func(name string, want float64) {
		t.Helper()
		got, ok := x.AccessCount(h)
		if !ok || got != want {
			t.Errorf("%s: AccessCount = %v, %v; want %v, true", name, got, ok, want)
		}
	}
	bulk := func(at time.Time) {
		x.BulkLoad(maps.All(map[block.Hash]block.Meta{h: {Seq: 1, LastAccessNs: at.UnixNano()}}))
	}

	x.Insert(h, block.Meta{})
	step("inserted", 1)
	clk.Advance(time.Minute)
	step("a half-life later", 0.5)
	x.Touch(h)
	step("touched then", 1.5)
	clk.Advance(2 * time.Minute)
	step("two half-lives later", 0.375)
	x.Touch(h)
	step("touched then", 1.375)
	x.Insert(h, block.Meta{Seq: 2}) // a replacement is an access too
	step("re-inserted at once", 2.375)
	bulk(t0) // 3 min before the entry's last access: a clock that stepped back
	step("bulk-loaded 3 min earlier, read now", 3.375/8)
	if got, _ := x.AccessCountAt(h, t0); got != 3.375 {
		t.Errorf("AccessCountAt its last access = %v, want 3.375: a clock stepping back does not decay nor grow it by more than 1", got)
	}
	if got, _ := x.AccessCountAt(h, t0.Add(-time.Hour)); got != 3.375 {
		t.Errorf("AccessCountAt before its last access = %v, want 3.375: not decayed back up", got)
	}
	bulk(t0.Add(4 * time.Minute)) // a minute past now: decays 4 min, then + 1
	step("bulk-loaded a minute ahead", 3.375/16+1)
	clk.ns.Store(t0.Add(-time.Minute).UnixNano()) // the clock steps back 5 min
	x.Touch(h)
	step("touched on a clock 5 min behind", 3.375/16+2)
	if m, _ := x.Get(h); m.LastAccessNs != clk.Now().UnixNano() {
		t.Errorf("LastAccessNs %d, want the clock's %d", m.LastAccessNs, clk.Now().UnixNano())
	}
	clk.Advance(10 * time.Minute)
	step("10 half-lives on", (3.375/16+2)/1024)
	if got, _ := x.AccessCountAt(h, clk.Now().Add(time.Duration(math.MaxInt64))); got != 0 {
		t.Errorf("AccessCountAt 292 years on = %v, want 0", got)
	}

	if got, ok := x.AccessCount(hashOf(2)); ok || got != 0 {
		t.Errorf("AccessCount of an absent hash = %v, %v; want 0, false", got, ok)
	}
	x.Touch(hashOf(2))
	if _, ok := x.AccessCount(hashOf(2)); ok {
		t.Error("Touch of an absent hash gave it a count")
	}
	x.Remove(h)
	if got, ok := x.AccessCount(h); ok {
		t.Errorf("AccessCount after Remove = %v, true", got)
	}
	x.Insert(h, block.Meta{})
	step("inserted again after its removal", 1)

	// An index without counts answers none, and says so.
	off := index.NewMemory(clk.Now)
	off.Insert(h, block.Meta{})
	off.Touch(h)
	if got, ok := off.AccessCount(h); ok || got != 0 || off.CountHalfLife() != 0 {
		t.Errorf("without counts: AccessCount = %v, %v, CountHalfLife %v; want 0, false, 0", got, ok, off.CountHalfLife())
	}
	if got, ok := off.AccessCountAt(h, clk.Now()); ok || got != 0 {
		t.Errorf("without counts: AccessCountAt = %v, %v; want 0, false", got, ok)
	}
	if x.CountHalfLife() != time.Minute {
		t.Errorf("CountHalfLife = %v, want 1m0s", x.CountHalfLife())
	}
}

// countModel is what an index's counts should be: each entry's count as
// of its last access, computed independently of the index.
type countModel struct {
	h     float64 // half-life, ns
	count map[block.Hash]float32
	last  map[block.Hash]int64
}

func newCountModel(h time.Duration) *countModel {
	return &countModel{h: float64(h), count: map[block.Hash]float32{}, last: map[block.Hash]int64{}}
}

func (m *countModel) at(h block.Hash, now int64) float64 {
	c, last := float64(m.count[h]), m.last[h]
	if now > last {
		c *= math.Exp2(-float64(now-last) / m.h)
	}
	return c
}

// access records an access at t (present says whether h was present).
func (m *countModel) access(h block.Hash, t int64) {
	if _, ok := m.count[h]; ok {
		m.count[h] = float32(m.at(h, t) + 1)
	} else {
		m.count[h] = 1
	}
	m.last[h] = t
}

func (m *countModel) remove(h block.Hash) { delete(m.count, h); delete(m.last, h) }

// check fails t unless x's counts are the model's at now (to float32
// rounding) and a scan's columns say the same.
func (m *countModel) check(t testing.TB, x *index.Memory, now int64) {
	t.Helper()
	if x.Len() != len(m.count) {
		t.Fatalf("Len %d, the model holds %d", x.Len(), len(m.count))
	}
	for h := range m.count {
		got, ok := x.AccessCountAt(h, time.Unix(0, now))
		if want := m.at(h, now); !ok || !close32(got, want) {
			t.Fatalf("AccessCountAt(%x) = %v, %v; want %v", h[8:16], got, ok, want)
		}
	}
	seen := 0
	x.ScanColumns(func(c index.Columns) bool {
		if len(c.Counts) != c.Len() {
			t.Fatalf("a run of %d entries with %d counts", c.Len(), len(c.Counts))
		}
		for i, h := range c.Hashes {
			if c.LastAccessNs[i] != m.last[h] {
				t.Fatalf("entry %x: last access %d, the model's %d", h[8:16], c.LastAccessNs[i], m.last[h])
			}
			if got, want := c.CountAt(i, now), m.at(h, now); !close32(got, want) {
				t.Fatalf("entry %x: CountAt = %v, want %v", h[8:16], got, want)
			}
			seen++
		}
		return true
	})
	if seen != len(m.count) {
		t.Fatalf("the scan saw %d entries, the model holds %d", seen, len(m.count))
	}
}

// close32 reports whether a and b agree to float32 rounding, a few times
// over.
func close32(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(math.Abs(a), math.Abs(b)) }

// TestAccessCountsMove: removes move a shard's last entry into the hole,
// across zones and chunks, and inserts grow it across them; every entry
// keeps its own count throughout.
func TestAccessCountsMove(t *testing.T) {
	clk := newFakeClock(time.Unix(1_700_000_000, 0))
	x := counting(t, clk, time.Hour)
	m := newCountModel(time.Hour)
	const n = 2500 // one shard: two full chunks of 1024 and part of a third
	insert := func(i int) {
		h := sameShardHash(uint64(i))
		clk.Advance(time.Millisecond)
		x.Insert(h, block.Meta{Seq: uint32(i % 3)})
		m.access(h, clk.ns.Load())
		for range i % 13 { // distinct counts, on a clock that stands still
			x.Touch(h)
			m.access(h, clk.ns.Load())
		}
	}
	for i := range n {
		insert(i)
		if i == 31 || i == 32 || i == 1023 || i == 1024 || i == 2047 || i == 2048 {
			m.check(t, x, clk.ns.Load())
		}
	}
	m.check(t, x, clk.ns.Load())
	rng := rand.New(rand.NewPCG(3, 4))
	order := rng.Perm(n)
	for step, i := range order {
		h := sameShardHash(uint64(i))
		if !x.Remove(h) {
			t.Fatalf("Remove(%d) returned false", i)
		}
		m.remove(h)
		if step%250 == 0 || x.Len() < 40 {
			m.check(t, x, clk.ns.Load())
		}
		if step == n/2 { // grow it again over the holes' last entries
			for j := n; j < n+600; j++ {
				insert(j)
			}
			m.check(t, x, clk.ns.Load())
		}
	}
	m.check(t, x, clk.ns.Load())
}

// TestColumnsCounts: a scan's Counts and CountAt say what AccessCountAt
// says, entry by entry, and are nil and 0 in an index without counts.
func TestColumnsCounts(t *testing.T) {
	clk := newFakeClock(time.Unix(1_700_000_000, 0))
	for _, h := range []time.Duration{0, 10 * time.Minute} {
		t.Run(fmt.Sprintf("half-life=%v", h), func(t *testing.T) {
			x, err := index.New(index.Options{Now: clk.Now, CountHalfLife: h})
			if err != nil {
				t.Fatal(err)
			}
			const n = 20000
			for i := range n {
				clk.Advance(time.Millisecond)
				x.Insert(colHash(i), block.Meta{Seq: uint32(i % 5)})
			}
			for i := 0; i < n; i += 3 {
				clk.Advance(time.Millisecond)
				x.Touch(colHash(i))
			}
			for i := 1; i < n; i += 7 {
				x.Remove(colHash(i))
			}
			now := clk.Now().Add(time.Minute)
			seen := 0
			x.ScanColumns(func(c index.Columns) bool {
				if h == 0 {
					if c.Counts != nil || c.CountAt(0, now.UnixNano()) != 0 {
						t.Fatalf("without counts: Counts %v, CountAt %v; want nil, 0", c.Counts, c.CountAt(0, now.UnixNano()))
					}
					seen += c.Len()
					return true
				}
				if len(c.Counts) != c.Len() {
					t.Fatalf("a run of %d entries with %d counts", c.Len(), len(c.Counts))
				}
				for i, hh := range c.Hashes {
					want, ok := x.AccessCountAt(hh, now)
					if got := c.CountAt(i, now.UnixNano()); !ok || got != want {
						t.Fatalf("entry %x: CountAt %v, AccessCountAt %v, %v", hh[:4], got, want, ok)
					}
					if c.Counts[i] < 1 {
						t.Fatalf("entry %x: stored count %v, below 1", hh[:4], c.Counts[i])
					}
					seen++
				}
				return true
			})
			if seen != x.Len() {
				t.Errorf("scan saw %d entries, Len %d", seen, x.Len())
			}
		})
	}
}

// TestAccessCountsConcurrent runs touchers, churning writers, scans,
// lookups and snapshots at once (meaningful under -race) on a clock that
// stands still, so that no count decays: every touch of a stable entry
// must be counted.
func TestAccessCountsConcurrent(t *testing.T) {
	clk := newFakeClock(time.Unix(1_700_000_000, 0))
	x := counting(t, clk, time.Minute)
	const stable, touchers, rounds = 2000, 4, 50
	for i := range stable {
		x.Insert(colHash(i), block.Meta{})
	}
	var wg, readers sync.WaitGroup
	stop := make(chan struct{})
	for w := range touchers {
		wg.Go(func() {
			for r := range rounds {
				for i := range stable {
					x.Touch(colHash(i))
				}
				h := sameShardHash(uint64(w*rounds + r + 1)) // churn one shard
				x.Insert(h, block.Meta{})
				if r%2 == 0 {
					x.Remove(h)
				}
			}
		})
	}
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			x.ScanColumns(func(c index.Columns) bool {
				for i := range c.Counts {
					if c.CountAt(i, clk.ns.Load()) < 1 {
						t.Errorf("a count below 1 in a scan")
						return false
					}
				}
				return true
			})
			if _, err := index.WriteSnapshot(&bytes.Buffer{}, x); err != nil {
				t.Error(err)
			}
		}
	})
	readers.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if c, ok := x.AccessCount(colHash(i % stable)); !ok || c < 1 || c > 1+touchers*rounds {
				t.Errorf("AccessCount = %v, %v; want 1 to %d", c, ok, 1+touchers*rounds)
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	for i := range stable {
		if c, _ := x.AccessCount(colHash(i)); c != 1+touchers*rounds {
			t.Fatalf("entry %d: count %v, want %d: a touch was lost", i, c, 1+touchers*rounds)
		}
	}
}

// countedFixture is snapshotFixture's entries in an index that keeps
// counts (half-life 1 min, fake clock): entry i touched i%4 times after
// its load, a second apart, so that counts differ.
func countedFixture(t testing.TB, n int) (*index.Memory, *fakeClock) {
	t.Helper()
	_, want := snapshotFixture(n)
	clk := newFakeClock(time.Unix(1_700_000_000, 0))
	x := counting(t, clk, time.Minute)
	x.BulkLoad(maps.All(want))
	for k := range 3 {
		clk.Advance(time.Second)
		i := 0
		for h := range want {
			if i++; i%4 > k {
				x.Touch(h)
			}
		}
	}
	return x, clk
}

// counts returns every entry's count of x as of at.
func counts(x *index.Memory, at time.Time) map[block.Hash]float64 {
	got := map[block.Hash]float64{}
	for h := range x.All() {
		got[h], _ = x.AccessCountAt(h, at)
	}
	return got
}

// TestSnapshotCounts: an index that keeps counts saves them (version 2)
// and a counting index restores them exactly, whatever its half-life; an
// index without counts reads the same file, and a counting index reads a
// version 1 file, each entry an access.
func TestSnapshotCounts(t *testing.T) {
	for _, n := range []int{0, 1, 513, 3000} {
		t.Run("n="+itoa(n), func(t *testing.T) {
			x, clk := countedFixture(t, n)
			dir := t.TempDir()
			path := filepath.Join(dir, "v2.snap")
			if wrote, err := index.SaveSnapshot(path, x); err != nil || wrote != n {
				t.Fatalf("SaveSnapshot = %d, %v; want %d", wrote, err, n)
			}
			raw, _ := os.ReadFile(path)
			if v, rl := binary.LittleEndian.Uint32(raw[8:]), binary.LittleEndian.Uint32(raw[12:]); v != 2 || rl != 132 || len(raw) != 16+132*n+40 {
				t.Fatalf("a counting index's snapshot: version %d, record size %d, %d bytes; want 2, 132, %d", v, rl, len(raw), 16+132*n+40)
			}
			now := clk.Now()
			for _, h := range []time.Duration{time.Minute, time.Hour} {
				y := counting(t, newFakeClock(now), h)
				if loaded, err := index.LoadSnapshot(path, y); err != nil || loaded != n {
					t.Fatalf("LoadSnapshot = %d, %v; want %d", loaded, err, n)
				}
				if diff := cmp.Diff(maps.Collect(x.All()), maps.Collect(y.All())); diff != "" {
					t.Errorf("half-life %v: restored entries mismatch (-want +got):\n%s", h, diff)
				}
				// As of each entry's last access the counts are the same,
				// whatever the half-life.
				for e, m := range x.All() {
					at := time.Unix(0, m.LastAccessNs)
					want, _ := x.AccessCountAt(e, at)
					if got, ok := y.AccessCountAt(e, at); !ok || got != want {
						t.Fatalf("half-life %v: entry %x restored with count %v, %v; want %v", h, e[:4], got, ok, want)
					}
				}
			}
			y := counting(t, newFakeClock(now), time.Minute)
			index.LoadSnapshot(path, y)
			if diff := cmp.Diff(counts(x, now), counts(y, now)); diff != "" {
				t.Errorf("restored counts mismatch (-want +got):\n%s", diff)
			}

			plain := index.NewMemory(nil)
			if loaded, err := index.LoadSnapshot(path, plain); err != nil || loaded != n {
				t.Fatalf("LoadSnapshot of version 2 into an index without counts = %d, %v", loaded, err)
			}
			if diff := cmp.Diff(maps.Collect(x.All()), maps.Collect(plain.All())); diff != "" {
				t.Errorf("version 2 into an index without counts mismatch (-want +got):\n%s", diff)
			}

			// Version 1, from an index without counts, into a counting
			// index: every entry new, at 1; into one that holds an entry
			// already, an access to it.
			v1 := filepath.Join(dir, "v1.snap")
			if _, err := index.SaveSnapshot(v1, plain); err != nil {
				t.Fatal(err)
			}
			if raw, _ := os.ReadFile(v1); binary.LittleEndian.Uint32(raw[8:]) != 1 || len(raw) != 16+128*n+40 {
				t.Fatalf("an index without counts wrote version %d, %d bytes; want version 1, %d", binary.LittleEndian.Uint32(raw[8:]), len(raw), 16+128*n+40)
			}
			z := counting(t, newFakeClock(now), time.Minute)
			if loaded, err := index.LoadSnapshot(v1, z); err != nil || loaded != n {
				t.Fatalf("LoadSnapshot of version 1 into a counting index = %d, %v", loaded, err)
			}
			for e, m := range z.All() {
				if c, ok := z.AccessCountAt(e, time.Unix(0, m.LastAccessNs)); !ok || c != 1 {
					t.Fatalf("entry %x from version 1: count %v, %v; want 1", e[:4], c, ok)
				}
			}
			if n > 0 {
				index.LoadSnapshot(v1, z)
				for e, m := range z.All() {
					if c, _ := z.AccessCountAt(e, time.Unix(0, m.LastAccessNs)); c != 2 {
						t.Fatalf("entry %x loaded twice from version 1: count %v, want 2", e[:4], c)
					}
				}
			}
		})
	}
}

// TestSnapshotCountsRefused: a version 2 file is refused as version 1's
// is, and a count no index writes (below 1, not a number, infinite) is
// loaded as the nearest that one could.
func TestSnapshotCountsRefused(t *testing.T) {
	x, _ := countedFixture(t, 100)
	var good bytes.Buffer
	if _, err := index.WriteSnapshot(&good, x); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	resum := func(b []byte) []byte {
		sum := sha256.Sum256(b[:len(b)-32])
		copy(b[len(b)-32:], sum[:])
		return b
	}
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated in the records", g[:16+132*50+17], "truncated"},
		{"cut at a version 1 record boundary", g[:16+128*50+40], "truncated"},
		{"cut at a record boundary", g[:16+132*50+40], "trailer counts"},
		{"a count flipped", func() []byte { b := bytes.Clone(g); b[16+132*7+130] ^= 1; return b }(), "corrupt"},
		{"version 1 with version 2's records", resum(func() []byte { b := bytes.Clone(g); b[8] = 1; return b }()), "record size 132, want 128 (format version 1)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "index.snap")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			y := counting(t, newFakeClock(time.Unix(0, 0)), time.Minute)
			n, err := index.LoadSnapshot(path, y)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) || y.Len() != 0 || n != 0 {
				t.Errorf("LoadSnapshot = %d, %v (Len %d); want an error naming the file and saying %q, nothing loaded", n, err, y.Len(), tt.want)
			}
		})
	}

	odd := bytes.Clone(g)
	wantCounts := map[block.Hash]float32{}
	for i, bits := range []uint32{math.Float32bits(0.5), math.Float32bits(0), math.Float32bits(-3), 0x7fc00000 /* NaN */, math.Float32bits(float32(math.Inf(1))), math.Float32bits(7)} {
		rec := odd[16+132*i:]
		binary.LittleEndian.PutUint32(rec[128:], bits)
		c := math.Float32frombits(bits)
		switch {
		case !(c >= 1):
			c = 1
		case math.IsInf(float64(c), 1):
			c = math.MaxFloat32
		}
		wantCounts[block.Hash(rec[:32])] = c
	}
	path := filepath.Join(t.TempDir(), "odd.snap")
	if err := os.WriteFile(path, resum(odd), 0o644); err != nil {
		t.Fatal(err)
	}
	y := counting(t, newFakeClock(time.Unix(0, 0)), time.Minute)
	if _, err := index.LoadSnapshot(path, y); err != nil {
		t.Fatal(err)
	}
	for h, want := range wantCounts {
		m, _ := y.Get(h)
		if got, ok := y.AccessCountAt(h, time.Unix(0, m.LastAccessNs)); !ok || got != float64(want) {
			t.Errorf("entry %x: count %v, %v; want %v", h[:4], got, ok, want)
		}
	}
}
