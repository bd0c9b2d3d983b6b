package replay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wombatkv/prefetch/policy"
)

// Each shipped preset spec, replayed through FromSpec, is the lab's policy
// of the same preset, figure for figure, idle cycles credited alike: the
// lab learns from the config alone. rfc0008-v2 and -v3 are the v2 and v3
// presets scored with the lab's RFC 0008 weights and half-life, which by
// default are the specs' (1, 0.3, 0.2 and 10 min); hint-v3 is the hints
// preset with the lab's budget and GET cost, by default the spec's
// budget, and the cost its deadline scorer takes from the Env. (The
// lab's other policies are no preset: hint-grid-v3 ranks hints by a
// scorer no spec stage offers, and the oracle reads the trace ahead.)
func TestFromSpecIsTheBuiltin(t *testing.T) {
	pairs := []struct{ builtin, preset string }{
		{PolicyRFC0008V2, "v2"},
		{PolicyRFC0008V3, "v3"},
		{PolicyWarmupV3, "warmup"},
		{PolicyHintV3, "hints"},
	}
	var pols []Policy
	for _, p := range pairs {
		spec, err := policy.Preset(p.preset)
		if err != nil {
			t.Fatal(err)
		}
		fs := FromSpec(spec)
		if fs.Name != p.preset {
			t.Errorf("FromSpec(%s).Name = %q, want %q", spec.Name(), fs.Name, p.preset)
		}
		pols = append(pols, byName(p.builtin)[0], fs)
	}
	for _, path := range []string{arxivPath, syntheticPath} {
		t.Run(path, func(t *testing.T) {
			if path == syntheticPath && (testing.Short() || raceEnabled) {
				t.Skip("skipped in -short and -race runs: the synthetic replay takes seconds")
			}
			tr, err := ReadTraceFile(path, false)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), tr, Config{
				Scenarios: []Scenario{{Fraction: 0.2, Restart: true}},
				Policies:  pols,
				Leads:     []time.Duration{time.Second},
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range pairs {
				want, got := res[2*i], res[2*i+1]
				t.Logf("%s: %d GETs, %d useful, %d of %d cycles run", p.builtin, want.PrefetchGets, want.Useful, want.ran, want.Cycles)
				if diff := cmp.Diff(want, got, cmp.AllowUnexported(Result{}), cmpopts.IgnoreFields(Result{}, "Policy", "Elapsed")); diff != "" {
					t.Errorf("%s and FromSpec(policy.Preset(%q)) differ (-builtin +spec):\n%s", p.builtin, p.preset, diff)
				}
			}
		})
	}
}

// A policy file is named by its base name, and an admission the lab does
// not know fails the run, naming the file.
func TestFromSpecFile(t *testing.T) {
	spec, err := policy.Parse("specs/mine.json", []byte(`{"admission": "front", "sources": ["index"], "scorer": "recency", "fetcher": "parallel"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := FromSpec(spec)
	if p.Name != "mine" || p.UsesLead {
		t.Errorf("FromSpec(specs/mine.json) = %q (uses lead %v), want \"mine\", not using the lead", p.Name, p.UsesLead)
	}
	tr := &Trace{Name: "tiny", Requests: []Request{req(0, 1)}}
	_, err = Run(context.Background(), tr, Config{Settings: tiny, Scenarios: []Scenario{{Fraction: 1}}, Policies: []Policy{p}})
	if want := `replay: policy mine: specs/mine.json: replay: admission "front"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to contain %q", err, want)
	}
}
