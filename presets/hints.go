package presets

import (
	"errors"
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
)

// Defaults of the hints preset's [Options].
const (
	// DefaultHintGetsPerSecond is the hint budget's rate: what the v3 grid
	// spends at most (TopK 8 per 500 ms).
	DefaultHintGetsPerSecond = 16
	// DefaultHintBurst is the hint budget's depth: one grid cycle's worth.
	DefaultHintBurst = 8
	// DefaultHintGetTime is the expected duration of one GET when
	// Options.GetTime is nil (score.DefaultGetTime).
	DefaultHintGetTime = score.DefaultGetTime
	// DefaultHintInterval is the hint pipeline's tick. Its cycles look
	// only at the pending hints, so they are cheap; a tick shorter than
	// the grid's lets the budget's tokens be spent as they come.
	DefaultHintInterval = 100 * time.Millisecond
)

// hintsConfig returns the pipeline.Config of the hints preset (see the
// package doc).
func hintsConfig(o Options) (pipeline.Config, error) {
	var errs []error
	if o.Hints == nil {
		errs = append(errs, fmt.Errorf("presets: %s fetches the blocks of the requests the node announces, so Options.Hints must be set to the intake it feeds (snapshot.NewHints)", NameHints))
	}
	if o.Store == nil {
		errs = append(errs, fmt.Errorf("presets: %s fetches, so Options.Store must be set", NameHints))
	}
	if err := o.checkLimit(); err != nil {
		errs = append(errs, err)
	}
	if o.GetsPerSecond < 0 || o.GetsPerSecond > 1e18 || o.GetsPerSecond != o.GetsPerSecond {
		errs = append(errs, fmt.Errorf("presets: GetsPerSecond = %v, want > 0 (0 means the default, %d)", o.GetsPerSecond, DefaultHintGetsPerSecond))
	}
	if o.Burst < 0 {
		errs = append(errs, fmt.Errorf("presets: Burst = %d, want >= 1 (0 means the default, %d)", o.Burst, DefaultHintBurst))
	}
	if err := errors.Join(errs...); err != nil {
		return pipeline.Config{}, err
	}
	if o.GetsPerSecond == 0 {
		o.GetsPerSecond = DefaultHintGetsPerSecond
	}
	if o.Burst == 0 {
		o.Burst = DefaultHintBurst
	}
	if o.Interval == 0 {
		o.Interval = DefaultHintInterval
	}
	cfg := o.base(emit.V3)
	cfg.Sources = []pipeline.Source{o.Hints}
	cfg.Scorer = score.NewDeadline(o.Hints, o.GetTime)
	cfg.Selector = topk.Heap{}
	cfg.PreFilters = needFetch(o.Store)
	// The intake learns which hinted blocks were found in flat (served,
	// not expired), with or without metrics.
	watchFlat(o.Hints, cfg.PreFilters)
	cfg.Filters = []pipeline.Filter{filter.NewBudget(0, o.GetsPerSecond, o.Burst)} // TopK is the per-cycle cap
	cfg.Fetcher = fetch.NewParallel(o.Store, o.Limit)
	return o.withMetrics(cfg)
}
