package policy_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// memStore is a toy store for the examples: cold holds every block, flat
// is a set; a fetch copies a block from cold into flat.
type memStore struct {
	mu   sync.Mutex
	flat map[block.Hash]bool
}

func (s *memStore) ContainsFlat(_ context.Context, _ string, h block.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flat[h]
}

func (s *memStore) Materialize(_ context.Context, _ string, h block.Hash, m block.Meta) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flat[h] = true
	return int64(m.PayloadBytes), true, nil
}

// exampleSetup returns an index of four chain heads, block i read i
// minutes ago and of i MiB (block 1 is the freshest and the smallest), a
// store with block 2 already in flat, and the clock the cycle scores
// against.
func exampleSetup() (*index.Memory, *memStore, func() time.Time) {
	now := time.Unix(1_700_000_000, 0)
	idx := index.NewMemory(func() time.Time { return now })
	idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := 1; i <= 4; i++ {
			m := block.Meta{PayloadBytes: uint64(i) << 20, LastAccessNs: now.Add(-time.Duration(i) * time.Minute).UnixNano()}
			if !yield(block.Hash{byte(i)}, m) {
				return
			}
		}
	})
	return idx, &memStore{flat: map[block.Hash]bool{{2}: true}}, func() time.Time { return now }
}

// bigFirstParams are the params of a team's own scorer.
type bigFirstParams struct {
	// PerMiB is the score of each MiB of payload.
	PerMiB float64 `json:"per_mib"`
}

func (p *bigFirstParams) Validate() error {
	if p.PerMiB <= 0 {
		return fmt.Errorf("per_mib: want > 0, got %v", p.PerMiB)
	}
	return nil
}

// A team's own scorer, registered under its name, mixed with the module's
// recency scorer in a spec: bigger blocks first, so that a cycle's GETs
// carry more bytes, as long as they were read recently.
func Example() {
	r := policy.Builtin()
	err := r.RegisterScorer("acme/big-first", policy.Typed(func(p bigFirstParams, _ policy.Env) (pipeline.Scorer, error) {
		return pipeline.ScorerFunc(func(_ time.Time, _ block.Hash, m block.Meta) float64 {
			return p.PerMiB * float64(m.PayloadBytes) / (1 << 20)
		}), nil
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	spec, err := policy.Parse("mine.json", []byte(`{
	  "top_k": 2,
	  "sources": ["index"],
	  "scorer": {"stage": "weighted", "params": {"terms": [
	    {"scorer": "recency"},
	    {"weight": 0.5, "scorer": {"stage": "acme/big-first", "params": {"per_mib": 0.4}}}
	  ]}},
	  "filters": ["already-flat"],
	  "fetcher": "sequential"
	}`), r)
	if err != nil {
		fmt.Println(err)
		return
	}
	idx, st, clock := exampleSetup()
	cfg, err := spec.Build(policy.Env{Index: idx, Store: st, Clock: clock})
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := pipeline.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	o := p.Run(context.Background())
	for _, c := range o.Selected {
		fmt.Printf("selected %s (score %.3f)\n", c.Hash.String()[:2], c.Score)
	}
	fmt.Printf("skipped %v, fetched %d (%d MiB)\n", o.Skipped, o.Fetched, o.BytesMaterialized>>20)

	// The team's params are checked with the spec's.
	_, err = policy.Parse("mine.json", []byte(`{"sources": ["index"], "scorer": {"stage": "acme/big-first", "params": {"per_mib": -1}}}`), r)
	fmt.Println(err)
	// Output:
	// selected 04 (score 1.558)
	// selected 03 (score 1.412)
	// skipped map[], fetched 2 (7 MiB)
	// mine.json: scorer.params.per_mib: want > 0, got -1
}

// Every problem with a spec at once, each with its file and field path.
func ExampleParse() {
	_, err := policy.Parse("policy.json", []byte(`{
	  "sources": ["index"],
	  "scorer": {"stage": "rfc0008", "params": {"half_life": 12}},
	  "filters": ["already_flat"],
	  "fetcher": {"stage": "parallel", "params": {"limt": 4}}
	}`), policy.Builtin())
	fmt.Println(err)
	// Output:
	// policy.json: scorer.params.half_life: want a duration like "10m", got 12
	// policy.json: filters[0]: unknown filter "already_flat", want one of already-flat, backoff, budget, free-room, not-in-flight (did you mean "already-flat"?)
	// policy.json: fetcher.params.limt: unknown field, want one of limit (did you mean "limit"?)
}

// A spec file on disk, built over a node's index and store.
func ExampleLoad() {
	spec, err := policy.Load("testdata/recent-first.json", policy.Builtin())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(spec.About())
	idx, st, clock := exampleSetup()
	cfg, err := spec.Build(policy.Env{Index: idx, Store: st, Clock: clock, InstrLog: os.Stdout})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("every %v, top %d, admission %q\n", cfg.Interval, cfg.TopK, spec.Admission())
	// Output:
	// the most recently read blocks first, four fetches in flight
	// every 250ms, top 3, admission "probation:0.1"
}

// The shipped v3 preset as a spec: the same pipeline as presets.New("v3", o).
func ExamplePreset() {
	spec, err := policy.Preset("v3")
	if err != nil {
		fmt.Println(err)
		return
	}
	idx, st, clock := exampleSetup()
	cfg, err := spec.Build(policy.Env{
		Index: idx, Store: st, Clock: clock,
		Emitters: []pipeline.Emitter{emit.Func(func(o *pipeline.Outcome) {
			fmt.Printf("scored=%d selected=%d skipped_already_flat=%d fetched=%d\n",
				o.Scored, len(o.Selected), o.SkippedAlreadyFlat(), o.Fetched)
		})},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := pipeline.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	p.Run(context.Background())
	fmt.Println(spec.About())
	// Output:
	// scored=4 selected=4 skipped_already_flat=1 fetched=3
	// v2 with at most 8 fetches in flight (the seed's v3 TODO)
}

// A spec that uses hints gets the intake in its Env; its worker wakes at
// each hint.
func ExampleSpec_Worker() {
	spec, err := policy.Preset("hints")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("uses hints:", spec.UsesHints())
	_, st, _ := exampleSetup()
	hints := snapshot.NewHints(snapshot.HintsConfig{})
	outcomes := make(chan *pipeline.Outcome, 64)
	w, err := spec.Worker(policy.Env{
		Store: st, Hints: hints,
		Emitters: []pipeline.Emitter{emit.Func(func(o *pipeline.Outcome) {
			select {
			case outcomes <- o:
			default: // never block the worker (nor its Stop)
			}
		})},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := w.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer w.Stop()
	<-outcomes // the cycle at start: no hints yet
	hints.Add(snapshot.Hint{Hash: block.Hash{9}, Meta: block.Meta{PayloadBytes: 1 << 20}, Due: time.Now().Add(time.Minute)})
	for o := range outcomes { // the next cycle, woken by the hint (or by a tick)
		if o.Fetched > 0 {
			fmt.Printf("fetched %d block of %d MiB\n", o.Fetched, o.BytesMaterialized>>20)
			break
		}
	}
	// Output:
	// uses hints: true
	// fetched 1 block of 1 MiB
}
