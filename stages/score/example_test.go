package score_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
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

func ExampleNewRFC0008() {
	now := time.Unix(1_700_000_000, 0)
	active := block.ModelDigest{7}
	s := score.NewRFC0008(active)
	for _, b := range []struct {
		name string
		m    block.Meta
	}{
		{"head, active model, just read", block.Meta{Seq: 0, Model: active, LastAccessNs: now.UnixNano()}},
		{"successor, active model, 10 min ago", block.Meta{Seq: 3, Model: active, LastAccessNs: now.Add(-10 * time.Minute).UnixNano()}},
		{"successor, other model, 1 h ago", block.Meta{Seq: 3, Model: block.ModelDigest{9}, LastAccessNs: now.Add(-time.Hour).UnixNano()}},
	} {
		fmt.Printf("%.4f %s\n", s.Score(now, block.Hash{}, b.m), b.name)
	}

	// Every weight is a field: a recency-heavy variant with a 1 min half-life.
	s.Chain, s.HalfLife = 0, time.Minute
	fmt.Printf("%.4f custom\n", s.Score(now, block.Hash{}, block.Meta{Seq: 0, LastAccessNs: now.Add(-time.Minute).UnixNano()}))
	// Output:
	// 1.5000 head, active model, just read
	// 0.7000 successor, active model, 10 min ago
	// 0.0156 successor, other model, 1 h ago
	// 0.5000 custom
}

// ExampleNewFrequency ranks blocks by their decayed access counts, kept by
// an index built with a count half-life (here a minute): the block read
// four times a minute ago outranks the one read once just now.
func ExampleNewFrequency() {
	now := time.Unix(1_700_000_000, 0)
	x, err := index.New(index.Options{Now: func() time.Time { return now }, CountHalfLife: time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	popular, fresh := block.Hash{31: 1}, block.Hash{31: 2}
	x.Insert(popular, block.Meta{}) // an access: count 1
	for range 3 {
		x.Touch(popular) // 2, 3, 4
	}
	now = now.Add(time.Minute)
	x.Insert(fresh, block.Meta{})

	s := score.NewFrequency(x)
	if err := s.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range []block.Hash{popular, fresh, {31: 3}} {
		fmt.Printf("block %d: %g\n", h[31], s.Score(now, h, block.Meta{}))
	}
	fmt.Println(score.NewFrequency(index.NewMemory(nil)).Validate())
	// Output:
	// block 1: 2
	// block 2: 1
	// block 3: 0
	// score: Frequency.Counts keeps no access counts (its CountHalfLife is 0), want an index built with index.Options.CountHalfLife > 0
}
