package replay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/policy"
)

// With Settings.CountHalfLife the lab's index keeps access counts, and
// the warm-up of docs/policies/warmup-frequency.json, which ranks by
// them, brings back after a restart the block read most often rather
// than the most recent ones: block 1, read three times, comes back and
// is hit at 4 s, where warmup-v3 (recency) fetched 3 and 2 and the read
// of 1 is a cold load.
func TestWarmupFrequency(t *testing.T) {
	spec, err := policy.Load("../docs/policies/warmup-frequency.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &Trace{Name: "tiny", Requests: []Request{
		req(0, 1), req(10, 1), req(20, 1), // 1 read three times
		req(100, 2), req(200, 3), // a flat of two blocks: 3 evicts 1
		req(4000, 1), // after the restart at 2 s
	}}
	s := tiny
	s.CountHalfLife = time.Hour
	res, err := Run(context.Background(), tr, Config{
		Settings:  s,
		Scenarios: []Scenario{{Fraction: 2.0 / 3, Restart: true}},
		Policies:  append(byName(PolicyNone, PolicyWarmupV3), FromSpec(spec)),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []outcomeRow{
		{PolicyNone, 0, 2, 1, 0},
		{PolicyWarmupV3, 0, 2, 1, 2},     // 3 and 2 back: 1 is a cold load
		{"warmup-frequency", 0, 3, 0, 2}, // 1 and one of the others: 1 is a hit
	}
	if diff := cmp.Diff(want, rowsOf(res)); diff != "" {
		t.Errorf("results mismatch (-want +got):\n%s", diff)
	}
	if got := res[2].Settings.CountHalfLifeS; got != 3600 {
		t.Errorf("Settings.CountHalfLifeS = %v, want 3600 (the run's record of its counts)", got)
	}

	// Without counts the spec cannot be built, and says why.
	_, err = Run(context.Background(), tr, Config{
		Settings:  tiny,
		Scenarios: []Scenario{{Fraction: 2.0 / 3, Restart: true}},
		Policies:  []Policy{FromSpec(spec)},
	})
	if want := "keeps no access counts (its CountHalfLife is 0), want an index built with index.Options.CountHalfLife > 0 (kvprefetch replay, serve and demo: --count-half-life"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("without CountHalfLife: err = %v, want it to contain %q", err, want)
	}
}

func TestCountHalfLifeSetting(t *testing.T) {
	s := tiny.WithDefaults()
	s.CountHalfLife = -time.Second
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "CountHalfLife = -1s, want >= 0") {
		t.Errorf("Validate(CountHalfLife -1s) = %v, want an error naming CountHalfLife", err)
	}
	for _, hl := range []time.Duration{0, time.Minute} {
		s.CountHalfLife = hl
		r := newTinyRun(t, blk)
		if got := newEnv(r, s).Index.CountHalfLife(); got != hl {
			t.Errorf("CountHalfLife %v: the lab's index keeps counts with half-life %v", hl, got)
		}
	}
}
