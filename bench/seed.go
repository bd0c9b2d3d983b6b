package bench

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
)

// SeedCycle is the seed's run_cycle rendered in Go, the reference the
// benchmarks compare every cycle with: index.entries() copies the whole
// index into a vector; every entry is scored with score_block into a second
// vector; the vector is sorted by descending score (the seed's comparator:
// NaN compares equal, no tie-break); it is truncated to k. It returns the
// selection and the number scored.
//
// The sort is Go's pdqsort (slices.SortFunc), the fastest full sort at
// hand, where the seed's Rust sort_by is a stable merge sort: the
// reference is, if anything, flattered.
func SeedCycle(x index.Reader, now time.Time, active block.ModelDigest, k int) ([]pipeline.Candidate, int) {
	type entry struct {
		h block.Hash
		m block.Meta
	}
	snapshot := make([]entry, 0, x.Len())
	for h, m := range x.All() {
		snapshot = append(snapshot, entry{h, m})
	}
	nowNs := now.UnixNano()
	scored := make([]pipeline.Candidate, 0, len(snapshot))
	for _, e := range snapshot {
		scored = append(scored, pipeline.Candidate{Hash: e.h, Meta: e.m, Score: ScoreBlock(&e.m, nowNs, &active)})
	}
	slices.SortFunc(scored, func(a, b pipeline.Candidate) int {
		if math.IsNaN(a.Score) || math.IsNaN(b.Score) {
			return 0
		}
		return cmp.Compare(b.Score, a.Score)
	})
	n := len(scored)
	if k < len(scored) {
		scored = scored[:k]
	}
	return scored, n
}

// ScoreBlock is the seed's score_block, constants and all: weights 1.0 /
// 0.3 / 0.2, decay ln2/600e9 per ns, age saturating at 0, and the model
// bonus paid whenever the digests are equal (even when both are zero, as
// the seed's code does).
func ScoreBlock(m *block.Meta, nowNs int64, active *block.ModelDigest) float64 {
	const (
		wRecency = 1.0
		wChain   = 0.3
		wModel   = 0.2
	)
	decay := math.Ln2 / 600.0e9
	var age float64
	if nowNs > m.LastAccessNs {
		age = float64(uint64(nowNs - m.LastAccessNs))
	}
	recency := math.Exp(-decay * age)
	chain, model := 0.0, 0.0
	if m.Seq == 0 {
		chain = 1
	}
	if m.Model == *active {
		model = 1
	}
	return wRecency*recency + wChain*chain + wModel*model
}
