package presets

import (
	"cmp"
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

// warmupConfig returns the pipeline.Config of the warm-up preset (see the
// package doc).
func warmupConfig(o Options) (pipeline.Config, error) {
	var errs []error
	if o.Index == nil {
		errs = append(errs, errors.New("presets: Options.Index is nil, want the metadata index to rank"))
	}
	var room filter.Room
	switch r, ok := o.Store.(filter.Room); {
	case o.Store == nil:
		errs = append(errs, fmt.Errorf("presets: %s fetches, so Options.Store must be set", NameWarmup))
	case !ok:
		errs = append(errs, fmt.Errorf("presets: %s fetches only into free room, so Options.Store (%T) must implement filter.Room (presets.TiersWithRoom)", NameWarmup, o.Store))
	default:
		room = r
	}
	if err := o.checkLimit(); err != nil {
		errs = append(errs, err)
	}
	if o.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("presets: MaxInFlight = %d, want >= 1 (0 means the default, Limit)", o.MaxInFlight))
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
	if p, ok := o.Store.(filter.Pending); ok {
		// At most MaxInFlight GETs in flight across the worker, however
		// slow they get: a grid's cycles overlap when GETs outlast them.
		capped := &filter.Budget{MaxInFlight: cmp.Or(o.MaxInFlight, o.Limit, fetch.DefaultLimit), Pending: p}
		cfg.Filters = []pipeline.Filter{capped, filter.NewFreeRoom(room)}
	}
	cfg.Fetcher = fetch.NewParallel(o.Store, o.Limit)
	return o.withMetrics(cfg)
}
