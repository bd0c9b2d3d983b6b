package score_test

import (
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/stages/score"
)

// ExampleNewRecency: the score halves every half-life.
func ExampleNewRecency() {
	s := score.NewRecency(10 * time.Minute)
	now := time.Unix(10_000, 0)
	for _, age := range []time.Duration{0, 10 * time.Minute, 20 * time.Minute} {
		m := block.Meta{LastAccessNs: now.Add(-age).UnixNano()}
		fmt.Printf("age %v: %.2f\n", age, s.Score(now, block.Hash{}, m))
	}
	// Output:
	// age 0s: 1.00
	// age 10m0s: 0.50
	// age 20m0s: 0.25
}
