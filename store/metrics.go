package store

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wombatkv/prefetch/internal/usefulness"
)

// Collector returns a Prometheus collector of the store's [Stats], read
// once per scrape. Register it with the node's registry:
//
//	kvprefetch_store_flat_blocks              gauge: blocks in flat
//	kvprefetch_store_flat_bytes               gauge: payload bytes in flat
//	kvprefetch_store_flat_budget_bytes        gauge: Config.FlatBudget
//	kvprefetch_store_cold_gets_total          counter: GETs sent to the cold tier
//	kvprefetch_store_published_total          counter: blocks published to flat
//	kvprefetch_store_evicted_total            counter: blocks evicted from flat
//	kvprefetch_store_evicted_bytes_total      counter: payload bytes evicted from flat
//	kvprefetch_store_unverified_total         counter: objects accepted without "b3"
//	kvprefetch_store_rejected_total           counter: objects refused (corrupt, size, ...)
//	kvprefetch_store_flat_irregular_total     counter: flat entries neither plain files nor directories
//	kvprefetch_store_flat_damaged_total       counter: flat blocks found not as published, dropped
//	kvprefetch_store_leases_total{result}     counter: leases of hinted blocks ([Store.Lease]), result "touched", "pinned", "pin_refused" or "missed"
//	kvprefetch_store_pinned_bytes             gauge: payload bytes the leases pin
//	kvprefetch_store_pin_budget_bytes         gauge: the most they may pin (PinShare of the budget)
//
// and the prefetch accounting ([Stats].PrefetchByNamespace), per namespace
// as kv_namespace (the label of the pipeline's metrics, emit.Prometheus):
//
//	kvprefetch_prefetch_published_total{kv_namespace}          counter: blocks a prefetch published (or handed to a read that joined it)
//	kvprefetch_prefetch_useful_total{kv_namespace}             counter: prefetched blocks read while in flat
//	kvprefetch_prefetch_late_total{kv_namespace}               counter: prefetched blocks a read joined while their GET was in flight
//	kvprefetch_prefetch_wasted_total{kv_namespace,reason}      counter: prefetched blocks that left flat unread, reason "evicted" or "removed"
//	kvprefetch_prefetch_unread{kv_namespace}                   gauge: prefetched blocks in flat, not yet read
//	kvprefetch_prefetch_lead_seconds{kv_namespace}             histogram: publication to first read, per useful block
//	kvprefetch_prefetch_late_wait_seconds{kv_namespace}        histogram: how long the first joined read waited, per late block
//	kvprefetch_prefetch_unread_age_seconds{kv_namespace}       histogram: how long a wasted block sat in flat unread
//	kvprefetch_store_reads_total{kv_namespace,result}          counter: Gets, result "flat", "prefetched", "joined" or "cold"
func (s *Store) Collector() prometheus.Collector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	ns := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"kv_namespace"}, labels...), nil)
	}
	return &statsCollector{s: s, pf: prefetchDescs{
		published: ns("kvprefetch_prefetch_published_total", "Blocks a prefetch published to the flat tier, or handed to a read that joined its GET."),
		useful:    ns("kvprefetch_prefetch_useful_total", "Prefetched blocks read while the flat tier held them (counted at the first read)."),
		late:      ns("kvprefetch_prefetch_late_total", "Prefetched blocks a read asked for while their GET was in flight, and joined."),
		wasted:    ns("kvprefetch_prefetch_wasted_total", `Prefetched blocks that left the flat tier unread: reason="evicted" for its budget, "removed" otherwise (dropped as damaged, replaced).`, "reason"),
		unread:    ns("kvprefetch_prefetch_unread", "Prefetched blocks in the flat tier not read yet."),
		lead:      ns("kvprefetch_prefetch_lead_seconds", "Time from a prefetched block's publication to its first read, per useful block."),
		wait:      ns("kvprefetch_prefetch_late_wait_seconds", "How long the first read that joined a late prefetch's GET waited for it."),
		age:       ns("kvprefetch_prefetch_unread_age_seconds", "How long a wasted prefetched block sat in the flat tier unread."),
		reads:     ns("kvprefetch_store_reads_total", `Gets by where they were served: result="flat" (a block flat held, not a first read of a prefetch), "prefetched" (the first read of a prefetched block), "joined" (joined a GET in flight), "cold" (fetched from the cold tier).`, "result"),
	}, leases: prometheus.NewDesc("kvprefetch_store_leases_total", `Leases of hinted blocks: result="touched" (moved to the most recently used end), "pinned", "pin_refused" (the pin budget was full: touched instead), "missed" (not in flat).`, []string{"result"}, nil),
		pinned:    d("kvprefetch_store_pinned_bytes", "Payload bytes the leases of hinted blocks pin in the flat tier."),
		pinBudget: d("kvprefetch_store_pin_budget_bytes", "The most payload bytes leases may pin: PinShare of the flat tier's budget."),
		descs: [...]*prometheus.Desc{
			d("kvprefetch_store_flat_blocks", "Blocks in the flat tier."),
			d("kvprefetch_store_flat_bytes", "Payload bytes in the flat tier."),
			d("kvprefetch_store_flat_budget_bytes", "The flat tier's byte budget."),
			d("kvprefetch_store_cold_gets_total", "GETs sent to the cold tier."),
			d("kvprefetch_store_published_total", "Blocks published to the flat tier."),
			d("kvprefetch_store_evicted_total", "Blocks evicted from the flat tier for its budget."),
			d("kvprefetch_store_evicted_bytes_total", "Payload bytes evicted from the flat tier for its budget."),
			d("kvprefetch_store_unverified_total", `Cold objects accepted without "b3" metadata, their size alone checked.`),
			d("kvprefetch_store_rejected_total", "Cold objects refused for their content or size."),
			d("kvprefetch_store_flat_irregular_total", "Entries found where the flat tier keeps blocks that are neither plain files nor directories (symlinks, devices, fifos), skipped or dropped, never followed."),
			d("kvprefetch_store_flat_damaged_total", "Flat blocks found missing, unreadable or of another size than published (or than the index expects), dropped to be fetched afresh."),
		}}
}

type statsCollector struct {
	s                         *Store
	descs                     [11]*prometheus.Desc
	pf                        prefetchDescs
	leases, pinned, pinBudget *prometheus.Desc
}

type prefetchDescs struct {
	published, useful, late, wasted, unread, lead, wait, age, reads *prometheus.Desc
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- c.leases
	ch <- c.pinned
	ch <- c.pinBudget
	p := &c.pf
	for _, d := range []*prometheus.Desc{p.published, p.useful, p.late, p.wasted, p.unread, p.lead, p.wait, p.age, p.reads} {
		ch <- d
	}
}

// collectPrefetch sends namespace ns's prefetch accounting.
func (c *statsCollector) collectPrefetch(ch chan<- prometheus.Metric, ns string, st PrefetchStats) {
	p := &c.pf
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{ns}, labels...)...)
	}
	counter(p.published, st.Prefetched)
	counter(p.useful, st.Useful)
	counter(p.late, st.Late)
	counter(p.wasted, st.WastedEvicted, "evicted")
	counter(p.wasted, st.WastedRemoved, "removed")
	ch <- prometheus.MustNewConstMetric(p.unread, prometheus.GaugeValue, float64(st.Unread()), ns)
	for _, x := range []struct {
		d *prometheus.Desc
		h PrefetchHistogram
	}{{p.lead, st.Lead}, {p.wait, st.Wait}, {p.age, st.UnreadAge}} {
		ch <- prometheus.MustNewConstHistogram(x.d, x.h.Count, x.h.Sum, x.h.Cumulative(), ns)
	}
	for _, r := range []struct {
		v   uint64
		res usefulness.Read
	}{{st.Reads.Flat, usefulness.ReadFlat}, {st.Reads.Prefetched, usefulness.ReadPrefetched}, {st.Reads.Joined, usefulness.ReadJoined}, {st.Reads.Cold, usefulness.ReadCold}} {
		counter(p.reads, r.v, r.res.String())
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	for i, v := range []struct {
		t prometheus.ValueType
		v float64
	}{
		{gauge, float64(st.FlatBlocks)},
		{gauge, float64(st.FlatBytes)},
		{gauge, float64(st.FlatBudget)},
		{counter, float64(st.ColdGets)},
		{counter, float64(st.Published)},
		{counter, float64(st.Evicted)},
		{counter, float64(st.EvictedBytes)},
		{counter, float64(st.Unverified)},
		{counter, float64(st.Rejected)},
		{counter, float64(st.Irregular)},
		{counter, float64(st.Damaged)},
	} {
		ch <- prometheus.MustNewConstMetric(c.descs[i], v.t, v.v)
	}
	for ns, pst := range st.PrefetchByNamespace {
		c.collectPrefetch(ch, ns, pst)
	}
	l := st.Lease
	for _, r := range []struct {
		v   uint64
		res string
	}{{l.Touched, "touched"}, {l.Pinned, "pinned"}, {l.PinRefused, "pin_refused"}, {l.Missed, "missed"}} {
		ch <- prometheus.MustNewConstMetric(c.leases, counter, float64(r.v), r.res)
	}
	ch <- prometheus.MustNewConstMetric(c.pinned, gauge, float64(l.PinnedBytes))
	ch <- prometheus.MustNewConstMetric(c.pinBudget, gauge, float64(int64(float64(st.FlatBudget)*PinShare)))
}
