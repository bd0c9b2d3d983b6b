package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"slices"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/shadow"
	"github.com/wombatkv/prefetch/stages/snapshot"
	"github.com/wombatkv/prefetch/store"
)

// shadowFlag collects the repeatable --shadow: preset names and policy
// spec files.
type shadowFlag []string

func (s *shadowFlag) String() string { return strings.Join(*s, ",") }

func (s *shadowFlag) Set(v string) error {
	if v == "" {
		return errors.New("empty, want a preset name or a policy spec file")
	}
	if slices.Contains(*s, v) {
		return fmt.Errorf("%q given twice, want each candidate once", v)
	}
	*s = append(*s, v)
	return nil
}

// shadowSpec is one --shadow candidate, checked: a preset, or a parsed
// policy spec file.
type shadowSpec struct {
	name string
	spec *policy.Spec // nil for a preset
}

// readsHints reports whether the candidate's pipeline reads hints.
func (c shadowSpec) readsHints() bool {
	if c.spec != nil {
		return c.spec.UsesHints()
	}
	return c.name == presets.NameHints
}

// parseShadows checks each --shadow value: a preset name, else a policy
// spec file.
func parseShadows(values []string) ([]shadowSpec, []error) {
	var out []shadowSpec
	var errs []error
	for _, v := range values {
		if slices.Contains(presets.Names(), v) {
			out = append(out, shadowSpec{name: v})
			continue
		}
		spec, err := policy.Load(v, policy.Builtin())
		switch {
		case errors.Is(err, iofs.ErrNotExist):
			errs = append(errs, fmt.Errorf("demo: --shadow %s: neither a preset (%s) nor a policy spec file, want one of those", v, strings.Join(presets.Names(), ", ")))
		case err != nil:
			errs = append(errs, fmt.Errorf("demo: --shadow: %w", err))
		default:
			out = append(out, shadowSpec{name: v, spec: spec})
		}
	}
	return out, errs
}

// demoShadows are the candidates the demo runs in shadow, each with its
// own hint intake when it reads hints.
type demoShadows struct {
	list  []*shadow.Shadow
	hints []*snapshot.Hints // the intakes of those that read hints, which the hinted traffic feeds
}

// buildShadows builds the --shadow candidates over the generated node, in
// the live pipeline's namespace, each over its own simulated flat tier of
// the demo's budget (and the live admission, unless its spec sets one).
func (f *demoFlags) buildShadows(node *demoNode) (*demoShadows, error) {
	ds := &demoShadows{}
	for _, c := range f.shadows {
		var hints *snapshot.Hints
		if c.readsHints() {
			hints = snapshot.NewHints(snapshot.HintsConfig{Lookup: node.index.Get})
			ds.hints = append(ds.hints, hints)
		}
		admission := f.admission
		if c.spec != nil && c.spec.Admission() != "" {
			admission = c.spec.Admission()
		}
		build := func(t *shadow.Tiers) (pipeline.Config, error) {
			var cfg pipeline.Config
			var err error
			if c.spec == nil {
				cfg, err = presets.Config(c.name, presets.Options{Index: node.index, Store: t, Model: node.models[0], Hints: hints, Namespace: f.namespace})
			} else {
				cfg, err = c.spec.Build(policy.Env{Index: node.index, Store: t, Hints: hints, Model: node.models[0]})
			}
			f.override(&cfg)            // the flags given apply to every policy, so that they differ in policy alone
			cfg.Namespace = f.namespace // the live pipeline's: the node's reads are there
			return cfg, err
		}
		s, err := shadow.New(shadow.Config{Name: c.name, Build: build, FlatBudget: f.budget(), Admission: admission, Hints: hints})
		if err != nil {
			return nil, usageError{fmt.Errorf("demo: --shadow %s: %w", c.name, err)}
		}
		ds.list = append(ds.list, s)
	}
	return ds, nil
}

// start starts every shadow's cycles; stop stops them.
func (ds *demoShadows) start(ctx context.Context) error {
	for i, s := range ds.list {
		if err := s.Start(ctx); err != nil {
			for _, started := range ds.list[:i] {
				started.Stop()
			}
			return err
		}
	}
	return nil
}

func (ds *demoShadows) stop() {
	for _, s := range ds.list {
		s.Stop()
	}
}

// read tells every shadow of a read of the node.
func (ds *demoShadows) read(ns, key string, size int) {
	if ds == nil || len(ds.list) == 0 {
		return
	}
	h, err := block.ParseKey(key)
	if err != nil {
		return
	}
	for _, s := range ds.list {
		s.Read(ns, h, int64(size))
	}
}

// observe shows every shadow a live cycle's outcome (its GET times).
func (ds *demoShadows) observe(o *pipeline.Outcome) {
	if ds == nil {
		return
	}
	for _, s := range ds.list {
		s.Observe(o)
	}
}

// printTable writes the comparison of the live policy (what, its store's
// accounting st, over cycles) and the shadows, at the GET time the live
// fetches took (cost; the shadows use the same).
func (ds *demoShadows) printTable(w io.Writer, what string, cycles int, st store.PrefetchStats, cost time.Duration) {
	fmt.Fprintf(w, "\npolicies, live and in shadow (stall saved at the mean live GET time, %v):\n", cost.Round(time.Microsecond))
	type row struct {
		name, how string
		cycles    uint64
		p         store.PrefetchStats
		saved     time.Duration
	}
	rows := []row{{what, "live", uint64(cycles), st, shadow.StallSaved(st, cost)}}
	for _, s := range ds.list {
		sst := s.Stats()
		rows = append(rows, row{sst.Name, "shadow", sst.Cycles, sst.Prefetch, sst.StallSaved})
	}
	width := len("policy")
	for _, r := range rows {
		width = max(width, len(r.name))
	}
	line := "  %-*s  %-6s  %6v  %10v  %6v  %4v  %6v  %6v  %9v  %6v  %11v\n"
	fmt.Fprintf(w, line, width, "policy", "", "cycles", "prefetched", "useful", "late", "wasted", "unread", "precision", "served", "stall saved")
	for _, r := range rows {
		p := r.p
		fmt.Fprintf(w, line, width, r.name, r.how, r.cycles, p.Prefetched, p.Useful, p.Late, p.Wasted(), p.Unread(),
			percent(p.Precision()), percent(p.Served()), r.saved.Round(time.Microsecond))
	}
}
