package block_test

import (
	"math"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
)

func TestNanos(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(1, 5), 1e9 + 5},
		{time.Unix(0, math.MaxInt64), math.MaxInt64},
		{time.Unix(0, math.MinInt64), math.MinInt64},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt64},
		{time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), math.MinInt64},
		{time.Time{}, math.MinInt64},
	} {
		if got := block.Nanos(tc.t); got != tc.want {
			t.Errorf("Nanos(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}
