package replay_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/replay"
	"github.com/wombatkv/prefetch/stages/score"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// A team's policy, written outside the package with nothing but the Env,
// replays as the shipped one it copies: a ScorerFunc with recency-v3's
// scores, and one with hint-grid-v3's ranking of the hints, give their
// figures exactly. The lab is told nothing: it learns the GET timing, the
// rate and the idle cycles from the configs.
func TestOwnPolicy(t *testing.T) {
	tr, err := replay.Synthetic(replay.SyntheticConfig{Seed: 3, Requests: 800})
	if err != nil {
		t.Fatal(err)
	}
	recency := replay.Policy{
		Name: "my-recency",
		Build: func(env *replay.Env) (replay.Built, error) {
			cfg, err := presets.Config(presets.NameV3, env.PresetOptions())
			rec := score.NewRecency(env.Settings.HalfLife)
			cfg.Scorer = pipeline.ScorerFunc(func(now time.Time, h block.Hash, m block.Meta) float64 {
				return rec.Score(now, h, m)
			})
			return replay.Built{Config: cfg}, err
		},
	}
	hinted := replay.Policy{
		Name:     "my-hint-grid",
		UsesLead: true,
		Build: func(env *replay.Env) (replay.Built, error) {
			h := env.Hints()
			h.SetNotify(nil) // cycles on the grid only
			o := env.PresetOptions()
			o.Hints = h
			o.Lease = snapshot.LeaseNone // the reference's grid leases nothing
			cfg, err := presets.Config(presets.NameHints, o)
			cfg.Interval = env.Settings.Interval
			cfg.Filters = nil
			cfg.Scorer = pipeline.ScorerFunc(func(_ time.Time, hash block.Hash, _ block.Meta) float64 {
				rank, _ := h.Rank(hash)
				return -float64(rank)
			})
			return replay.Built{Config: cfg}, err
		},
	}
	policies := []replay.Policy{recency, hinted}
	for _, name := range []string{replay.PolicyRecencyV3, replay.PolicyHintGridV3} {
		p, err := replay.PolicyByName(name)
		if err != nil {
			t.Fatal(err)
		}
		policies = append(policies, p)
	}
	res, err := replay.Run(context.Background(), tr, replay.Config{
		Scenarios: []replay.Scenario{{Fraction: 0.1}, {Fraction: 0.2, Restart: true}},
		Policies:  policies,
		Leads:     []time.Duration{0, time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	gets := 0
	for i := 0; i < len(res); i += 4 {
		for k := range 2 {
			mine, shipped := res[i+k], res[i+k+2]
			gets += shipped.PrefetchGets
			if diff := cmp.Diff(shipped, mine, cmpopts.IgnoreFields(replay.Result{}, "Policy", "Elapsed"), cmpopts.IgnoreUnexported(replay.Result{})); diff != "" {
				t.Errorf("%s at lead %v ms: %s and %s differ (-shipped +own):\n%s", mine.Scenario, mine.Settings.LeadMs, shipped.Policy, mine.Policy, diff)
			}
		}
	}
	if gets == 0 {
		t.Error("the shipped policies fetched nothing: the comparison proves little")
	}
}
