package emit

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wombatkv/prefetch/pipeline"
)

// PrometheusOptions configures [NewPrometheus]. Zero fields mean the
// defaults.
type PrometheusOptions struct {
	// CycleBuckets are the upper bounds, in seconds, of the cycle duration
	// histogram (default: 1 ms to 16.384 s, doubling: 15 buckets).
	CycleBuckets []float64
	// ConstLabels are added to every metric (say, {"node": "a"}).
	ConstLabels prometheus.Labels
}

// Prometheus counts each cycle's figures into Prometheus metrics, labelled
// by the cycle's namespace as kv_namespace (a plain "namespace" would
// collide with the Kubernetes target label a standard scrape adds, and be
// renamed exported_namespace):
//
//	kvprefetch_cycles_total{kv_namespace}                  cycles run
//	kvprefetch_cycle_errors_total{kv_namespace,reason}     cycles ended early (reason "canceled", "panic", ...)
//	kvprefetch_blocks_scored_total{kv_namespace}           candidates scored
//	kvprefetch_blocks_selected_total{kv_namespace}         candidates selected (top K)
//	kvprefetch_blocks_skipped_total{kv_namespace,reason}   candidates dropped by a filter, by its reason
//	kvprefetch_blocks_fetched_total{kv_namespace}          blocks materialized into flat
//	kvprefetch_blocks_failed_total{kv_namespace,reason}    fetches failed, by reason ("miss", "deadline", "corrupt", ...)
//	kvprefetch_bytes_materialized_total{kv_namespace}      payload bytes materialized into flat
//	kvprefetch_cycle_duration_seconds{kv_namespace}        histogram of Outcome.Elapsed
//
// The live figures of the fetches themselves come from the fetch stage's
// middleware, fetch.Instrument. Prometheus is safe for concurrent use; one
// emitter may serve several pipelines, and several emitters may share a
// registry when their ConstLabels differ (same label names, other values:
// {"pipeline": "grid"} and {"pipeline": "hints"}).
type Prometheus struct {
	cycles      *prometheus.CounterVec
	cycleErrors *prometheus.CounterVec
	scored      *prometheus.CounterVec
	selected    *prometheus.CounterVec
	skipped     *prometheus.CounterVec
	fetched     *prometheus.CounterVec
	failed      *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	duration    *prometheus.HistogramVec
}

// NewPrometheus registers the emitter's metrics with reg and returns it.
// It fails, registering nothing, when reg is nil or already holds these
// metrics with the same ConstLabels, or with other label names.
func NewPrometheus(reg prometheus.Registerer, opts PrometheusOptions) (*Prometheus, error) {
	if reg == nil {
		return nil, errors.New("emit: NewPrometheus: nil Registerer, want a registry (e.g. prometheus.NewRegistry())")
	}
	buckets := opts.CycleBuckets
	if len(buckets) == 0 {
		buckets = prometheus.ExponentialBuckets(0.001, 2, 15)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: opts.ConstLabels}, append([]string{"kv_namespace"}, labels...))
	}
	p := &Prometheus{
		cycles:      counter("kvprefetch_cycles_total", "Prefetch cycles run."),
		cycleErrors: counter("kvprefetch_cycle_errors_total", "Prefetch cycles that ended early or had a stage fail, by reason.", "reason"),
		scored:      counter("kvprefetch_blocks_scored_total", "Candidate blocks scored."),
		selected:    counter("kvprefetch_blocks_selected_total", "Candidate blocks selected (top K)."),
		skipped:     counter("kvprefetch_blocks_skipped_total", "Candidate blocks dropped by a filter, by the filter's reason.", "reason"),
		fetched:     counter("kvprefetch_blocks_fetched_total", "Blocks materialized into the flat tier."),
		failed:      counter("kvprefetch_blocks_failed_total", "Block fetches that failed, by reason.", "reason"),
		bytes:       counter("kvprefetch_bytes_materialized_total", "Payload bytes materialized into the flat tier."),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "kvprefetch_cycle_duration_seconds",
			Help:        "Duration of a prefetch cycle up to its emit stage.",
			Buckets:     buckets,
			ConstLabels: opts.ConstLabels,
		}, []string{"kv_namespace"}),
	}
	cs := []prometheus.Collector{p.cycles, p.cycleErrors, p.scored, p.selected, p.skipped, p.fetched, p.failed, p.bytes, p.duration}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("emit: register prometheus metrics: %w (emitters sharing a registry need ConstLabels of the same names and other values)", err)
		}
	}
	return p, nil
}

// Emit adds o's figures to the metrics.
func (p *Prometheus) Emit(_ context.Context, o *pipeline.Outcome) {
	ns := o.Namespace
	p.cycles.WithLabelValues(ns).Inc()
	if o.Err != nil {
		p.cycleErrors.WithLabelValues(ns, pipeline.FailureReason(o.Err)).Inc()
	}
	p.scored.WithLabelValues(ns).Add(float64(o.Scored))
	p.selected.WithLabelValues(ns).Add(float64(len(o.Selected)))
	for reason, n := range o.Skipped {
		p.skipped.WithLabelValues(ns, reason).Add(float64(n))
	}
	p.fetched.WithLabelValues(ns).Add(float64(o.Fetched))
	for reason, n := range o.FailedBy {
		p.failed.WithLabelValues(ns, reason).Add(float64(n))
	}
	p.bytes.WithLabelValues(ns).Add(float64(o.BytesMaterialized))
	p.duration.WithLabelValues(ns).Observe(o.Elapsed.Seconds())
}
