package hist

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBucketAndCumulative(t *testing.T) {
	bounds := []float64{0.1, 1, 10}
	h := Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1)}
	for _, v := range []float64{-1, 0.1, 0.5, 1, 9, 10, 11, 1e9} {
		h.Counts[Bucket(bounds, v)]++
		h.Count++
		h.Sum += v
	}
	if diff := cmp.Diff([]uint64{2, 2, 2, 2}, h.Counts); diff != "" {
		t.Errorf("buckets (-want +got):\n%s", diff)
	}
	want := map[float64]uint64{0.1: 2, 1: 4, 10: 6} // the 2 above every bound are in Count only
	if diff := cmp.Diff(want, h.Cumulative()); diff != "" {
		t.Errorf("Cumulative (-want +got):\n%s", diff)
	}
}

func TestAdd(t *testing.T) {
	var sum Histogram
	a := Histogram{Bounds: []float64{1, 2}, Counts: []uint64{1, 0, 2}, Count: 3, Sum: 9}
	sum.Add(a)
	sum.Add(a)
	want := Histogram{Bounds: []float64{1, 2}, Counts: []uint64{2, 0, 4}, Count: 6, Sum: 18}
	if diff := cmp.Diff(want, sum); diff != "" {
		t.Errorf("Add (-want +got):\n%s", diff)
	}
	a.Counts[0] = 7 // sum owns its buckets
	if sum.Counts[0] != 2 {
		t.Errorf("Add kept o's Counts: %v", sum.Counts)
	}
}
