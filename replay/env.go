package replay

import (
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// Tiers are the lab's simulated flat and cold tiers, through the
// interfaces a real store (store.Store) satisfies: presence in flat, GETs
// in flight (each block's, and how many), flat's free room, leases of
// hinted blocks, and materialization from cold. They are
// [presets.TiersWithRoom] and a policy.Store.
type Tiers interface {
	filter.Flat
	filter.InFlight
	filter.Pending
	filter.Room
	snapshot.Leaser
	fetch.Materializer
}

// The run is the tiers, as the shipped presets and the policy package's
// stages take them.
var (
	_ Tiers                 = (*run)(nil)
	_ presets.TiersWithRoom = Tiers(nil)
	_ policy.Store          = Tiers(nil)
)

// Env is the simulated node one replay builds a policy over
// ([Policy.Build]): its index, its tiers, the virtual clock, the hint
// intake the lab feeds, and the lab's clairvoyant stage. A new Env is made
// for each replay; its values serve that replay alone.
type Env struct {
	// Settings are the replay's settings, defaults filled in: a policy
	// reads its budget (TopK, Interval, Limit, GetsPerSecond, Burst,
	// MaxInFlight), its lease (Lease) and its scorer's weights and
	// half-life from them, as the shipped policies do.
	Settings Settings
	// Index is the node's metadata index: every block seen so far, with
	// its last access, position and parent. A policy reads it; the lab
	// alone writes it, as requests are served, unless every stage of the
	// policy's config is one the lab knows reads nothing of it (the
	// oracle's, see [Policy]): then nothing does, and it stays empty.
	Index *index.Memory
	// Tiers are the flat and cold tiers, for the filters and fetchers. A
	// GET does not block: Materialize answers at once, and the lab times
	// the GET from the config's fetcher (see [Policy]).
	Tiers Tiers
	// Model is the digest every block of the lab carries: the active
	// model, for RFC 0008's model bonus.
	Model block.ModelDigest
	// Clock is the virtual clock: give it to the pipeline (Config.Clock;
	// the lab sets it when left nil) and to any stage that reads the time.
	Clock func() time.Time
	// GetTime is the lab's cost of one GET of a block of the given payload
	// size (Settings.GetCost), for a scorer that ranks by deadline
	// (score.NewDeadline, presets.Options.GetTime).
	GetTime func(payloadBytes uint64) time.Duration

	r      *run
	hints  *snapshot.Hints
	oracle *Oracle
}

// labEntriesPerShard sizes the lab's index: a replay is one goroutine, so
// no writer waits behind a scan, and every cycle visits every shard; a
// shard of about this many of the trace's blocks keeps that walk short.
const labEntriesPerShard = 512

func newEnv(r *run, s Settings) *Env {
	x, err := index.New(index.Options{
		Now:           r.clock,
		Shards:        min(max(len(r.m.ids)/labEntriesPerShard, 1), index.MaxShards),
		CountHalfLife: s.CountHalfLife,
	})
	if err != nil {
		panic(err) // not reached: Settings.Validate checked CountHalfLife
	}
	r.idx = x
	return &Env{
		Settings: s,
		Index:    r.idx,
		Tiers:    r,
		Model:    labModel(),
		Clock:    r.clock,
		GetTime: func(n uint64) time.Duration {
			return s.GetCost(int64(min(n, math.MaxInt64)))
		},
		r: r,
	}
}

// Hints returns the replay's hint intake, made at the first call: the lab
// adds each request's blocks to it Settings.Lead before the request is
// served (see [Config.Leads]). A policy that calls it reads hints, and
// must say so with [Policy.UsesLead].
//
// The intake looks its blocks up in Index, holds up to 2^20 pending
// hints, stamps them with the virtual clock, and its notify function
// wakes a cycle at the instant hints arrive, as a node's worker is woken
// (presets.Worker, policy.Spec.Worker). A grid-bound policy, whose cycles
// run on the grid alone, clears it: h.SetNotify(nil).
func (e *Env) Hints() *snapshot.Hints {
	if e.hints == nil {
		r := e.r
		e.hints = snapshot.NewHints(snapshot.HintsConfig{
			Lookup:   r.idx.Get,
			Capacity: 1 << 20,
			Notify:   func() { r.wake = true },
			Clock:    r.clock,
		})
	}
	return e.hints
}

// PresetOptions returns the options of a preset over the node: Index,
// Tiers, Model, Clock and GetTime, with the budget and lease of Settings
// (TopK, Interval, Limit, GetsPerSecond, Burst, MaxInFlight, Lease) and
// the presets' MyelonInstr lines written to io.Discard, as a node writes
// them somewhere. Hints is left nil: set it to [Env.Hints] for the hints
// preset.
//
//	cfg, err := presets.Config(presets.NameV3, env.PresetOptions())
//	cfg.Scorer = myScorer
func (e *Env) PresetOptions() presets.Options {
	s := e.Settings
	return presets.Options{
		Index:         e.Index,
		Store:         e.Tiers,
		Model:         e.Model,
		TopK:          s.TopK,
		Interval:      s.Interval,
		Limit:         s.Limit,
		GetsPerSecond: s.GetsPerSecond,
		Burst:         s.Burst,
		MaxInFlight:   s.MaxInFlight,
		Lease:         s.Lease,
		GetTime:       e.GetTime,
		InstrLog:      io.Discard,
		Clock:         e.Clock,
	}
}

// Built is a policy made ready for one replay: its pipeline's config, and
// where the blocks it prefetches enter flat.
type Built struct {
	// Config is the policy's pipeline over the Env. A nil Clock is the
	// virtual clock. Its Fetcher is *fetch.Sequential (the GETs of a
	// cycle complete one after another), *fetch.Parallel (at most Limit
	// in flight), fetch.DryRun or nil (no GET): the lab times GETs by it.
	Config pipeline.Config
	// Admission is where a prefetched block enters flat; the zero value
	// means Settings.Admission. ParseAdmission reads a store's string
	// ("lru", "probation:0.1").
	Admission Admission
}

// build makes p ready for the replay whose node e is: its pipeline, its
// GET timing, rate and idle promise, all read from the config p builds.
func (p *Policy) build(e *Env) (*built, error) {
	if p.Build == nil {
		return &built{}, nil
	}
	bt, err := p.callBuild(e)
	if err != nil {
		return nil, err
	}
	if e.hints != nil && !p.UsesLead {
		return nil, fmt.Errorf("Build reads the hint intake (Env.Hints), so Policy.UsesLead must be true for the lab to replay it at each lead")
	}
	if bt.Admission.Mode != "" {
		if err := bt.Admission.validate(); err != nil {
			return nil, err
		}
	}
	cfg := bt.Config
	if cfg.Clock == nil {
		cfg.Clock = e.Clock
	}
	pl, err := pipeline.New(cfg)
	if err != nil {
		return nil, err
	}
	cfg = pl.Config()
	t, err := timingOf(cfg.Fetcher)
	if err != nil {
		return nil, err
	}
	if f, ok := cfg.Fetcher.(*fetch.Parallel); ok && any(f.Materializer) == any(e.Tiers) {
		// The lab's tiers answer a GET at once (Materialize only reads
		// the run's state), so the window's goroutines would change
		// nothing but the cost: the GETs run one after another on the
		// cycle's goroutine, each the same Attempt, with the same
		// results in the same order; the lab times them as the window
		// (t).
		inline := cfg
		inline.Fetcher = fetch.NewSequential(f.Materializer)
		if pl, err = pipeline.New(inline); err != nil {
			return nil, err
		}
	}
	return &built{
		p:             pl,
		hints:         e.hints,
		admission:     bt.Admission,
		maxGetsPerSec: rateOf(cfg),
		timing:        t,
		quiet:         quietOf(cfg, e),
		readsIndex:    e.readsIndex(bt.Config),
	}, nil
}

// callBuild calls p.Build, turning a panic into an error: it is the
// policy author's code, and one replay's failure must not take the
// others down.
func (p *Policy) callBuild(e *Env) (b Built, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("Build panicked: %v\n%s", v, debug.Stack())
		}
	}()
	return p.Build(e)
}

// dryRun reports whether f fetches nothing.
func dryRun(f pipeline.Fetcher) bool {
	switch f.(type) {
	case nil, fetch.DryRun, *fetch.DryRun:
		return true
	}
	return false
}

// timingOf returns how the GETs of a cycle by f complete.
func timingOf(f pipeline.Fetcher) (timing, error) {
	if dryRun(f) {
		return timing{}, nil
	}
	switch f := f.(type) {
	case *fetch.Sequential:
		return timing{sequential: true}, nil
	case *fetch.Parallel:
		if f.Limit > 0 {
			return timing{limit: f.Limit}, nil
		}
		return timing{limit: fetch.DefaultLimit}, nil
	}
	return timing{}, fmt.Errorf("Config.Fetcher is a %T, but the lab times the GETs of *fetch.Sequential (one after another) and *fetch.Parallel (Limit in flight), and fetches nothing with fetch.DryRun or a nil Fetcher: use one of those", f)
}

// rateOf returns the GET rate cfg's pipeline keeps to, for the record: a
// budget's rate when a filter sets one (an event-driven pipeline's cycles
// are not bound to the grid), else what the grid lets through, TopK (or
// a budget's per-cycle cap) per Interval; 0 for a dry run.
func rateOf(cfg pipeline.Config) float64 {
	if dryRun(cfg.Fetcher) {
		return 0
	}
	perCycle, rate := cfg.TopK, math.Inf(1)
	for _, fs := range [][]pipeline.Filter{cfg.PreFilters, cfg.Filters} {
		for _, f := range fs {
			if b, ok := f.(*filter.Budget); ok {
				if b.Rate > 0 {
					rate = min(rate, b.Rate)
				}
				if b.PerCycle > 0 {
					perCycle = min(perCycle, b.PerCycle)
				}
			}
		}
	}
	if !math.IsInf(rate, 1) {
		return rate
	}
	return float64(perCycle) / cfg.Interval.Seconds()
}

// quietOf reads from cfg, a pipeline over e, what its cycles in an idle
// stretch promise (see idle.go), or nil for no promise: every cycle runs.
// The lab vouches only for stages it can reason about; figures are the
// same either way, only the time a replay takes differs.
//
//   - A dry run with no filters repeats whatever the time: it changes
//     nothing, and nothing is skipped.
//   - The top K of the whole index by score.RFC0008 or score.Recency,
//     with only a backoff before the selection and the already-flat
//     filter first among the filters but for ones of the run's state:
//     the decay certificate (rankedQuiet).
//   - Sources and pre-filters of the run's state alone (the index, the
//     hint intake, the oracle, a room gate over them; already-flat,
//     not-in-flight, free-room, backoff): a cycle that selected nothing
//     repeats, after two alike behind a room gate (it learns the
//     largest block when it scans).
func quietOf(cfg pipeline.Config, e *Env) quietFunc {
	if dryRun(cfg.Fetcher) && len(cfg.PreFilters) == 0 && len(cfg.Filters) == 0 && cfg.CycleByteBudget == 0 {
		return quietAlways
	}
	if len(cfg.Sources) == 1 && e.isIndex(cfg.Sources[0]) && knownSelector(cfg.Selector) &&
		allBackoff(cfg.PreFilters) && flatFirst(cfg.Filters) {
		if q := rankedQuiet(cfg.Scorer, int64(cfg.Interval)); q != nil {
			return q
		}
	}
	gated := false
	for _, src := range cfg.Sources {
		if g, ok := src.(*snapshot.RoomGate); ok && any(g.Room) == any(e.Tiers) && e.stateSource(g.Source) {
			gated = true
			continue
		}
		if !e.stateSource(src) {
			return nil
		}
	}
	for _, f := range cfg.PreFilters {
		if !stateFilter(f) {
			return nil
		}
	}
	if gated {
		return quietWarmup
	}
	return quietWhenNoneSelected
}

// readsIndex reports whether a stage of cfg, a pipeline over e, may read
// the index: false only when no hint intake was made (it looks its blocks
// up in the index) and every stage is one the lab knows, over the run's
// tiers or nothing: the oracle as source and scorer, the module's
// selectors, the filters of the run's state and the budget, the
// sequential and parallel fetchers or a dry run, the MyelonInstr
// emitter, and no observer. Such a replay (oracle-v3, the baseline of
// every run) does not keep the index: that saves an index write per block
// read, and changes no figure, as nothing reads it.
func (e *Env) readsIndex(cfg pipeline.Config) bool {
	if e.hints != nil || e.oracle == nil || len(cfg.Observers) > 0 || any(cfg.Scorer) != any(e.oracle) || !knownSelector(cfg.Selector) {
		return true
	}
	for _, src := range cfg.Sources {
		if any(src) != any(e.oracle) {
			return true
		}
	}
	for _, fs := range [][]pipeline.Filter{cfg.PreFilters, cfg.Filters} {
		for _, f := range fs {
			if !e.tiersFilter(f) {
				return true
			}
		}
	}
	switch f := cfg.Fetcher.(type) {
	case nil, fetch.DryRun, *fetch.DryRun:
	case *fetch.Sequential:
		if any(f.Materializer) != any(e.Tiers) {
			return true
		}
	case *fetch.Parallel:
		if any(f.Materializer) != any(e.Tiers) {
			return true
		}
	default:
		return true
	}
	switch cfg.Emitter.(type) {
	case nil, *emit.MyelonInstr:
		return false
	}
	return true
}

// tiersFilter reports whether f is a filter of the module over the run's
// tiers, or over nothing of the node (the backoff, the budget).
func (e *Env) tiersFilter(f pipeline.Filter) bool {
	t := any(e.Tiers)
	switch f := f.(type) {
	case *filter.Backoff:
		return true
	case *filter.Budget:
		return f.Pending == nil || any(f.Pending) == t
	case *filter.AlreadyFlat:
		return any(f.Flat) == t
	case *filter.NotInFlight:
		return any(f.InFlight) == t
	case *filter.FreeRoom:
		return any(f.Room) == t
	}
	return false
}

// isIndex reports whether src streams the node's whole index.
func (e *Env) isIndex(src pipeline.Source) bool {
	s, ok := src.(*snapshot.Index)
	return ok && any(s.Index) == any(e.Index)
}

// stateSource reports whether src proposes, between two events, what the
// run's state makes it: the index, the hint intake (whose hints are due
// at events), the oracle.
func (e *Env) stateSource(src pipeline.Source) bool {
	switch s := src.(type) {
	case *snapshot.Hints:
		return s == e.hints
	case *Oracle:
		return s == e.oracle
	}
	return e.isIndex(src)
}

// stateFilter reports whether f's verdicts, in an idle stretch with no
// GET in flight and no fetch ever failed, follow from the run's state.
func stateFilter(f pipeline.Filter) bool {
	switch f.(type) {
	case *filter.AlreadyFlat, *filter.NotInFlight, *filter.FreeRoom, *filter.Backoff:
		return true
	}
	return false
}

func allBackoff(fs []pipeline.Filter) bool {
	for _, f := range fs {
		if _, ok := f.(*filter.Backoff); !ok {
			return false
		}
	}
	return true
}

// flatFirst reports whether fs has an already-flat filter with only
// filters of the run's state before it: the certificate holds a cycle
// whose selected blocks it skipped, all of them.
func flatFirst(fs []pipeline.Filter) bool {
	for _, f := range fs {
		if _, ok := f.(*filter.AlreadyFlat); ok {
			return true
		}
		if !stateFilter(f) {
			return false
		}
	}
	return false
}

// knownSelector reports whether sel is one of the module's selectors,
// which keep the same K in the same order (score, then the lower hash).
func knownSelector(sel pipeline.Selector) bool {
	switch sel.(type) {
	case topk.Heap, *topk.Heap, topk.Quickselect, *topk.Quickselect, topk.FullSort, *topk.FullSort:
		return true
	}
	return false
}
