package fetch_test

import (
	"context"
	"testing"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/fetch"
)

// TestZeroFetchTimeoutMeansNoDeadline: a stage called on its own with a
// hand-built Cycle (FetchTimeout 0) must not treat every fetch as already
// overdue.
func TestZeroFetchTimeoutMeansNoDeadline(t *testing.T) {
	m := fetch.MaterializerFunc(func(ctx context.Context, _ string, _ block.Hash, _ block.Meta) (int64, bool, error) {
		if err := ctx.Err(); err != nil {
			return 0, false, err
		}
		return 7, true, nil
	})
	cands := []pipeline.Candidate{{}, {}}
	for name, f := range map[string]pipeline.Fetcher{"sequential": fetch.NewSequential(m), "parallel": fetch.NewParallel(m, 2)} {
		rs := f.Fetch(context.Background(), &pipeline.Cycle{}, cands)
		for i, r := range rs {
			if !r.Fetched() || r.Bytes != 7 {
				t.Errorf("%s: result %d = %+v, want fetched 7 bytes", name, i, r)
			}
		}
	}
}
