package presets

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// NameWarmup names the warm-up preset.
const NameWarmup = "warmup"

// WarmupStore is what the warm-up preset needs of the tiers: a [Store]
// that also reports its free room.
type WarmupStore interface {
	Store
	filter.Room
}

// WarmupConfig returns the pipeline.Config of the warm-up preset, a
// background prefetch that does no harm: the most recently read blocks
// ([score.Recency], ties by the lower hash) among those neither in flat
// nor in flight, fetched only into the flat tier's free room
// ([filter.FreeRoom]) with at most Limit in flight. A fetch never evicts
// anything, so a block of unknown size (see [block.Meta.Size]) is never
// fetched: an index without sizes gets no warm-up. While flat has no room
// for the largest block seen, a cycle does not even scan the index (a full
// LRU tier keeps a sliver free).
//
// It pays where flat has room and the index remembers what was there:
// after a restart emptied flat, or on a node that joins with a restored
// index. It is safe by construction when the store admits a prefetched
// block at its LRU end (the store's admission knob, "lru"): such a block
// is the first evicted unless a request reads it first, so the blocks
// requests load themselves stay exactly where they would be without
// prefetch. Options.Store must implement [filter.Room]. It writes the
// MyelonInstr v3 line.
func WarmupConfig(o Options) (pipeline.Config, error) {
	var errs []error
	if o.Index == nil {
		errs = append(errs, errors.New("presets: Options.Index is nil, want the metadata index to rank"))
	}
	var room filter.Room
	switch r, ok := o.Store.(filter.Room); {
	case o.Store == nil:
		errs = append(errs, fmt.Errorf("presets: %s fetches, so Options.Store must be set", NameWarmup))
	case !ok:
		errs = append(errs, fmt.Errorf("presets: %s fetches only into free room, so Options.Store (%T) must implement filter.Room", NameWarmup, o.Store))
	default:
		room = r
	}
	if err := o.checkLimit(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return pipeline.Config{}, err
	}
	idx := snapshot.NewIndex(o.Index)
	// The gate opens only when flat has room for the largest block the
	// scan has seen: a full LRU tier always keeps a sliver free (it evicts
	// whole blocks), and filling slivers with small blocks would spend
	// GETs for nothing.
	var largest atomic.Uint64
	gated := pipeline.SourceFunc(func(ctx context.Context, cy *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
		free := room.FreeBytes(cy.Namespace)
		if free <= 0 || uint64(free) < largest.Load() {
			return func(func(block.Hash, block.Meta) bool) {}
		}
		seq := idx.Candidates(ctx, cy)
		return func(yield func(block.Hash, block.Meta) bool) {
			var big uint64
			defer func() {
				if big > largest.Load() {
					largest.Store(big)
				}
			}()
			for h, m := range seq {
				if n, known := m.Size(); known {
					big = max(big, uint64(n))
				}
				if !yield(h, m) {
					return
				}
			}
		}
	})
	cfg := o.base(emit.V3)
	cfg.Sources = []pipeline.Source{gated}
	cfg.Scorer = score.NewRecency(0)
	cfg.Selector = topk.Heap{}
	cfg.PreFilters = needFetch(o.Store)
	cfg.Filters = []pipeline.Filter{filter.NewFreeRoom(room)}
	cfg.Fetcher = &fetch.Parallel{M: o.Store, Limit: o.Limit}
	return o.withMetrics(cfg)
}

// Warmup returns the warm-up pipeline (see [WarmupConfig]).
func Warmup(o Options) (*pipeline.Pipeline, error) {
	cfg, err := WarmupConfig(o)
	if err != nil {
		return nil, err
	}
	return pipeline.New(cfg)
}
