package pipeline_test

import (
	"context"
	"fmt"
	"iter"
	"log"
	"slices"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// A cycle assembled from func adapters alone: three blocks, the two with
// the highest Seq win, a filter drops one of them, and the fetcher
// "fetches" the other.
func ExampleNew() {
	blocks := map[block.Hash]block.Meta{{1}: {Seq: 1}, {2}: {Seq: 2}, {3}: {Seq: 3}}
	p, err := pipeline.New(pipeline.Config{
		TopK: 2,
		Sources: []pipeline.Source{pipeline.SourceFunc(func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
			return func(yield func(block.Hash, block.Meta) bool) {
				for _, h := range []block.Hash{{1}, {2}, {3}} {
					if !yield(h, blocks[h]) {
						return
					}
				}
			}
		})},
		Scorer: pipeline.ScorerFunc(func(_ time.Time, _ block.Hash, m block.Meta) float64 { return float64(m.Seq) }),
		Selector: pipeline.SelectorFunc(func(dst []pipeline.Candidate, k int, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
			all := slices.SortedFunc(seq, func(a, b pipeline.Candidate) int { return pipeline.Compare(&a, &b) })
			return append(dst[:0], all[:min(k, len(all))]...)
		}),
		Filters: []pipeline.Filter{pipeline.FilterFunc(func(_ context.Context, _ *pipeline.Cycle, c pipeline.Candidate) string {
			if c.Hash == (block.Hash{3}) {
				return pipeline.SkipAlreadyFlat
			}
			return ""
		})},
		Fetcher: pipeline.FetcherFunc(func(_ context.Context, cy *pipeline.Cycle, cs []pipeline.Candidate) []pipeline.FetchResult {
			res := make([]pipeline.FetchResult, len(cs))
			for i, c := range cs {
				fmt.Printf("fetch %s in %s\n", c.Hash.String()[:2], cy.Namespace)
				res[i] = pipeline.FetchResult{Hash: c.Hash, Bytes: 1024}
			}
			return res
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	o := p.Run(context.Background())
	fmt.Printf("scored %d, selected %d, skipped %v, fetched %d (%d bytes)\n",
		o.Scored, len(o.Selected), o.Skipped, o.Fetched, o.BytesMaterialized)
	// Output:
	// fetch 02 in tp-default
	// scored 3, selected 2, skipped map[already_flat:1], fetched 1 (1024 bytes)
}

func ExampleNewWorker() {
	firstCycle := make(chan struct{})
	p, err := pipeline.New(pipeline.Config{
		Interval: 10 * time.Second,
		Sources: []pipeline.Source{pipeline.SourceFunc(func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
			return func(yield func(block.Hash, block.Meta) bool) { yield(block.Hash{1}, block.Meta{}) }
		})},
		Scorer: pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return 1 }),
		Selector: pipeline.SelectorFunc(func(dst []pipeline.Candidate, k int, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
			return slices.AppendSeq(dst[:0], seq)
		}),
		Emitter: pipeline.EmitterFunc(func(_ context.Context, o *pipeline.Outcome) {
			fmt.Printf("cycle %d scored %d\n", o.Seq, o.Scored)
			if o.Seq == 1 {
				close(firstCycle)
			}
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	w := pipeline.NewWorker(p)
	if err := w.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	<-firstCycle // the worker runs a cycle at start, then one per interval
	w.Stop()     // returns at once, though the next tick is 10 s away
	fmt.Println("running:", w.Running())
	// Output:
	// cycle 1 scored 1
	// running: false
}

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
