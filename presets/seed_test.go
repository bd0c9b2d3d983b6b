package presets_test

// The seed's tests (shared/seed/block_prefetch.rs, mod tests), ported with
// the same scenarios and numbers. Each names the seed test it mirrors.
// Where a preset applies, the scenario runs against every preset that
// applies.
//
// The seed's three scoring tests, score_recency_decay_monotone,
// score_chain_head_outranks_successor_at_equal_recency and
// score_model_affinity_outranks_others, live beside the scorer they test,
// in stages/score/score_test.go (TestScoreRecencyDecayMonotone,
// TestScoreChainHeadOutranksSuccessorAtEqualRecency,
// TestScoreModelAffinityOutranksOthers).

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/emit"
)

// MockStore is the seed's MockFetcher as presets.Tiers: hits stocked
// with byte counts, canned errors consumed once, blocks pre-warmed in
// flat, every fetch recorded with its namespace, and a hit populating flat
// so a later cycle skips it. It is safe for concurrent use (v3).
type MockStore struct {
	mu        sync.Mutex
	flat      map[string]bool   // keys in flat
	errs      map[string]string // canned errors per key, consumed once
	bytes     map[string]int64  // hits per key; a missing key is a miss
	calls     []mockCall        // Materialize calls
	flatCalls int               // ContainsFlat calls
}

type mockCall struct{ NS, Key string }

func NewMockStore() *MockStore {
	return &MockStore{flat: map[string]bool{}, errs: map[string]string{}, bytes: map[string]int64{}}
}

func (s *MockStore) StockHit(key string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bytes[key] = n
}

func (s *MockStore) StockErr(key, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs[key] = msg
}

func (s *MockStore) PreWarmFlat(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flat[key] = true
}

func (s *MockStore) Calls() []mockCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *MockStore) FlatCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flatCalls
}

// ContainsFlat is the seed's contains_flat.
func (s *MockStore) ContainsFlat(_ context.Context, _ string, h block.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flatCalls++
	return s.flat[block.Key(h)]
}

// Materialize is the seed's fetch_block.
func (s *MockStore) Materialize(_ context.Context, ns string, h block.Hash, _ block.Meta) (int64, bool, error) {
	key := block.Key(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, mockCall{ns, key})
	if msg, ok := s.errs[key]; ok {
		delete(s.errs, key)
		return 0, false, errors.New(msg)
	}
	if n, ok := s.bytes[key]; ok {
		s.flat[key] = true // the store populates flat on a hit
		return n, true, nil
	}
	return 0, false, nil
}

var _ presets.Tiers = (*MockStore)(nil)

// seedNow is the fixed clock reading of the non-worker scenarios.
var seedNow = time.Unix(1_700_000_000, 0)

// makeHash is the seed's make_hash: the seed in the first byte.
func makeHash(seed byte) block.Hash { return block.Hash{0: seed} }

// mkMeta is the seed's mk_meta.
func mkMeta(seq uint32, lastAccessNs int64, model block.ModelDigest) block.Meta {
	return block.Meta{Seq: seq, PayloadBytes: 1024, LastAccessNs: lastAccessNs, Model: model}
}

func digest(b byte) block.ModelDigest {
	var d block.ModelDigest
	for i := range d {
		d[i] = b
	}
	return d
}

// seedRecentBlocks is the seed's seed_recent_blocks: count chain heads, the
// i-th last read i seconds before now, so earlier ones score higher.
func seedRecentBlocks(idx *index.Memory, count int, model block.ModelDigest, now time.Time) []block.Hash {
	var hashes []block.Hash
	for i := range count {
		h := makeHash(byte(i))
		idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
			yield(h, mkMeta(0, now.Add(-time.Duration(i)*time.Second).UnixNano(), model))
		})
		hashes = append(hashes, h)
	}
	return hashes
}

// fetching are the presets that fetch; every preset adds v1.
var (
	fetching   = []string{presets.NameV2, presets.NameV3}
	allPresets = []string{presets.NameV1, presets.NameV2, presets.NameV3}
)

// collected is an emitter gathering outcomes, safe for the worker.
type collected struct {
	mu sync.Mutex
	os []*pipeline.Outcome
}

func (c *collected) Emitter() pipeline.Emitter {
	return emit.Func(func(o *pipeline.Outcome) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.os = append(c.os, o)
	})
}

func (c *collected) All() []*pipeline.Outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.os)
}

func mustPreset(t *testing.T, name string, o presets.Options) *pipeline.Pipeline {
	t.Helper()
	p, err := presets.New(name, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Mirrors the seed's run_cycle_picks_top_k_by_score, with every preset.
func TestRunCyclePicksTopKByScore(t *testing.T) {
	for _, name := range allPresets {
		t.Run(name, func(t *testing.T) {
			idx := index.NewMemory(nil)
			active := digest(7)
			now := seedNow.UnixNano()
			// Hash 0..49 are stale (1 h), 50..99 fresh (1 s) and, among
			// the fresh, those with i%3 == 0 are chain heads. BulkLoad,
			// not Insert, keeps the fixture's timestamps.
			idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
				for i := range 100 {
					fresh := i >= 50
					last := now - 3_600_000_000_000
					if fresh {
						last = now - 1_000_000_000
					}
					seq := uint32(i) + 1
					if fresh && i%3 == 0 {
						seq = 0
					}
					if !yield(makeHash(byte(i)), mkMeta(seq, last, active)) {
						return
					}
				}
			})
			if idx.Len() != 100 {
				t.Fatalf("Len = %d, want 100", idx.Len())
			}
			st := NewMockStore()
			p := mustPreset(t, name, presets.Options{Index: idx, Store: st, Model: active, TopK: 10, Interval: time.Minute,
				Clock: func() time.Time { return seedNow }})
			o := p.Run(context.Background())

			if o.Scored != 100 || len(o.Selected) != 10 {
				t.Fatalf("Scored %d, selected %d; want 100 and 10", o.Scored, len(o.Selected))
			}
			for _, c := range o.Selected {
				if c.Hash[0] < 50 {
					t.Errorf("selected stale block %d", c.Hash[0])
				}
			}
			for i := 1; i < len(o.Selected); i++ {
				if o.Selected[i-1].Score < o.Selected[i].Score {
					t.Errorf("scores not descending at %d: %v < %v", i, o.Selected[i-1].Score, o.Selected[i].Score)
				}
			}
			// Beyond the seed: the ten are the fresh chain heads with the
			// lowest hashes (17 tie on score; lower hash first).
			var got []byte
			for _, c := range o.Selected {
				got = append(got, c.Hash[0])
			}
			if diff := cmp.Diff([]byte{51, 54, 57, 60, 63, 66, 69, 72, 75, 78}, got); diff != "" {
				t.Errorf("selected mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// workerScenario builds a preset's worker inside a synctest bubble; its
// clock is the bubble's.
func workerScenario(t *testing.T, name string, o presets.Options) (*pipeline.Worker, *collected) {
	t.Helper()
	c := &collected{}
	o.Emitters = append(o.Emitters, c.Emitter())
	if o.Store == nil {
		o.Store = NewMockStore()
	}
	return pipeline.NewWorker(mustPreset(t, name, o)), c
}

// Mirrors the seed's worker_runs_cycle_and_stops_within_one_second, with
// every preset, on virtual time.
func TestWorkerRunsCycleAndStopsWithinOneSecond(t *testing.T) {
	for _, name := range allPresets {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				idx := index.NewMemory(nil)
				active := digest(7)
				idx.Insert(makeHash(1), mkMeta(0, time.Now().UnixNano(), active))
				idx.Insert(makeHash(2), mkMeta(1, time.Now().UnixNano(), active))
				st := NewMockStore() // v2 and v3 fetch both in the first cycle, then find them in flat
				st.StockHit(block.Key(makeHash(1)), 1024)
				st.StockHit(block.Key(makeHash(2)), 1024)
				w, c := workerScenario(t, name, presets.Options{Index: idx, Store: st, Model: active, TopK: 4, Interval: 50 * time.Millisecond})

				started := time.Now()
				if err := w.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(220 * time.Millisecond) // long enough for >= 2 cycles
				synctest.Wait()
				observed := len(c.All())
				if observed < 2 {
					t.Errorf("expected >= 2 cycles, got %d", observed)
				}
				if observed != 5 { // at 0, 50, 100, 150 and 200 ms
					t.Errorf("%d cycles in 220 ms at 50 ms, want 5", observed)
				}
				stopAt := time.Now()
				w.Stop()
				if d := time.Since(stopAt); d != 0 {
					t.Errorf("Stop took %v, want no time at all", d)
				}
				if d := time.Since(started); d >= time.Second {
					t.Errorf("worker shutdown took %v", d)
				}
				for _, o := range c.All() {
					if o.Scored != 2 || len(o.Selected) != 2 {
						t.Errorf("cycle %d: Scored %d Selected %d, want 2 and 2", o.Seq, o.Scored, len(o.Selected))
					}
				}
			})
		})
	}
}

// Mirrors the seed's worker_handles_empty_index_gracefully, with every
// preset.
func TestWorkerHandlesEmptyIndexGracefully(t *testing.T) {
	for _, name := range allPresets {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w, c := workerScenario(t, name, presets.Options{Index: index.NewMemory(nil), TopK: 8, Interval: 30 * time.Millisecond})
				if err := w.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(120 * time.Millisecond)
				synctest.Wait()
				w.Stop()
				outs := c.All()
				if len(outs) < 2 {
					t.Errorf("expected >= 2 cycles on empty index, got %d", len(outs))
				}
				for _, o := range outs {
					if o.Scored != 0 || len(o.Selected) != 0 || o.Fetched != 0 || o.Failed != 0 {
						t.Errorf("cycle %d on an empty index: %+v", o.Seq, o)
					}
					if o.Err != nil && !errors.Is(o.Err, context.Canceled) {
						t.Errorf("cycle %d failed: %v", o.Seq, o.Err)
					}
				}
			})
		})
	}
}

// Mirrors the seed's signal_stop_makes_drop_fast_even_with_long_interval,
// with every preset: the seed allowed 500 ms; Stop here takes no time.
func TestSignalStopMakesDropFastEvenWithLongInterval(t *testing.T) {
	for _, name := range allPresets {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w, c := workerScenario(t, name, presets.Options{Index: index.NewMemory(nil), TopK: 1, Interval: 10 * time.Second})
				if err := w.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(50 * time.Millisecond) // the first cycle ran; the worker waits for its tick
				synctest.Wait()
				if len(c.All()) != 1 {
					t.Fatalf("%d cycles before Stop, want 1", len(c.All()))
				}
				at := time.Now()
				w.Stop()
				if d := time.Since(at); d != 0 {
					t.Errorf("Stop took %v, want no time at all", d)
				}
				if w.Running() {
					t.Error("still running after Stop")
				}
			})
		})
	}
}

// Mirrors the seed's block_key_for_hash_matches_cabi_format (the stricter
// version is block/key_test.go's TestKeyMatchesCABIFormat).
func TestBlockKeyForHashMatchesCABIFormat(t *testing.T) {
	var h block.Hash
	h[0], h[1], h[31] = 0xab, 0xcd, 0xef
	key := block.Key(h)
	if len(key) != len(block.KeyPrefix)+64 {
		t.Errorf("len = %d, want %d", len(key), len(block.KeyPrefix)+64)
	}
	if !strings.HasPrefix(key, "wombatkv/v1/block/b3=") {
		t.Errorf("key %q does not start with the cabi prefix", key)
	}
	hex := key[len(block.KeyPrefix):]
	if !strings.HasPrefix(hex, "abcd") || !strings.HasSuffix(hex, "ef") {
		t.Errorf("hex %q, want abcd...ef", hex)
	}
	if strings.Trim(hex, "0123456789abcdef") != "" {
		t.Errorf("hex %q is not all lowercase hex digits", hex)
	}
}

func keysOf(hs []block.Hash) []string {
	var ks []string
	for _, h := range hs {
		ks = append(ks, block.Key(h))
	}
	return ks
}

func calledKeys(cs []mockCall) []string {
	var ks []string
	for _, c := range cs {
		ks = append(ks, c.Key)
	}
	return ks
}

// Mirrors the seed's v2_fetches_top_k_against_kvstore, with v2 and v3.
func TestV2FetchesTopKAgainstKVStore(t *testing.T) {
	for _, name := range fetching {
		t.Run(name, func(t *testing.T) {
			idx := index.NewMemory(nil)
			model := digest(7)
			hashes := seedRecentBlocks(idx, 100, model, seedNow)
			st := NewMockStore()
			for _, h := range hashes {
				st.StockHit(block.Key(h), 1024)
			}
			p := mustPreset(t, name, presets.Options{Index: idx, Store: st, Model: model, TopK: 10,
				Interval: time.Minute, Namespace: "ns-a", Clock: func() time.Time { return seedNow }})
			o := p.Run(context.Background())

			if o.Scored != 100 || len(o.Selected) != 10 || o.SkippedAlreadyFlat() != 0 || o.Fetched != 10 || o.Failed != 0 || o.BytesMaterialized != 10*1024 {
				t.Errorf("scored %d selected %d skipped %d fetched %d failed %d bytes %d; want 100 10 0 10 0 10240",
					o.Scored, len(o.Selected), o.SkippedAlreadyFlat(), o.Fetched, o.Failed, o.BytesMaterialized)
			}
			calls := st.Calls()
			if len(calls) != 10 {
				t.Fatalf("%d fetch calls, want 10", len(calls))
			}
			for _, c := range calls {
				if c.NS != "ns-a" || !strings.HasPrefix(c.Key, block.KeyPrefix) {
					t.Errorf("fetch call %+v, want namespace ns-a and a block key", c)
				}
			}
			// The ten most recent, hashes 0..9; v2 fetches them in rank order.
			got := calledKeys(calls)
			want := keysOf(hashes[:10])
			if name == presets.NameV3 {
				slices.Sort(got)
				slices.Sort(want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("fetched keys mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// Mirrors the seed's v2_skips_already_flat, with v2 and v3.
func TestV2SkipsAlreadyFlat(t *testing.T) {
	for _, name := range fetching {
		t.Run(name, func(t *testing.T) {
			idx := index.NewMemory(nil)
			model := digest(7)
			hashes := seedRecentBlocks(idx, 10, model, seedNow)
			st := NewMockStore()
			for _, h := range hashes {
				st.StockHit(block.Key(h), 256)
			}
			for _, h := range hashes[:5] {
				st.PreWarmFlat(block.Key(h))
			}
			p := mustPreset(t, name, presets.Options{Index: idx, Store: st, Model: model, TopK: 10,
				Interval: time.Minute, Namespace: "ns-a", Clock: func() time.Time { return seedNow }})
			o := p.Run(context.Background())

			if o.Scored != 10 || len(o.Selected) != 10 || o.SkippedAlreadyFlat() != 5 || o.Fetched != 5 || o.Failed != 0 || o.BytesMaterialized != 5*256 {
				t.Errorf("scored %d selected %d skipped %d fetched %d failed %d bytes %d; want 10 10 5 5 0 1280",
					o.Scored, len(o.Selected), o.SkippedAlreadyFlat(), o.Fetched, o.Failed, o.BytesMaterialized)
			}
			got := calledKeys(st.Calls())
			slices.Sort(got)
			want := keysOf(hashes[5:])
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("should only fetch the 5 not-yet-flat keys (-want +got):\n%s", diff)
			}
		})
	}
}

// Mirrors the seed's v2_handles_get_kv_errors_gracefully, with v2 and v3.
func TestV2HandlesGetKVErrorsGracefully(t *testing.T) {
	for _, name := range fetching {
		t.Run(name, func(t *testing.T) {
			idx := index.NewMemory(nil)
			model := digest(7)
			hashes := seedRecentBlocks(idx, 6, model, seedNow)
			st := NewMockStore()
			for i, h := range hashes {
				if i%2 == 0 {
					st.StockErr(block.Key(h), "synthetic backend error")
				} else {
					st.StockHit(block.Key(h), 100)
				}
			}
			p := mustPreset(t, name, presets.Options{Index: idx, Store: st, Model: model, TopK: 6,
				Interval: time.Minute, Namespace: "ns-a", Clock: func() time.Time { return seedNow }})
			o := p.Run(context.Background())

			// Logged and continued through every error; 3 fetched, 3 failed.
			if o.Scored != 6 || len(o.Selected) != 6 || o.Fetched != 3 || o.Failed != 3 || o.BytesMaterialized != 3*100 {
				t.Errorf("scored %d selected %d fetched %d failed %d bytes %d; want 6 6 3 3 300",
					o.Scored, len(o.Selected), o.Fetched, o.Failed, o.BytesMaterialized)
			}
			if n := len(st.Calls()); n != 6 {
				t.Errorf("%d fetch calls, want 6", n)
			}
			if diff := cmp.Diff(map[string]int{pipeline.FailError: 3}, o.FailedBy); diff != "" {
				t.Errorf("FailedBy mismatch (-want +got):\n%s", diff)
			}
			for _, r := range o.Fetches {
				if !r.Fetched() && (r.Err == nil || r.Err.Error() != "synthetic backend error") {
					t.Errorf("failure of %x carries Err %v", r.Hash[:1], r.Err)
				}
			}
			if o.Err != nil {
				t.Errorf("the cycle failed: %v", o.Err)
			}
		})
	}
}

// Mirrors the seed's v2_dry_run_does_not_fetch. The seed never handed its
// fetcher to the worker, so its assertion could not fail; here the store
// is wired into the v1 preset, once chosen by name and once through the
// dry-run environment gate, and must see no fetch while cycles run.
func TestV2DryRunDoesNotFetch(t *testing.T) {
	pick := map[string]func(presets.Options) (*pipeline.Pipeline, error){
		"New": func(o presets.Options) (*pipeline.Pipeline, error) { return presets.New(presets.NameV1, o) },
		"FromEnv": func(o presets.Options) (*pipeline.Pipeline, error) {
			env := map[string]string{presets.EnvDryRun: "1", presets.EnvPreset: presets.NameV2}
			name, w, err := presets.FromEnv(func(k string) string { return env[k] }, o)
			if err != nil {
				return nil, err
			}
			if name != presets.NameV1 {
				t.Errorf("FromEnv with the dry run on chose %q, want v1", name)
			}
			return w.Pipeline(), nil
		},
	}
	for how, newPipeline := range pick {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				idx := index.NewMemory(nil)
				model := digest(7)
				hashes := seedRecentBlocks(idx, 4, model, time.Now())
				st := NewMockStore()
				for _, h := range hashes {
					st.StockHit(block.Key(h), 1024)
				}
				c := &collected{}
				p, err := newPipeline(presets.Options{Index: idx, Store: st, Model: model, TopK: 4,
					Interval: 40 * time.Millisecond, Namespace: "ns-dry", Emitters: []pipeline.Emitter{c.Emitter()}})
				if err != nil {
					t.Fatal(err)
				}
				w := pipeline.NewWorker(p)
				if err := w.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(150 * time.Millisecond)
				synctest.Wait()
				w.Stop()

				outs := c.All()
				if len(outs) < 1 {
					t.Fatal("the v1 emitter never fired")
				}
				for _, o := range outs {
					if len(o.Selected) != 4 {
						t.Errorf("cycle %d selected %d, want 4 (the dry run still ranks)", o.Seq, len(o.Selected))
					}
				}
				if n := len(st.Calls()); n != 0 {
					t.Errorf("dry-run path must not fetch: got %d calls", n)
				}
				if n := st.FlatCalls(); n != 0 {
					t.Errorf("dry-run path asked the store about flat %d times", n)
				}
			})
		})
	}
}

// Mirrors the seed's dry_run_env_helper_reads_truthy_values, through a
// map instead of the process environment.
func TestDryRunEnvHelperReadsTruthyValues(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if presets.DryRunEnabled(getenv) {
		t.Error("unset: dry run enabled")
	}
	for _, v := range []string{"1", "true", "TRUE", "yes", "on"} {
		env[presets.EnvDryRun] = v
		if !presets.DryRunEnabled(getenv) {
			t.Errorf("%q: dry run not enabled", v)
		}
	}
	for _, v := range []string{"0", "", "false", "no", "off", "True", "YES", "On", " 1", "1 ", "2", "y"} {
		env[presets.EnvDryRun] = v
		if presets.DryRunEnabled(getenv) {
			t.Errorf("%q: dry run enabled", v)
		}
	}
	env = map[string]string{"OTHER": "1"}
	if presets.DryRunEnabled(getenv) {
		t.Error("another variable enabled the dry run")
	}
	if presets.EnvDryRun != "WMBT_KV_PREFETCH_DRY_RUN" {
		t.Errorf("EnvDryRun = %q", presets.EnvDryRun)
	}
}

// Mirrors the seed's v2_worker_runs_and_stops, with v2 and v3: the first
// cycle fetches all 5, the next finds them in flat.
func TestV2WorkerRunsAndStops(t *testing.T) {
	for _, name := range fetching {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				idx := index.NewMemory(nil)
				model := digest(3)
				hashes := seedRecentBlocks(idx, 5, model, time.Now())
				st := NewMockStore()
				for _, h := range hashes {
					st.StockHit(block.Key(h), 64)
				}
				w, c := workerScenario(t, name, presets.Options{Index: idx, Store: st, Model: model, TopK: 5,
					Interval: 30 * time.Millisecond, Namespace: "ns-x"})
				started := time.Now()
				if err := w.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(140 * time.Millisecond)
				synctest.Wait()
				w.Stop()
				if d := time.Since(started); d >= 2*time.Second {
					t.Errorf("run and stop took %v", d)
				}

				outs := c.All()
				if len(outs) < 2 {
					t.Fatalf("%d cycles, want >= 2", len(outs))
				}
				if outs[0].Fetched != 5 || outs[0].BytesMaterialized != 5*64 {
					t.Errorf("first cycle fetched %d (%d bytes), want 5 (320)", outs[0].Fetched, outs[0].BytesMaterialized)
				}
				for _, o := range outs[1:] {
					if o.Fetched != 0 || o.SkippedAlreadyFlat() != 5 {
						t.Errorf("cycle %d fetched %d, skipped %d as flat; want 0 and 5", o.Seq, o.Fetched, o.SkippedAlreadyFlat())
					}
				}
				if n := len(st.Calls()); n != 5 {
					t.Errorf("%d fetch calls over %d cycles, want 5", n, len(outs))
				}
				for _, call := range st.Calls() {
					if call.NS != "ns-x" {
						t.Errorf("fetch in namespace %q, want ns-x", call.NS)
					}
				}
			})
		})
	}
}
