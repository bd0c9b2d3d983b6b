package replay

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/score"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// Policy is a prefetch policy the lab replays: a name, and a function that
// builds its pipeline over the simulated node of one replay. The shipped
// policies ([Builtin]) are Policy values like any other, built with
// nothing but the [Env]; a team replays its own scorer, source or filters
// the same way, and a policy file through [FromSpec].
//
// The lab learns from the config Build returns all it needs to know:
// how a cycle's GETs complete (from the fetcher's type: one after another
// for *fetch.Sequential, a sliding window of Limit for *fetch.Parallel),
// the GET rate the record gives (a budget's rate, else TopK per
// Interval), which cycles of an idle stretch it may credit without
// running them (for stages it can reason about; for others every cycle
// runs, and only the time a replay takes differs), and whether a stage
// may read Env.Index (when every stage is one it knows reads nothing of
// it, as oracle-v3's, it does not keep the index).
type Policy struct {
	// Name names the policy's results (Result.Policy), and is unique in
	// Config.Policies. The policies named PolicyNone and PolicyOracleV3
	// are the baselines of the share of the oracle: the listed ones when
	// listed, else the lab's.
	Name string
	// About is a one-line description, for listings.
	About string
	// UsesLead says the policy reads the hint intake ([Env.Hints]), so the
	// lab replays it at each of Config.Leads. A policy that does not is
	// replayed once per scenario and reported at every lead; one whose
	// Build calls Env.Hints without it is an error.
	UsesLead bool
	// Build returns the policy's pipeline over env, for one replay: new
	// stages each call, as replays run in parallel. A panic is reported as
	// an error. Nil means no prefetch (the lab's none).
	Build func(env *Env) (Built, error)
}

// Names of the shipped policies. The first five are the reference's.
const (
	PolicyNone       = "none"
	PolicyRFC0008V2  = "rfc0008-v2"
	PolicyRFC0008V3  = "rfc0008-v3"
	PolicyRecencyV3  = "recency-v3"
	PolicyOracleV3   = "oracle-v3"
	PolicyHintGridV3 = "hint-grid-v3"
	PolicyHintV3     = "hint-v3"
	PolicyWarmupV3   = "warmup-v3"
)

// built is a policy made ready for one run (see Policy.build).
type built struct {
	p     *pipeline.Pipeline // nil: no prefetch
	hints *snapshot.Hints    // the intake fed with the requests, or nil
	// admission overrides Settings.Admission when set.
	admission Admission
	// maxGetsPerSec is the policy's GET rate cap, for the record.
	maxGetsPerSec float64
	timing        timing
	// quiet says until when the cycles of an idle stretch repeat the
	// last (see idle.go); nil: they all run.
	quiet quietFunc
	// readsIndex says a stage may read Env.Index: when none can, the
	// replay does not keep the index up to date (see Env.readsIndex).
	readsIndex bool
}

// Builtin returns the shipped policies, the reference's first: none,
// rfc0008-v2, rfc0008-v3, recency-v3, oracle-v3, then hint-grid-v3,
// hint-v3 and warmup-v3.
func Builtin() []Policy {
	return []Policy{
		{
			Name:  PolicyNone,
			About: "no prefetch",
		},
		{
			Name:  PolicyRFC0008V2,
			About: "the seed's v2: RFC 0008 top K over the index, skip already-flat and in-flight, fetch one after another",
			Build: func(e *Env) (Built, error) { return rescored(e, presets.NameV2, rfc0008(e)) },
		},
		{
			Name:  PolicyRFC0008V3,
			About: "preset v3: RFC 0008 top K over the index, skip already-flat and in-flight, fetch with Limit in flight",
			Build: func(e *Env) (Built, error) { return rescored(e, presets.NameV3, rfc0008(e)) },
		},
		{
			Name:  PolicyRecencyV3,
			About: "preset v3 scored by RFC 0008's recency term alone",
			Build: func(e *Env) (Built, error) {
				return rescored(e, presets.NameV3, score.NewRecency(e.Settings.HalfLife))
			},
		},
		{
			Name:  PolicyOracleV3,
			About: "clairvoyant: the K blocks not in flat and not in flight whose next use is soonest, at most MaxInFlight in flight (v3 fetch)",
			Build: func(e *Env) (Built, error) {
				cfg, err := presets.Config(presets.NameV3, e.PresetOptions())
				if err != nil {
					return Built{}, err
				}
				o := e.Oracle()
				cfg.Sources = []pipeline.Source{o}
				cfg.Scorer = o
				// At most MaxInFlight GETs in flight, across its cycles
				// too: without a shared link its GETs never outlast a
				// cycle, so this changes no reference figure.
				cfg.Filters = append(cfg.Filters, &filter.Budget{MaxInFlight: e.Settings.MaxInFlight, Pending: e.Tiers})
				return Built{Config: cfg}, nil
			},
		},
		{
			Name:     PolicyHintGridV3,
			About:    "the reference's grid-bound hint policy: each grid cycle, the hinted blocks not in flat and not in flight, by request time then position, top K (v3 fetch)",
			UsesLead: true,
			Build: func(e *Env) (Built, error) {
				h := e.Hints()
				h.SetNotify(nil) // grid-bound: a hint wakes no cycle
				o := e.PresetOptions()
				o.Hints = h
				o.Lease = snapshot.LeaseNone // the reference's: no lease
				cfg, err := presets.Config(presets.NameHints, o)
				if err != nil {
					return Built{}, err
				}
				cfg.Interval = e.Settings.Interval
				cfg.Filters = nil // no budget beyond K per cycle
				// By request time, then request order and position.
				cfg.Scorer = pipeline.ScorerFunc(func(_ time.Time, hash block.Hash, _ block.Meta) float64 {
					rank, _ := h.Rank(hash)
					return -float64(rank)
				})
				return Built{Config: cfg}, nil
			},
		},
		{
			Name:     PolicyHintV3,
			About:    "preset hints: event-driven (a hint wakes the worker), leases hinted blocks already in flat, earliest deadline first among hinted blocks not in flat and not in flight, GET budget of K per cycle, MaxInFlight in flight and GetsPerSecond from a bucket Burst deep (v3 fetch)",
			UsesLead: true,
			Build: func(e *Env) (Built, error) {
				o := e.PresetOptions()
				o.Hints = e.Hints()
				o.Interval = 0 // the preset's own tick
				cfg, err := presets.Config(presets.NameHints, o)
				return Built{Config: cfg}, err
			},
		},
		{
			Name:  PolicyWarmupV3,
			About: "preset warmup (the background default): most recent blocks not in flat and not in flight, fetched only into flat's free room with at most MaxInFlight in flight, admitted at the LRU end (v3 fetch)",
			Build: func(e *Env) (Built, error) {
				cfg, err := presets.Config(presets.NameWarmup, e.PresetOptions())
				return Built{Config: cfg, Admission: Admission{Mode: AdmitLRU}}, err
			},
		},
	}
}

// rescored returns the preset called name over e, scored by sc.
func rescored(e *Env, name string, sc pipeline.Scorer) (Built, error) {
	cfg, err := presets.Config(name, e.PresetOptions())
	if err != nil {
		return Built{}, err
	}
	cfg.Scorer = sc
	return Built{Config: cfg}, nil
}

// rfc0008 is the RFC 0008 scorer with the settings' weights and
// half-life, the model bonus always paid (every block of the lab is of the
// active model).
func rfc0008(e *Env) *score.RFC0008 {
	s := e.Settings
	sc := score.NewRFC0008(e.Model)
	sc.Recency, sc.Chain, sc.Model = s.Weights[0], s.Weights[1], s.Weights[2]
	sc.HalfLife = s.HalfLife
	return sc
}

// DefaultPolicies returns the reference's policies: none, rfc0008-v2,
// rfc0008-v3, recency-v3 and oracle-v3.
func DefaultPolicies() []Policy { return Builtin()[:5] }

// PolicyByName returns the shipped policy called name, or an error naming
// the shipped policies.
func PolicyByName(name string) (Policy, error) {
	all := Builtin()
	names := make([]string, len(all))
	for i, p := range all {
		if p.Name == name {
			return p, nil
		}
		names[i] = p.Name
	}
	return Policy{}, fmt.Errorf("replay: unknown policy %q, want one of %s (or a policy file)", name, strings.Join(names, ", "))
}

// FromSpec returns the policy spec describes (a policy file, or a shipped
// preset: policy.Load, policy.Preset), named by its file's base name
// without the extension ("presets/v3.json" is "v3"; set Name to rename
// it). Its Build builds the spec over the Env, with the hint intake when
// the spec uses hints (UsesLead is spec.UsesHints()), and its admission
// is the spec's, parsed with [ParseAdmission], or Settings.Admission when
// the spec gives none.
//
// A spec is the whole policy: the lab's TopK, Interval and Limit
// settings, which the shipped policies follow, do not apply to it; what
// it leaves out means the pipeline's and the stages' defaults, as on a
// node. The env's GetTime is the cost the "deadline" scorer expects when
// its params give none. Policy.About is the spec's about.
func FromSpec(spec *policy.Spec) Policy {
	base := filepath.Base(spec.Name())
	return Policy{
		Name:     strings.TrimSuffix(base, filepath.Ext(base)),
		About:    spec.About(),
		UsesLead: spec.UsesHints(),
		Build: func(e *Env) (Built, error) {
			var adm Admission
			if a := spec.Admission(); a != "" {
				var err error
				if adm, err = ParseAdmission(a); err != nil {
					return Built{}, fmt.Errorf("%s: %w", spec.Name(), err)
				}
			}
			env := policy.Env{
				Index:    e.Index,
				Store:    e.Tiers,
				GetTime:  e.GetTime,
				Model:    e.Model,
				InstrLog: io.Discard,
				Clock:    e.Clock,
			}
			if spec.UsesHints() {
				env.Hints = e.Hints() // event-driven, as spec.Worker wires it
			}
			cfg, err := spec.Build(env)
			return Built{Config: cfg, Admission: adm}, err
		},
	}
}
