package replay

import (
	"context"
	"iter"
	"math"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// Oracle is the lab's clairvoyant stage, a pipeline.Source and a
// pipeline.Scorer both ([Env.Oracle]). It reads the trace ahead of the
// clock, which no node can: a policy built on it is a bound to measure
// others by (oracle-v3, the share of the oracle), not one to deploy.
//
// As a source it proposes, in order of next use, the blocks that are
// seen, not in flat, not in flight and read again later, until it has the
// cycle's TopK and has finished the request of the K-th (so that ties by
// id are complete). As a scorer it gives a block it proposed in the cycle
// minus the index of the request that next reads it: the soonest ranks
// first, equal ones by the lower id.
type Oracle struct {
	r       *run
	stamp   uint32
	mark    []uint32
	nextUse []int32
}

// Oracle returns the replay's clairvoyant stage, made at the first call.
func (e *Env) Oracle() *Oracle {
	if e.oracle == nil {
		n := len(e.r.m.ids)
		e.oracle = &Oracle{r: e.r, mark: make([]uint32, n), nextUse: make([]int32, n)}
	}
	return e.oracle
}

// Candidates streams the blocks read soonest that a GET could bring into
// flat (pipeline.Source). The sequence can be consumed once.
func (o *Oracle) Candidates(_ context.Context, cy *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
	return func(yield func(block.Hash, block.Meta) bool) {
		r, m := o.r, o.r.m
		o.stamp++
		found := 0
		for i := r.ptr; i < m.requests() && found < cy.TopK; i++ {
			for j := m.start[i]; j < m.start[i+1]; j++ {
				b := m.refs[j]
				if o.mark[b] == o.stamp {
					continue
				}
				o.mark[b] = o.stamp
				if !r.seen[b] || r.where[b] != inNone || r.pend[b] {
					continue
				}
				o.nextUse[b] = int32(i)
				found++
				if !yield(Hash(m.ids[b]), m.meta(b, 0)) {
					return
				}
			}
		}
	}
}

// Score returns minus the index of the next request that reads h
// (pipeline.Scorer). It is meant for the blocks the same cycle's
// Candidates proposed; a block they did not reach scores -Inf.
func (o *Oracle) Score(_ time.Time, h block.Hash, _ block.Meta) float64 {
	b, ok := o.r.m.lookup(h)
	if !ok || o.mark[b] != o.stamp {
		return math.Inf(-1)
	}
	return -float64(o.nextUse[b])
}
