package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// worker returns a stopped worker running what the flags name, the preset
// or the --policy file, over the generated node and ds (which runDemo
// fills in once the tiers are open): its MyelonInstr lines to stdout, its
// outcomes to emitters, its hints from hints (nil unless the pipeline
// reads hints), which wake it. A flag given on the command line overrides
// the preset's or the policy's setting; one left out leaves it to them.
func (f *demoFlags) worker(node *demoNode, ds *demoStore, hints *snapshot.Hints, emitters []pipeline.Emitter, stdout, stderr io.Writer) (*pipeline.Worker, error) {
	if f.spec == nil {
		o := presets.Options{
			Index:    node.index,
			Store:    ds,
			Model:    node.models[0],
			Hints:    hints,
			InstrLog: stdout,
			Emitters: emitters,
		}
		if f.given["limit"] {
			o.Limit = f.limit
		}
		cfg := pipeline.Config{}
		f.override(&cfg)
		o.Namespace, o.TopK, o.Interval, o.FetchTimeout = cfg.Namespace, cfg.TopK, cfg.Interval, cfg.FetchTimeout
		w, err := presets.Worker(f.preset, o)
		if err != nil {
			return nil, usageError{fmt.Errorf("demo: preset %s: %w", f.preset, err)}
		}
		return w, nil
	}
	cfg, err := f.spec.Build(policy.Env{
		Index:    node.index,
		Store:    ds,
		Hints:    hints,
		Model:    node.models[0],
		InstrLog: stdout,
		Emitters: emitters,
		Logger:   slog.New(slog.NewTextHandler(stderr, nil)), // the "slog" emitter's, and stage failures
	})
	if err != nil {
		return nil, usageError{fmt.Errorf("demo: --policy: %w", err)}
	}
	f.override(&cfg)
	p, err := pipeline.New(cfg)
	if err != nil {
		return nil, usageError{fmt.Errorf("demo: --policy %s: %w", f.policy, err)}
	}
	w := pipeline.NewWorker(p)
	if hints != nil {
		hints.SetNotify(w.Wake)
	}
	return w, nil
}

// override sets the fields of cfg that a flag given on the command line
// sets.
func (f *demoFlags) override(cfg *pipeline.Config) {
	if f.given["namespace"] {
		cfg.Namespace = f.namespace
	}
	if f.given["top-k"] {
		cfg.TopK = f.topK
	}
	if f.given["interval"] {
		cfg.Interval = f.interval
	}
	if f.given["fetch-timeout"] {
		cfg.FetchTimeout = f.fetchTimeout
	}
}
