// Package hist is the module's one histogram of fixed buckets, as the
// figures of the hint intake (snapshot.HintStats) and of the prefetch
// accounting (store.PrefetchStats, the replay lab, the shadows) report
// it, and as their Prometheus collectors export it.
package hist

import "sort"

// Histogram is a histogram of fixed buckets. Bounds are inclusive upper
// bounds, ascending, as Prometheus's le; Counts holds one count per
// bucket, not cumulative: Counts[i] counts the observations v with
// Bounds[i-1] < v <= Bounds[i], and Counts[len(Bounds)] those above every
// bound, so len(Counts) is len(Bounds)+1. Count and Sum are the number
// and the sum of the observations.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// Bucket returns the index in Counts of the bucket an observation v falls
// in, over bounds: that of the first bound >= v, or len(bounds) above
// them all.
func Bucket(bounds []float64, v float64) int { return sort.SearchFloat64s(bounds, v) }

// Cumulative returns h's buckets as Prometheus counts them: each bound
// with the observations at or below it (for prometheus.NewConstHistogram).
func (h Histogram) Cumulative() map[float64]uint64 {
	b := make(map[float64]uint64, len(h.Bounds))
	var n uint64
	for i, le := range h.Bounds {
		if i < len(h.Counts) {
			n += h.Counts[i]
		}
		b[le] = n
	}
	return b
}

// Add adds o's observations to h, bucket by bucket; h takes o's bounds
// when it has none (the zero Histogram). The two are meant to share
// bounds: a bucket only one of them has is left as it is.
func (h *Histogram) Add(o Histogram) {
	if h.Bounds == nil {
		h.Bounds = append([]float64(nil), o.Bounds...)
		h.Counts = make([]uint64, len(o.Counts))
	}
	for i := range min(len(h.Counts), len(o.Counts)) {
		h.Counts[i] += o.Counts[i]
	}
	h.Count += o.Count
	h.Sum += o.Sum
}
