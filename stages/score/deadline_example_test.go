package score_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/score"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// ExampleNewDeadline ranks the blocks of two hinted requests: those that
// can land in time by deadline and prefix, then the one too late.
func ExampleNewDeadline() {
	now := time.Unix(100, 0)
	hints := snapshot.NewHints(snapshot.HintsConfig{})
	hint := func(b byte, seq uint32, due time.Duration) snapshot.Hint {
		return snapshot.Hint{Hash: block.Hash{31: b}, Meta: block.Meta{Seq: seq}, Due: now.Add(due)}
	}
	hints.Add(hint(1, 0, 2*time.Second), hint(2, 1, 2*time.Second)) // a request due in 2 s
	hints.Add(hint(3, 0, 50*time.Millisecond))                      // one due in 50 ms
	s := score.NewDeadline(hints, func(uint64) time.Duration { return 100 * time.Millisecond })
	for h, m := range hints.Candidates(context.Background(), &pipeline.Cycle{Now: now}) {
		fmt.Printf("block %d: %g\n", h[31], s.Score(now, h, m))
	}
	fmt.Println("not hinted:", s.Score(now, block.Hash{31: 9}, block.Meta{}))
	// Output:
	// block 3: -9.9999995e+14
	// block 1: -1
	// block 2: -2
	// not hinted: -Inf
}
