package shadow_test

import (
	"context"
	"io"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/replay"
	"github.com/wombatkv/prefetch/shadow"
	topk "github.com/wombatkv/prefetch/stages/select"
)

// TestShadowMatchesLab replays a trace twice in the lab: once with the v3
// policy live (the lab's figures), and once with no prefetch live and v3
// in shadow beside it, fed the same requests at their times and cycled at
// the live cycles' instants on the lab's virtual clock. The shadow's
// would-be figures are the lab's: would-be GETs, useful, late, wasted,
// and the reads by where they were served, under MRU, LRU and probation
// admission.
//
// The lab's GET cost depends on a block's size; every block of this trace
// is whole (BlockTokens tokens), so every GET costs the same, as a
// shadow's do, and v3's window (Limit 8, TopK 8) starts a cycle's GETs
// together, as a shadow's.
func TestShadowMatchesLab(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rate      float64
		fraction  float64
		admission string
	}{
		{"8 per s, flat 10%", 8, 0.1, "mru"},
		{"40 per s, flat 5%", 40, 0.05, "mru"},
		{"8 per s, flat 5%", 8, 0.05, "mru"},
		{"8 per s, flat 5%, probation", 8, 0.05, "probation:0.25"},
		{"40 per s, flat 5%, lru", 40, 0.05, "lru"},
	} {
		t.Run(tc.name, func(t *testing.T) { shadowMatchesLab(t, tc.rate, tc.fraction, tc.admission) })
	}
}

func shadowMatchesLab(t *testing.T, rate, fraction float64, admission string) {
	ctx := context.Background()
	tr, err := replay.Synthetic(replay.SyntheticConfig{Seed: 7, Requests: 400, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	for i := range tr.Requests {
		tr.Requests[i].InputLength = int64(len(tr.Requests[i].HashIDs)) * replay.DefaultBlockTokens
	}
	spec, err := policy.Preset("v3")
	if err != nil {
		t.Fatal(err)
	}
	cand := replay.FromSpec(spec)
	adm, err := replay.ParseAdmission(admission)
	if err != nil {
		t.Fatal(err)
	}
	settings := replay.Settings{Admission: adm}
	scenario := []replay.Scenario{{Fraction: fraction}}
	live, err := replay.Run(ctx, tr, replay.Config{Settings: settings, Scenarios: scenario, Policies: []replay.Policy{cand}, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	lab := resultOf(t, live, cand.Name)

	// The second replay: nothing prefetched live; a source that, at each
	// cycle, first tells the shadow of the requests served since, then
	// runs one shadow cycle at the cycle's instant.
	var (
		mu      sync.Mutex // the lab runs one replay on one goroutine; the baselines' on others
		sh      *shadow.Shadow
		now     time.Time
		fed     int
		size    int64
		cycleAt time.Duration
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	feed := func(before time.Time) { // the requests served before the instant, in order
		for ; fed < len(tr.Requests); fed++ {
			r := tr.Requests[fed]
			at := time.Unix(0, r.Timestamp*int64(time.Millisecond))
			if !at.Before(before) {
				return
			}
			set(at)
			for _, id := range r.HashIDs {
				sh.Read(sh.Namespace(), replay.Hash(id), size)
			}
		}
	}
	host := replay.Policy{Name: "none-with-shadow", Build: func(env *replay.Env) (replay.Built, error) {
		size = int64(replay.DefaultBlockTokens) * env.Settings.BytesPerToken
		var err error
		sh, err = shadow.New(shadow.Config{
			Name:       "v3",
			FlatBudget: lab.CapacityBytes,
			Admission:  admission,
			GetCost:    env.GetTime(uint64(size)),
			Clock:      clock,
			Build: func(tiers *shadow.Tiers) (pipeline.Config, error) {
				return spec.Build(policy.Env{Index: env.Index, Store: tiers, GetTime: env.GetTime, Model: env.Model, InstrLog: io.Discard, Clock: clock})
			},
		})
		if err != nil {
			return replay.Built{}, err
		}
		cycleAt = time.Duration(lab.Settings.IntervalMs * float64(time.Millisecond))
		return replay.Built{Config: pipeline.Config{
			Interval: cycleAt,
			TopK:     1,
			Sources: []pipeline.Source{pipeline.SourceFunc(func(ctx context.Context, cy *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
				feed(cy.Now)
				set(cy.Now)
				sh.Cycle(ctx)
				return func(func(block.Hash, block.Meta) bool) {}
			})},
			Scorer:   pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return 0 }),
			Selector: topk.Heap{},
			// A filter (that drops nothing): the lab skips the idle cycles
			// of a dry run without filters, and every cycle must run for
			// the shadow's to run at the live candidate's instants.
			Filters: []pipeline.Filter{pipeline.FilterFunc(func(context.Context, *pipeline.Cycle, pipeline.Candidate) string { return "" })},
		}}, nil
	}}
	if _, err := replay.Run(ctx, tr, replay.Config{Settings: settings, Scenarios: scenario, Policies: []replay.Policy{host}, Parallelism: 1}); err != nil {
		t.Fatal(err)
	}
	feed(time.Unix(1<<62, 0)) // the requests after the last cycle
	st := sh.Stats()
	p := st.Prefetch
	type figures struct{ Gets, Useful, Late, Wasted, Hits, Joined, Cold int }
	want := figures{Gets: lab.PrefetchGets, Useful: lab.Useful, Late: lab.LatePrefetchHits, Wasted: lab.Wasted,
		Hits: lab.Hits, Joined: lab.LatePrefetchHits, Cold: lab.ColdLoads + lab.UniqueBlocks}
	// The lab counts a late block as useful, and a block still unread (or
	// still in flight) at the end of the trace as wasted; the first read
	// of a block (computed, in the lab) is a cold read to a shadow.
	got := figures{
		Gets:   int(st.WouldFetch),
		Useful: int(p.Useful + p.Late),
		Late:   int(p.Late),
		Wasted: int(p.Wasted() + p.Unread() + (st.WouldFetch - p.Prefetched)),
		Hits:   int(p.Reads.Flat + p.Reads.Prefetched),
		Joined: int(p.Reads.Joined),
		Cold:   int(p.Reads.Cold),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("shadow against lab mismatch (-lab +shadow):\n%s", diff)
	}
	if lab.PrefetchGets == 0 || lab.Useful == 0 {
		t.Errorf("the lab's v3 fetched %d and found %d useful: the trace proves nothing", lab.PrefetchGets, lab.Useful)
	}
	t.Logf("lab: %d GETs, %d useful (%d late), %d wasted; shadow: %d cycles", lab.PrefetchGets, lab.Useful, lab.LatePrefetchHits, lab.Wasted, st.Cycles)
}

func resultOf(t *testing.T, rs []replay.Result, name string) replay.Result {
	t.Helper()
	for _, r := range rs {
		if r.Policy == name {
			return r
		}
	}
	t.Fatalf("no result for policy %s", name)
	return replay.Result{}
}
