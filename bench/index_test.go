package bench

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
)

// The index's own benchmarks: what an index.Memory costs in memory per
// entry, what its request path (Touch, Insert) costs at 1e7 entries while
// scans run, and what a scan costs. Each builds its fixtures inside the
// benchmark and drops them afterwards, so that at most one 1e7-entry index
// (1.5 to 2.5 GB) is alive at a time.

// BenchmarkIndexMemory builds an index of N entries with Insert and
// reports the heap it holds per entry (B/entry: heap in use after the
// inserts, less before, over N, both read after a full GC) and the time
// per Insert (ns/entry), for the default index (counts=off) and one that
// keeps access counts (counts=on, index.Options.CountHalfLife). One op is
// one whole build: run it with -benchtime=1x.
func BenchmarkIndexMemory(b *testing.B) {
	for _, n := range []int{1e6, 1e7} {
		for _, counts := range []string{"off", "on"} {
			b.Run(fmt.Sprintf("n=%d/counts=%s", n, counts), func(b *testing.B) {
				var perEntry, perInsert float64
				for b.Loop() {
					before := heapInUse()
					x := newCountingIndex(b, counts, fixedClock)
					start := time.Now()
					for h, m := range Entries(n, Random, Now) {
						x.Insert(h, m)
					}
					perInsert = float64(time.Since(start)) / float64(n)
					perEntry = float64(heapInUse()-before) / float64(n)
					if x.Len() != n {
						b.Fatalf("Len %d after %d inserts", x.Len(), n)
					}
					runtime.KeepAlive(x)
				}
				b.ReportMetric(perEntry, "B/entry")
				b.ReportMetric(perInsert, "ns/entry")
			})
		}
	}
}

// countHalfLife is the half-life of the access counts of the counts=on
// benchmarks: RFC 0008's recency half-life.
const countHalfLife = 10 * time.Minute

// newCountingIndex returns an empty index on clock: the default one
// (counts "off") or one that keeps access counts (counts "on").
func newCountingIndex(b *testing.B, counts string, clock func() time.Time) *index.Memory {
	o := index.Options{Now: clock}
	if counts == "on" {
		o.CountHalfLife = countHalfLife
	}
	x, err := index.New(o)
	if err != nil {
		b.Fatal(err)
	}
	return x
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkIndexRequestPath times single Touch and Insert calls on a
// 1e7-entry index (wall clock, random ages), with no scan (scan=off) or
// with scans running back to back on another goroutine: scan=full reads
// every entry's last access under each shard's read lock in turn (the
// most a scan can hold writers up, as a cycle that prunes nothing does);
// scan=zoned is a recency-only top 8 (scanZones), which locks only the
// shards that can hold a newcomer, as a cycle over ScanColumnsZoned does;
// scan=busy, the control, keeps the other goroutine busy without touching
// the index (on a machine of two shared cores, that alone moves the tail).
// Each runs on the default index (counts=off) and on one that keeps
// access counts (counts=on: every Touch and Insert also decays and bumps
// a count), one index alive at a time. It reports the
// latency quantiles of the single calls (p50-ns, p99-ns, p9999-ns, max-ns),
// the scans completed per second meanwhile, and the GC cycles that ran
// during the timed loop (gcs). Insert adds new random hashes, so the index
// grows by b.N over the run: bound the run with -benchtime=Nx.
func BenchmarkIndexRequestPath(b *testing.B) {
	const n = 1e7
	defer runtime.GC() // after fix is dropped
	for _, counts := range []string{"off", "on"} {
		fix := sync.OnceValues(func() (*index.Memory, []block.Hash) {
			x := newCountingIndex(b, counts, time.Now) // NewIndex's, with counts=off
			x.BulkLoad(Entries(n, Random, time.Now()))
			// Every 8th hash, shuffled: 1.25e6 distinct entries to touch.
			var hs []block.Hash
			i := 0
			for h := range x.All() {
				if i++; i%8 == 0 {
					hs = append(hs, h)
				}
			}
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
			return x, hs
		})
		benchRequestPath(b, n, counts, fix)
		fix = nil // one 1e7-entry index at a time
		runtime.GC()
	}
}

func benchRequestPath(b *testing.B, n int, counts string, fix func() (*index.Memory, []block.Hash)) {
	for _, op := range []string{"touch", "insert"} {
		for _, scan := range []string{"off", "busy", "full", "zoned"} {
			b.Run(fmt.Sprintf("n=%d/op=%s/scan=%s/counts=%s", n, op, scan, counts), func(b *testing.B) {
				x, hs := fix()
				runtime.GC()
				var stop atomic.Bool
				var scans atomic.Int64
				var wg sync.WaitGroup
				if scan != "off" {
					wg.Go(func() {
						var t topRecent
						for !stop.Load() {
							switch scan {
							case "busy": // the control: a busy goroutine that leaves the index alone
								for i := range 1 << 16 {
									sink += int64(i)
								}
							case "full":
								sink += floorScan(x)
							default:
								t.reset(8)
								scanZones(x, &t)
							}
							scans.Add(1)
						}
					})
				}
				var gc0 runtime.MemStats
				runtime.ReadMemStats(&gc0)
				lat := timeRequests(b, x, hs, op, uint64(time.Now().UnixNano()))
				elapsed := b.Elapsed()
				stop.Store(true)
				wg.Wait()
				var gc1 runtime.MemStats
				runtime.ReadMemStats(&gc1)
				reportLatency(b, lat, "p50-ns", "p99-ns", "p9999-ns", "max-ns")
				b.ReportMetric(float64(gc1.NumGC-gc0.NumGC), "gcs")
				if scan != "off" {
					b.ReportMetric(float64(scans.Load())/elapsed.Seconds(), "scans/s")
				}
			})
		}
	}
}

// BenchmarkIndexTouch times Touch alone, back to back, on an index of N
// entries with and without access counts, on a clock that advances a
// nanosecond a call (so that every Touch decays its entry's count, and
// reading the clock costs next to nothing). At N = 1e3 the index fits in
// the cache and the difference is the count's arithmetic; at N = 1e6 it
// does not, and the difference adds the count column's cache miss.
func BenchmarkIndexTouch(b *testing.B) {
	for _, n := range []int{1e3, 1e6} {
		for _, counts := range []string{"off", "on"} {
			b.Run(fmt.Sprintf("n=%d/counts=%s", n, counts), func(b *testing.B) {
				ns := Now.UnixNano()
				x := newCountingIndex(b, counts, func() time.Time { ns++; return time.Unix(0, ns) })
				var hs []block.Hash
				for h, m := range Entries(n, Random, Now) {
					x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) { yield(h, m) })
					hs = append(hs, h)
				}
				rand.New(rand.NewPCG(1, 2)).Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
				i := 0
				b.ReportAllocs()
				for b.Loop() {
					x.Touch(hs[i])
					if i++; i == len(hs) {
						i = 0
					}
				}
			})
		}
	}
}

// timeRequests times single Touch (op "touch": the hashes of hs in turn)
// or Insert (op "insert": new random hashes, from a generator seeded with
// seed) calls on x, one per iteration of b.Loop, and returns their
// latencies, sorted (the first 2^21 of them).
func timeRequests(b *testing.B, x *index.Memory, hs []block.Hash, op string, seed uint64) []time.Duration {
	r := rand.New(rand.NewPCG(3, seed))
	lat := make([]time.Duration, 0, 1<<21)
	m := block.Meta{Seq: 1, Model: Model(0), PayloadBytes: 1 << 20}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		var h block.Hash
		if op == "touch" {
			h = hs[i%len(hs)]
		} else {
			for j := 0; j < len(h); j += 8 {
				binary.LittleEndian.PutUint64(h[j:], r.Uint64())
			}
		}
		i++
		t := time.Now()
		if op == "touch" {
			x.Touch(h)
		} else {
			x.Insert(h, m)
		}
		d := time.Since(t)
		if len(lat) < cap(lat) {
			lat = append(lat, d)
		}
	}
	slices.Sort(lat)
	return lat
}

// reportLatency reports the quantiles of the sorted latencies lat, one
// metric per unit: "pQ-ns" is the quantile 0.Q ("p50-ns", "p9999-ns"),
// "max-ns" the largest.
func reportLatency(b *testing.B, lat []time.Duration, units ...string) {
	if len(lat) == 0 {
		return
	}
	for _, u := range units {
		if u == "max-ns" {
			b.ReportMetric(float64(lat[len(lat)-1]), u)
			continue
		}
		digits := strings.TrimSuffix(strings.TrimPrefix(u, "p"), "-ns")
		q, err := strconv.ParseFloat("0."+digits, 64)
		if err != nil {
			b.Fatalf("reportLatency: unit %q, want pQ-ns or max-ns", u)
		}
		b.ReportMetric(float64(lat[max(0, int(math.Ceil(q*float64(len(lat))))-1)]), u)
	}
}

// topRecent keeps the k largest last-access times it is offered: the
// top K of a recency-only score, where the score is the last access.
type topRecent struct {
	k    int
	h    []int64 // a min-heap of at most k times
	read int     // times offered by offerRun, counted for the benchmark's metric
}

// full reports whether t holds k times, and if so the k-th largest: a time
// that does not exceed it cannot enter.
func (t *topRecent) bar() (int64, bool) {
	if len(t.h) < t.k {
		return 0, false
	}
	return t.h[0], true
}

func (t *topRecent) offer(v int64) {
	if len(t.h) < t.k {
		t.h = append(t.h, v)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if t.h[p] <= t.h[i] {
				break
			}
			t.h[p], t.h[i] = t.h[i], t.h[p]
			i = p
		}
		return
	}
	if v <= t.h[0] {
		return
	}
	t.h[0] = v
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(t.h) {
			break
		}
		if c+1 < len(t.h) && t.h[c+1] < t.h[c] {
			c++
		}
		if t.h[i] <= t.h[c] {
			break
		}
		t.h[i], t.h[c] = t.h[c], t.h[i]
		i = c
	}
}

func (t *topRecent) reset(k int) { t.k, t.h = k, t.h[:0] }

// offerRun offers every time of last that can still enter t, newest first.
func (t *topRecent) offerRun(last []int64) {
	t.read += len(last)
	for i := len(last) - 1; i >= 0; i-- {
		if bar, full := t.bar(); full && last[i] <= bar {
			continue
		}
		t.offer(last[i])
	}
}

// scanFull is the recency-only top K over every run of x: the consumer
// that reads every entry's last access.
func scanFull(x *index.Memory, t *topRecent) {
	x.ScanColumns(func(c index.Columns) bool {
		t.offerRun(c.LastAccessNs)
		return true
	})
}

// scanShards is scanFull that passes over every shard whose bounds show
// it holds no time above the K-th best so far, without locking it.
func scanShards(x *index.Memory, t *topRecent) {
	x.ScanColumnsBounded(t.cannotEnter, func(c index.Columns) bool {
		t.offerRun(c.LastAccessNs)
		return true
	})
}

// scanZones also passes over every run (zone of at most 32 entries) of
// the shards it locks whose bounds show the same.
func scanZones(x *index.Memory, t *topRecent) {
	x.ScanColumnsZoned(t.cannotEnter, t.cannotEnter, func(c index.Columns) bool {
		t.offerRun(c.LastAccessNs)
		return true
	})
}

// cannotEnter reports whether no entry within bounds b can enter t.
func (t *topRecent) cannotEnter(_ int, b index.Bounds) bool {
	bar, full := t.bar()
	return full && b.Max() <= bar
}

type scanConsumer struct {
	name string
	scan func(*index.Memory, *topRecent)
}

// scanConsumers: scan=full reads every entry's last access; scan=shards
// passes over shards by their bounds; scan=zones over shards and runs.
var scanConsumers = []scanConsumer{
	{"full", scanFull},
	{"shards", scanShards},
	{"zones", scanZones},
}

// BenchmarkIndexScan is a recency-only top-K scan of an index of N
// entries (fixed clock) by each consumer in scanConsumers. Before timing,
// every consumer is checked to find the same top K as scan=full. It
// reports the entries a scan reads (read/op: those of the runs handed to
// f).
func BenchmarkIndexScan(b *testing.B) {
	type shape struct {
		n  int
		ks []int
	}
	shapes := []shape{{1e4, []int{8}}, {1e5, []int{8}}, {1e6, []int{8, 1024}}, {1e7, []int{8, 1024}}}
	for _, sh := range shapes {
		for _, ages := range []Ages{Random, Ascending} {
			x := sync.OnceValue(func() *index.Memory { return NewIndex(sh.n, ages, fixedClock) })
			for _, k := range sh.ks {
				for _, c := range scanConsumers {
					b.Run(fmt.Sprintf("n=%d/k=%d/ages=%s/scan=%s", sh.n, k, ages, c.name), func(b *testing.B) {
						x := x()
						var want, got topRecent
						want.reset(k)
						scanFull(x, &want)
						got.reset(k)
						c.scan(x, &got)
						slices.Sort(want.h)
						slices.Sort(got.h)
						if !slices.Equal(want.h, got.h) {
							b.Fatalf("scan=%s found a top %d that differs from scan=full's", c.name, k)
						}
						b.ReportAllocs()
						for b.Loop() {
							got.reset(k)
							c.scan(x, &got)
						}
						got.reset(k)
						got.read = 0
						c.scan(x, &got)
						b.ReportMetric(float64(got.read), "read/op")
					})
				}
			}
			x = nil
			runtime.GC()
		}
	}
}
