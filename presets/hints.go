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
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// Defaults of [HintOptions].
const (
	// DefaultHintGetsPerSecond is the hint budget's rate: what the v3 grid
	// spends at most (TopK 8 per 500 ms).
	DefaultHintGetsPerSecond = 16
	// DefaultHintBurst is the hint budget's depth: one grid cycle's worth.
	DefaultHintBurst = 8
	// DefaultHintGetTime is the expected duration of one GET when
	// HintOptions.GetTime is nil (score.DefaultGetTime).
	DefaultHintGetTime = score.DefaultGetTime
	// DefaultHintInterval is the hint pipeline's tick. Its cycles look
	// only at the pending hints, so they are cheap; a tick shorter than
	// the grid's lets the budget's tokens be spent as they come.
	DefaultHintInterval = 100 * time.Millisecond
)

// HintOptions configure [Hinted]: a fetching preset's options, the intake
// the node feeds, and the GET budget.
type HintOptions struct {
	// Options are the shared options; Store is required, Index is not
	// used (give the intake a Lookup over the index instead), Interval
	// defaults to DefaultHintInterval.
	Options
	// Hints is the intake the node feeds with the blocks of the requests
	// it knows about before serving them. Required.
	Hints *snapshot.Hints
	// GetsPerSecond and Burst are the budget's token bucket (defaults 16
	// and 8). Each cycle also fetches at most TopK.
	GetsPerSecond float64
	Burst         int
	// GetTime is how long a GET of a block of the given payload size is
	// expected to take (nil means DefaultHintGetTime for any block). A
	// hinted block due sooner than that cannot land before its request,
	// so it ranks after every block that can.
	GetTime func(payloadBytes uint64) time.Duration
}

// HintsConfig returns the pipeline.Config of the hint preset: each cycle
// takes the pending hinted blocks that are neither in flat nor in flight,
// ranks them by deadline ([score.Deadline]: the earliest Due first, then
// the lower Seq, so a request's prefix comes first), keeps TopK within the
// GET budget ([filter.Budget]) and fetches them with at most Limit in
// flight. It writes the MyelonInstr v3 line.
//
// A hint is a perfect predictor: every block fetched is read by the
// request that was announced, unless it is evicted first. The budget keeps
// the GET rate at the grid's, so the gain comes from knowing what to
// fetch and when, not from spending more.
func HintsConfig(o HintOptions) (pipeline.Config, error) {
	var errs []error
	if o.Hints == nil {
		errs = append(errs, errors.New("presets: HintOptions.Hints is nil, want the intake the node feeds (snapshot.NewHints)"))
	}
	if o.Store == nil {
		errs = append(errs, errors.New("presets: the hint preset fetches, so Options.Store must be set"))
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
	cfg.Filters = []pipeline.Filter{filter.NewBudget(0, o.GetsPerSecond, o.Burst)} // TopK is the per-cycle cap
	cfg.Fetcher = fetch.NewParallel(o.Store, o.Limit)
	return o.withMetrics(cfg)
}

// Hinted returns the hint pipeline (see [HintsConfig]).
func Hinted(o HintOptions) (*pipeline.Pipeline, error) {
	cfg, err := HintsConfig(o)
	if err != nil {
		return nil, err
	}
	return pipeline.New(cfg)
}

// HintedWorker returns a stopped worker running the hint pipeline, with
// the intake's notify function set to the worker's Wake: a hint starts a
// cycle at once, and hints that arrive while a cycle runs coalesce into
// one more.
func HintedWorker(o HintOptions) (*pipeline.Worker, error) {
	p, err := Hinted(o)
	if err != nil {
		return nil, err
	}
	w := pipeline.NewWorker(p)
	o.Hints.SetNotify(w.Wake)
	return w, nil
}
