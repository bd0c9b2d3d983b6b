package bench

import (
	"fmt"
	"testing"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/filter"
)

// BenchmarkPreFilter measures the front half of a v2/v3 cycle, whose
// presets add a backoff pre-filter, at n = 1e6, k = 8, random ages:
//
//   - prefilter=none: the v1 preset, no pre-filter (BenchmarkCycle's default);
//   - prefilter=backoff: the v2/v3 pre-filter, a filter.Backoff (an
//     InlineFilter), remembering one failed block so that it is not empty;
//   - prefilter=backoff-opaque: the same filter behind a pipeline.FilterFunc,
//     which hides that it is inline, so the cycle takes the scored path:
//     what every v2/v3 cycle cost before pre-filters joined the fast path.
func BenchmarkPreFilter(b *testing.B) {
	const n, k = 1_000_000, 8
	x := fixtureIndex(n, Random)
	backoff := func() *filter.Backoff {
		f := filter.NewBackoff(0, 0)
		f.Observe(&pipeline.Outcome{Start: Now, Namespace: pipeline.DefaultNamespace,
			Fetches: []pipeline.FetchResult{{Reason: pipeline.FailMiss}}})
		return f
	}
	want, scored := SeedCycle(x, Now, Model(0), k)
	for _, tc := range []struct {
		name string
		pre  func() pipeline.Filter
		path pipeline.ScanPath
	}{
		{"none", nil, pipeline.PathPruned},
		{"backoff", func() pipeline.Filter { return backoff() }, pipeline.PathPruned},
		{"backoff-opaque", func() pipeline.Filter { return pipeline.FilterFunc(backoff().Skip) }, pipeline.PathScored},
	} {
		b.Run(fmt.Sprintf("n=%d/k=%d/ages=%s/prefilter=%s", n, k, Random, tc.name), func(b *testing.B) {
			cfg := cycleConfig(b, x, k)
			if tc.pre != nil {
				cfg.PreFilters = []pipeline.Filter{tc.pre()}
			}
			benchCycle(b, cfg, tc.path, want, scored)
		})
	}
}
