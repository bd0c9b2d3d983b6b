package presets

import (
	"errors"
	"fmt"

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
// for the largest block seen, a cycle does not even scan the index
// ([snapshot.RoomGate]: a full LRU tier keeps a sliver free).
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
	cfg := o.base(emit.V3)
	cfg.Sources = []pipeline.Source{snapshot.NewRoomGate(snapshot.NewIndex(o.Index), room)}
	cfg.Scorer = score.NewRecency(0)
	cfg.Selector = topk.Heap{}
	cfg.PreFilters = needFetch(o.Store)
	cfg.Filters = []pipeline.Filter{filter.NewFreeRoom(room)}
	cfg.Fetcher = fetch.NewParallel(o.Store, o.Limit)
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
