package fetch_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/fetch"
)

// ExampleNewSequential: one fetch after another; a miss and an error are
// results, and the cycle goes on.
func ExampleNewSequential() {
	store := fetch.MaterializerFunc(func(_ context.Context, _ string, h block.Hash, _ block.Meta) (int64, bool, error) {
		switch h[0] {
		case 1:
			return 4096, true, nil
		case 2:
			return 0, false, nil // not in cold
		}
		return 0, false, fmt.Errorf("cold tier unavailable")
	})
	cy := &pipeline.Cycle{Namespace: "tp-default", FetchTimeout: time.Second}
	cands := []pipeline.Candidate{{Hash: block.Hash{1}}, {Hash: block.Hash{2}}, {Hash: block.Hash{3}}}
	for _, r := range fetch.NewSequential(store).Fetch(context.Background(), cy, cands) {
		fmt.Printf("%02x fetched=%v bytes=%d reason=%q\n", r.Hash[0], r.Fetched(), r.Bytes, r.Reason)
	}
	// Output:
	// 01 fetched=true bytes=4096 reason=""
	// 02 fetched=false bytes=0 reason="miss"
	// 03 fetched=false bytes=0 reason="error"
}
