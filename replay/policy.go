package replay

import (
	"context"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/score"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// Policy names. The first five are the reference's.
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

// built is a policy made ready for one run.
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
}

type policyDef struct {
	name     string
	about    string
	usesLead bool
	build    func(r *run, s Settings) (*built, error)
}

// presetOptions are the presets' options over the run's tiers.
func presetOptions(r *run, s Settings) presets.Options {
	return presets.Options{
		Index:    r.idx,
		Store:    r,
		Model:    labModel(),
		TopK:     s.TopK,
		Interval: s.Interval,
		Limit:    s.Limit,
		InstrLog: io.Discard,
		Clock:    r.clock,
	}
}

// rfc0008 is the RFC 0008 scorer with the settings' weights and
// half-life, the model bonus always paid (every block of the lab is of the
// active model).
func rfc0008(s Settings) *score.RFC0008 {
	sc := score.NewRFC0008(labModel())
	sc.Recency, sc.Chain, sc.Model = s.Weights[0], s.Weights[1], s.Weights[2]
	sc.HalfLife = s.HalfLife
	return sc
}

func gridRate(s Settings) float64 { return float64(s.TopK) / s.Interval.Seconds() }

func fromConfig(cfg pipeline.Config, t timing, rate float64) (*built, error) {
	p, err := pipeline.New(cfg)
	if err != nil {
		return nil, err
	}
	return &built{p: p, timing: t, maxGetsPerSec: rate}, nil
}

// ranked is fromConfig for a policy that fetches the top K of the whole
// index not in flat, with the idle certificate of its scorer.
func ranked(cfg pipeline.Config, t timing, rate float64) (*built, error) {
	b, err := fromConfig(cfg, t, rate)
	if err != nil {
		return nil, err
	}
	b.quiet = rankedQuiet(cfg.Scorer, int64(b.p.Config().Interval))
	return b, nil
}

// policyDefs returns the lab's policies, the reference's first.
func policyDefs() []policyDef {
	return []policyDef{
		{
			name:  PolicyNone,
			about: "no prefetch",
			build: func(*run, Settings) (*built, error) { return &built{}, nil },
		},
		{
			name:  PolicyRFC0008V2,
			about: "the seed's v2: RFC 0008 top K over the index, skip already-flat and in-flight, fetch one after another",
			build: func(r *run, s Settings) (*built, error) {
				cfg, err := presets.Config(presets.NameV2, presetOptions(r, s))
				if err != nil {
					return nil, err
				}
				cfg.Scorer = rfc0008(s)
				return ranked(cfg, timing{sequential: true}, gridRate(s))
			},
		},
		{
			name:  PolicyRFC0008V3,
			about: "preset v3: RFC 0008 top K over the index, skip already-flat and in-flight, fetch with Limit in flight",
			build: func(r *run, s Settings) (*built, error) {
				cfg, err := presets.Config(presets.NameV3, presetOptions(r, s))
				if err != nil {
					return nil, err
				}
				cfg.Scorer = rfc0008(s)
				return ranked(cfg, timing{limit: s.Limit}, gridRate(s))
			},
		},
		{
			name:  PolicyRecencyV3,
			about: "preset v3 scored by RFC 0008's recency term alone",
			build: func(r *run, s Settings) (*built, error) {
				cfg, err := presets.Config(presets.NameV3, presetOptions(r, s))
				if err != nil {
					return nil, err
				}
				cfg.Scorer = score.NewRecency(s.HalfLife)
				return ranked(cfg, timing{limit: s.Limit}, gridRate(s))
			},
		},
		{
			name:  PolicyOracleV3,
			about: "clairvoyant: the K blocks not in flat and not in flight whose next use is soonest (v3 fetch)",
			build: func(r *run, s Settings) (*built, error) {
				o := &oracle{r: r, k: s.TopK, mark: make([]uint32, len(r.m.ids)), nextUse: make([]int32, len(r.m.ids))}
				cfg, err := presets.Config(presets.NameV3, presetOptions(r, s))
				if err != nil {
					return nil, err
				}
				cfg.Sources = []pipeline.Source{o}
				cfg.Scorer = pipeline.ScorerFunc(o.score)
				b, err := fromConfig(cfg, timing{limit: s.Limit}, gridRate(s))
				if err != nil {
					return nil, err
				}
				b.quiet = quietAlways // next use does not depend on the time
				return b, nil
			},
		},
		{
			name:     PolicyHintGridV3,
			about:    "the reference's grid-bound hint policy: each grid cycle, the hinted blocks not in flat and not in flight, by request time then position, top K (v3 fetch)",
			usesLead: true,
			build: func(r *run, s Settings) (*built, error) {
				h := snapshot.NewHints(snapshot.HintsConfig{Lookup: r.idx.Get, Capacity: 1 << 20})
				cfg, err := presets.HintsConfig(presets.HintOptions{Options: presetOptions(r, s), Hints: h})
				if err != nil {
					return nil, err
				}
				cfg.Interval = s.Interval
				cfg.Filters = nil // no budget beyond K per cycle
				// By request time, then request order and position.
				cfg.Scorer = pipeline.ScorerFunc(func(_ time.Time, hash block.Hash, _ block.Meta) float64 {
					rank, _ := h.Rank(hash)
					return -float64(rank)
				})
				b, err := fromConfig(cfg, timing{limit: s.Limit}, gridRate(s))
				if err != nil {
					return nil, err
				}
				b.hints = h
				// Hint rank does not depend on the time, and the pending
				// hints stay as they are until the next event: none is
				// due before it.
				b.quiet = quietAlways
				return b, nil
			},
		},
		{
			name:     PolicyHintV3,
			about:    "preset hints: event-driven (a hint wakes the worker), earliest deadline first among hinted blocks not in flat and not in flight, GET budget of K per cycle and GetsPerSecond with Burst (v3 fetch)",
			usesLead: true,
			build: func(r *run, s Settings) (*built, error) {
				h := snapshot.NewHints(snapshot.HintsConfig{Lookup: r.idx.Get, Capacity: 1 << 20, Notify: func() { r.wake = true }})
				o := presetOptions(r, s)
				o.Interval = 0 // the preset's own tick
				cfg, err := presets.HintsConfig(presets.HintOptions{
					Options: o, Hints: h,
					GetsPerSecond: s.GetsPerSecond, Burst: s.Burst,
					GetTime: func(n uint64) time.Duration { return s.GetCost(int64(n)) },
				})
				if err != nil {
					return nil, err
				}
				b, err := fromConfig(cfg, timing{limit: s.Limit}, s.GetsPerSecond)
				if err != nil {
					return nil, err
				}
				b.hints = h
				b.quiet = quietWhenNoneSelected // deadlines and tokens move with time
				return b, nil
			},
		},
		{
			name:  PolicyWarmupV3,
			about: "preset warmup (the background default): most recent blocks not in flat and not in flight, fetched only into flat's free room, admitted at the LRU end (v3 fetch)",
			build: func(r *run, s Settings) (*built, error) {
				cfg, err := presets.WarmupConfig(presetOptions(r, s))
				if err != nil {
					return nil, err
				}
				b, err := fromConfig(cfg, timing{limit: s.Limit}, gridRate(s))
				if err != nil {
					return nil, err
				}
				b.admission = Admission{Mode: AdmitLRU}
				b.quiet = quietWarmup
				return b, nil
			},
		},
	}
}

func policyByName(name string) (*policyDef, error) {
	defs := policyDefs()
	for i := range defs {
		if defs[i].name == name {
			return &defs[i], nil
		}
	}
	return nil, fmt.Errorf("replay: unknown policy %q, want one of %s", name, strings.Join(PolicyNames(), ", "))
}

// PolicyNames lists the policies the lab knows, the reference's first.
func PolicyNames() []string {
	defs := policyDefs()
	names := make([]string, len(defs))
	for i, p := range defs {
		names[i] = p.name
	}
	return names
}

// PolicyAbout returns a one-line description of the named policy, or "".
func PolicyAbout(name string) string {
	if p, err := policyByName(name); err == nil {
		return p.about
	}
	return ""
}

// oracle is the clairvoyant source: it proposes, in order of next use, the
// blocks that are seen, not in flat, not in flight and read again later,
// until it has K and has finished the request of the K-th (so ties by id
// are complete). Its score is minus the index of the next request.
type oracle struct {
	r       *run
	k       int
	stamp   uint32
	mark    []uint32
	nextUse []int32
}

func (o *oracle) Candidates(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
	return func(yield func(block.Hash, block.Meta) bool) {
		r, m := o.r, o.r.m
		o.stamp++
		found := 0
		for i := r.ptr; i < m.requests() && found < o.k; i++ {
			for j := m.start[i]; j < m.start[i+1]; j++ {
				b := m.refs[j]
				if o.mark[b] == o.stamp {
					continue
				}
				o.mark[b] = o.stamp
				if !r.seen[b] || r.where[b] != inNone || r.pend[b] {
					continue
				}
				o.nextUse[b] = int32(i)
				found++
				if !yield(Hash(m.ids[b]), m.meta(b, 0)) {
					return
				}
			}
		}
	}
}

func (o *oracle) score(_ time.Time, h block.Hash, _ block.Meta) float64 {
	b, _ := o.r.m.lookup(h)
	return -float64(o.nextUse[b])
}

// Interfaces the run implements for the stages.
var (
	_ presets.Store       = (*run)(nil)
	_ presets.WarmupStore = (*run)(nil)
	_ filter.InFlight     = (*run)(nil)
	_ fetch.Materializer  = (*run)(nil)
)
