package emit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

var _ prometheus.Collector = (*emit.HintMetrics)(nil)

// fixedStats is an intake whose stats are given.
type fixedStats snapshot.HintStats

func (f *fixedStats) Stats() snapshot.HintStats { return snapshot.HintStats(*f) }

func TestHintMetrics(t *testing.T) {
	st := &fixedStats{
		Added: 10, Dropped: 1, Expired: 2, Fetched: 3, AlreadyFlat: 4, Pending: 5,
		Lag:       snapshot.HintHistogram{Bounds: []float64{0.1, 1}, Counts: []uint64{1, 2, 0}, Count: 3, Sum: 1.5},
		Slack:     snapshot.HintHistogram{Bounds: []float64{-1, 0, 1}, Counts: []uint64{1, 0, 1, 1}, Count: 3, Sum: 0.5},
		FlatShare: snapshot.HintHistogram{Bounds: []float64{0, 0.5, 1}, Counts: []uint64{0, 1, 1, 0}, Count: 2, Sum: 1.25},
	}
	reg := prometheus.NewRegistry()
	if _, err := emit.NewHintMetrics(reg, st, emit.HintMetricsOptions{ConstLabels: prometheus.Labels{"node": "a"}}); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP kvprefetch_hints_added_total Hints given to the intake.
# TYPE kvprefetch_hints_added_total counter
kvprefetch_hints_added_total{node="a"} 10
# HELP kvprefetch_hints_dropped_total Hints dropped because the intake was full.
# TYPE kvprefetch_hints_dropped_total counter
kvprefetch_hints_dropped_total{node="a"} 1
# HELP kvprefetch_hints_expired_total Hints that passed their due time (plus grace) before a cycle fetched their block or found it in flat.
# TYPE kvprefetch_hints_expired_total counter
kvprefetch_hints_expired_total{node="a"} 2
# HELP kvprefetch_hints_served_total Hints whose block a cycle fetched (how="fetched") or found already in flat (how="already_flat") while they were pending.
# TYPE kvprefetch_hints_served_total counter
kvprefetch_hints_served_total{how="already_flat",node="a"} 4
kvprefetch_hints_served_total{how="fetched",node="a"} 3
# HELP kvprefetch_hints_pending Hints held by the intake.
# TYPE kvprefetch_hints_pending gauge
kvprefetch_hints_pending{node="a"} 5
# HELP kvprefetch_hint_fetch_lag_seconds Time from a hint's arrival to the end of the cycle that fetched its block, on the pipeline's clock.
# TYPE kvprefetch_hint_fetch_lag_seconds histogram
kvprefetch_hint_fetch_lag_seconds_bucket{node="a",le="0.1"} 1
kvprefetch_hint_fetch_lag_seconds_bucket{node="a",le="1"} 3
kvprefetch_hint_fetch_lag_seconds_bucket{node="a",le="+Inf"} 3
kvprefetch_hint_fetch_lag_seconds_sum{node="a"} 1.5
kvprefetch_hint_fetch_lag_seconds_count{node="a"} 3
# HELP kvprefetch_hint_fetch_slack_seconds A fetched hint's due time less the end of the cycle that fetched its block, on the pipeline's clock; negative when late.
# TYPE kvprefetch_hint_fetch_slack_seconds histogram
kvprefetch_hint_fetch_slack_seconds_bucket{node="a",le="-1"} 1
kvprefetch_hint_fetch_slack_seconds_bucket{node="a",le="0"} 1
kvprefetch_hint_fetch_slack_seconds_bucket{node="a",le="1"} 2
kvprefetch_hint_fetch_slack_seconds_bucket{node="a",le="+Inf"} 3
kvprefetch_hint_fetch_slack_seconds_sum{node="a"} 0.5
kvprefetch_hint_fetch_slack_seconds_count{node="a"} 3
# HELP kvprefetch_hinted_request_flat_ratio Per hinted request, the share of its hinted blocks found in the flat tier when it arrived.
# TYPE kvprefetch_hinted_request_flat_ratio histogram
kvprefetch_hinted_request_flat_ratio_bucket{node="a",le="0"} 0
kvprefetch_hinted_request_flat_ratio_bucket{node="a",le="0.5"} 1
kvprefetch_hinted_request_flat_ratio_bucket{node="a",le="1"} 2
kvprefetch_hinted_request_flat_ratio_bucket{node="a",le="+Inf"} 2
kvprefetch_hinted_request_flat_ratio_sum{node="a"} 1.25
kvprefetch_hinted_request_flat_ratio_count{node="a"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// Read at each scrape: the collector holds no copy.
	st.Added = 11
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kvprefetch_hints_added_total Hints given to the intake.
# TYPE kvprefetch_hints_added_total counter
kvprefetch_hints_added_total{node="a"} 11
`), "kvprefetch_hints_added_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// A real intake behind the collector: its buckets, and a cycle's fetch.
func TestHintMetricsOverHints(t *testing.T) {
	now := time.Unix(1000, 0)
	h := snapshot.NewHints(snapshot.HintsConfig{Clock: func() time.Time { return now }})
	reg := prometheus.NewRegistry()
	if _, err := emit.NewHintMetrics(reg, h, emit.HintMetricsOptions{}); err != nil {
		t.Fatal(err)
	}
	h.Add(snapshot.Hint{Hash: block.Hash{1}, Due: now.Add(time.Minute)})
	for range h.Candidates(context.Background(), &pipeline.Cycle{Now: now}) {
	}
	now = now.Add(30 * time.Millisecond)
	h.Observe(&pipeline.Outcome{Fetches: []pipeline.FetchResult{{Hash: block.Hash{1}, Bytes: 1}}})
	got := samples(t, reg)
	want := map[string]float64{
		"kvprefetch_hints_added_total{}":                    1,
		`kvprefetch_hints_served_total{how="fetched"}`:      1,
		`kvprefetch_hints_served_total{how="already_flat"}`: 0,
		"kvprefetch_hints_pending{}":                        1,
		"kvprefetch_hint_fetch_lag_seconds_count{}":         1,
		"kvprefetch_hint_fetch_slack_seconds_count{}":       1,
		"kvprefetch_hint_fetch_slack_seconds_sum{}":         59.97,
		"kvprefetch_hinted_request_flat_ratio_count{}":      0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present: %v), want %v", k, g, ok, v)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kvprefetch_hint_fetch_lag_seconds Time from a hint's arrival to the end of the cycle that fetched its block, on the pipeline's clock.
# TYPE kvprefetch_hint_fetch_lag_seconds histogram
kvprefetch_hint_fetch_lag_seconds_bucket{le="0.001"} 0
kvprefetch_hint_fetch_lag_seconds_bucket{le="0.005"} 0
kvprefetch_hint_fetch_lag_seconds_bucket{le="0.01"} 0
kvprefetch_hint_fetch_lag_seconds_bucket{le="0.025"} 0
kvprefetch_hint_fetch_lag_seconds_bucket{le="0.05"} 1
kvprefetch_hint_fetch_lag_seconds_bucket{le="0.1"} 1
kvprefetch_hint_fetch_lag_seconds_bucket{le="0.25"} 1
kvprefetch_hint_fetch_lag_seconds_bucket{le="0.5"} 1
kvprefetch_hint_fetch_lag_seconds_bucket{le="1"} 1
kvprefetch_hint_fetch_lag_seconds_bucket{le="2.5"} 1
kvprefetch_hint_fetch_lag_seconds_bucket{le="5"} 1
kvprefetch_hint_fetch_lag_seconds_bucket{le="10"} 1
kvprefetch_hint_fetch_lag_seconds_bucket{le="30"} 1
kvprefetch_hint_fetch_lag_seconds_bucket{le="60"} 1
kvprefetch_hint_fetch_lag_seconds_bucket{le="+Inf"} 1
kvprefetch_hint_fetch_lag_seconds_sum 0.03
kvprefetch_hint_fetch_lag_seconds_count 1
`), "kvprefetch_hint_fetch_lag_seconds"); err != nil {
		t.Error(err)
	}
}

func TestNewHintMetricsErrors(t *testing.T) {
	h := snapshot.NewHints(snapshot.HintsConfig{})
	if _, err := emit.NewHintMetrics(nil, h, emit.HintMetricsOptions{}); err == nil || !strings.Contains(err.Error(), "nil Registerer") {
		t.Errorf("nil registerer: err = %v, want one naming the nil Registerer", err)
	}
	if _, err := emit.NewHintMetrics(prometheus.NewRegistry(), nil, emit.HintMetricsOptions{}); err == nil || !strings.Contains(err.Error(), "nil intake") {
		t.Errorf("nil intake: err = %v, want one naming the nil intake", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := emit.NewHintMetrics(reg, h, emit.HintMetricsOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := emit.NewHintMetrics(reg, h, emit.HintMetricsOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "emit: register hint metrics: ") || !strings.Contains(err.Error(), "ConstLabels") {
		t.Errorf("twice on one registry: err = %v, want an emit: register hint metrics error naming ConstLabels", err)
	}
	// Another label value is another series of the same metrics.
	labelled := prometheus.NewRegistry()
	for _, node := range []string{"a", "b"} {
		if _, err := emit.NewHintMetrics(labelled, h, emit.HintMetricsOptions{ConstLabels: prometheus.Labels{"node": node}}); err != nil {
			t.Errorf("node %q: %v", node, err)
		}
	}
}
