package presets_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/score"
)

// Example_customScorer is the README's custom scorer: recently used chain
// heads of the active model first, everything else by recency.
func Example_customScorer() {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	activeModel := block.ModelDigest{0: 7}
	idx := index.NewMemory(nil)
	idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		_ = yield(block.Hash{31: 1}, block.Meta{Seq: 3, Model: activeModel, LastAccessNs: now.UnixNano()}) &&
			yield(block.Hash{31: 2}, block.Meta{Seq: 0, Model: activeModel, LastAccessNs: now.Add(-time.Hour).UnixNano()}) &&
			yield(block.Hash{31: 3}, block.Meta{Seq: 0, LastAccessNs: now.UnixNano()})
	})

	recency := score.NewRecency(10 * time.Minute)
	myScorer := pipeline.ScorerFunc(func(now time.Time, h block.Hash, m block.Meta) float64 {
		s := recency.Score(now, h, m)
		if m.IsChainHead() && m.Model == activeModel {
			s += 1
		}
		return s
	})
	cfg, err := presets.Config(presets.NameV1, presets.Options{Index: idx, Clock: func() time.Time { return now }})
	if err != nil {
		log.Fatal(err)
	}
	cfg.Scorer = myScorer
	p, err := pipeline.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range p.Run(context.Background()).Selected {
		fmt.Printf("block %d: %.3f\n", c.Hash[31], c.Score)
	}
	// Output:
	// block 2: 1.016
	// block 1: 1.000
	// block 3: 1.000
}
