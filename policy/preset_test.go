package policy_test

import (
	"bytes"
	"context"
	"go/token"
	"io"
	"log/slog"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// deps are what a preset's Options and a spec's Env share.
type deps struct {
	store    policy.Store
	hints    *snapshot.Hints
	instrLog io.Writer
	emitters []pipeline.Emitter
	clock    func() time.Time
	logger   *slog.Logger
}

func (d deps) options() presets.Options {
	return presets.Options{
		Index: sharedIndex, Store: d.store, Hints: d.hints, Model: activeModel,
		InstrLog: d.instrLog, Emitters: d.emitters, Clock: d.clock, Logger: d.logger,
	}
}

func (d deps) env() policy.Env {
	return policy.Env{
		Index: sharedIndex, Store: d.store, Hints: d.hints, Model: activeModel,
		InstrLog: d.instrLog, Emitters: d.emitters, Clock: d.clock, Logger: d.logger,
	}
}

// sharedIndex is the fixture's index: the cycles only read it.
var sharedIndex = fixtureIndex()

// presetConfig returns the Go preset's config of the given name.
func presetConfig(name string, d deps) (pipeline.Config, error) {
	return presets.Config(name, d.options())
}

// specConfig returns the shipped spec's config of the given name.
func specConfig(t *testing.T, name string, d deps) pipeline.Config {
	t.Helper()
	s, err := policy.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Build(d.env())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// cmpConfig compares two pipeline.Configs by structure: the types of the
// stages and their exported fields, the env's dependencies by identity.
var cmpConfig = cmp.Options{
	cmp.FilterPath(func(p cmp.Path) bool {
		sf, ok := p.Last().(cmp.StructField)
		return ok && !token.IsExported(sf.Name())
	}, cmp.Ignore()),
	// Funcs (the clock, an emit.Func) are the same when they are the same
	// code; both nil is nil.
	cmp.FilterValues(func(a, b any) bool {
		ta := reflect.TypeOf(a)
		return ta != nil && ta.Kind() == reflect.Func && ta == reflect.TypeOf(b) && ta.PkgPath() != reflect.TypeOf(snapshot.Hints{}).PkgPath()
	}, cmp.Comparer(func(a, b any) bool {
		return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
	})),
	cmp.Comparer(func(a, b *slog.Logger) bool { return a == b }),
	cmp.Comparer(func(a, b *bytes.Buffer) bool { return a == b }),
	// The hint intake's watch over the flat check is a closure, compiled
	// once per inlining site: the same type is the same watch (the cycles
	// compared in TestPresetCycles show it behaves the same).
	cmp.FilterPath(func(p cmp.Path) bool {
		sf, ok := p.Last().(cmp.StructField)
		return ok && sf.Name() == "Flat" && p.Index(-2).Type() == reflect.TypeOf(filter.AlreadyFlat{})
	}, cmp.Comparer(func(a, b filter.Flat) bool { return reflect.TypeOf(a) == reflect.TypeOf(b) })),
}

// Each shipped spec builds the config of the preset of its name: the same
// stage types with the same params, over the same dependencies.
func TestPresetConfigs(t *testing.T) {
	st := newFakeStore()
	var log bytes.Buffer
	collect := emit.Func(func(*pipeline.Outcome) {})
	clk := (&clock{now: fixtureStart}).Now
	logger := slog.New(slog.DiscardHandler)
	variants := []struct {
		name string
		deps deps
	}{
		{"full store, log", deps{store: st, instrLog: &log, clock: clk, logger: logger}},
		{"no log", deps{store: st}},
		{"log and emitters", deps{store: st, instrLog: &log, emitters: []pipeline.Emitter{collect}}},
		{"emitters alone", deps{store: st, emitters: []pipeline.Emitter{collect, collect}}},
		{"store without in-flight tracking", deps{store: plainStore{st}, instrLog: &log}},
	}
	for _, name := range policy.PresetNames() {
		for _, v := range variants {
			if _, plain := v.deps.store.(plainStore); plain && name == "warmup" {
				continue // warmup needs room; TestPresetErrors covers it
			}
			t.Run(name+"/"+v.name, func(t *testing.T) {
				d := v.deps
				d.hints = snapshot.NewHints(snapshot.HintsConfig{})
				want, err := presetConfig(name, d)
				if err != nil {
					t.Fatal(err)
				}
				got := specConfig(t, name, d)
				if diff := cmp.Diff(want, got, cmpConfig); diff != "" {
					t.Errorf("config mismatch (-preset +spec):\n%s", diff)
				}
			})
		}
	}
}

// The comparison above can fail: a spec that differs from its preset in
// one param is caught.
func TestPresetConfigsDiffer(t *testing.T) {
	d := deps{store: newFakeStore()}
	want, err := presetConfig("v3", d)
	if err != nil {
		t.Fatal(err)
	}
	data, err := policy.PresetFile("v3")
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte(`"fetcher": "parallel"`), []byte(`"fetcher": {"stage": "parallel", "params": {"limit": 8}}`), 1)
	s, err := policy.Parse("v3-limit.json", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Build(d.env())
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Diff(want, got, cmpConfig) == "" {
		t.Error("a Parallel of Limit 8 compared equal to the preset's Limit 0")
	}
}

// outcome is what a cycle did, without its wall-clock figures.
type outcome struct {
	Seq               uint64
	Start             time.Time
	Namespace         string
	Scored            int
	Selected          []pipeline.Candidate
	Skipped           map[string]int
	Fetches           []fetchResult
	Fetched, Failed   int
	BytesMaterialized int64
	FailedBy          map[string]int
	Err               string
}

type fetchResult struct {
	Hash   block.Hash
	Bytes  int64
	Reason string
}

func project(o *pipeline.Outcome) outcome {
	out := outcome{
		Seq: o.Seq, Start: o.Start, Namespace: o.Namespace, Scored: o.Scored,
		Selected: o.Selected, Skipped: o.Skipped, Fetched: o.Fetched, Failed: o.Failed,
		BytesMaterialized: o.BytesMaterialized, FailedBy: o.FailedBy,
	}
	for _, f := range o.Fetches {
		out.Fetches = append(out.Fetches, fetchResult{f.Hash, f.Bytes, f.Reason})
	}
	if o.Err != nil {
		out.Err = o.Err.Error()
	}
	return out
}

var elapsed = regexp.MustCompile(`"elapsed_ms":[0-9.e+-]+`)

// run runs cycles cycles of cfg's pipeline, the clock advancing by step
// and the intake fed before each, and returns the outcomes and the
// MyelonInstr lines (elapsed_ms blanked).
func run(t *testing.T, cfg pipeline.Config, clk *clock, h *snapshot.Hints, log *bytes.Buffer, cycles int, step time.Duration) ([]outcome, string) {
	t.Helper()
	p, err := pipeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []outcome
	for n := range cycles {
		addHints(h, n, clk.Now())
		out = append(out, project(p.Run(context.Background())))
		clk.advance(step)
	}
	return out, elapsed.ReplaceAllString(log.String(), `"elapsed_ms":_`)
}

// Each shipped spec and its preset, run side by side over the same
// fixture (an index, and a store of the same contents for each), do the
// same cycles: the same candidates selected and skipped, the same fetches
// with the same results, the same MyelonInstr lines.
func TestPresetRuns(t *testing.T) {
	const cycles, step = 12, 250 * time.Millisecond
	// What the fixture must make each policy do, lest the comparison pass
	// on cycles that do nothing.
	exercises := map[string][]string{
		"v1":     {"selected"},
		"v2":     {"fetched", "failed", pipeline.SkipBackoff, pipeline.SkipAlreadyFlat, pipeline.SkipInFlight},
		"v3":     {"fetched", "failed", pipeline.SkipBackoff, pipeline.SkipAlreadyFlat, pipeline.SkipInFlight},
		"warmup": {"fetched", pipeline.SkipNoRoom, pipeline.SkipUnknownSize, pipeline.SkipAlreadyFlat},
		"hints":  {"fetched", pipeline.SkipBudget, pipeline.SkipAlreadyFlat},
	}
	for _, name := range policy.PresetNames() {
		t.Run(name, func(t *testing.T) {
			world := func() (deps, *clock, *bytes.Buffer) {
				clk := &clock{now: fixtureStart}
				log := &bytes.Buffer{}
				return deps{store: newFakeStore(), hints: snapshot.NewHints(snapshot.HintsConfig{}), instrLog: log, clock: clk.Now}, clk, log
			}
			pd, pclk, plog := world()
			pcfg, err := presetConfig(name, pd)
			if err != nil {
				t.Fatal(err)
			}
			wantOut, wantLog := run(t, pcfg, pclk, pd.hints, plog, cycles, step)

			sd, sclk, slog := world()
			gotOut, gotLog := run(t, specConfig(t, name, sd), sclk, sd.hints, slog, cycles, step)

			if diff := cmp.Diff(wantOut, gotOut); diff != "" {
				t.Errorf("outcomes mismatch (-preset +spec):\n%s", diff)
			}
			if diff := cmp.Diff(wantLog, gotLog); diff != "" {
				t.Errorf("MyelonInstr lines mismatch (-preset +spec):\n%s", diff)
			}
			seen := map[string]bool{}
			for _, o := range gotOut {
				seen["selected"] = seen["selected"] || len(o.Selected) > 0
				seen["fetched"] = seen["fetched"] || o.Fetched > 0
				seen["failed"] = seen["failed"] || o.Failed > 0
				for r, n := range o.Skipped {
					seen[r] = seen[r] || n > 0
				}
			}
			for _, e := range exercises[name] {
				if !seen[e] {
					t.Errorf("no cycle of %d had %s: the fixture does not exercise %s", cycles, e, name)
				}
			}
		})
	}
}

func TestPresetNames(t *testing.T) {
	want := []string{"hints", "v1", "v2", "v3", "warmup"}
	if diff := cmp.Diff(want, policy.PresetNames()); diff != "" {
		t.Errorf("PresetNames mismatch (-want +got):\n%s", diff)
	}
	for _, n := range presets.Names() {
		if _, err := policy.Preset(n); err != nil {
			t.Errorf("presets.%s has no spec: %v", n, err)
		}
	}
	if _, err := policy.Preset("v4"); err == nil || err.Error() != `policy: unknown preset "v4", want one of hints, v1, v2, v3, warmup` {
		t.Errorf("Preset(v4) error = %v", err)
	}
}

// What the presets carry beyond the config: the admission and the hints.
func TestPresetSpecs(t *testing.T) {
	tests := []struct {
		name      string
		admission string
		hints     bool
	}{
		{"v1", "", false},
		{"v2", "", false},
		{"v3", "", false},
		{"warmup", "lru", false},
		{"hints", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := policy.Preset(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if s.Admission() != tt.admission || s.UsesHints() != tt.hints {
				t.Errorf("Admission, UsesHints = %q, %v; want %q, %v", s.Admission(), s.UsesHints(), tt.admission, tt.hints)
			}
			if s.About() == "" || s.Name() != "presets/"+tt.name+".json" {
				t.Errorf("About %q, Name %q", s.About(), s.Name())
			}
		})
	}
}
