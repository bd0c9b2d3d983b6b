package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// errLines returns err's message, one line per problem.
func errLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// Every problem is reported at once, in the order of the file, each with
// the file, the field path and what is wanted.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want []string
	}{
		{
			"a duration as a number",
			`{"sources": ["index"], "scorer": {"stage": "rfc0008", "params": {"half_life": 12}}}`,
			[]string{`policy.json: scorer.params.half_life: want a duration like "10m", got 12`},
		},
		{
			"unknown stages and fields, with suggestions",
			`{"sources": ["index", "hint"], "scorer": {"stage": "rfc008"}, "filters": ["already_flat"],
			  "fetcher": {"stage": "parallel", "params": {"limt": 3}}, "topk": 3}`,
			[]string{
				`policy.json: sources[1]: unknown source "hint", want one of hints, index, room-gate (did you mean "hints"?)`,
				`policy.json: scorer.stage: unknown scorer "rfc008", want one of deadline, frequency, recency, rfc0008, weighted (did you mean "rfc0008"?)`,
				`policy.json: filters[0]: unknown filter "already_flat", want one of already-flat, backoff, budget, free-room, not-in-flight (did you mean "already-flat"?)`,
				`policy.json: fetcher.params.limt: unknown field, want one of limit (did you mean "limit"?)`,
				`policy.json: topk: unknown field, want one of about, admission, cycle_byte_budget, cycle_fetch_timeout, emitters, fetch_timeout, fetcher, filters, interval, namespace, pre_filters, scorer, selector, sources, top_k (did you mean "top_k"?)`,
			},
		},
		{
			"the cycle's settings out of range",
			`{"sources": [], "top_k": -1, "interval": "-1s", "namespace": "../x", "fetch_timeout": "2s",
			  "cycle_fetch_timeout": "1s", "cycle_byte_budget": "12 parsecs", "admission": ""}`,
			[]string{
				`policy.json: cycle_byte_budget: want a size in bytes >= 0: an integer or a string like "64MiB" (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), got "12 parsecs"`,
				`policy.json: interval: want > 0 (leave it out for the default, 500ms), got -1s`,
				`policy.json: top_k: want 1 to 1048576 (leave it out for the default, 8), got -1`,
				`policy.json: namespace: block: bad namespace "../x": byte '/' at offset 2, want only [A-Za-z0-9._-] (leave it out for the default, "tp-default")`,
				`policy.json: cycle_fetch_timeout: want >= fetch_timeout (2s) (leave it out for the default, 2 x fetch_timeout), got 1s`,
				`policy.json: admission: want where the store admits a prefetched block, e.g. "mru", "lru" or "probation:0.1" (leave it out for the store's default), got ""`,
				`policy.json: sources: missing, want at least one source, e.g. ["index"]: one of hints, index, room-gate`,
				`policy.json: scorer: missing, want a scorer, e.g. "rfc0008": one of deadline, frequency, recency, rfc0008, weighted`,
			},
		},
		{
			"a cycle fetch timeout under the default fetch timeout",
			`{"sources": ["index"], "scorer": "recency", "cycle_fetch_timeout": "4s"}`,
			[]string{`policy.json: cycle_fetch_timeout: want >= fetch_timeout (5s) (leave it out for the default, 2 x fetch_timeout), got 4s`},
		},
		{
			"stages of the wrong shape",
			`{"sources": [null, 3], "scorer": null, "selector": {"stage": "heap", "params": {"x": 1}},
			  "emitters": [{"stage": "myelon"}, {"stage": "slog", "params": {"level": "loud"}}, {"stage": "myelon", "params": {"format": "v4"}}]}`,
			[]string{
				`policy.json: sources[0]: want a source: one of hints, index, room-gate, as "index" or {"stage": "index", "params": {...}}, got null`,
				`policy.json: sources[1]: want a source: one of hints, index, room-gate, as "index" or {"stage": "index", "params": {...}}, got 3`,
				`policy.json: selector.params: selector "heap" takes no params, got {"x":1}`,
				`policy.json: emitters[0].params.format: missing, want "v1" (the dry run's line), "v2" or "v3"`,
				`policy.json: emitters[1].params.level: want a level, "debug", "info", "warn" or "error" (an offset such as "info+2" is allowed), got "loud"`,
				`policy.json: emitters[2].params.format: want "v1" (the dry run's line), "v2" or "v3", got "v4"`,
				`policy.json: scorer: missing, want a scorer, e.g. "rfc0008": one of deadline, frequency, recency, rfc0008, weighted`,
			},
		},
		{
			"nested stages",
			`{"sources": ["index"], "scorer": {"stage": "weighted", "params": {"terms": [
			  {"weight": "x"}, {"scorer": "nope"}, {"scorer": {"stage": "recency", "params": {"half_life": "-1s"}}}]}}}`,
			[]string{
				`policy.json: scorer.params.terms[0].weight: want a number, got "x"`,
				`policy.json: scorer.params.terms[1].scorer: unknown scorer "nope", want one of deadline, frequency, recency, rfc0008, weighted`,
				`policy.json: scorer.params.terms[2].scorer.params.half_life: want > 0 (leave it out for the default, 10m0s), got -1s`,
			},
		},
		{
			"params out of range",
			`{"sources": [{"stage": "room-gate"}], "scorer": {"stage": "weighted", "params": {"terms": [{"weight": 2}]}},
			  "pre_filters": [{"stage": "budget", "params": {"per_cycle": -1, "rate": -1, "burst": -2}}],
			  "filters": [{"stage": "backoff", "params": {"base": "-1s", "max": "-1s", "max_entries": -1}}],
			  "fetcher": {"stage": "parallel", "params": {"limit": -1}}}`,
			[]string{
				`policy.json: sources[0].params.source: missing, want the source to gate, e.g. "index"`,
				`policy.json: scorer.params.terms[0].scorer: missing, want the term's scorer, e.g. "recency"`,
				`policy.json: pre_filters[0].params.per_cycle: want >= 0 (0 or left out: no cap of its own, top_k still bounds a cycle), got -1`,
				`policy.json: pre_filters[0].params.rate: want GETs per second, 0 to 1e+18 (0 or left out: no rate cap), got -1`,
				`policy.json: pre_filters[0].params.burst: want >= 0 (0 or left out: per_cycle, or 1 without it), got -2`,
				`policy.json: filters[0].params.base: want > 0 (leave it out for the default, 1s), got -1s`,
				`policy.json: filters[0].params.max: want > 0 (leave it out for the default, 5m0s), got -1s`,
				`policy.json: filters[0].params.max_entries: want > 0 (leave it out for the default, 65536), got -1`,
				`policy.json: fetcher.params.limit: want the most fetches in flight, >= 1 (leave it out for the default, 8), got -1`,
			},
		},
		{
			"types",
			`{"sources": ["index"], "scorer": {"stage": "rfc0008", "params": {"weights": {"chain": true}}}, "top_k": 1e3,
			  "about": 7, "filters": [{"stage": "budget", "params": {"burst": 1.5}}], "fetcher": {"stage": 5},
			  "emitters": {"stage": "myelon"}, "selector": {"stage": "heap", "stages": 1}}`,
			[]string{
				`policy.json: scorer.params.weights.chain: want a number, got true`,
				`policy.json: top_k: want an integer, got 1e3`,
				`policy.json: about: want a string, got 7`,
				`policy.json: filters[0].params.burst: want an integer, got 1.5`,
				`policy.json: fetcher.stage: want the fetcher's name, one of dry-run, parallel, sequential, got 5`,
				`policy.json: emitters: want an array, got {"stage":"myelon"}`,
				`policy.json: selector.stages: unknown field, want one of params, stage (did you mean "stage"?)`,
			},
		},
		{
			"a stage object without its name",
			`{"sources": ["index"], "scorer": {"params": {}}}`,
			[]string{`policy.json: scorer.stage: missing, want the scorer's name, one of deadline, frequency, recency, rfc0008, weighted`},
		},
		{
			"a key twice",
			`{"sources": ["index"], "scorer": "recency", "scorer": "rfc0008", "fetcher": {"stage": "parallel", "params": {"limit": 1, "limit": 2}}}`,
			[]string{
				`policy.json: scorer: given twice, want each field once`,
				`policy.json: fetcher.params.limit: given twice, want each field once`,
			},
		},
		{
			"keys match exactly",
			`{"Sources": ["index"], "scorer": "recency"}`,
			[]string{
				`policy.json: Sources: unknown field, want one of about, admission, cycle_byte_budget, cycle_fetch_timeout, emitters, fetch_timeout, fetcher, filters, interval, namespace, pre_filters, scorer, selector, sources, top_k (did you mean "sources"?)`,
				`policy.json: sources: missing, want at least one source, e.g. ["index"]: one of hints, index, room-gate`,
			},
		},
		{
			"a syntax error, at its line and column",
			"{\"sources\": [\"index\"],\n  \"scorer\": \"recency\",,}",
			[]string{`policy.json:2:24: invalid character ',' looking for beginning of object key string, want a JSON object`},
		},
		{"not an object", `[1, 2]`, []string{`policy.json: want a JSON object (a policy), got [1,2]`}},
		{"empty", ``, []string{`policy.json: empty, want a JSON object (a policy)`}},
		{"cut short", `{"sources": [`, []string{`policy.json: ends inside its JSON, want a whole JSON object`}},
		{"two objects", `{"sources": ["index"], "scorer": "recency"} {}`, []string{`policy.json:1:46: more after the policy's JSON object, want one object alone`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := policy.Parse("policy.json", []byte(tt.spec), nil)
			if s != nil {
				t.Errorf("Parse returned a spec with error %v", err)
			}
			if diff := cmp.Diff(tt.want, errLines(err)); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// What a spec leaves out means the default; what it gives is carried
// through to the config.
func TestBuildSettings(t *testing.T) {
	spec := `{
	  "interval": "250ms", "top_k": 16, "namespace": "ns-a", "fetch_timeout": "2s",
	  "cycle_fetch_timeout": "3s", "cycle_byte_budget": "1.5MiB", "admission": "probation:0.1",
	  "sources": ["index", "hints"],
	  "scorer": {"stage": "weighted", "params": {"terms": [
	    {"scorer": {"stage": "recency", "params": {"half_life": "5m"}}},
	    {"weight": 0.5, "scorer": {"stage": "rfc0008", "params": {"weights": {"recency": 0}, "half_life": "1h"}}},
	    {"weight": 0, "scorer": {"stage": "deadline", "params": {"get_latency": "20ms", "get_bandwidth": 1e6}}}
	  ]}},
	  "selector": "quickselect",
	  "pre_filters": [{"stage": "backoff", "params": {"base": "2s", "max": "1m", "max_entries": 10}}],
	  "filters": [{"stage": "not-in-flight", "params": {"required": true}}, {"stage": "budget", "params": {"per_cycle": 4, "rate": 2.5, "burst": 3}}, "free-room"],
	  "fetcher": "sequential",
	  "emitters": [{"stage": "myelon", "params": {"format": "v2"}}, {"stage": "slog", "params": {"level": "debug"}}]
	}`
	s, err := policy.Parse("all.json", []byte(spec), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Admission() != "probation:0.1" || !s.UsesHints() {
		t.Errorf("Admission, UsesHints = %q, %v; want probation:0.1, true", s.Admission(), s.UsesHints())
	}
	d := deps{store: newFakeStore(), hints: snapshot.NewHints(snapshot.HintsConfig{}), instrLog: &strings.Builder{}, logger: discardLogger}
	cfg, err := s.Build(d.env())
	if err != nil {
		t.Fatal(err)
	}
	rfc := score.NewRFC0008(activeModel)
	rfc.Recency, rfc.HalfLife = 0, time.Hour
	backoff := filter.NewBackoff(2*time.Second, time.Minute)
	backoff.MaxEntries = 10
	want := pipeline.Config{
		Interval: 250 * time.Millisecond, TopK: 16, Namespace: "ns-a", FetchTimeout: 2 * time.Second,
		CycleFetchTimeout: 3 * time.Second, CycleByteBudget: 3 << 19,
		Sources: []pipeline.Source{snapshot.NewIndex(sharedIndex), d.hints},
		Scorer: score.Weighted{
			{Weight: 1, Scorer: score.NewRecency(5 * time.Minute)},
			{Weight: 0.5, Scorer: rfc},
			{Weight: 0, Scorer: score.NewDeadline(d.hints, nil)}, // GetTime compared below
		},
		Selector:   topk.Quickselect{},
		PreFilters: []pipeline.Filter{backoff},
		Filters:    []pipeline.Filter{filter.NewNotInFlight(d.store.(filter.InFlight)), filter.NewBudget(4, 2.5, 3), filter.NewFreeRoom(d.store.(filter.Room))},
		Fetcher:    fetch.NewSequential(d.store),
		Emitter:    emit.Multi{emit.NewMyelonInstr(d.instrLog, emit.V2), emit.NewSlog(discardLogger, -4)},
		Logger:     discardLogger,
	}
	gt := cfg.Scorer.(score.Weighted)[2].Scorer.(*score.Deadline).GetTime
	if gt == nil {
		t.Fatal("the deadline scorer has no GetTime")
	}
	if got := []time.Duration{gt(0), gt(1e6), gt(5e5)}; !cmp.Equal(got, []time.Duration{20 * time.Millisecond, 1020 * time.Millisecond, 520 * time.Millisecond}) {
		t.Errorf("GetTime(0, 1e6, 5e5) = %v, want 20ms, 1.02s, 520ms", got)
	}
	cfg.Scorer.(score.Weighted)[2].Scorer.(*score.Deadline).GetTime = nil
	if diff := cmp.Diff(want, cfg, cmpConfig); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
	if _, err := pipeline.New(cfg); err != nil {
		t.Errorf("pipeline.New: %v", err)
	}

	// Left out: the defaults, and Env.GetTime for the deadline scorer.
	s, err = policy.Parse("min.json", []byte(`{"sources": ["hints"], "scorer": "deadline"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	env := d.env()
	env.GetTime = func(n uint64) time.Duration { return time.Duration(n) }
	cfg, err = s.Build(env)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Scorer.(*score.Deadline).GetTime(7); got != 7 {
		t.Errorf("the deadline scorer's GetTime(7) = %v, want Env.GetTime's 7ns", got)
	}
	if _, ok := cfg.Selector.(topk.Heap); !ok || cfg.Fetcher != nil || cfg.Emitter != nil || cfg.Interval != 0 || cfg.TopK != 0 {
		t.Errorf("a minimal spec built selector %T, fetcher %v, emitter %v, interval %v, top K %d; want topk.Heap, and nil or zero for the rest",
			cfg.Selector, cfg.Fetcher, cfg.Emitter, cfg.Interval, cfg.TopK)
	}
	if s.Admission() != "" {
		t.Errorf("Admission() = %q, want \"\" (the store's default)", s.Admission())
	}
}

var discardLogger = slog.New(slog.DiscardHandler)

// Build reports every need its Env does not meet, at the stage's path.
func TestBuildErrors(t *testing.T) {
	plain := plainStore{newFakeStore()}
	tests := []struct {
		name string
		spec string
		env  policy.Env
		want []string
	}{
		{
			"nothing in the env",
			`{"sources": ["index", "hints", {"stage": "room-gate", "params": {"source": "index"}}], "scorer": "deadline",
			  "pre_filters": ["already-flat", "not-in-flight", "free-room"], "fetcher": "sequential",
			  "emitters": ["slog", {"stage": "myelon", "params": {"format": "v3"}}]}`,
			policy.Env{},
			[]string{
				`b.json: sources[0]: index needs Env.Index (the metadata index to rank), which is nil`,
				`b.json: sources[1]: hints needs Env.Hints (the intake the node feeds, snapshot.NewHints), which is nil`,
				`b.json: sources[2]: room-gate needs Env.Store (the flat tier whose free room it reads), which is nil`,
				`b.json: sources[2].params.source: index needs Env.Index (the metadata index to rank), which is nil`,
				`b.json: scorer: deadline needs Env.Hints (the intake whose deadlines it ranks by), which is nil`,
				`b.json: pre_filters[0]: already-flat needs Env.Store (the flat tier it asks), which is nil`,
				`b.json: pre_filters[1]: not-in-flight needs Env.Store (the store that tracks its fetches), which is nil`,
				`b.json: pre_filters[2]: free-room needs Env.Store (the flat tier whose free room it reads), which is nil`,
				`b.json: fetcher: sequential needs Env.Store (the tiers it fetches between), which is nil`,
				`b.json: emitters[0]: slog needs Env.Logger (the logger it writes to), which is nil`,
			},
		},
		{
			"a store without room or in-flight tracking",
			`{"sources": [{"stage": "room-gate", "params": {"source": "index"}}], "scorer": "recency",
			  "filters": [{"stage": "not-in-flight", "params": {"required": true}}, "free-room"], "fetcher": {"stage": "parallel"}}`,
			policy.Env{Index: sharedIndex, Store: plain},
			[]string{
				`b.json: sources[0]: room-gate needs Env.Store to report its free room (filter.Room), and policy_test.plainStore does not`,
				`b.json: filters[0]: not-in-flight is required, and Env.Store (policy_test.plainStore) does not track its fetches in flight (filter.InFlight)`,
				`b.json: filters[1]: free-room needs Env.Store to report its free room (filter.Room), and policy_test.plainStore does not`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := policy.Parse("b.json", []byte(tt.spec), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Build(tt.env)
			if diff := cmp.Diff(tt.want, errLines(err)); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}

	// The frequency scorer needs an index that keeps access counts.
	counting, err := index.New(index.Options{CountHalfLife: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  policy.Env
		want []string
	}{
		{"no index", policy.Env{}, []string{`f.json: sources[0]: index needs Env.Index (the metadata index to rank), which is nil`, `f.json: scorer: frequency needs Env.Index (the index whose access counts it ranks by), which is nil`}},
		{"an index without counts", policy.Env{Index: sharedIndex}, []string{`f.json: scorer: frequency: score: Frequency.Counts keeps no access counts (its CountHalfLife is 0), want an index built with index.Options.CountHalfLife > 0 (kvprefetch replay, serve and demo: --count-half-life; the lab: Settings.CountHalfLife)`}},
		{"a reader that cannot count", policy.Env{Index: readerOnly{sharedIndex}}, []string{`f.json: scorer: frequency needs an Env.Index that keeps access counts (an *index.Memory built with index.Options.CountHalfLife > 0), and policy_test.readerOnly does not`}},
		{"an index with counts", policy.Env{Index: counting}, nil},
	} {
		s, err := policy.Parse("f.json", []byte(`{"sources": ["index"], "scorer": "frequency"}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := s.Build(tc.env)
		if diff := cmp.Diff(tc.want, errLines(err)); diff != "" {
			t.Errorf("%s: errors mismatch (-want +got):\n%s", tc.name, diff)
		}
		if err == nil {
			if f, ok := cfg.Scorer.(*score.Frequency); !ok || f.Counts != score.AccessCounter(counting) {
				t.Errorf("%s: scorer = %#v, want a *score.Frequency over the index", tc.name, cfg.Scorer)
			}
		}
	}

	// Not required: left out over a store that tracks nothing in flight.
	s, err := policy.Parse("b.json", []byte(`{"sources": ["index"], "scorer": "recency", "filters": ["not-in-flight", "already-flat"]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Build(policy.Env{Index: sharedIndex, Store: plain})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]pipeline.Filter{filter.NewAlreadyFlat(plain)}, cfg.Filters, cmpConfig); diff != "" {
		t.Errorf("filters mismatch (-want +got):\n%s", diff)
	}
}

// readerOnly is an index.Reader and nothing more.
type readerOnly struct{ index.Reader }

// freqParams are the params of the test's own scorer.
type freqParams struct {
	PerHit float64       `json:"per_hit"`
	Window time.Duration `json:"window"`
}

func (p *freqParams) Validate() error {
	var errs []error
	if p.PerHit <= 0 {
		errs = append(errs, fmt.Errorf("per_hit: want > 0, got %v", p.PerHit))
	}
	if p.Window > time.Hour {
		errs = append(errs, errors.New("the window is longer than an hour")) // not of the key: form
	}
	return errors.Join(errs...)
}

// pickyFilter is a team's filter whose own Validate can fail at Build.
type pickyFilter struct {
	Limit int
	Next  pipeline.Filter
}

func (f *pickyFilter) Skip(ctx context.Context, cy *pipeline.Cycle, c pipeline.Candidate) string {
	return f.Next.Skip(ctx, cy, c)
}

func (f *pickyFilter) Validate() error {
	if f.Limit > 3 {
		return fmt.Errorf("picky: Limit = %d, want at most 3", f.Limit)
	}
	return nil
}

// A team's own stages: registered under their names, with typed params,
// nested stages and their own validation, reported like the module's.
func TestCustomStages(t *testing.T) {
	r := policy.Builtin()
	err := errors.Join(
		r.RegisterScorer("acme/freq", policy.Typed(func(p freqParams, _ policy.Env) (pipeline.Scorer, error) {
			return pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return p.PerHit }), nil
		})),
		r.RegisterFilter("acme/picky", policy.Typed(func(p struct {
			Limit int                         `json:"limit"`
			Next  policy.Ref[pipeline.Filter] `json:"next"`
		}, env policy.Env) (pipeline.Filter, error) {
			next, err := p.Next.Build(env)
			if err != nil {
				return nil, err
			}
			return &pickyFilter{Limit: p.Limit, Next: next}, nil
		})),
		r.RegisterSource("acme/queue", policy.Typed(func(_ struct{}, env policy.Env) (pipeline.Source, error) {
			return env.Hints, nil
		}), policy.ReadsHints()),
		r.RegisterFetcher("acme/raw", policy.Typed(func(p json.RawMessage, _ policy.Env) (pipeline.Fetcher, error) {
			return fetch.DryRun{}, nil
		})),
	)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"acme/freq", "deadline", "frequency", "recency", "rfc0008", "weighted"}, r.Names(pipeline.StageScorer)); diff != "" {
		t.Errorf("Names(scorer) mismatch (-want +got):\n%s", diff)
	}

	// Parse-time checks, the team's Validate among them.
	_, err = policy.Parse("team.json", []byte(`{"sources": ["index"],
	  "scorer": {"stage": "weighted", "params": {"terms": [{"scorer": {"stage": "acme/freq", "params": {"per_hit": 0, "window": "2h", "windw": 1}}}, {"scorer": {"stage": "acme/freq", "params": {"window": "2h"}}}]}},
	  "filters": [{"stage": "acme/picky", "params": {"next": "already-flat", "limit": "x"}}]}`), r)
	want := []string{
		`team.json: scorer.params.terms[0].scorer.params.windw: unknown field, want one of per_hit, window (did you mean "window"?)`,
		`team.json: scorer.params.terms[1].scorer.params.per_hit: want > 0, got 0`,
		`team.json: scorer.params.terms[1].scorer.params: the window is longer than an hour`,
		`team.json: filters[0].params.limit: want an integer, got "x"`,
	}
	if diff := cmp.Diff(want, errLines(err)); diff != "" {
		t.Errorf("errors mismatch (-want +got):\n%s", diff)
	}

	// Build: the team's stage validated, its problem at its path.
	s, err := policy.Parse("team.json", []byte(`{"sources": ["index"], "scorer": {"stage": "acme/freq", "params": {"per_hit": 2}},
	  "filters": [{"stage": "acme/picky", "params": {"next": {"stage": "acme/picky", "params": {"limit": 4, "next": "already-flat"}}}}],
	  "fetcher": {"stage": "acme/raw", "params": {"anything": [1, 2]}}}`), r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Build(policy.Env{Index: sharedIndex, Store: newFakeStore()})
	if diff := cmp.Diff([]string{`team.json: filters[0].params.next: picky: Limit = 4, want at most 3`}, errLines(err)); diff != "" {
		t.Errorf("errors mismatch (-want +got):\n%s", diff)
	}
	if s.UsesHints() {
		t.Error("UsesHints() = true for a spec that names no stage reading hints")
	}

	// A stage registered with ReadsHints, nested or not, makes UsesHints.
	s, err = policy.Parse("team.json", []byte(`{"sources": [{"stage": "room-gate", "params": {"source": "acme/queue"}}], "scorer": "recency"}`), r)
	if err != nil {
		t.Fatal(err)
	}
	if !s.UsesHints() {
		t.Error("UsesHints() = false for a spec whose nested source reads hints")
	}

	// The builtin registry knows nothing of the team's stages, and a
	// registry's additions are its own.
	_, err = policy.Parse("team.json", []byte(`{"sources": ["index"], "scorer": "acme/freq"}`), nil)
	if diff := cmp.Diff([]string{`team.json: scorer: unknown scorer "acme/freq", want one of deadline, frequency, recency, rfc0008, weighted`}, errLines(err)); diff != "" {
		t.Errorf("errors mismatch (-want +got):\n%s", diff)
	}
}

func TestRegisterErrors(t *testing.T) {
	var r policy.Registry // the zero Registry is usable, and knows nothing
	ok := policy.Typed(func(struct{}, policy.Env) (pipeline.Selector, error) { return topk.Heap{}, nil })
	if err := r.RegisterSelector("mine", ok); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, stage string
		c           policy.Constructor[pipeline.Selector]
		want        string
	}{
		{"taken", "mine", ok, `policy: selector "mine" is already registered, want a name of its own`},
		{"empty", "", ok, `policy: selector name "": empty, want a name such as "acme/freq"`},
		{"space", "my heap", ok, `policy: selector name "my heap": has ' ', want letters, digits and - _ . / : only`},
		{"zero constructor", "other", policy.Constructor[pipeline.Selector]{}, `policy: selector "other": the Constructor is zero, want one from policy.Typed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.RegisterSelector(tt.stage, tt.c)
			if err == nil || err.Error() != tt.want {
				t.Errorf("RegisterSelector(%q) = %v, want %s", tt.stage, err, tt.want)
			}
		})
	}
	if diff := cmp.Diff([]string{"mine"}, r.Names(pipeline.StageSelector)); diff != "" {
		t.Errorf("Names mismatch (-want +got):\n%s", diff)
	}
	_, err := policy.Parse("p.json", []byte(`{"sources": ["index"], "scorer": "rfc0008"}`), &r)
	want := []string{
		`p.json: sources[0]: unknown source "index", want one of (none registered)`,
		`p.json: scorer: unknown scorer "rfc0008", want one of (none registered)`,
	}
	if diff := cmp.Diff(want, errLines(err)); diff != "" {
		t.Errorf("errors mismatch (-want +got):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(`{"sources": ["index"], "scorer": "recency", "top_k": "8"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := policy.Load(good, nil)
	if diff := cmp.Diff([]string{good + `: top_k: want an integer, got "8"`}, errLines(err)); diff != "" {
		t.Errorf("errors mismatch (-want +got):\n%s", diff)
	}
	if _, err := policy.Load(filepath.Join(dir, "missing.json"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want os.ErrNotExist", err)
	}
	big := filepath.Join(dir, "trace.json")
	if err := os.WriteFile(big, make([]byte, policy.MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Load(big, nil); err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes, want a policy file") {
		t.Errorf("Load of a large file = %v, want it refused", err)
	}
}

// The spec in the package doc parses and builds.
func TestDocExample(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var spec []string
	in := false
	for _, line := range strings.Split(string(src), "\n") {
		switch {
		case line == "//\t{":
			in = true
		case !in:
			continue
		case !strings.HasPrefix(line, "//\t"):
			in = false
			continue
		}
		spec = append(spec, strings.TrimPrefix(line, "//\t"))
		if line == "//\t}" {
			break
		}
	}
	if len(spec) < 10 {
		t.Fatalf("found no spec in doc.go: %q", spec)
	}
	s, err := policy.Parse("doc.go", []byte(strings.Join(spec, "\n")), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := deps{store: newFakeStore(), instrLog: &strings.Builder{}, logger: discardLogger}
	cfg, err := s.Build(d.env())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.New(cfg); err != nil {
		t.Error(err)
	}
}

// Spec.Worker wakes the worker at each hint for a spec that uses hints,
// and leaves the intake alone for one that does not.
func TestWorker(t *testing.T) {
	for _, name := range []string{"hints", "v3"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, err := policy.Preset(name)
				if err != nil {
					t.Fatal(err)
				}
				h := snapshot.NewHints(snapshot.HintsConfig{})
				var cycles atomic.Int32
				st := newFakeStore()
				w, err := s.Worker(policy.Env{
					Index: sharedIndex, Store: st, Hints: h,
					Emitters: []pipeline.Emitter{emit.Func(func(*pipeline.Outcome) { cycles.Add(1) })},
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				defer w.Stop()
				synctest.Wait()
				if got := cycles.Load(); got != 1 {
					t.Fatalf("%d cycles at start, want 1", got)
				}
				h.Add(snapshot.Hint{Hash: fixtureHash(1), Meta: block.Meta{PayloadBytes: 1024}, Due: time.Now().Add(time.Second)})
				synctest.Wait()
				want := int32(1)
				if s.UsesHints() {
					want = 2 // woken at once, before any tick
				}
				if got := cycles.Load(); got != want {
					t.Errorf("%d cycles after a hint, with no time passed; want %d", got, want)
				}
				if s.UsesHints() && !st.ContainsFlat(t.Context(), "", fixtureHash(1)) {
					t.Error("the hinted block was not fetched")
				}
			})
		})
	}

	s, err := policy.Preset("v3")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Worker(policy.Env{Index: sharedIndex, Store: newFakeStore()})
	if err != nil {
		t.Fatal(err)
	}
	s, err = policy.Parse("w.json", []byte(`{"sources": ["index"], "scorer": "recency", "interval": "1s"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Worker(policy.Env{}); err == nil || !strings.HasPrefix(err.Error(), "w.json: sources[0]: index needs Env.Index") {
		t.Errorf("Worker over an empty Env = %v, want the Build error", err)
	}
}
