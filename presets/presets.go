package presets

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// Preset names, for [Config], [New], [Worker] and [FromEnv].
const (
	NameV1     = "v1"
	NameV2     = "v2"
	NameV3     = "v3"
	NameWarmup = "warmup"
	NameHints  = "hints"
)

// Names lists the valid preset names.
func Names() []string { return []string{NameV1, NameV2, NameV3, NameWarmup, NameHints} }

// Tiers is what the fetching presets need of a node's flat and cold tiers:
// presence in flat (for the already-flat filter) and materialization from
// cold. Tiers that also implement [filter.InFlight] get the in-flight
// filter; *store.Store implements both.
type Tiers interface {
	filter.Flat
	fetch.Materializer
}

// TiersWithRoom are [Tiers] that also report the flat tier's free room
// ([filter.Room]), as the warm-up preset needs.
type TiersWithRoom interface {
	Tiers
	filter.Room
}

// Options configure a preset. Zero fields mean the defaults of
// [pipeline.Config] (500 ms, top 8, namespace "tp-default", 5 s per fetch),
// or the preset's own where it says so.
type Options struct {
	// Index is the metadata index to rank. Required by every preset but
	// hints, which ranks what Hints holds (give the intake a Lookup over
	// the index instead).
	Index index.Reader
	// Store is the flat and cold tiers. Required by every preset but v1,
	// which ignores it; warmup needs [TiersWithRoom].
	Store Tiers
	// Model is the active model's digest for RFC 0008's affinity bonus;
	// the zero digest disables the bonus.
	Model block.ModelDigest
	// Namespace, TopK, Interval, FetchTimeout, CycleFetchTimeout and
	// CycleByteBudget set the same fields of pipeline.Config. The hints
	// preset's Interval defaults to DefaultHintInterval.
	Namespace         string
	TopK              int
	Interval          time.Duration
	FetchTimeout      time.Duration
	CycleFetchTimeout time.Duration
	CycleByteBudget   int64
	// Limit is the fan-out of v3, warmup and hints: the most fetches in
	// flight (default 8).
	Limit int
	// Backoff is v2's and v3's backoff for failing blocks, a pre-filter
	// (nil means a new filter.Backoff with its defaults: 1 s doubling to
	// 5 min). Pass one to tune it or to share it between pipelines.
	Backoff *filter.Backoff
	// Hints is the intake the node feeds with the blocks of the requests
	// it knows about before serving them (snapshot.NewHints). Required by
	// the hints preset; the others ignore it.
	Hints *snapshot.Hints
	// GetsPerSecond, Burst and MaxInFlight are the hints preset's GET
	// budget ([filter.Budget]), three separate limits: the average rate
	// (default DefaultHintGetsPerSecond), the depth of the token bucket
	// that holds it, the GETs banked during a quiet spell (default
	// DefaultHintBurst), and the most GETs in flight at once across the
	// worker, every overlapping cycle counted (default Limit), which
	// applies when Store counts its GETs in flight ([filter.Pending]).
	// Each cycle also fetches at most TopK. The warm-up preset takes
	// MaxInFlight too (its rate is the grid's); v1, v2 and v3 ignore
	// them.
	GetsPerSecond float64
	Burst         int
	MaxInFlight   int
	// Lease is what the hints preset asks of the flat tier for a hinted
	// block it already holds, when the hint first reaches a cycle
	// ([snapshot.Hints.SetLease]): snapshot.LeaseTouch (move it to the
	// most recently used end, so that it is not evicted before its
	// request), snapshot.LeasePin (also pin it until the hint's Due plus
	// LeaseGrace, within the store's bound) or snapshot.LeaseNone. Empty
	// means DefaultHintLease when Store implements [snapshot.Leaser], and
	// none otherwise; an explicit touch or pin needs a Store that does.
	// LeaseGrace 0 means snapshot.DefaultLeaseGrace. The other presets
	// ignore them.
	Lease      snapshot.LeaseMode
	LeaseGrace time.Duration
	// GetTime is how long the hints preset expects a GET of a block of the
	// given payload size to take (nil means DefaultHintGetTime for any
	// block). A hinted block due sooner than that cannot land before its
	// request, so it ranks after every block that can.
	GetTime func(payloadBytes uint64) time.Duration
	// InstrLog is where the [MyelonInstr] lines go; nil writes none (the
	// seed wrote them to stderr: pass os.Stderr for that). Logger, below,
	// is for stage failures.
	InstrLog io.Writer
	// Registerer receives the preset's metrics: [emit.NewPrometheus]'s per
	// cycle and, for a preset that fetches, [fetch.Instrument]'s around
	// Store's Materialize (the filters still ask Store itself, so a store
	// that tracks its fetches keeps the in-flight filter). Nil means no
	// metrics. Two pipelines on one registry need a label each, of the
	// same name: pass prometheus.WrapRegistererWith(prometheus.Labels{
	// "pipeline": "grid"}, reg) to one and {"pipeline": "hints"} to the
	// other.
	Registerer prometheus.Registerer
	// Emitters are called after the metrics and the MyelonInstr line, in
	// order.
	Emitters []pipeline.Emitter
	// Clock and Logger set the same fields of pipeline.Config.
	Clock  func() time.Time
	Logger *slog.Logger
}

// Config returns the pipeline.Config of the preset called name (one of
// [Names]), or an error naming the valid presets or every missing or bad
// option at once.
func Config(name string, o Options) (pipeline.Config, error) {
	switch name {
	case NameV1, NameV2, NameV3:
		return seedConfig(name, o)
	case NameWarmup:
		return warmupConfig(o)
	case NameHints:
		return hintsConfig(o)
	}
	return pipeline.Config{}, fmt.Errorf("presets: unknown preset %q, want one of %s", name, strings.Join(Names(), ", "))
}

// New returns the pipeline of the preset called name (see [Config]). Run
// the hints preset with [Worker] instead, so that a hint wakes it.
func New(name string, o Options) (*pipeline.Pipeline, error) {
	cfg, err := Config(name, o)
	if err != nil {
		return nil, err
	}
	return pipeline.New(cfg)
}

// Worker returns a stopped worker running the pipeline of the preset
// called name (see [Config]). For the hints preset, which reads
// Options.Hints, it also sets the intake's notify function to the
// worker's Wake: a hint starts a cycle at once, and hints that arrive
// while a cycle runs coalesce into one more.
func Worker(name string, o Options) (*pipeline.Worker, error) {
	p, err := New(name, o)
	if err != nil {
		return nil, err
	}
	w := pipeline.NewWorker(p)
	if name == NameHints {
		o.Hints.SetNotify(w.Wake)
	}
	return w, nil
}

// seedConfig returns the config of the seed's preset v1, v2 or v3: the
// index scored by RFC 0008, the top K fetched by nothing, one after
// another, or at most Limit at a time.
func seedConfig(name string, o Options) (pipeline.Config, error) {
	var errs []error
	if o.Index == nil {
		errs = append(errs, errors.New("presets: Options.Index is nil, want the metadata index to rank"))
	}
	if err := o.checkLimit(); err != nil {
		errs = append(errs, err)
	}
	var format emit.Format
	var fetcher pipeline.Fetcher
	switch name {
	case NameV1:
		format, fetcher = emit.V1, fetch.DryRun{}
	case NameV2, NameV3:
		if o.Store == nil {
			errs = append(errs, fmt.Errorf("presets: %s fetches, so Options.Store must be set (or use %s, the dry run)", name, NameV1))
			break
		}
		format, fetcher = emit.V2, fetch.NewSequential(o.Store)
		if name == NameV3 {
			format, fetcher = emit.V3, &fetch.Parallel{Materializer: o.Store, Limit: o.Limit}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return pipeline.Config{}, err
	}
	cfg := o.base(format)
	cfg.Sources = []pipeline.Source{snapshot.NewIndex(o.Index)}
	cfg.Scorer = score.NewRFC0008(o.Model)
	cfg.Selector = topk.Heap{}
	cfg.Fetcher = fetcher
	if name != NameV1 {
		backoff := o.Backoff
		if backoff == nil {
			backoff = filter.NewBackoff(0, 0)
		}
		cfg.PreFilters = []pipeline.Filter{backoff}
		cfg.Filters = needFetch(o.Store)
	}
	return o.withMetrics(cfg)
}

// base returns the pipeline.Config fields every preset takes from o, with
// an emitter writing MyelonInstr lines of format f to o.InstrLog (when
// set), then calling o.Emitters. A preset finishes its config with
// [Options.withMetrics].
func (o Options) base(f emit.Format) pipeline.Config {
	var emitter pipeline.Emitter
	if o.InstrLog != nil {
		emitter = emit.NewMyelonInstr(o.InstrLog, f)
	}
	switch {
	case len(o.Emitters) > 0 && emitter != nil:
		emitter = append(emit.Multi{emitter}, o.Emitters...)
	case len(o.Emitters) > 0:
		emitter = append(emit.Multi(nil), o.Emitters...)
	}
	return pipeline.Config{
		Interval:          o.Interval,
		TopK:              o.TopK,
		Namespace:         o.Namespace,
		FetchTimeout:      o.FetchTimeout,
		CycleFetchTimeout: o.CycleFetchTimeout,
		CycleByteBudget:   o.CycleByteBudget,
		Emitter:           emitter,
		Clock:             o.Clock,
		Logger:            o.Logger,
	}
}

// checkLimit reports a negative fan-out limit.
func (o Options) checkLimit() error {
	if o.Limit < 0 {
		return fmt.Errorf("presets: Limit = %d, want >= 1 (0 means the default, %d)", o.Limit, fetch.DefaultLimit)
	}
	return nil
}

// needFetch returns the filters that drop blocks st need not fetch: those
// already in flat and, when st tracks them, those being fetched.
func needFetch(st Tiers) []pipeline.Filter {
	fs := []pipeline.Filter{filter.NewAlreadyFlat(st)}
	if inf, ok := st.(filter.InFlight); ok {
		fs = append(fs, filter.NewNotInFlight(inf))
	}
	return fs
}

// Environment variables read by [FromEnv].
const (
	// EnvDryRun forces the v1 dry run when truthy (the seed's values: 1,
	// true, TRUE, yes, on).
	EnvDryRun = "WMBT_KV_PREFETCH_DRY_RUN"
	// EnvNamespace sets the namespace when Options.Namespace is empty.
	EnvNamespace = "WMBT_KV_NAMESPACE"
	// EnvPreset names the preset when the dry run is off (default v3).
	EnvPreset = "WMBT_KV_PREFETCH_PRESET"
)

// DryRunEnabled reports whether getenv(EnvDryRun) is one of the seed's
// truthy values: 1, true, TRUE, yes, on. A nil getenv means os.Getenv.
func DryRunEnabled(getenv func(string) string) bool {
	if getenv == nil {
		getenv = os.Getenv
	}
	switch getenv(EnvDryRun) {
	case "1", "true", "TRUE", "yes", "on":
		return true
	}
	return false
}

// FromEnv picks the preset from the environment and returns its name and
// a stopped worker running it (see [Worker]): v1 when EnvDryRun is truthy,
// else EnvPreset (default v3); the namespace from EnvNamespace when
// o.Namespace is empty. Any preset may be named, hints among them, which
// needs o.Hints: a node that can announce its requests sets it whatever
// the environment names, and the other presets ignore it. A nil getenv
// means os.Getenv; tests pass a map lookup instead of touching the process
// environment.
func FromEnv(getenv func(string) string, o Options) (string, *pipeline.Worker, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	name := NameV3
	if v := getenv(EnvPreset); v != "" {
		name = v
	}
	if DryRunEnabled(getenv) {
		name = NameV1
	}
	if o.Namespace == "" {
		o.Namespace = getenv(EnvNamespace)
	}
	w, err := Worker(name, o)
	if err != nil {
		return "", nil, fmt.Errorf("%w (from the environment: %s=%q, %s=%q, %s=%q)", err,
			EnvDryRun, getenv(EnvDryRun), EnvPreset, getenv(EnvPreset), EnvNamespace, getenv(EnvNamespace))
	}
	return name, w, nil
}
