package emit

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// HintStatser is what [NewHintMetrics] reads: a hint intake
// (*snapshot.Hints).
type HintStatser interface {
	Stats() snapshot.HintStats
}

// HintMetricsOptions configures [NewHintMetrics].
type HintMetricsOptions struct {
	// ConstLabels are added to every metric (say, {"node": "a"}).
	ConstLabels prometheus.Labels
}

// HintMetrics is the Prometheus collector of a hint intake's
// [snapshot.HintStats], read once per scrape:
//
//	kvprefetch_hints_added_total               counter: hints given to Add
//	kvprefetch_hints_dropped_total             counter: hints dropped, the intake full
//	kvprefetch_hints_expired_total             counter: hints past Due (plus Grace) unserved
//	kvprefetch_hints_served_total{how}         counter: hints served, how "fetched" or "already_flat"
//	kvprefetch_hints_pending                   gauge: hints held
//	kvprefetch_hint_fetch_lag_seconds          histogram: from Add to the end of the cycle that fetched the block
//	kvprefetch_hint_fetch_slack_seconds        histogram: Due less that end (negative: late)
//	kvprefetch_hinted_request_flat_ratio       histogram: per request, the share of its hinted blocks in flat
//
// The histograms keep the intake's fixed buckets. An intake serves no one
// namespace, so there is no kv_namespace label; two intakes on one
// registry need ConstLabels of the same names and other values.
type HintMetrics struct {
	h                               HintStatser
	added, dropped, expired, served *prometheus.Desc
	pending, lag, slack, flatShare  *prometheus.Desc
}

// NewHintMetrics registers with reg the collector of h's stats and
// returns it. It fails, registering nothing, when reg or h is nil, or
// when reg already holds these metrics with the same ConstLabels, or with
// other label names.
func NewHintMetrics(reg prometheus.Registerer, h HintStatser, opts HintMetricsOptions) (*HintMetrics, error) {
	if reg == nil {
		return nil, errors.New("emit: NewHintMetrics: nil Registerer, want a registry (e.g. prometheus.NewRegistry())")
	}
	if h == nil {
		return nil, errors.New("emit: NewHintMetrics: nil intake, want the hint intake (snapshot.NewHints)")
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, opts.ConstLabels)
	}
	m := &HintMetrics{
		h:         h,
		added:     d("kvprefetch_hints_added_total", "Hints given to the intake."),
		dropped:   d("kvprefetch_hints_dropped_total", "Hints dropped because the intake was full."),
		expired:   d("kvprefetch_hints_expired_total", "Hints that passed their due time (plus grace) before a cycle fetched their block or found it in flat."),
		served:    d("kvprefetch_hints_served_total", `Hints whose block a cycle fetched (how="fetched") or found already in flat (how="already_flat") while they were pending.`, "how"),
		pending:   d("kvprefetch_hints_pending", "Hints held by the intake."),
		lag:       d("kvprefetch_hint_fetch_lag_seconds", "Time from a hint's arrival to the end of the cycle that fetched its block, on the pipeline's clock."),
		slack:     d("kvprefetch_hint_fetch_slack_seconds", "A fetched hint's due time less the end of the cycle that fetched its block, on the pipeline's clock; negative when late."),
		flatShare: d("kvprefetch_hinted_request_flat_ratio", "Per hinted request, the share of its hinted blocks found in the flat tier when it arrived."),
	}
	if err := reg.Register(m); err != nil {
		return nil, fmt.Errorf("emit: register hint metrics: %w (intakes sharing a registry need ConstLabels of the same names and other values)", err)
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *HintMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.added, m.dropped, m.expired, m.served, m.pending, m.lag, m.slack, m.flatShare} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the intake's stats
// once.
func (m *HintMetrics) Collect(ch chan<- prometheus.Metric) {
	st := m.h.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(m.added, st.Added)
	counter(m.dropped, st.Dropped)
	counter(m.expired, st.Expired)
	counter(m.served, st.Fetched, "fetched")
	counter(m.served, st.AlreadyFlat, pipeline.SkipAlreadyFlat)
	ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(st.Pending))
	for _, x := range []struct {
		d *prometheus.Desc
		h snapshot.HintHistogram
	}{{m.lag, st.Lag}, {m.slack, st.Slack}, {m.flatShare, st.FlatShare}} {
		ch <- prometheus.MustNewConstHistogram(x.d, x.h.Count, x.h.Sum, x.h.Cumulative())
	}
}
