package pipeline_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// counting wraps a scorer to count its calls, and returns the wrapped
// scorer's score unchanged: its Unwrap says so.
type counting struct {
	pipeline.Scorer
	calls int
}

func (c *counting) Score(now time.Time, h block.Hash, m block.Meta) float64 {
	c.calls++
	return c.Scorer.Score(now, h, m)
}

func (c *counting) Unwrap() pipeline.Scorer { return c.Scorer }

// A scorer wrapper with Unwrap keeps the wrapped scorer's bound, and so
// the pruned path: the cycle calls it only for the few blocks the bound
// leaves. A wrapper of a scorer that offers no bound (a plain ScorerFunc)
// has none to keep: every block is scored.
func ExampleAsScoreBounder() {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	idx := index.NewMemory(nil)
	idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := range 10000 {
			h := block.Hash{0: byte(i), 1: byte(i >> 8), 31: 1}
			if !yield(h, block.Meta{Seq: uint32(i % 4), LastAccessNs: now.UnixNano() - int64(i)*int64(time.Second)}) {
				return
			}
		}
	})
	rfc := score.NewRFC0008(block.ModelDigest{})
	for _, s := range []pipeline.Scorer{
		&counting{Scorer: rfc},
		&counting{Scorer: pipeline.ScorerFunc(rfc.Score)},
	} {
		_, bounded := pipeline.AsScoreBounder(s)
		p, err := pipeline.New(pipeline.Config{
			TopK:     4,
			Sources:  []pipeline.Source{snapshot.NewIndex(idx)},
			Scorer:   s,
			Selector: topk.Heap{},
			Clock:    func() time.Time { return now },
		})
		if err != nil {
			log.Fatal(err)
		}
		o := p.Run(context.Background())
		fmt.Printf("bound %v: path %s, %d blocks ranked, scorer called for fewer than 1 in 10: %v\n",
			bounded, o.Path, o.Scored, s.(*counting).calls < o.Scored/10)
	}
	// Output:
	// bound true: path pruned, 10000 blocks ranked, scorer called for fewer than 1 in 10: true
	// bound false: path scored, 10000 blocks ranked, scorer called for fewer than 1 in 10: false
}
