package presets

import (
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// withMetrics returns cfg, a preset's finished config, with the metrics of
// o.Registerer wired in: an [emit.Prometheus] called first, before the
// MyelonInstr line, and [fetch.Instrument] around the Materializer of a
// fetcher that has one. Only the fetcher goes through the middleware: the
// filters keep the store itself, with its optional interfaces
// ([filter.InFlight], [filter.Room]). When the pipeline reads o.Hints,
// [emit.NewHintMetrics] too (the hint preset's already-flat filter tells
// the intake what it finds in flat, [snapshot.Hints.WatchFlat], so a hint
// whose block was in flat counts as served, not expired). A nil Registerer
// returns cfg as is; a failure registers nothing.
func (o Options) withMetrics(cfg pipeline.Config) (pipeline.Config, error) {
	if o.Registerer == nil {
		return cfg, nil
	}
	var m *fetch.Materializer
	switch f := cfg.Fetcher.(type) {
	case nil, fetch.DryRun: // nothing fetched: no fetch metrics
	case *fetch.Sequential:
		m = &f.Materializer
	case *fetch.Parallel:
		m = &f.Materializer
	default:
		return pipeline.Config{}, fmt.Errorf("presets: cannot instrument a %T fetcher (a preset's bug: withMetrics knows Sequential and Parallel)", cfg.Fetcher)
	}
	reg := &undoRegisterer{Registerer: o.Registerer}
	fail := func(err error) (pipeline.Config, error) {
		reg.undo()
		return pipeline.Config{}, fmt.Errorf("presets: Options.Registerer: %w; "+
			`two pipelines on one registry need a label each, of the same name (prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": "hints"}, reg))`, err)
	}
	pe, err := emit.NewPrometheus(reg, emit.PrometheusOptions{})
	if err != nil {
		return fail(err)
	}
	hints := o.Hints != nil && slices.Contains(cfg.Sources, pipeline.Source(o.Hints))
	if hints {
		if _, err := emit.NewHintMetrics(reg, o.Hints, emit.HintMetricsOptions{}); err != nil {
			return fail(err)
		}
	}
	if m != nil {
		instrument, err := fetch.Instrument(reg, fetch.InstrumentOptions{})
		if err != nil {
			return fail(err)
		}
		*m = instrument(*m)
	}
	switch e := cfg.Emitter.(type) {
	case nil:
		cfg.Emitter = pe
	case emit.Multi:
		cfg.Emitter = append(emit.Multi{pe}, e...)
	default:
		cfg.Emitter = emit.Multi{pe, e}
	}
	return cfg, nil
}

// watchFlat has the already-flat filters among fs tell hints what they
// find in flat.
func watchFlat(hints *snapshot.Hints, fs []pipeline.Filter) {
	for _, f := range fs {
		if af, ok := f.(*filter.AlreadyFlat); ok {
			af.Flat = hints.WatchFlat(af.Flat)
		}
	}
}

// undoRegisterer remembers what it registered, so that a failure part way
// through a preset's metrics can unregister the rest.
type undoRegisterer struct {
	prometheus.Registerer
	done []prometheus.Collector
}

func (u *undoRegisterer) Register(c prometheus.Collector) error {
	if err := u.Registerer.Register(c); err != nil {
		return err
	}
	u.done = append(u.done, c)
	return nil
}

func (u *undoRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := u.Register(c); err != nil {
			panic(err)
		}
	}
}

// undo unregisters everything u registered.
func (u *undoRegisterer) undo() {
	for _, c := range u.done {
		u.Registerer.Unregister(c)
	}
	u.done = nil
}
