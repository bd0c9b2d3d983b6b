package policy_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// leasingStore is the fixture's store that also counts its GETs in flight
// (filter.Pending) and leases (snapshot.Leaser), recording each lease.
type leasingStore struct {
	*fakeStore
	pending int

	mu     sync.Mutex
	leases map[block.Hash]bool // pin
}

func (s *leasingStore) PendingGets(string) int { return s.pending }

func (s *leasingStore) Lease(_ string, h block.Hash, _ time.Time, pin bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leases == nil {
		s.leases = map[block.Hash]bool{}
	}
	s.leases[h] = pin
	return s.ContainsFlat(context.Background(), "", h)
}

// TestPresetHintsLimits: over a store that counts its GETs in flight and
// leases, the shipped hints spec builds what the preset does (a cap of 8
// in flight on the same store), and both lease the same blocks by touch.
func TestPresetHintsLimits(t *testing.T) {
	var leased [2]map[block.Hash]bool
	for i, build := range []func(deps) (pipeline.Config, error){
		func(d deps) (pipeline.Config, error) { return presetConfig("hints", d) },
		func(d deps) (pipeline.Config, error) { return specConfig(t, "hints", d), nil },
	} {
		st := &leasingStore{fakeStore: newFakeStore(), pending: 6}
		clk := &clock{now: fixtureStart}
		d := deps{store: st, clock: clk.Now, hints: snapshot.NewHints(snapshot.HintsConfig{Clock: clk.Now})}
		cfg, err := build(d)
		if err != nil {
			t.Fatal(err)
		}
		b, ok := cfg.Filters[0].(*filter.Budget)
		if !ok || b.MaxInFlight != 8 || b.Pending != filter.Pending(st) {
			t.Fatalf("build %d: Filters[0] = %#v, want a budget capped at 8 in flight over the store", i, cfg.Filters[0])
		}
		for j := range 40 {
			d.hints.Add(snapshot.Hint{Hash: fixtureHash(j), Meta: block.Meta{PayloadBytes: 1024}, Due: fixtureStart.Add(time.Minute)})
		}
		p, err := pipeline.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		o := p.Run(context.Background())
		if len(o.Fetches) != 2 {
			t.Errorf("build %d: %d fetches with 6 of 8 in flight, want 2", i, len(o.Fetches))
		}
		leased[i] = st.leases
	}
	if len(leased[0]) != 40 {
		t.Errorf("preset leased %d blocks, want the 40 hinted", len(leased[0]))
	}
	if diff := cmp.Diff(leased[0], leased[1]); diff != "" {
		t.Errorf("leases mismatch (-preset +spec):\n%s", diff)
	}
}

func TestHintsLeaseParams(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{`{"sources": [{"stage": "hints", "params": {"lease": "hold"}}], "scorer": "deadline", "fetcher": "dry-run"}`,
			`t.json: sources[0].params.lease: want "none", "touch" or "pin", got "hold"`},
		{`{"sources": [{"stage": "hints", "params": {"lease_grace": "-1s"}}], "scorer": "deadline", "fetcher": "dry-run"}`,
			`t.json: sources[0].params.lease_grace: want >= 0 (leave it out for the default, 1s), got -1s`},
		{`{"sources": ["hints"], "scorer": "deadline", "fetcher": "dry-run", "filters": [{"stage": "budget", "params": {"max_in_flight": -1}}]}`,
			`t.json: filters[0].params.max_in_flight: want the most GETs in flight across the worker, >= 1 (0 or left out: no cap), got -1`},
	} {
		_, err := policy.Parse("t.json", []byte(tc.spec), policy.Builtin())
		if err == nil {
			t.Errorf("Parse(%s) = nil error, want %q", tc.spec, tc.want)
			continue
		}
		if got := err.Error(); got != tc.want {
			t.Errorf("Parse error %q, want %q", got, tc.want)
		}
	}
}

// Over a store that counts its GETs in flight, the warm-up spec caps them
// at 8 as the preset does; over one that does not, both leave the cap out.
func TestPresetWarmupCap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store policy.Store
		want  int // filters
	}{{"counting store", &leasingStore{fakeStore: newFakeStore()}, 2}, {"plain store", newFakeStore(), 1}} {
		d := deps{store: tc.store}
		want, err := presetConfig("warmup", d)
		if err != nil {
			t.Fatal(err)
		}
		got := specConfig(t, "warmup", d)
		if diff := cmp.Diff(want, got, cmpConfig); diff != "" {
			t.Errorf("%s: config mismatch (-preset +spec):\n%s", tc.name, diff)
		}
		if len(got.Filters) != tc.want {
			t.Errorf("%s: %d filters, want %d", tc.name, len(got.Filters), tc.want)
		}
		if b, ok := got.Filters[0].(*filter.Budget); tc.want == 2 && (!ok || b.MaxInFlight != 8) {
			t.Errorf("%s: Filters[0] = %#v, want a cap of 8 in flight", tc.name, got.Filters[0])
		}
	}
}
