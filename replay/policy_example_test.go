package replay_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/replay"
)

// A team's own policy, replayed beside the shipped ones: the v3 preset
// over the lab's node, with a scorer of its own (the shallowest recently
// read blocks first: a chain's first blocks are shared by the most
// requests, each position deeper costing a second of age) and the top K
// chosen among the blocks not in flat nor in flight (the preset's filters
// moved before the selection).
func ExamplePolicy() {
	shallow := replay.Policy{
		Name:  "shallow-first",
		About: "recently read blocks not in flat, the shallowest first",
		Build: func(env *replay.Env) (replay.Built, error) {
			cfg, err := presets.Config(presets.NameV3, env.PresetOptions())
			if err != nil {
				return replay.Built{}, err
			}
			cfg.Scorer = pipeline.ScorerFunc(func(now time.Time, _ block.Hash, m block.Meta) float64 {
				age := now.Sub(time.Unix(0, m.LastAccessNs)).Seconds()
				return -(age + float64(m.Seq))
			})
			cfg.PreFilters = append(cfg.PreFilters, cfg.Filters...)
			cfg.Filters = nil
			return replay.Built{Config: cfg}, nil
		},
	}
	var policies []replay.Policy
	for _, name := range []string{replay.PolicyNone, replay.PolicyRFC0008V3, replay.PolicyOracleV3} {
		p, err := replay.PolicyByName(name)
		if err != nil {
			fmt.Println(err)
			return
		}
		policies = append(policies, p)
	}
	policies = append(policies, shallow)

	tr, err := replay.Synthetic(replay.SyntheticConfig{Seed: 1, Requests: 600})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := replay.Run(context.Background(), tr, replay.Config{
		Scenarios: []replay.Scenario{{Fraction: 0.1}},
		Policies:  policies,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res {
		fmt.Printf("%-13s share of the oracle %.2f, %4d GETs, precision %.2f\n", r.Policy, r.Share, r.PrefetchGets, r.Precision)
	}
	// Output:
	// none          share of the oracle 0.00,    0 GETs, precision 0.00
	// rfc0008-v3    share of the oracle 0.01,   30 GETs, precision 0.37
	// oracle-v3     share of the oracle 1.00, 2244 GETs, precision 0.98
	// shallow-first share of the oracle 0.20, 2248 GETs, precision 0.37
}

// A policy file replays as any policy: here the shipped hints preset,
// at two lead times. A spec that reads hints is replayed at each lead.
func ExampleFromSpec() {
	spec, err := policy.Preset("hints") // or policy.Load("mine.json", policy.Builtin())
	if err != nil {
		fmt.Println(err)
		return
	}
	hints := replay.FromSpec(spec)
	tr, err := replay.Synthetic(replay.SyntheticConfig{Seed: 1, Requests: 600})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := replay.Run(context.Background(), tr, replay.Config{
		Scenarios: []replay.Scenario{{Fraction: 0.1}},
		Policies:  []replay.Policy{hints},
		Leads:     []time.Duration{500 * time.Millisecond, 2 * time.Second},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res {
		fmt.Printf("%s at %v ms lead: share of the oracle %.2f, precision %.2f\n", r.Policy, r.Settings.LeadMs, r.Share, r.Precision)
	}
	// Output:
	// hints at 500 ms lead: share of the oracle 1.16, precision 1.00
	// hints at 2000 ms lead: share of the oracle 1.56, precision 1.00
}
