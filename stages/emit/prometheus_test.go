package emit_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/emit"
)

// samples flattens what reg gathers into "name{label="value",...}" →
// value; a histogram gives its _count and _sum.
func samples(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	got := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			id := "{" + strings.Join(labels, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				got[mf.GetName()+id] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				got[mf.GetName()+id] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				got[mf.GetName()+"_count"+id] = float64(m.GetHistogram().GetSampleCount())
				got[mf.GetName()+"_sum"+id] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return got
}

func TestPrometheus(t *testing.T) {
	ctx := context.Background()
	outcomes := []*pipeline.Outcome{
		{
			Namespace:         "tp-a",
			Scored:            100,
			Selected:          make([]pipeline.Candidate, 8),
			Skipped:           map[string]int{pipeline.SkipAlreadyFlat: 3, pipeline.SkipInFlight: 1},
			Fetched:           3,
			Failed:            1,
			FailedBy:          map[string]int{pipeline.FailMiss: 1},
			BytesMaterialized: 3 << 20,
			Elapsed:           250 * time.Millisecond,
		},
		{
			Namespace:         "tp-a",
			Scored:            50,
			Selected:          make([]pipeline.Candidate, 2),
			Skipped:           map[string]int{pipeline.SkipAlreadyFlat: 2},
			Failed:            2,
			FailedBy:          map[string]int{pipeline.FailDeadline: 1, "corrupt": 1},
			Elapsed:           750 * time.Millisecond,
			Err:               fmt.Errorf("pipeline: cycle: %w", context.Canceled),
			BytesMaterialized: 0,
		},
		{Namespace: "tp-b", Scored: 7, Elapsed: time.Second},
	}
	reg := prometheus.NewRegistry()
	p, err := emit.NewPrometheus(reg, emit.PrometheusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var _ pipeline.Emitter = p
	for _, o := range outcomes {
		p.Emit(ctx, o)
	}
	want := map[string]float64{
		`kvprefetch_cycles_total{kv_namespace="tp-a"}`:                               2,
		`kvprefetch_cycles_total{kv_namespace="tp-b"}`:                               1,
		`kvprefetch_cycle_errors_total{kv_namespace="tp-a",reason="canceled"}`:       1,
		`kvprefetch_blocks_scored_total{kv_namespace="tp-a"}`:                        150,
		`kvprefetch_blocks_scored_total{kv_namespace="tp-b"}`:                        7,
		`kvprefetch_blocks_selected_total{kv_namespace="tp-a"}`:                      10,
		`kvprefetch_blocks_selected_total{kv_namespace="tp-b"}`:                      0,
		`kvprefetch_blocks_skipped_total{kv_namespace="tp-a",reason="already_flat"}`: 5,
		`kvprefetch_blocks_skipped_total{kv_namespace="tp-a",reason="in_flight"}`:    1,
		`kvprefetch_blocks_fetched_total{kv_namespace="tp-a"}`:                       3,
		`kvprefetch_blocks_fetched_total{kv_namespace="tp-b"}`:                       0,
		`kvprefetch_blocks_failed_total{kv_namespace="tp-a",reason="miss"}`:          1,
		`kvprefetch_blocks_failed_total{kv_namespace="tp-a",reason="deadline"}`:      1,
		`kvprefetch_blocks_failed_total{kv_namespace="tp-a",reason="corrupt"}`:       1,
		`kvprefetch_bytes_materialized_total{kv_namespace="tp-a"}`:                   3 << 20,
		`kvprefetch_bytes_materialized_total{kv_namespace="tp-b"}`:                   0,
		`kvprefetch_cycle_duration_seconds_count{kv_namespace="tp-a"}`:               2,
		`kvprefetch_cycle_duration_seconds_sum{kv_namespace="tp-a"}`:                 1,
		`kvprefetch_cycle_duration_seconds_count{kv_namespace="tp-b"}`:               1,
		`kvprefetch_cycle_duration_seconds_sum{kv_namespace="tp-b"}`:                 1,
	}
	if diff := cmp.Diff(want, samples(t, reg)); diff != "" {
		t.Errorf("metrics mismatch (-want +got):\n%s", diff)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestPrometheusBucketsAndLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := emit.NewPrometheus(reg, emit.PrometheusOptions{
		CycleBuckets: []float64{0.1, 1},
		ConstLabels:  prometheus.Labels{"node": "n1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Emit(context.Background(), &pipeline.Outcome{Namespace: "ns", Elapsed: 500 * time.Millisecond})
	expected := `
# HELP kvprefetch_cycle_duration_seconds Duration of a prefetch cycle up to its emit stage.
# TYPE kvprefetch_cycle_duration_seconds histogram
kvprefetch_cycle_duration_seconds_bucket{kv_namespace="ns",node="n1",le="0.1"} 0
kvprefetch_cycle_duration_seconds_bucket{kv_namespace="ns",node="n1",le="1"} 1
kvprefetch_cycle_duration_seconds_bucket{kv_namespace="ns",node="n1",le="+Inf"} 1
kvprefetch_cycle_duration_seconds_sum{kv_namespace="ns",node="n1"} 0.5
kvprefetch_cycle_duration_seconds_count{kv_namespace="ns",node="n1"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "kvprefetch_cycle_duration_seconds"); err != nil {
		t.Error(err)
	}
}

func TestNewPrometheusErrors(t *testing.T) {
	if _, err := emit.NewPrometheus(nil, emit.PrometheusOptions{}); err == nil || !strings.HasPrefix(err.Error(), "emit: ") {
		t.Errorf("NewPrometheus(nil): err = %v, want an emit: error", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := emit.NewPrometheus(reg, emit.PrometheusOptions{}); err != nil {
		t.Fatal(err)
	}
	before, _ := reg.Gather()
	_, err := emit.NewPrometheus(reg, emit.PrometheusOptions{})
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) || !strings.HasPrefix(err.Error(), "emit: register prometheus metrics: ") {
		t.Errorf("second NewPrometheus on one registry: err = %v, want a wrapped AlreadyRegisteredError", err)
	}
	after, _ := reg.Gather()
	if len(before) != len(after) {
		t.Errorf("a failed NewPrometheus changed the registry: %d families, then %d", len(before), len(after))
	}
	// A failure part way leaves nothing registered behind it.
	reg2 := prometheus.NewRegistry()
	reg2.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "kvprefetch_bytes_materialized_total", Help: "taken"}))
	if _, err := emit.NewPrometheus(reg2, emit.PrometheusOptions{}); err == nil {
		t.Fatal("NewPrometheus with a clashing metric succeeded")
	}
	if n, _ := testutil.GatherAndCount(reg2); n != 1 {
		t.Errorf("after a failed NewPrometheus the registry holds %d metrics, want only the clashing one", n)
	}
}

// TestPrometheusSharedRegistry: emitters whose ConstLabels differ in value
// share one registry, each counting into its own series; a second emitter
// with the same labels, or with other label names, is refused.
func TestPrometheusSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	grid, err := emit.NewPrometheus(reg, emit.PrometheusOptions{ConstLabels: prometheus.Labels{"pipeline": "grid"}})
	if err != nil {
		t.Fatal(err)
	}
	hints, err := emit.NewPrometheus(reg, emit.PrometheusOptions{ConstLabels: prometheus.Labels{"pipeline": "hints"}})
	if err != nil {
		t.Fatalf("second emitter with other ConstLabels: %v", err)
	}
	ctx := context.Background()
	grid.Emit(ctx, &pipeline.Outcome{Namespace: "tp-a", Fetched: 2})
	hints.Emit(ctx, &pipeline.Outcome{Namespace: "tp-a", Fetched: 5})
	hints.Emit(ctx, &pipeline.Outcome{Namespace: "tp-a", Fetched: 1})
	got := samples(t, reg)
	want := map[string]float64{
		`kvprefetch_cycles_total{kv_namespace="tp-a",pipeline="grid"}`:          1,
		`kvprefetch_cycles_total{kv_namespace="tp-a",pipeline="hints"}`:         2,
		`kvprefetch_blocks_fetched_total{kv_namespace="tp-a",pipeline="grid"}`:  2,
		`kvprefetch_blocks_fetched_total{kv_namespace="tp-a",pipeline="hints"}`: 6,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	for _, labels := range []prometheus.Labels{{"pipeline": "grid"}, {"node": "a"}, nil} {
		before, _ := testutil.GatherAndCount(reg)
		_, err := emit.NewPrometheus(reg, emit.PrometheusOptions{ConstLabels: labels})
		if err == nil || !strings.Contains(err.Error(), "ConstLabels") {
			t.Errorf("emitter with ConstLabels %v beside {pipeline}: err = %v, want one naming ConstLabels", labels, err)
		}
		if after, _ := testutil.GatherAndCount(reg); after != before {
			t.Errorf("a refused emitter changed the registry: %d series, then %d", before, after)
		}
	}
}
