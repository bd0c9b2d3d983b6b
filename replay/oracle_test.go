package replay

import (
	"context"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/score"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// proposal is one block an oracle cycle proposes: its id and the request
// that next reads it.
type proposal struct {
	ID      uint64
	NextUse int32
}

// walkProposals is the oracle's source by its definition, a walk forward
// through the requests from the next one to serve: the blocks seen, not in
// flat, not in flight and read again, in the order the walk meets them,
// until there are k and the request of the k-th is finished.
func walkProposals(r *run, k int) []proposal {
	m := r.m
	var out []proposal
	met := map[int32]bool{}
	for i := r.ptr; i < m.requests() && len(out) < k; i++ {
		for j := m.start[i]; j < m.start[i+1]; j++ {
			b := m.refs[j]
			if met[b] {
				continue
			}
			met[b] = true
			if r.seen[b] && r.where[b] == inNone && !r.pend[b] {
				out = append(out, proposal{m.ids[b], int32(i)})
			}
		}
	}
	return out
}

// checkedOracle is oracle-v3 whose source checks, each cycle, that the
// oracle proposes what the walk does, with the same scores.
func checkedOracle(t *testing.T, cycles *int) Policy {
	p, err := PolicyByName(PolicyOracleV3)
	if err != nil {
		t.Fatal(err)
	}
	build := p.Build
	p.Build = func(e *Env) (Built, error) {
		bt, err := build(e)
		if err != nil {
			return bt, err
		}
		o := e.Oracle()
		bt.Config.Sources = []pipeline.Source{pipeline.SourceFunc(func(ctx context.Context, cy *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
			want := walkProposals(e.r, cy.TopK)
			var got []proposal
			var metas []block.Meta
			for h, md := range o.Candidates(ctx, cy) {
				id, _ := ID(h)
				got = append(got, proposal{id, int32(-o.Score(cy.Now, h, md))})
				metas = append(metas, md)
			}
			*cycles++
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("cycle at %v (request %d): proposals mismatch (-walk +oracle):\n%s", cy.Now, e.r.ptr, diff)
			}
			return func(yield func(block.Hash, block.Meta) bool) {
				for i, pr := range got {
					if !yield(Hash(pr.ID), metas[i]) {
						return
					}
				}
			}
		})}
		return bt, nil
	}
	return p
}

// TestOracleMatchesWalk holds the oracle's queue to the walk it replaces,
// every cycle, under evictions (a small flat), blocks larger than flat,
// each admission, a restart (flat emptied, GETs canceled), GETs that
// outlive cycles, and a request that reads a block twice.
func TestOracleMatchesWalk(t *testing.T) {
	syn, err := Synthetic(SyntheticConfig{Requests: 400, Rate: 8, SystemPrompts: 6})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := Synthetic(SyntheticConfig{Requests: 200, Rate: 0.5, SystemPrompts: 6})
	if err != nil {
		t.Fatal(err)
	}
	twice := &Trace{Name: "twice", Requests: []Request{
		req(0, 1, 2, 3), req(100, 4, 5), req(700, 1, 2, 1, 6),
		req(800, 7, 3, 3), req(1300, 5, 4, 2, 1), req(2100, 6, 6, 7, 3),
		req(2200, 1, 2, 3), req(3000, 4, 5, 6, 7),
	}}
	for _, tc := range []struct {
		tr  *Trace
		s   Settings
		scs []Scenario
	}{
		{syn, Settings{}, []Scenario{{Fraction: 1e-9}, {Fraction: 0.0005}, {Fraction: 0.02}, {Fraction: 0.2, Restart: true}}}, // 1e-9: flat holds no block
		{syn, Settings{Admission: Admission{Mode: AdmitProbation, Fraction: 0.1}}, []Scenario{{Fraction: 0.01, Restart: true}}},
		{syn, Settings{Admission: Admission{Mode: AdmitLRU}, TopK: 3}, []Scenario{{Fraction: 0.05}}},
		{twice, tiny, []Scenario{{Fraction: 0.1}, {Fraction: 0.3}, {Fraction: 0.5, Restart: true}}}, // 0.1: flat holds no block
		// GETs that outlive cycles, some canceled by the restart.
		{slow, Settings{GetLatency: 3 * time.Second}, []Scenario{{Fraction: 0.05, Restart: true}}},
	} {
		t.Run(fmt.Sprintf("%s/%v", tc.tr.Name, tc.s.Admission), func(t *testing.T) {
			cycles := 0
			if _, err := Run(context.Background(), tc.tr, Config{
				Settings:    tc.s,
				Scenarios:   tc.scs,
				Policies:    []Policy{checkedOracle(t, &cycles)},
				Parallelism: 1,
			}); err != nil {
				t.Fatal(err)
			}
			if cycles == 0 {
				t.Fatal("no cycle ran")
			}
		})
	}
}

// TestOracleQueueBounded re-keys blocks at every request, with no cycle
// to drop the stale entries: the queue keeps at most about twice the
// blocks, and still proposes what the walk does.
func TestOracleQueueBounded(t *testing.T) {
	var reqs []Request
	for i := range 300 {
		reqs = append(reqs, req(int64(i)*1000, 1, 2, 3))
	}
	r := newTinyRun(t, blk/2, reqs...) // flat holds no block: every read re-keys
	var q oracleQueue
	q.init(r)
	r.oq = &q
	most := 0
	for i := range len(reqs) - 1 {
		serveAll(r, i, i+1)
		q.sync()
		most = max(most, len(q.keys))
	}
	if limit := 2*len(r.m.ids) + 64 + 1; most > limit {
		t.Errorf("queue held %d keys, want at most %d (twice the %d blocks, plus 64)", most, limit, len(r.m.ids))
	}
	var got []proposal
	for _, k := range q.soonest(8, nil) {
		got = append(got, proposal{r.m.ids[r.m.refs[k]], r.m.requestOf(k)})
	}
	if diff := cmp.Diff(walkProposals(r, 8), got); diff != "" {
		t.Errorf("proposals mismatch (-walk +queue):\n%s", diff)
	}
}

// TestReadsIndex: a replay keeps the index unless every stage is one the
// lab knows reads nothing of it (oracle-v3's).
func TestReadsIndex(t *testing.T) {
	newEnvOf := func() *Env {
		r := newRun(prepare(&Trace{Name: "tiny", Requests: []Request{req(0, 1)}}, tiny), 1, Admission{Mode: AdmitMRU})
		return newEnv(r, tiny)
	}
	oracle, err := PolicyByName(PolicyOracleV3)
	if err != nil {
		t.Fatal(err)
	}
	keepAll := pipeline.FilterFunc(func(context.Context, *pipeline.Cycle, pipeline.Candidate) string { return "" })
	for _, tc := range []struct {
		name   string
		change func(e *Env, cfg *pipeline.Config)
		want   bool
	}{
		{"oracle-v3", func(*Env, *pipeline.Config) {}, false},
		{"and the index as a source", func(e *Env, cfg *pipeline.Config) {
			cfg.Sources = append(cfg.Sources, snapshot.NewIndex(e.Index))
		}, true},
		{"scored by RFC 0008", func(e *Env, cfg *pipeline.Config) { cfg.Scorer = score.NewRFC0008(e.Model) }, true},
		{"a filter of one's own", func(_ *Env, cfg *pipeline.Config) { cfg.Filters = append(cfg.Filters, keepAll) }, true},
		{"already-flat over other tiers", func(_ *Env, cfg *pipeline.Config) {
			cfg.Filters = append(cfg.Filters, filter.NewAlreadyFlat(filter.FlatFunc(func(context.Context, string, block.Hash) bool { return false })))
		}, true},
		{"a budget", func(_ *Env, cfg *pipeline.Config) { cfg.Filters = append(cfg.Filters, filter.NewBudget(4, 0, 0)) }, false},
		{"a fetcher over other tiers", func(e *Env, cfg *pipeline.Config) {
			cfg.Fetcher = fetch.NewSequential(fetch.MaterializerFunc(e.Tiers.Materialize))
		}, true},
		{"a dry run", func(_ *Env, cfg *pipeline.Config) { cfg.Fetcher = nil }, false},
		{"an observer", func(_ *Env, cfg *pipeline.Config) {
			cfg.Observers = []pipeline.Observer{pipeline.ObserverFunc(func(*pipeline.Outcome) {})}
		}, true},
		{"the hint intake made", func(e *Env, _ *pipeline.Config) { e.Hints() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvOf()
			bt, err := oracle.Build(e)
			if err != nil {
				t.Fatal(err)
			}
			tc.change(e, &bt.Config)
			if got := e.readsIndex(bt.Config); got != tc.want {
				t.Errorf("readsIndex = %v, want %v", got, tc.want)
			}
		})
	}
}
