package store

import "github.com/prometheus/client_golang/prometheus"

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
func (s *Store) Collector() prometheus.Collector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &statsCollector{s: s, descs: [...]*prometheus.Desc{
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
	s     *Store
	descs [11]*prometheus.Desc
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
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
}
