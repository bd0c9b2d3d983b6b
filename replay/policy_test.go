package replay

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

type outcomeRow struct {
	Policy     string
	Lead       float64
	Hits, Cold int
	GETs       int
}

func rowsOf(res []Result) []outcomeRow {
	var out []outcomeRow
	for _, r := range res {
		out = append(out, outcomeRow{r.Policy, r.Settings.LeadMs, r.Hits, r.ColdLoads, r.PrefetchGets})
	}
	return out
}

// A request known 20 ms ahead, off the grid: the event-driven hint policy
// wakes at once and its GET (20 ms) lands just in time; the grid-bound one
// looks at (t, t+H] only at its cycles and misses it.
func TestHintPolicies(t *testing.T) {
	tr := &Trace{Name: "tiny", Requests: []Request{
		req(0, 1), req(100, 2), // a flat of one block: 2 evicts 1
		req(2030, 1),
	}}
	res, err := Run(context.Background(), tr, Config{
		Settings:  tiny,
		Scenarios: []Scenario{{Fraction: 0.5}},
		Policies:  byName(PolicyNone, PolicyHintGridV3, PolicyHintV3),
		Leads:     []time.Duration{0, 20 * time.Millisecond, time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []outcomeRow{
		{PolicyNone, 0, 0, 1, 0},
		{PolicyHintGridV3, 0, 0, 1, 0},
		{PolicyHintV3, 0, 0, 1, 0},
		{PolicyNone, 20, 0, 1, 0}, // policies without hints run once, reported at every lead
		{PolicyHintGridV3, 20, 0, 1, 0},
		{PolicyHintV3, 20, 1, 0, 1},
		{PolicyNone, 1000, 0, 1, 0},
		{PolicyHintGridV3, 1000, 1, 0, 1},
		{PolicyHintV3, 1000, 1, 0, 1},
	}
	if diff := cmp.Diff(want, rowsOf(res)); diff != "" {
		t.Errorf("results mismatch (-want +got):\n%s", diff)
	}
}

// The warm-up fetches nothing while flat is full, and after a restart
// fills the free room with the most recently read blocks.
func TestWarmupPolicy(t *testing.T) {
	tr := &Trace{Name: "tiny", Requests: []Request{
		req(0, 1), req(100, 2), req(200, 3), // a flat of two blocks: 3 evicts 1
		req(4000, 2),
	}}
	res, err := Run(context.Background(), tr, Config{
		Settings:  tiny,
		Scenarios: []Scenario{{Fraction: 2.0 / 3}, {Fraction: 2.0 / 3, Restart: true}},
		Policies:  byName(PolicyNone, PolicyWarmupV3),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []outcomeRow{
		{PolicyNone, 0, 1, 0, 0},
		{PolicyWarmupV3, 0, 1, 0, 0}, // full: 2 is in flat anyway, nothing fetched
		{PolicyNone, 0, 0, 1, 0},     // the restart at 2 s empties flat
		{PolicyWarmupV3, 0, 1, 0, 2}, // at 2 s it fetches 3 and 2 back
	}
	if diff := cmp.Diff(want, rowsOf(res)); diff != "" {
		t.Errorf("results mismatch (-want +got):\n%s", diff)
	}
	if got := res[3].Settings.Admission; got != AdmitLRU {
		t.Errorf("warm-up admission = %q, want %q", got, AdmitLRU)
	}
}

func TestRunErrors(t *testing.T) {
	tr := &Trace{Requests: []Request{req(0, 1)}}
	none := byName(PolicyNone)[0]
	_, err := Run(context.Background(), tr, Config{
		Policies:  []Policy{none, {About: "no name"}, none},
		Scenarios: []Scenario{{Fraction: -1}},
	})
	if err == nil {
		t.Fatal("Run accepted a policy without a name, one listed twice and a negative capacity")
	}
	for _, want := range []string{"Config.Policies[1] has no Name", `policy "none" listed twice`, "capacity fraction -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
	if _, err := PolicyByName("nope"); err == nil || !strings.Contains(err.Error(), `unknown policy "nope", want one of none, rfc0008-v2`) {
		t.Errorf(`PolicyByName("nope") error = %v, want it to name the shipped policies`, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, tr, Config{}); err == nil {
		t.Error("Run on a canceled context returned no error")
	}
}

// byName returns the shipped policies called names.
func byName(names ...string) []Policy {
	ps := make([]Policy, len(names))
	for i, n := range names {
		p, err := PolicyByName(n)
		if err != nil {
			panic(err)
		}
		ps[i] = p
	}
	return ps
}

// A policy's Build that goes wrong fails the run with an error that names
// the policy and says what would be right, and a panic in it is one more
// error.
func TestBuildErrors(t *testing.T) {
	tr := &Trace{Name: "tiny", Requests: []Request{req(0, 1), req(600, 1)}}
	v3 := func(e *Env) (pipeline.Config, error) { return presets.Config(presets.NameV3, e.PresetOptions()) }
	for _, tc := range []struct {
		name  string
		build func(*Env) (Built, error)
		want  string
	}{
		{"an error", func(*Env) (Built, error) { return Built{}, errors.New("no scorer today") }, "replay: policy mine: no scorer today"},
		{"a bad config", func(*Env) (Built, error) { return Built{}, nil }, "replay: policy mine: pipeline: "},
		{"a panic", func(*Env) (Built, error) { panic("oops") }, "replay: policy mine: Build panicked: oops"},
		{"a fetcher the lab cannot time", func(e *Env) (Built, error) {
			cfg, err := v3(e)
			cfg.Fetcher = pipeline.FetcherFunc(func(context.Context, *pipeline.Cycle, []pipeline.Candidate) []pipeline.FetchResult { return nil })
			return Built{Config: cfg}, err
		}, "Config.Fetcher is a pipeline.FetcherFunc, but the lab times the GETs of *fetch.Sequential"},
		{"hints without UsesLead", func(e *Env) (Built, error) {
			o := e.PresetOptions()
			o.Hints = e.Hints()
			cfg, err := presets.Config(presets.NameHints, o)
			return Built{Config: cfg}, err
		}, "so Policy.UsesLead must be true"},
		{"a bad admission", func(e *Env) (Built, error) {
			cfg, err := v3(e)
			return Built{Config: cfg, Admission: Admission{Mode: "front"}}, err
		}, `replay: policy mine: replay: admission "front"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tr, Config{
				Settings:  tiny,
				Scenarios: []Scenario{{Fraction: 0.5}},
				Policies:  []Policy{{Name: "mine", Build: tc.build}},
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// The lab learns from the config a policy builds how its GETs complete,
// the rate it keeps to and the cycles of an idle stretch it may credit,
// with no word from the policy: the same stages built by a policy of
// one's own get what the shipped policies get.
func TestLearnsFromConfig(t *testing.T) {
	r := newRun(prepare(&Trace{Name: "tiny", Requests: []Request{req(0, 1)}}, tiny.WithDefaults()), 1, Admission{Mode: AdmitMRU})
	e := newEnv(r, tiny.WithDefaults())
	preset := func(name string, o presets.Options) pipeline.Config {
		t.Helper()
		cfg, err := presets.Config(name, o)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.WithDefaults()
	}
	hinted := e.PresetOptions()
	hinted.Hints = e.Hints()
	hinted.Interval = 0
	foreign := e.PresetOptions()
	foreign.Hints = snapshot.NewHints(snapshot.HintsConfig{})
	type learnt struct {
		Timing timing
		Rate   float64
		Quiet  string
	}
	quietName := func(q quietFunc) string {
		for name, f := range map[string]quietFunc{"always": quietAlways, "none-selected": quietWhenNoneSelected, "warmup": quietWarmup} {
			if reflect.ValueOf(q).Pointer() == reflect.ValueOf(f).Pointer() {
				return name
			}
		}
		if q == nil {
			return "none"
		}
		return "ranked"
	}
	scoredBy := func(cfg pipeline.Config, sc pipeline.Scorer) pipeline.Config { cfg.Scorer = sc; return cfg }
	func3 := pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return 0 })
	for _, tc := range []struct {
		name string
		cfg  pipeline.Config
		want learnt
	}{
		{"v1", preset(presets.NameV1, e.PresetOptions()), learnt{timing{}, 0, "always"}},
		{"v2", preset(presets.NameV2, e.PresetOptions()), learnt{timing{sequential: true}, 16, "ranked"}},
		{"v3", preset(presets.NameV3, e.PresetOptions()), learnt{timing{limit: 8}, 16, "ranked"}},
		{"v3 scored by a func", scoredBy(preset(presets.NameV3, e.PresetOptions()), func3), learnt{timing{limit: 8}, 16, "none-selected"}},
		{"warmup", preset(presets.NameWarmup, e.PresetOptions()), learnt{timing{limit: 8}, 16, "warmup"}},
		{"hints", preset(presets.NameHints, hinted), learnt{timing{limit: 8}, 16, "none-selected"}},
		{"hints on an intake of one's own", preset(presets.NameHints, foreign), learnt{timing{limit: 8}, 16, "none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := timingOf(tc.cfg.Fetcher)
			if err != nil {
				t.Fatal(err)
			}
			got := learnt{tm, rateOf(tc.cfg), quietName(quietOf(tc.cfg, e))}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(timing{})); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// A parallel fetcher over the lab's tiers runs its GETs on the cycle's
// goroutine (they answer at once), timed as its window; over anything
// else it runs as built.
func TestParallelOverTheTiersInline(t *testing.T) {
	for _, tc := range []struct {
		name   string
		wrap   bool
		inline bool
	}{{"over the tiers", false, true}, {"over a wrapped materializer", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRun(prepare(&Trace{Name: "tiny", Requests: []Request{req(0, 1)}}, tiny), 1, Admission{Mode: AdmitMRU})
			p := Policy{Name: "v3", Build: func(e *Env) (Built, error) {
				cfg, err := presets.Config(presets.NameV3, e.PresetOptions())
				if tc.wrap {
					cfg.Fetcher = fetch.NewParallel(fetch.MaterializerFunc(e.Tiers.Materialize), 3)
				}
				return Built{Config: cfg}, err
			}}
			b, err := p.build(newEnv(r, tiny))
			if err != nil {
				t.Fatal(err)
			}
			_, inline := b.p.Config().Fetcher.(*fetch.Sequential)
			want := timing{limit: 8}
			if tc.wrap {
				want = timing{limit: 3}
			}
			if inline != tc.inline || b.timing != want {
				t.Errorf("fetcher %T timed %+v, want inline = %v, timed %+v", b.p.Config().Fetcher, b.timing, tc.inline, want)
			}
		})
	}
}

// TestPrefetchAccounting: the lab's figures come from the store's
// accounting (internal/usefulness), and agree with its own tallies on
// every scenario and policy of a reference run: each late hit is a late
// prefetch, each hit a flat or prefetched read, each cold load a cold
// read, and every block a GET landed is useful, late, wasted or unread.
func TestPrefetchAccounting(t *testing.T) {
	tr, err := ReadTraceFile(arxivPath, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), tr, Config{Leads: []time.Duration{0, time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	landed := 0
	for _, r := range res {
		p := r.Prefetch
		name := r.Scenario + " " + r.Policy
		// Result.Useful is derived from the accounting: this pins its
		// definition (the late prefetches count as useful); the checks
		// below compare the accounting with the lab's own counters.
		if got := int(p.Useful + p.Late); got != r.Useful {
			t.Errorf("%s: accounting useful+late %d, lab useful %d", name, got, r.Useful)
		}
		if int(p.Late) != r.LatePrefetchHits || int(p.Reads.Joined) != r.LatePrefetchHits {
			t.Errorf("%s: accounting late %d, joined reads %d; lab late hits %d", name, p.Late, p.Reads.Joined, r.LatePrefetchHits)
		}
		if int(p.Reads.Flat+p.Reads.Prefetched) != r.Hits || int(p.Reads.Prefetched) != int(p.Useful) {
			t.Errorf("%s: accounting reads flat %d + prefetched %d, lab hits %d (useful %d)", name, p.Reads.Flat, p.Reads.Prefetched, r.Hits, p.Useful)
		}
		if int(p.Reads.Cold) != r.ColdLoads {
			t.Errorf("%s: accounting cold reads %d, lab cold loads %d", name, p.Reads.Cold, r.ColdLoads)
		}
		if sum := p.Useful + p.Late + p.Wasted() + p.Unread(); sum != p.Prefetched || int(p.Prefetched) > r.PrefetchGets {
			t.Errorf("%s: prefetched %d, of which useful, late, wasted, unread %d; GETs %d", name, p.Prefetched, sum, r.PrefetchGets)
		}
		if p.Lead.Count != p.Useful || p.Wait.Count != p.Late || p.UnreadAge.Count != p.Wasted() {
			t.Errorf("%s: histogram counts lead %d, wait %d, unread age %d; want %d, %d, %d", name, p.Lead.Count, p.Wait.Count, p.UnreadAge.Count, p.Useful, p.Late, p.Wasted())
		}
		landed += int(p.Prefetched)
	}
	if landed == 0 {
		t.Fatal("no GET landed in the whole run: the test checks nothing")
	}
}
