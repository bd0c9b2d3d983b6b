package presets

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"

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
// background prefetch that does no harm: RFC 0008's ranking taken among
// the blocks that are neither in flat nor in flight, fetched only into the
// flat tier's free room ([filter.FreeRoom]) with at most Limit in flight.
// A fetch never evicts anything, so a wrong guess costs a GET and nothing
// a request would have hit. While flat is full the cycle does not even
// scan the index. It pays where flat has room and the index remembers
// what was there: after a restart emptied flat (or a node joined with a
// restored index). Options.Store must implement [filter.Room]; a store
// that can admit a prefetched block at its LRU end should (see the replay
// lab's results). It writes the MyelonInstr v3 line.
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
	if o.Limit < 0 {
		errs = append(errs, fmt.Errorf("presets: Limit = %d, want >= 1 (0 means the default, %d)", o.Limit, fetch.DefaultLimit))
	}
	if err := errors.Join(errs...); err != nil {
		return pipeline.Config{}, err
	}
	idx := snapshot.NewIndex(o.Index)
	gated := pipeline.SourceFunc(func(ctx context.Context, cy *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
		if room.FreeBytes(cy.Namespace) <= 0 {
			return func(func(block.Hash, block.Meta) bool) {}
		}
		return idx.Candidates(ctx, cy)
	})
	pre := []pipeline.Filter{filter.NewAlreadyFlat(o.Store)}
	if inf, ok := o.Store.(filter.InFlight); ok {
		pre = append(pre, filter.NewNotInFlight(inf))
	}
	w := o.Log
	if w == nil {
		w = os.Stderr
	}
	var emitter pipeline.Emitter = emit.NewMyelonInstr(w, emit.V3)
	if len(o.Emitters) > 0 {
		emitter = append(emit.Multi{emitter}, o.Emitters...)
	}
	return pipeline.Config{
		Interval:     o.Interval,
		TopK:         o.TopK,
		Namespace:    o.Namespace,
		FetchTimeout: o.FetchTimeout,
		Sources:      []pipeline.Source{gated},
		Scorer:       score.NewRFC0008(o.Model),
		Selector:     topk.Heap{},
		PreFilters:   pre,
		Filters:      []pipeline.Filter{filter.NewFreeRoom(room)},
		Fetcher:      &fetch.Parallel{M: o.Store, Limit: o.Limit},
		Emitter:      emitter,
		Clock:        o.Clock,
		Logger:       o.Logger,
	}, nil
}

// Warmup returns the warm-up pipeline (see [WarmupConfig]).
func Warmup(o Options) (*pipeline.Pipeline, error) {
	cfg, err := WarmupConfig(o)
	if err != nil {
		return nil, err
	}
	return pipeline.New(cfg)
}
