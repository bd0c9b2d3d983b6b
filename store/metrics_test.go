package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gocloud.dev/blob/memblob"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/store/gocloud"
)

func TestCollector(t *testing.T) {
	ctx := context.Background()
	cold := gocloud.New(memblob.OpenBucket(nil))
	defer cold.Close()
	s := open(t, Config{Cold: cold, FlatBudget: 2500})
	a, b, c := newBlock(t, 1000), newBlock(t, 1000), newBlock(t, 1000)
	for _, x := range []testBlock{a, b, c} {
		if err := s.Put(ctx, testNS, x.key(), x.payload); err != nil {
			t.Fatal(err)
		}
	}
	raw := newBlock(t, 10)
	seedObject(t, cold, raw, raw.payload, nil)
	if _, _, err := s.Materialize(ctx, testNS, raw.hash, raw.meta()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	expected := `
# HELP kvprefetch_store_flat_blocks Blocks in the flat tier.
# TYPE kvprefetch_store_flat_blocks gauge
kvprefetch_store_flat_blocks 3
# HELP kvprefetch_store_flat_bytes Payload bytes in the flat tier.
# TYPE kvprefetch_store_flat_bytes gauge
kvprefetch_store_flat_bytes 2010
# HELP kvprefetch_store_flat_budget_bytes The flat tier's byte budget.
# TYPE kvprefetch_store_flat_budget_bytes gauge
kvprefetch_store_flat_budget_bytes 2500
# HELP kvprefetch_store_cold_gets_total GETs sent to the cold tier.
# TYPE kvprefetch_store_cold_gets_total counter
kvprefetch_store_cold_gets_total 1
# HELP kvprefetch_store_published_total Blocks published to the flat tier.
# TYPE kvprefetch_store_published_total counter
kvprefetch_store_published_total 4
# HELP kvprefetch_store_evicted_total Blocks evicted from the flat tier for its budget.
# TYPE kvprefetch_store_evicted_total counter
kvprefetch_store_evicted_total 1
# HELP kvprefetch_store_evicted_bytes_total Payload bytes evicted from the flat tier for its budget.
# TYPE kvprefetch_store_evicted_bytes_total counter
kvprefetch_store_evicted_bytes_total 1000
# HELP kvprefetch_store_unverified_total Cold objects accepted without "b3" metadata, their size alone checked.
# TYPE kvprefetch_store_unverified_total counter
kvprefetch_store_unverified_total 1
# HELP kvprefetch_store_rejected_total Cold objects refused for their content or size.
# TYPE kvprefetch_store_rejected_total counter
kvprefetch_store_rejected_total 0
# HELP kvprefetch_store_flat_irregular_total Entries found where the flat tier keeps blocks that are neither plain files nor directories (symlinks, devices, fifos), skipped or dropped, never followed.
# TYPE kvprefetch_store_flat_irregular_total counter
kvprefetch_store_flat_irregular_total 0
# HELP kvprefetch_store_flat_damaged_total Flat blocks found missing, unreadable or of another size than published (or than the index expects), dropped to be fetched afresh.
# TYPE kvprefetch_store_flat_damaged_total counter
kvprefetch_store_flat_damaged_total 0
`
	// The prefetch accounting's metrics: TestPrefetchMetrics.
	var names []string
	for _, l := range strings.Split(expected, "\n") {
		if name, ok := strings.CutPrefix(l, "# TYPE "); ok {
			names = append(names, strings.Fields(name)[0])
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), names...); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestPutColdAndFreeBytes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		admission string
		want      []int64 // FreeBytes after PutCold, after a Put, after a prefetch
	}{
		{"mru", []int64{4000, 3000, 2000}},
		{"lru", []int64{4000, 3000, 2000}},
		{"probation:0.25", []int64{1000, 1000, 0}},
	} {
		t.Run(tc.admission, func(t *testing.T) {
			bucket := memblob.OpenBucket(nil)
			defer bucket.Close()
			cold := gocloud.New(bucket)
			flat := t.TempDir()
			s := open(t, Config{FlatDir: flat, Cold: cold, FlatBudget: 4000, Admission: tc.admission})
			var got []int64
			a, b := newBlock(t, 1000), newBlock(t, 1000)
			if err := s.PutCold(ctx, testNS, a.key(), a.payload); err != nil {
				t.Fatal(err)
			}
			if s.ContainsFlat(ctx, testNS, a.hash) {
				t.Errorf("ContainsFlat after PutCold = true, want false")
			}
			attrs, err := bucket.Attributes(ctx, testNS+"/"+a.key())
			if err != nil || attrs.Metadata[ChecksumKey] != sumOf(a.payload) {
				t.Errorf("cold after PutCold: %v, metadata %v; want b3 %s", err, attrs, sumOf(a.payload))
			}
			got = append(got, s.FreeBytes(testNS))
			if err := s.Put(ctx, testNS, b.key(), b.payload); err != nil {
				t.Fatal(err)
			}
			got = append(got, s.FreeBytes(testNS))
			if _, _, err := s.Materialize(ctx, testNS, a.hash, a.meta()); err != nil {
				t.Fatal(err)
			}
			got = append(got, s.FreeBytes(testNS))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("FreeBytes mismatch (-want +got):\n%s", diff)
			}
			if n := s.FreeBytes(".."); n != 0 {
				t.Errorf("FreeBytes(\"..\") = %d, want 0", n)
			}
			if err := s.PutCold(ctx, testNS, "../x", nil); !strings.Contains(err.Error(), block.ErrBadKey.Error()) {
				t.Errorf("PutCold with a bad key: err = %v, want a bad key error", err)
			}
		})
	}
}

func TestPrefetchMetrics(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := open(t, Config{FlatBudget: 2500, Clock: clock.now})
	a, b := newBlock(t, 1000), newBlock(t, 1000)
	for _, x := range []testBlock{a, b} {
		if err := s.PutCold(ctx, testNS, x.key(), x.payload); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Materialize(ctx, testNS, x.hash, x.meta()); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(2 * time.Second)
	if _, err := s.Get(ctx, testNS, b.key()); err != nil { // useful
		t.Fatal(err)
	}
	c := newBlock(t, 1000)
	if err := s.Put(ctx, testNS, c.key(), c.payload); err != nil { // evicts a, unread
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, testNS, c.key()); err != nil { // flat
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, testNS, a.key()); err != nil { // cold
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	expected := `
# HELP kvprefetch_prefetch_published_total Blocks a prefetch published to the flat tier, or handed to a read that joined its GET.
# TYPE kvprefetch_prefetch_published_total counter
kvprefetch_prefetch_published_total{kv_namespace="tp-test"} 2
# HELP kvprefetch_prefetch_useful_total Prefetched blocks read while the flat tier held them (counted at the first read).
# TYPE kvprefetch_prefetch_useful_total counter
kvprefetch_prefetch_useful_total{kv_namespace="tp-test"} 1
# HELP kvprefetch_prefetch_late_total Prefetched blocks a read asked for while their GET was in flight, and joined.
# TYPE kvprefetch_prefetch_late_total counter
kvprefetch_prefetch_late_total{kv_namespace="tp-test"} 0
# HELP kvprefetch_prefetch_wasted_total Prefetched blocks that left the flat tier unread: reason="evicted" for its budget, "removed" otherwise (dropped as damaged, replaced).
# TYPE kvprefetch_prefetch_wasted_total counter
kvprefetch_prefetch_wasted_total{kv_namespace="tp-test",reason="evicted"} 1
kvprefetch_prefetch_wasted_total{kv_namespace="tp-test",reason="removed"} 0
# HELP kvprefetch_prefetch_unread Prefetched blocks in the flat tier not read yet.
# TYPE kvprefetch_prefetch_unread gauge
kvprefetch_prefetch_unread{kv_namespace="tp-test"} 0
# HELP kvprefetch_store_reads_total Gets by where they were served: result="flat" (a block flat held, not a first read of a prefetch), "prefetched" (the first read of a prefetched block), "joined" (joined a GET in flight), "cold" (fetched from the cold tier).
# TYPE kvprefetch_store_reads_total counter
kvprefetch_store_reads_total{kv_namespace="tp-test",result="cold"} 1
kvprefetch_store_reads_total{kv_namespace="tp-test",result="flat"} 1
kvprefetch_store_reads_total{kv_namespace="tp-test",result="joined"} 0
kvprefetch_store_reads_total{kv_namespace="tp-test",result="prefetched"} 1
`
	names := []string{"kvprefetch_prefetch_published_total", "kvprefetch_prefetch_useful_total", "kvprefetch_prefetch_late_total", "kvprefetch_prefetch_wasted_total", "kvprefetch_prefetch_unread", "kvprefetch_store_reads_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), names...); err != nil {
		t.Error(err)
	}
	// The histograms: one lead of 2 s, one unread age of 2 s, no wait.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				got[mf.GetName()] = [2]float64{float64(h.GetSampleCount()), h.GetSampleSum()}
			}
		}
	}
	want := map[string][2]float64{
		"kvprefetch_prefetch_lead_seconds":       {1, 2},
		"kvprefetch_prefetch_late_wait_seconds":  {0, 0},
		"kvprefetch_prefetch_unread_age_seconds": {1, 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("histograms (count, sum) mismatch (-want +got):\n%s", diff)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
