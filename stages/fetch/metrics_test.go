package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/fetch"
)

// metricsReasonErr names its own failure reason, as a store's errors do.
type metricsReasonErr string

func (e metricsReasonErr) Error() string  { return "store: " + string(e) }
func (e metricsReasonErr) Reason() string { return string(e) }

// metricValues flattens the gauge and the histogram counts reg gathers
// into "name{labels}" → value.
func metricValues(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			id := "{" + strings.Join(ls, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_GAUGE:
				got[mf.GetName()+id] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				got[mf.GetName()+"_count"+id] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return got
}

func TestInstrumentResults(t *testing.T) {
	reg := prometheus.NewRegistry()
	mw, err := fetch.Instrument(reg, fetch.InstrumentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type ret struct {
		n     int64
		found bool
		err   error
	}
	// The hash's first byte picks what the inner Materializer returns.
	rets := []ret{
		{n: 10, found: true},
		{},
		{err: errors.New("store: connection reset")},
		{err: fmt.Errorf("store: get: %w", context.DeadlineExceeded)},
		{err: fmt.Errorf("store: verify: %w", metricsReasonErr("corrupt"))},
		{n: 20, found: true},
	}
	m := mw(fetch.MaterializerFunc(func(_ context.Context, _ string, h block.Hash, _ block.Meta) (int64, bool, error) {
		r := rets[h[0]]
		return r.n, r.found, r.err
	}))
	for i, want := range rets {
		n, found, err := m.Materialize(context.Background(), "tp-a", block.Hash{byte(i)}, block.Meta{})
		if n != want.n || found != want.found || err != want.err {
			t.Errorf("call %d through the middleware = %d, %v, %v; want %d, %v, %v unchanged", i, n, found, err, want.n, want.found, want.err)
		}
	}
	want := map[string]float64{
		`kvprefetch_fetches_in_flight{kv_namespace="tp-a"}`:                              0,
		`kvprefetch_fetch_duration_seconds_count{kv_namespace="tp-a",result="fetched"}`:  2,
		`kvprefetch_fetch_duration_seconds_count{kv_namespace="tp-a",result="miss"}`:     1,
		`kvprefetch_fetch_duration_seconds_count{kv_namespace="tp-a",result="error"}`:    1,
		`kvprefetch_fetch_duration_seconds_count{kv_namespace="tp-a",result="deadline"}`: 1,
		`kvprefetch_fetch_duration_seconds_count{kv_namespace="tp-a",result="corrupt"}`:  1,
	}
	if diff := cmp.Diff(want, metricValues(t, reg)); diff != "" {
		t.Errorf("metrics mismatch (-want +got):\n%s", diff)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// TestInstrumentInFlight holds fetches inside the Materializer and reads
// the gauge while they run, under the parallel strategy.
func TestInstrumentInFlight(t *testing.T) {
	reg := prometheus.NewRegistry()
	mw, err := fetch.Instrument(reg, fetch.InstrumentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const limit = 3
	entered, release := make(chan struct{}), make(chan struct{})
	inner := fetch.MaterializerFunc(func(ctx context.Context, ns string, _ block.Hash, _ block.Meta) (int64, bool, error) {
		entered <- struct{}{}
		<-release
		return 1, true, nil
	})
	cands := make([]pipeline.Candidate, 5)
	for i := range cands {
		cands[i].Hash = block.Hash{byte(i)}
	}
	var wg sync.WaitGroup
	var res []pipeline.FetchResult
	wg.Go(func() {
		res = fetch.NewParallel(mw(inner), limit).Fetch(context.Background(), &pipeline.Cycle{Namespace: "tp-a", FetchTimeout: time.Minute}, cands)
	})
	for range limit {
		<-entered
	}
	if got := metricValues(t, reg)[`kvprefetch_fetches_in_flight{kv_namespace="tp-a"}`]; got != limit {
		t.Errorf("in flight while %d fetches run = %v, want %d", limit, got, limit)
	}
	close(release)
	for range len(cands) - limit {
		<-entered
	}
	wg.Wait()
	if len(res) != len(cands) {
		t.Fatalf("%d results, want %d", len(res), len(cands))
	}
	want := map[string]float64{
		`kvprefetch_fetches_in_flight{kv_namespace="tp-a"}`:                             0,
		`kvprefetch_fetch_duration_seconds_count{kv_namespace="tp-a",result="fetched"}`: float64(len(cands)),
	}
	if diff := cmp.Diff(want, metricValues(t, reg)); diff != "" {
		t.Errorf("metrics mismatch (-want +got):\n%s", diff)
	}
}

// TestInstrumentPanic checks that a panicking Materializer is counted as
// "panic", leaves the gauge at zero, and still panics for the fetch stage
// to recover.
func TestInstrumentPanic(t *testing.T) {
	reg := prometheus.NewRegistry()
	mw, err := fetch.Instrument(reg, fetch.InstrumentOptions{Buckets: []float64{1}, ConstLabels: prometheus.Labels{"node": "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	m := mw(fetch.MaterializerFunc(func(context.Context, string, block.Hash, block.Meta) (int64, bool, error) {
		panic("boom")
	}))
	res := fetch.NewSequential(m).Fetch(context.Background(), &pipeline.Cycle{Namespace: "tp-a", FetchTimeout: time.Minute}, []pipeline.Candidate{{}})
	if len(res) != 1 || res[0].Reason != pipeline.FailPanic {
		t.Fatalf("results = %+v, want one with reason %q", res, pipeline.FailPanic)
	}
	expected := `
# HELP kvprefetch_fetches_in_flight Block fetches in flight.
# TYPE kvprefetch_fetches_in_flight gauge
kvprefetch_fetches_in_flight{kv_namespace="tp-a",node="n1"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "kvprefetch_fetches_in_flight"); err != nil {
		t.Error(err)
	}
	if got := metricValues(t, reg)[`kvprefetch_fetch_duration_seconds_count{kv_namespace="tp-a",node="n1",result="panic"}`]; got != 1 {
		t.Errorf("panic count = %v, want 1", got)
	}
}

func TestInstrumentErrors(t *testing.T) {
	if _, err := fetch.Instrument(nil, fetch.InstrumentOptions{}); err == nil || !strings.HasPrefix(err.Error(), "fetch: ") {
		t.Errorf("Instrument(nil): err = %v, want a fetch: error", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := fetch.Instrument(reg, fetch.InstrumentOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := fetch.Instrument(reg, fetch.InstrumentOptions{})
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Errorf("second Instrument on one registry: err = %v, want a wrapped AlreadyRegisteredError", err)
	}
	reg2 := prometheus.NewRegistry()
	reg2.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "kvprefetch_fetch_duration_seconds", Help: "taken"}))
	if _, err := fetch.Instrument(reg2, fetch.InstrumentOptions{}); err == nil {
		t.Fatal("Instrument with a clashing metric succeeded")
	}
	if n, _ := testutil.GatherAndCount(reg2); n != 1 {
		t.Errorf("after a failed Instrument the registry holds %d metrics, want only the clashing one", n)
	}
}

// TestInstrumentSharedRegistry: Instruments whose ConstLabels differ in
// value share one registry, each recording into its own series; one with
// the same labels, or with other label names, is refused.
func TestInstrumentSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	store := fetch.MaterializerFunc(func(context.Context, string, block.Hash, block.Meta) (int64, bool, error) {
		return 1, true, nil
	})
	cy := &pipeline.Cycle{Namespace: "tp-a", FetchTimeout: time.Minute}
	for i, p := range []string{"grid", "hints"} {
		mw, err := fetch.Instrument(reg, fetch.InstrumentOptions{ConstLabels: prometheus.Labels{"pipeline": p}})
		if err != nil {
			t.Fatalf("Instrument with pipeline=%q: %v", p, err)
		}
		fetch.NewSequential(mw(store)).Fetch(context.Background(), cy, make([]pipeline.Candidate, i+1))
	}
	want := map[string]float64{
		`kvprefetch_fetches_in_flight{kv_namespace="tp-a",pipeline="grid"}`:                              0,
		`kvprefetch_fetches_in_flight{kv_namespace="tp-a",pipeline="hints"}`:                             0,
		`kvprefetch_fetch_duration_seconds_count{kv_namespace="tp-a",pipeline="grid",result="fetched"}`:  1,
		`kvprefetch_fetch_duration_seconds_count{kv_namespace="tp-a",pipeline="hints",result="fetched"}`: 2,
	}
	if diff := cmp.Diff(want, metricValues(t, reg)); diff != "" {
		t.Errorf("metrics mismatch (-want +got):\n%s", diff)
	}
	for _, labels := range []prometheus.Labels{{"pipeline": "grid"}, {"node": "a"}, nil} {
		before, _ := testutil.GatherAndCount(reg)
		_, err := fetch.Instrument(reg, fetch.InstrumentOptions{ConstLabels: labels})
		if err == nil || !strings.Contains(err.Error(), "ConstLabels") {
			t.Errorf("Instrument with ConstLabels %v beside {pipeline}: err = %v, want one naming ConstLabels", labels, err)
		}
		if after, _ := testutil.GatherAndCount(reg); after != before {
			t.Errorf("a refused Instrument changed the registry: %d series, then %d", before, after)
		}
	}
}
