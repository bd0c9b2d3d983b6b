package topk_test

import (
	"fmt"
	"slices"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	topk "github.com/wombatkv/prefetch/stages/select"
)

func ExampleQuickselect() {
	cands := []pipeline.Candidate{
		{Hash: block.Hash{1}, Score: 0.5},
		{Hash: block.Hash{3}, Score: 0.9},
		{Hash: block.Hash{2}, Score: 0.9},
		{Hash: block.Hash{4}, Score: 0.1},
	}
	for _, c := range (topk.Quickselect{}).Select(nil, 2, slices.Values(cands)) {
		fmt.Printf("%02x %.1f\n", c.Hash[0], c.Score)
	}
	// Output:
	// 02 0.9
	// 03 0.9
}
