package topk_test

import (
	"fmt"
	"math"
	"slices"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	topk "github.com/wombatkv/prefetch/stages/select"
)

func ExampleHeap() {
	cands := []pipeline.Candidate{
		{Hash: block.Hash{4}, Score: 0.5},
		{Hash: block.Hash{1}, Score: math.NaN()},
		{Hash: block.Hash{3}, Score: 0.9},
		{Hash: block.Hash{2}, Score: 0.9}, // ties with {3}: the lower hash ranks first
		{Hash: block.Hash{5}, Score: 0.1},
	}
	dst := make([]pipeline.Candidate, 0, 3) // reused from cycle to cycle
	dst = topk.Heap{}.Select(dst, 3, slices.Values(cands))
	for _, c := range dst {
		fmt.Println(c.Hash.String()[:2], c.Score)
	}
	// Output:
	// 02 0.9
	// 03 0.9
	// 04 0.5
}

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
