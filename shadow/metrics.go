package shadow

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is the Prometheus collector of shadows' [Stats], read once per
// scrape, each shadow labelled by its name as policy and by the
// namespace it simulates as kv_namespace:
//
//	kvprefetch_shadow_cycles_total{policy,kv_namespace}               counter: the candidate's cycles
//	kvprefetch_shadow_would_fetch_total{policy,kv_namespace}          counter: its would-be GETs
//	kvprefetch_shadow_useful_total{policy,kv_namespace}               counter: would-be prefetches the node read while in the simulated flat tier
//	kvprefetch_shadow_late_total{policy,kv_namespace}                 counter: would-be prefetches the node read while their GET was in flight
//	kvprefetch_shadow_wasted_total{policy,kv_namespace,reason}        counter: would-be prefetches that left the simulated tier unread, reason "evicted" or "removed"
//	kvprefetch_shadow_unread{policy,kv_namespace}                     gauge: would-be prefetches in the simulated tier, unread
//	kvprefetch_shadow_stall_saved_seconds_total{policy,kv_namespace}  counter: the stall they would have saved, at the observed GET time
//	kvprefetch_shadow_get_seconds{policy,kv_namespace}                gauge: that GET time
//	kvprefetch_shadow_lead_seconds{policy,kv_namespace}               histogram: would-be publication to first read, per useful block
//
// The live policy's own figures are the store's kvprefetch_prefetch_*
// metrics, of the same meaning.
type Metrics struct {
	shadows                             []*Shadow
	cycles, would, useful, late, wasted *prometheus.Desc
	unread, saved, get, lead            *prometheus.Desc
}

// NewMetrics registers with reg the collector of shadows' stats and
// returns it. It fails, registering nothing, when reg is nil, a shadow is
// nil, two shadows have one name, or reg already holds these metrics.
func NewMetrics(reg prometheus.Registerer, shadows ...*Shadow) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("shadow: NewMetrics: nil Registerer, want a registry (e.g. prometheus.NewRegistry())")
	}
	seen := map[string]bool{}
	for i, s := range shadows {
		switch {
		case s == nil:
			return nil, fmt.Errorf("shadow: NewMetrics: shadow %d is nil", i)
		case seen[s.name]:
			return nil, fmt.Errorf("shadow: NewMetrics: two shadows named %q, want one name each (the policy label)", s.name)
		}
		seen[s.name] = true
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"policy", "kv_namespace"}, labels...), nil)
	}
	m := &Metrics{
		shadows: shadows,
		cycles:  d("kvprefetch_shadow_cycles_total", "Cycles a shadow policy ran."),
		would:   d("kvprefetch_shadow_would_fetch_total", "GETs a shadow policy would have sent."),
		useful:  d("kvprefetch_shadow_useful_total", "A shadow policy's would-be prefetches the node read while its simulated flat tier held them."),
		late:    d("kvprefetch_shadow_late_total", "A shadow policy's would-be prefetches the node read while their GET was in flight."),
		wasted:  d("kvprefetch_shadow_wasted_total", `A shadow policy's would-be prefetches that left its simulated flat tier unread: reason="evicted" for its budget, "removed" otherwise.`, "reason"),
		unread:  d("kvprefetch_shadow_unread", "A shadow policy's would-be prefetches in its simulated flat tier, not read yet."),
		saved:   d("kvprefetch_shadow_stall_saved_seconds_total", "The stall a shadow policy's would-be prefetches would have saved the node's reads, at the observed GET time."),
		get:     d("kvprefetch_shadow_get_seconds", "The GET time a shadow policy's would-be GETs take: the mean of the live GETs observed."),
		lead:    d("kvprefetch_shadow_lead_seconds", "Time from a shadow policy's would-be publication to the block's first read, per useful block."),
	}
	if err := reg.Register(m); err != nil {
		return nil, fmt.Errorf("shadow: register metrics: %w", err)
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.cycles, m.would, m.useful, m.late, m.wasted, m.unread, m.saved, m.get, m.lead} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads each shadow's stats
// once.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, s := range m.shadows {
		st, ns := s.Stats(), s.Namespace()
		send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, t, v, append([]string{s.name, ns}, labels...)...)
		}
		counter, gauge := prometheus.CounterValue, prometheus.GaugeValue
		p := st.Prefetch
		send(m.cycles, counter, float64(st.Cycles))
		send(m.would, counter, float64(st.WouldFetch))
		send(m.useful, counter, float64(p.Useful))
		send(m.late, counter, float64(p.Late))
		send(m.wasted, counter, float64(p.WastedEvicted), "evicted")
		send(m.wasted, counter, float64(p.WastedRemoved), "removed")
		send(m.unread, gauge, float64(p.Unread()))
		send(m.saved, counter, st.StallSaved.Seconds())
		send(m.get, gauge, st.GetCost.Seconds())
		buckets := make(map[float64]uint64, len(p.Lead.Bounds))
		var n uint64
		for i, le := range p.Lead.Bounds {
			n += p.Lead.Counts[i]
			buckets[le] = n
		}
		ch <- prometheus.MustNewConstHistogram(m.lead, p.Lead.Count, p.Lead.Sum, buckets, s.name, ns)
	}
}
