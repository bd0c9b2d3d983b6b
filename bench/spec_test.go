package bench

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// weightedSpec is a team's policy written as a file: recency plus a third
// of RFC 0008's chain term, the top K by heap, a dry run.
const weightedSpec = `{
  "sources": ["index"],
  "scorer": {"stage": "weighted", "params": {"terms": [
    {"weight": 1, "scorer": {"stage": "recency", "params": {"half_life": "5m"}}},
    {"weight": 0.3, "scorer": {"stage": "rfc0008", "params": {"weights": {"recency": 0, "chain": 1, "model": 0}}}}
  ]}},
  "selector": "heap"
}`

// weightedGo is weightedSpec built in Go.
func weightedGo(x *index.Memory) pipeline.Config {
	chain := score.NewRFC0008(Model(0))
	chain.Recency, chain.Chain, chain.Model = 0, 1, 0
	return pipeline.Config{
		Sources: []pipeline.Source{&snapshot.Index{Index: x}},
		Scorer: score.Weighted{
			{Weight: 1, Scorer: score.NewRecency(5 * time.Minute)},
			{Weight: 0.3, Scorer: chain},
		},
		Selector: topk.Heap{},
		Clock:    fixedClock,
	}
}

// ownScorerSpec is the v1 preset with a team's own Go scorer, registered
// as "acme/readme", in place of RFC 0008.
const ownScorerSpec = `{
  "sources": ["index"],
  "scorer": "acme/readme",
  "selector": "heap",
  "fetcher": "dry-run",
  "emitters": [{"stage": "myelon", "params": {"format": "v1"}}]
}`

// BenchmarkSpecCycle measures a policy loaded from a spec against the same
// policy built in Go, at N = 1e6, K = 8, random ages: the v1 preset
// (policy.Preset against presets.Config), a weighted scorer (a spec of
// shipped stages against score.Weighted), and the README's ScorerFunc
// (registered under a name and named by a spec, against the function in
// the config). Each pair is checked, before timing, to take the same scan
// path and select the same blocks; the two sides should be equal within
// noise (benchstat -col /from).
func BenchmarkSpecCycle(b *testing.B) {
	const n, k = 1_000_000, 8
	x := fixtureIndex(n, Random)
	reg := policy.Builtin()
	err := reg.RegisterScorer("acme/readme", policy.Typed(func(struct{}, policy.Env) (pipeline.Scorer, error) {
		return readmeScorer(), nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	env := policy.Env{Index: x, Model: Model(0), InstrLog: io.Discard, Clock: fixedClock}
	fromSpec := func(b *testing.B, name, data string) pipeline.Config {
		var spec *policy.Spec
		var err error
		if data == "" {
			spec, err = policy.Preset(name)
		} else {
			spec, err = policy.Parse(name+".json", []byte(data), reg)
		}
		if err != nil {
			b.Fatal(err)
		}
		cfg, err := spec.Build(env)
		if err != nil {
			b.Fatal(err)
		}
		return cfg
	}
	cases := []struct {
		policy   string
		goCfg    func(b *testing.B) pipeline.Config
		specCfg  func(b *testing.B) pipeline.Config
		wantPath pipeline.ScanPath
	}{
		{
			policy:   "v1",
			goCfg:    func(b *testing.B) pipeline.Config { return cycleConfig(b, x, k) },
			specCfg:  func(b *testing.B) pipeline.Config { return fromSpec(b, presets.NameV1, "") },
			wantPath: pipeline.PathPruned,
		},
		{
			policy:   "weighted",
			goCfg:    func(*testing.B) pipeline.Config { return weightedGo(x) },
			specCfg:  func(b *testing.B) pipeline.Config { return fromSpec(b, "weighted", weightedSpec) },
			wantPath: pipeline.PathPruned,
		},
		{
			policy: "own-scorer",
			goCfg: func(b *testing.B) pipeline.Config {
				cfg := cycleConfig(b, x, k)
				cfg.Scorer = readmeScorer()
				return cfg
			},
			specCfg:  func(b *testing.B) pipeline.Config { return fromSpec(b, "own", ownScorerSpec) },
			wantPath: pipeline.PathScored,
		},
	}
	for _, c := range cases {
		goCfg := c.goCfg(b)
		want, scored := referenceCycle(goCfg, k)
		for _, side := range []struct {
			from string
			cfg  pipeline.Config
		}{{"go", goCfg}, {"spec", c.specCfg(b)}} {
			b.Run(fmt.Sprintf("policy=%s/from=%s", c.policy, side.from), func(b *testing.B) {
				benchCycle(b, side.cfg, c.wantPath, want, scored)
			})
		}
	}
}
