package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/internal/joined"
)

// Defaults for the zero fields of [Config].
const (
	// DefaultInterval is the seed's 500 ms between cycles.
	DefaultInterval = 500 * time.Millisecond
	// DefaultTopK is the seed's 8 candidates per cycle.
	DefaultTopK = 8
	// DefaultNamespace is the node's default namespace (the seed's C ABI
	// default for WMBT_KV_NAMESPACE).
	DefaultNamespace = "tp-default"
	// DefaultFetchTimeout is the seed's 5 s per-fetch cap.
	DefaultFetchTimeout = 5 * time.Second
	// MaxTopK bounds TopK: a cycle holds its K selected candidates (about
	// 160 B each) and their fetch results at once, so K must not be what
	// exhausts memory. 1<<20 candidates is about 160 MiB, far more GETs
	// than one cycle can make.
	MaxTopK = 1 << 20
)

// DefaultCycleFetchTimeout is the default deadline of one cycle's whole
// fetch stage: two per-fetch deadlines (10 s with the default FetchTimeout),
// so a dead object store cannot hold a sequential cycle for K x 5 s.
func DefaultCycleFetchTimeout(fetchTimeout time.Duration) time.Duration { return 2 * fetchTimeout }

// Config composes a pipeline. Zero fields mean the defaults; the stages
// Sources, Scorer and Selector are required (the presets package fills them
// for the usual cases).
type Config struct {
	// Interval is the time between the starts of two worker cycles
	// (default 500 ms). A cycle that overruns delays the next; ticks are
	// not queued.
	Interval time.Duration
	// TopK is how many candidates a cycle selects (default 8, at most
	// MaxTopK).
	TopK int
	// Namespace is the namespace blocks are fetched in (default
	// "tp-default"); see [block.ValidateNamespace].
	Namespace string
	// FetchTimeout is the deadline of one fetch (default 5 s), enforced by
	// the fetch stage through its context; an overrun counts as failed
	// with reason FailDeadline.
	FetchTimeout time.Duration
	// CycleFetchTimeout is the deadline of one cycle's whole fetch stage
	// (default two FetchTimeouts: 10 s); at least FetchTimeout. Fetches in
	// flight when it passes are canceled, and those not yet started are
	// not started; both count as failed with reason FailCycleDeadline.
	CycleFetchTimeout time.Duration
	// CycleByteBudget caps the payload bytes one cycle fetches (0: no cap,
	// K alone bounds the load). Selected blocks are taken in rank order;
	// one whose Meta.PayloadBytes would overrun what is left of the budget
	// is skipped with reason SkipByteBudget, and a smaller one after it may
	// still fit. A block of unknown size (see [block.Meta.Size]) is
	// skipped with reason SkipUnknownSize: a budget cannot vouch for it.
	CycleByteBudget int64

	// Sources supply the candidates; a cycle draws on all of them. When
	// there are several, a block proposed twice is taken once (the first
	// source wins). Beside an index (a snapshot.Index over an
	// index.Memory), other sources cost in proportion to their own size:
	// their blocks are looked up in the index; with no such index the
	// cycle remembers every candidate's hash.
	Sources []Source
	// Scorer scores each candidate.
	Scorer Scorer
	// Selector keeps the TopK best.
	Selector Selector
	// PreFilters choose the candidates the top K is selected among: a
	// candidate a pre-filter drops cannot be selected, and the next best
	// takes its slot. They are asked only about candidates that could
	// still be selected when they are seen — with a selector that
	// publishes its K-th best (a ThresholdSelector: topk.Heap,
	// topk.Quickselect), that is the few that beat it, so a pre-filter
	// costs little even over millions of entries; with any other selector,
	// every candidate. Outcome.Skipped counts the candidates they drop, and
	// Outcome.Scored leaves them out.
	PreFilters []Filter
	// Filters run on the selected candidates, in order; the first that
	// gives a reason drops the candidate.
	Filters []Filter
	// Fetcher materializes the survivors. Nil means a dry run: nothing is
	// fetched.
	Fetcher Fetcher
	// Emitter reports each cycle. Nil means none.
	Emitter Emitter
	// Observers are shown each finished cycle, after the stages that
	// implement Observer themselves.
	Observers []Observer

	// Clock is the time source for scoring (default time.Now). Replay
	// injects a virtual clock here.
	Clock func() time.Time
	// Logger receives stage failures (default: discard).
	Logger *slog.Logger
}

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.TopK == 0 {
		c.TopK = DefaultTopK
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.CycleFetchTimeout == 0 {
		base := c.FetchTimeout
		if base <= 0 { // invalid: Validate reports FetchTimeout alone
			base = DefaultFetchTimeout
		}
		c.CycleFetchTimeout = DefaultCycleFetchTimeout(base)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with c at once (joined with errors.Join),
// each naming the field, its value and what is allowed: first c's own
// fields, then those of the stages that implement [Validator]. Call it on
// c.WithDefaults(): a zero field that has a default is reported as missing.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("pipeline: "+format, args...)) }
	if c.Interval <= 0 {
		bad("Interval = %v, want > 0 (0 means the default, %v)", c.Interval, DefaultInterval)
	}
	switch {
	case c.TopK <= 0:
		bad("TopK = %d, want >= 1 (0 means the default, %d)", c.TopK, DefaultTopK)
	case c.TopK > MaxTopK:
		bad("TopK = %d, want at most MaxTopK (%d): a cycle holds its K candidates in memory", c.TopK, MaxTopK)
	}
	if err := block.ValidateNamespace(c.Namespace); err != nil {
		bad("Namespace = %q: %w (empty means the default, %q)", c.Namespace, err, DefaultNamespace)
	}
	if c.FetchTimeout <= 0 {
		bad("FetchTimeout = %v, want > 0 (0 means the default, %v)", c.FetchTimeout, DefaultFetchTimeout)
	}
	if c.CycleFetchTimeout <= 0 || c.FetchTimeout > 0 && c.CycleFetchTimeout < c.FetchTimeout {
		bad("CycleFetchTimeout = %v, want >= FetchTimeout (%v) (0 means the default, 2 x FetchTimeout)", c.CycleFetchTimeout, c.FetchTimeout)
	}
	if c.CycleByteBudget < 0 {
		bad("CycleByteBudget = %d, want >= 0 (0 means no cap)", c.CycleByteBudget)
	}
	if len(c.Sources) == 0 {
		bad("Sources is empty, want at least one (e.g. snapshot.Index)")
	}
	for i, s := range c.Sources {
		if s == nil {
			bad("Sources[%d] is nil", i)
		}
	}
	if c.Scorer == nil {
		bad("Scorer is nil, want one (e.g. score.RFC0008)")
	}
	if c.Selector == nil {
		bad("Selector is nil, want one (e.g. topk.Heap)")
	}
	for i, f := range c.PreFilters {
		if f == nil {
			bad("PreFilters[%d] is nil", i)
		}
	}
	for i, f := range c.Filters {
		if f == nil {
			bad("Filters[%d] is nil", i)
		}
	}
	for i, o := range c.Observers {
		if o == nil {
			bad("Observers[%d] is nil", i)
		}
	}
	if c.Clock == nil {
		bad("Clock is nil (call WithDefaults first)")
	}
	if c.Logger == nil {
		bad("Logger is nil (call WithDefaults first)")
	}
	stage := func(field string, s any) {
		v, ok := s.(Validator)
		if !ok {
			return
		}
		for _, err := range joined.Split(v.Validate()) {
			errs = append(errs, fmt.Errorf("pipeline: %s: %w", field, err))
		}
	}
	for i, s := range c.Sources {
		stage(fmt.Sprintf("Sources[%d]", i), s)
	}
	stage("Scorer", c.Scorer)
	stage("Selector", c.Selector)
	for i, f := range c.PreFilters {
		stage(fmt.Sprintf("PreFilters[%d]", i), f)
	}
	for i, f := range c.Filters {
		stage(fmt.Sprintf("Filters[%d]", i), f)
	}
	stage("Fetcher", c.Fetcher)
	stage("Emitter", c.Emitter)
	for i, o := range c.Observers {
		stage(fmt.Sprintf("Observers[%d]", i), o)
	}
	return errors.Join(errs...)
}
