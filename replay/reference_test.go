package replay

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// refRow is one row of a reference table of docs/replay-model.md.
type refRow struct {
	scenario, policy string
	hits, coldLoads  int
	stallS, prefixS  float64
	gets, useful     int
	shareOfOracle    float64
}

// Reference figures of docs/replay-model.md, copied from its tables.
var (
	refArxiv = []refRow{
		{"5%", "none", 5533, 1946, 188.575, 188.575, 0, 0, 0.0000},
		{"5%", "rfc0008-v2", 5535, 1944, 188.380, 188.380, 2, 2, 0.0016},
		{"5%", "rfc0008-v3", 5535, 1944, 188.380, 188.380, 2, 2, 0.0016},
		{"5%", "recency-v3", 5533, 1946, 188.575, 188.575, 0, 0, 0.0000},
		{"5%", "oracle-v3", 6756, 707, 68.776, 78.048, 2667, 1244, 1.0000},
		{"10%", "none", 5568, 1911, 185.188, 185.188, 0, 0, 0.0000},
		{"10%", "rfc0008-v2", 5568, 1911, 185.188, 185.188, 0, 0, 0.0000},
		{"10%", "rfc0008-v3", 5568, 1911, 185.188, 185.188, 0, 0, 0.0000},
		{"10%", "recency-v3", 5568, 1911, 185.188, 185.188, 0, 0, 0.0000},
		{"10%", "oracle-v3", 7129, 334, 32.607, 52.658, 2469, 1577, 1.0000},
		{"20%", "none", 5662, 1817, 176.187, 176.187, 0, 0, 0.0000},
		{"20%", "rfc0008-v2", 5662, 1817, 176.187, 176.187, 0, 0, 0.0000},
		{"20%", "rfc0008-v3", 5662, 1817, 176.187, 176.187, 0, 0, 0.0000},
		{"20%", "recency-v3", 5662, 1817, 176.187, 176.187, 0, 0, 0.0000},
		{"20%", "oracle-v3", 7263, 208, 20.233, 21.592, 2163, 1609, 1.0000},
		{"40%", "none", 6231, 1248, 121.055, 121.055, 0, 0, 0.0000},
		{"40%", "rfc0008-v2", 6231, 1248, 121.055, 121.055, 0, 0, 0.0000},
		{"40%", "rfc0008-v3", 6231, 1248, 121.055, 121.055, 0, 0, 0.0000},
		{"40%", "recency-v3", 6231, 1248, 121.055, 121.055, 0, 0, 0.0000},
		{"40%", "oracle-v3", 7469, 10, 0.971, 0.971, 1259, 1238, 1.0000},
		{"20%+restart", "none", 5644, 1835, 177.935, 177.935, 0, 0, 0.0000},
		{"20%+restart", "rfc0008-v2", 5644, 1835, 177.935, 177.935, 0, 0, 0.0000},
		{"20%+restart", "rfc0008-v3", 5644, 1835, 177.935, 177.935, 0, 0, 0.0000},
		{"20%+restart", "recency-v3", 5644, 1835, 177.935, 177.935, 0, 0, 0.0000},
		{"20%+restart", "oracle-v3", 7089, 374, 36.422, 37.781, 2163, 1461, 1.0000},
	}
	refSynthetic = []refRow{
		{"5%", "none", 18403, 59550, 5775.968, 5775.968, 0, 0, 0.0000},
		{"5%", "rfc0008-v2", 18403, 59550, 5775.968, 5775.968, 0, 0, 0.0000},
		{"5%", "rfc0008-v3", 18403, 59550, 5775.968, 5775.968, 0, 0, 0.0000},
		{"5%", "recency-v3", 18403, 59550, 5775.968, 5775.968, 0, 0, 0.0000},
		{"5%", "oracle-v3", 31592, 44873, 4363.697, 4488.799, 15798, 14819, 1.0000},
		{"10%", "none", 30709, 47244, 4582.046, 4582.046, 0, 0, 0.0000},
		{"10%", "rfc0008-v2", 30709, 47244, 4582.046, 4582.046, 0, 0, 0.0000},
		{"10%", "rfc0008-v3", 30709, 47244, 4582.046, 4582.046, 0, 0, 0.0000},
		{"10%", "recency-v3", 30709, 47244, 4582.046, 4582.046, 0, 0, 0.0000},
		{"10%", "oracle-v3", 43747, 33066, 3216.051, 3316.006, 15374, 14697, 1.0000},
		{"20%", "none", 46864, 31089, 3015.066, 3015.066, 0, 0, 0.0000},
		{"20%", "rfc0008-v2", 46864, 31089, 3015.066, 3015.066, 0, 0, 0.0000},
		{"20%", "rfc0008-v3", 46864, 31089, 3015.066, 3015.066, 0, 0, 0.0000},
		{"20%", "recency-v3", 46864, 31089, 3015.066, 3015.066, 0, 0, 0.0000},
		{"20%", "oracle-v3", 59454, 17839, 1735.418, 1790.798, 14331, 13629, 1.0000},
		{"40%", "none", 65969, 11984, 1162.147, 1162.147, 0, 0, 0.0000},
		{"40%", "rfc0008-v2", 65969, 11984, 1162.147, 1162.147, 0, 0, 0.0000},
		{"40%", "rfc0008-v3", 65969, 11984, 1162.147, 1162.147, 0, 0, 0.0000},
		{"40%", "recency-v3", 65969, 11984, 1162.147, 1162.147, 0, 0, 0.0000},
		{"40%", "oracle-v3", 75761, 2133, 207.624, 212.480, 10836, 10798, 1.0000},
		{"20%+restart", "none", 46175, 31778, 3081.921, 3081.921, 0, 0, 0.0000},
		{"20%+restart", "rfc0008-v2", 46176, 31777, 3081.824, 3081.824, 6, 1, 0.0001},
		{"20%+restart", "rfc0008-v3", 46176, 31777, 3081.824, 3081.824, 6, 1, 0.0001},
		{"20%+restart", "recency-v3", 46175, 31778, 3081.921, 3081.921, 0, 0, 0.0000},
		{"20%+restart", "oracle-v3", 58726, 18544, 1804.091, 1861.316, 14331, 13613, 1.0000},
	}
)

const (
	arxivPath     = "testdata/mooncake_arxiv_sample_1000.jsonl"
	syntheticPath = "testdata/mooncake_synthetic_trace.jsonl"
)

// checkReference replays tr with default settings and compares every
// (scenario, policy) with the reference: counts exactly, stalls within
// 0.1%, shares to the table's four decimals.
func checkReference(t *testing.T, tr *Trace, want []refRow) {
	t.Helper()
	res, err := Run(context.Background(), tr, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(want) {
		t.Fatalf("Run returned %d results, want %d", len(res), len(want))
	}
	for i, w := range want {
		r := res[i]
		got := refRow{r.Scenario, r.Policy, r.Hits, r.ColdLoads, w.stallS, w.prefixS, r.PrefetchGets, r.Useful, w.shareOfOracle}
		if diff := cmp.Diff(w, got, cmp.AllowUnexported(refRow{})); diff != "" {
			t.Errorf("row %d mismatch (-want +got):\n%s", i, diff)
		}
		if !within(r.Stall.TotalS, w.stallS, 1e-3) || !within(r.PrefixStall.TotalS, w.prefixS, 1e-3) {
			t.Errorf("%s %s: stall %.3f s, prefix %.3f s, want %.3f and %.3f within 0.1%%", r.Scenario, r.Policy, r.Stall.TotalS, r.PrefixStall.TotalS, w.stallS, w.prefixS)
		}
		if math.Abs(r.Share-w.shareOfOracle) > 0.00005 {
			t.Errorf("%s %s: share of oracle %.5f, want %.4f", r.Scenario, r.Policy, r.Share, w.shareOfOracle)
		}
		if r.ReusedRefs != r.Hits+r.LatePrefetchHits+r.ColdLoads {
			t.Errorf("%s %s: reused %d != hits %d + late %d + cold %d", r.Scenario, r.Policy, r.ReusedRefs, r.Hits, r.LatePrefetchHits, r.ColdLoads)
		}
		if r.Useful+r.Wasted != r.PrefetchGets {
			t.Errorf("%s %s: useful %d + wasted %d != GETs %d", r.Scenario, r.Policy, r.Useful, r.Wasted, r.PrefetchGets)
		}
	}
}

func within(got, want, rel float64) bool {
	if want == 0 {
		return got == 0
	}
	return math.Abs(got-want) <= rel*math.Abs(want)
}

func TestReferenceArxiv(t *testing.T) {
	tr, err := ReadTraceFile(arxivPath, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Requests) != 1000 {
		t.Fatalf("requests = %d, want 1000", len(tr.Requests))
	}
	m := prepare(tr, Settings{}.WithDefaults())
	if diff := cmp.Diff([4]int64{19686, 7479, 12207, 781953007616}, [4]int64{int64(len(m.refs)), int64(m.reusedRefs), int64(len(m.ids)), m.uniqueBytes}); diff != "" {
		t.Errorf("refs, reused, unique blocks, unique bytes mismatch (-want +got):\n%s", diff)
	}
	checkReference(t, tr, refArxiv)
}

// TestReferenceSynthetic checks the synthetic trace of testdata, the
// longer of the two.
func TestReferenceSynthetic(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("skipped in -short and -race runs: the synthetic replay takes seconds")
	}
	tr, err := ReadTraceFile(syntheticPath, false)
	if err != nil {
		t.Fatal(err)
	}
	m := prepare(tr, Settings{}.WithDefaults())
	if diff := cmp.Diff([4]int64{121877, 77953, 43924, 2797334298624}, [4]int64{int64(len(m.refs)), int64(m.reusedRefs), int64(len(m.ids)), m.uniqueBytes}); diff != "" {
		t.Errorf("refs, reused, unique blocks, unique bytes mismatch (-want +got):\n%s", diff)
	}
	start := time.Now()
	checkReference(t, tr, refSynthetic)
	t.Logf("25 replays of %d block refs in %v", len(m.refs), time.Since(start))
}

// The grid-bound hint policy of docs/replay-model.md: share of the oracle at
// 10% flat, by lead time, to the table's three decimals.
func checkHintGrid(t *testing.T, tr *Trace, want []float64) {
	t.Helper()
	leads := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second}
	res, err := Run(context.Background(), tr, Config{
		Scenarios: []Scenario{{Fraction: 0.1}},
		Policies:  byName(PolicyHintGridV3),
		Leads:     leads,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	for _, r := range res {
		got = append(got, math.Round(r.Share*1000)/1000)
		if r.Precision != 1 && r.PrefetchGets > 0 && r.Settings.LeadMs < 10000 {
			t.Errorf("lead %v ms: precision %v, want 1 (a hint is a perfect predictor)", r.Settings.LeadMs, r.Precision)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("grid-bound hint shares at 250 ms, 500 ms, 1 s, 2 s, 5 s, 10 s mismatch (-want +got):\n%s", diff)
	}
}

func TestReferenceHintGridArxiv(t *testing.T) {
	tr, err := ReadTraceFile(arxivPath, false)
	if err != nil {
		t.Fatal(err)
	}
	checkHintGrid(t, tr, []float64{.065, .158, .290, .516, .806, .934})
}

func TestReferenceHintGridSynthetic(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("skipped in -short and -race runs: the synthetic replay takes seconds")
	}
	tr, err := ReadTraceFile(syntheticPath, false)
	if err != nil {
		t.Fatal(err)
	}
	checkHintGrid(t, tr, []float64{.231, .405, .608, .798, .920, .962})
}
