// Package presets wires the stages into the ready cycles a node embeds
// (the seed's three, a warm-up and a hint-driven one), and is the one place
// the module reads the environment.
//
//   - [V1DryRun] scores, selects and reports, and never fetches (the seed's
//     v1 worker, kept for diagnostics and canaries).
//   - [V2Sequential] skips blocks already in flat and fetches the rest one
//     after another (the seed's v2 worker); a block whose fetch failed
//     backs off ([filter.Backoff]) so that others get its slot.
//   - [V3Parallel] does the same with at most Options.Limit fetches in
//     flight (the seed's v3 TODO).
//
// Beside them, [Warmup] is the background policy the replay lab found to
// never do harm (it fetches only into free room, e.g. after a restart), and
// [Hinted] fetches the blocks of requests the node already knows about
// (its scheduler queue, its router), woken at once by each hint: see
// replay/RESULTS.md for what each recovers on real traces.
//
// The three seed presets snapshot the index, score with [score.RFC0008], select with
// [topk.Heap] and write the seed's [MyelonInstr] lines (fn
// "prefetch_cycle", "prefetch_cycle_v2" and "prefetch_cycle_v3") to
// Options.InstrLog. Given Options.Registerer, every preset also counts its
// cycles and fetches into Prometheus metrics. [Config]
// returns a preset's pipeline.Config for callers that adjust it before
// pipeline.New; [ByName] and [FromEnv] select a preset at run time.
//
// [MyelonInstr]: https://pkg.go.dev/github.com/wombatkv/prefetch/stages/emit#MyelonInstr
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

// Preset names, for [ByName] and [FromEnv].
const (
	NameV1 = "v1"
	NameV2 = "v2"
	NameV3 = "v3"
)

// Names lists the valid preset names.
func Names() []string { return []string{NameV1, NameV2, NameV3, NameWarmup} }

// Store is what the fetching presets need of the tiers: presence in flat
// (for the already-flat filter) and materialization from cold. A store
// that also implements [filter.InFlight] gets the in-flight filter.
type Store interface {
	filter.Flat
	fetch.Materializer
}

// Options configure a preset. Zero fields mean the defaults of
// [pipeline.Config] (500 ms, top 8, namespace "tp-default", 5 s per fetch).
type Options struct {
	// Index is the metadata index to rank. Required.
	Index index.Reader
	// Store is the flat and cold tiers. Required by v2 and v3; v1 ignores
	// it.
	Store Store
	// Model is the active model's digest for RFC 0008's affinity bonus;
	// the zero digest disables the bonus.
	Model block.ModelDigest
	// Namespace, TopK, Interval, FetchTimeout, CycleFetchTimeout and
	// CycleByteBudget set the same fields of pipeline.Config.
	Namespace         string
	TopK              int
	Interval          time.Duration
	FetchTimeout      time.Duration
	CycleFetchTimeout time.Duration
	CycleByteBudget   int64
	// Limit is the fan-out of v3, Warmup and Hinted: the most fetches in
	// flight (default 8).
	Limit int
	// Backoff is v2's and v3's backoff for failing blocks, a pre-filter
	// (nil means a new filter.Backoff with its defaults: 1 s doubling to
	// 5 min). Pass one to tune it or to share it between pipelines.
	Backoff *filter.Backoff
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

// Config returns the pipeline.Config of the preset called name, or an error
// naming the valid presets or a missing option.
func Config(name string, o Options) (pipeline.Config, error) {
	if name == NameWarmup {
		return WarmupConfig(o)
	}
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
			format, fetcher = emit.V3, &fetch.Parallel{M: o.Store, Limit: o.Limit}
		}
	default:
		errs = append(errs, fmt.Errorf("presets: unknown preset %q, want one of %s", name, strings.Join(Names(), ", ")))
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
func needFetch(st Store) []pipeline.Filter {
	fs := []pipeline.Filter{filter.NewAlreadyFlat(st)}
	if inf, ok := st.(filter.InFlight); ok {
		fs = append(fs, filter.NewNotInFlight(inf))
	}
	return fs
}

// ByName returns the pipeline of the preset called name: "v1", "v2", "v3"
// or "warmup". The hint preset needs its own options: see [Hinted].
func ByName(name string, o Options) (*pipeline.Pipeline, error) {
	cfg, err := Config(name, o)
	if err != nil {
		return nil, err
	}
	return pipeline.New(cfg)
}

// V1DryRun returns the dry-run pipeline: it scores, selects and writes the
// seed's v1 line, and never fetches.
func V1DryRun(o Options) (*pipeline.Pipeline, error) { return ByName(NameV1, o) }

// V2Sequential returns the sequential pipeline: top K, skip already-flat,
// fetch one by one.
func V2Sequential(o Options) (*pipeline.Pipeline, error) { return ByName(NameV2, o) }

// V3Parallel returns the parallel pipeline: top K, skip already-flat (and
// in-flight), fetch with at most Options.Limit in flight.
func V3Parallel(o Options) (*pipeline.Pipeline, error) { return ByName(NameV3, o) }

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
// pipeline: v1 when EnvDryRun is truthy, else EnvPreset (default v3); the
// namespace from EnvNamespace when o.Namespace is empty. A nil getenv means
// os.Getenv; tests pass a map lookup instead of touching the process
// environment.
func FromEnv(getenv func(string) string, o Options) (string, *pipeline.Pipeline, error) {
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
	p, err := ByName(name, o)
	if err != nil {
		return "", nil, fmt.Errorf("%w (from the environment: %s=%q, %s=%q, %s=%q)", err,
			EnvDryRun, getenv(EnvDryRun), EnvPreset, getenv(EnvPreset), EnvNamespace, getenv(EnvNamespace))
	}
	return name, p, nil
}
