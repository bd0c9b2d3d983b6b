package presets

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// Defaults of the hints preset's [Options].
const (
	// DefaultHintGetsPerSecond is the hint budget's rate: what the v3 grid
	// spends at most (TopK 8 per 500 ms).
	DefaultHintGetsPerSecond = 16
	// DefaultHintBurst is the hint budget's depth: one second of
	// DefaultHintGetsPerSecond. The bucket banks GETs in quiet spells
	// for the next burst of hints; a depth of 8 + 16 x D is worth about D
	// seconds more lead (replay/RESULTS.md), while MaxInFlight bounds how
	// many of them run at once.
	DefaultHintBurst = 16
	// DefaultHintLease is the hints preset's lease of hinted blocks
	// already in flat, on a store that leases (snapshot.Leaser).
	DefaultHintLease = snapshot.LeaseTouch
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
	if o.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("presets: MaxInFlight = %d, want >= 1 (0 means the default, Limit)", o.MaxInFlight))
	}
	leaser, leases := o.Store.(snapshot.Leaser)
	if o.Lease != "" {
		if err := o.Lease.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("presets: Lease: %w", err))
		} else if o.Lease != snapshot.LeaseNone && o.Store != nil && !leases {
			errs = append(errs, fmt.Errorf("presets: Lease = %q needs a Store that leases (snapshot.Leaser), and %T does not; leave Lease empty for the default (%s when the store leases, else none)", string(o.Lease), o.Store, DefaultHintLease))
		}
	}
	if o.LeaseGrace < 0 {
		errs = append(errs, fmt.Errorf("presets: LeaseGrace = %v, want >= 0 (0 means the default, %v)", o.LeaseGrace, snapshot.DefaultLeaseGrace))
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
	if o.MaxInFlight == 0 {
		o.MaxInFlight = cmp.Or(o.Limit, fetch.DefaultLimit)
	}
	if o.Lease == "" {
		o.Lease = snapshot.LeaseNone
		if leases {
			o.Lease = DefaultHintLease
		}
	}
	if o.LeaseGrace == 0 {
		o.LeaseGrace = snapshot.DefaultLeaseGrace
	}
	if err := o.Hints.SetLease(o.Lease, leaser, o.LeaseGrace); err != nil {
		return pipeline.Config{}, fmt.Errorf("presets: %w", err) // checked above
	}
	cfg := o.base(emit.V3)
	cfg.Sources = []pipeline.Source{o.Hints}
	cfg.Scorer = score.NewDeadline(o.Hints, o.GetTime)
	cfg.Selector = topk.Heap{}
	cfg.PreFilters = needFetch(o.Store)
	// The intake learns which hinted blocks were found in flat (served,
	// not expired), with or without metrics.
	watchFlat(o.Hints, cfg.PreFilters)
	budget := filter.NewBudget(0, o.GetsPerSecond, o.Burst) // TopK is the per-cycle cap
	if p, ok := o.Store.(filter.Pending); ok {
		budget.MaxInFlight, budget.Pending = o.MaxInFlight, p
	}
	cfg.Filters = []pipeline.Filter{budget}
	cfg.Fetcher = fetch.NewParallel(o.Store, o.Limit)
	return o.withMetrics(cfg)
}
