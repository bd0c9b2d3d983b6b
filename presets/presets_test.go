package presets_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

func envOf(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		optNS  string
		wantP  string
		wantNS string
	}{
		{"empty environment: v3", nil, "", presets.NameV3, "tp-default"},
		{"preset v2", map[string]string{presets.EnvPreset: "v2"}, "", presets.NameV2, "tp-default"},
		{"preset v1", map[string]string{presets.EnvPreset: "v1"}, "", presets.NameV1, "tp-default"},
		{"dry run forces v1 over a preset", map[string]string{presets.EnvDryRun: "true", presets.EnvPreset: "v3"}, "", presets.NameV1, "tp-default"},
		{"dry run forces v1 over a bad preset", map[string]string{presets.EnvDryRun: "on", presets.EnvPreset: "nonsense"}, "", presets.NameV1, "tp-default"},
		{"dry run off", map[string]string{presets.EnvDryRun: "0", presets.EnvPreset: "v2"}, "", presets.NameV2, "tp-default"},
		{"namespace from env", map[string]string{presets.EnvNamespace: "ns-env"}, "", presets.NameV3, "ns-env"},
		{"Options.Namespace wins over env", map[string]string{presets.EnvNamespace: "ns-env"}, "ns-opt", presets.NameV3, "ns-opt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			name, w, err := presets.FromEnv(envOf(tt.env), presets.Options{Index: index.NewMemory(nil), Store: NewMockStore(), Namespace: tt.optNS, InstrLog: &buf})
			if err != nil {
				t.Fatal(err)
			}
			p := w.Pipeline()
			if name != tt.wantP {
				t.Errorf("preset %q, want %q", name, tt.wantP)
			}
			if got := p.Config().Namespace; got != tt.wantNS {
				t.Errorf("namespace %q, want %q", got, tt.wantNS)
			}
			// The pipeline is the preset named: its line says which.
			p.Run(context.Background())
			wantFn := map[string]string{presets.NameV1: `"fn":"prefetch_cycle"`, presets.NameV2: `"fn":"prefetch_cycle_v2"`, presets.NameV3: `"fn":"prefetch_cycle_v3"`}[tt.wantP]
			if !strings.Contains(buf.String(), wantFn) {
				t.Errorf("the pipeline wrote %q, want a line with %s", buf.String(), wantFn)
			}
		})
	}
}

func TestFromEnvErrors(t *testing.T) {
	o := presets.Options{Index: index.NewMemory(nil), Store: NewMockStore()}
	_, w, err := presets.FromEnv(envOf(map[string]string{presets.EnvPreset: "v9"}), o)
	if err == nil || w != nil {
		t.Fatalf("FromEnv with preset v9 = %v, %v; want an error", w, err)
	}
	wantList := `unknown preset "v9", want one of ` + strings.Join(presets.Names(), ", ")
	for _, w := range []string{wantList, "v1", "v2", "v3", `WMBT_KV_PREFETCH_PRESET="v9"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}

	_, _, err = presets.FromEnv(envOf(map[string]string{presets.EnvNamespace: "../etc"}), o)
	if !errors.Is(err, block.ErrBadNamespace) || !strings.Contains(err.Error(), `WMBT_KV_NAMESPACE="../etc"`) {
		t.Errorf("FromEnv with a bad namespace: %v; want block.ErrBadNamespace naming the variable", err)
	}

	// v2 from the environment with no store says what is missing.
	_, _, err = presets.FromEnv(envOf(map[string]string{presets.EnvPreset: "v2"}), presets.Options{Index: index.NewMemory(nil)})
	if err == nil || !strings.Contains(err.Error(), "Options.Store must be set") {
		t.Errorf("v2 without a store: %v", err)
	}

	// hints from the environment with no intake says what is missing.
	_, _, err = presets.FromEnv(envOf(map[string]string{presets.EnvPreset: "hints"}), o)
	if err == nil || !strings.Contains(err.Error(), "Options.Hints must be set") || !strings.Contains(err.Error(), `WMBT_KV_PREFETCH_PRESET="hints"`) {
		t.Errorf("hints without an intake: %v; want Options.Hints named, and the variable", err)
	}
}

// TestFromEnvHints: the hints preset from the environment is a worker a
// hint wakes, whatever its tick.
func TestFromEnvHints(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hints := snapshot.NewHints(snapshot.HintsConfig{})
		st := newRoomStore(1 << 30)
		c := &collected{}
		name, w, err := presets.FromEnv(envOf(map[string]string{presets.EnvPreset: "hints"}), presets.Options{
			Store: st, Hints: hints, Interval: time.Hour, Emitters: []pipeline.Emitter{c.Emitter()}})
		if err != nil {
			t.Fatal(err)
		}
		if name != presets.NameHints {
			t.Errorf("preset %q, want hints", name)
		}
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the cycle at start: no hints yet
		hints.Add(snapshot.Hint{Hash: hintHash(4), Meta: block.Meta{PayloadBytes: 1}, Due: time.Now().Add(time.Minute)})
		synctest.Wait() // woken at once, not in an hour
		w.Stop()
		if diff := cmp.Diff([]byte{4}, st.got()); diff != "" {
			t.Errorf("GETs mismatch (-want +got):\n%s", diff)
		}
		if n := len(c.All()); n != 2 {
			t.Errorf("%d cycles, want 2 (the start, the hint)", n)
		}
	})
}

// TestFromEnvNilGetenv: nil means the process environment.
func TestFromEnvNilGetenv(t *testing.T) {
	t.Setenv(presets.EnvDryRun, "yes")
	t.Setenv(presets.EnvNamespace, "ns-proc")
	if !presets.DryRunEnabled(nil) {
		t.Error("DryRunEnabled(nil) did not read the process environment")
	}
	name, w, err := presets.FromEnv(nil, presets.Options{Index: index.NewMemory(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if ns := w.Pipeline().Config().Namespace; name != presets.NameV1 || ns != "ns-proc" {
		t.Errorf("FromEnv(nil) = %q in %q, want v1 in ns-proc", name, ns)
	}
}

func TestNewErrors(t *testing.T) {
	idx := index.NewMemory(nil)
	tests := []struct {
		name   string
		preset string
		o      presets.Options
		want   []string
	}{
		{"unknown", "v4", presets.Options{Index: idx}, []string{`presets: unknown preset "v4", want one of ` + strings.Join(presets.Names(), ", ")}},
		{"empty name", "", presets.Options{Index: idx}, []string{`presets: unknown preset "", want one of`}},
		{"case matters", "V2", presets.Options{Index: idx, Store: NewMockStore()}, []string{`unknown preset "V2"`}},
		{"no index", "v1", presets.Options{}, []string{"presets: Options.Index is nil, want the metadata index to rank"}},
		{"v2 without store", "v2", presets.Options{Index: idx}, []string{"presets: v2 fetches, so Options.Store must be set (or use v1, the dry run)"}},
		{"v3 without store", "v3", presets.Options{Index: idx}, []string{"presets: v3 fetches, so Options.Store must be set (or use v1, the dry run)"}},
		{"negative limit", "v3", presets.Options{Index: idx, Store: NewMockStore(), Limit: -2}, []string{"presets: Limit = -2, want >= 1 (0 means the default, 8)"}},
		{"everything at once", "v3", presets.Options{Limit: -1}, []string{"Options.Index is nil", "Limit = -1", "Options.Store must be set"}},
		{"pipeline validation", "v2", presets.Options{Index: idx, Store: NewMockStore(), TopK: -1}, []string{"pipeline: TopK = -1, want >= 1 (0 means the default, 8)"}},
		{"hints without intake", "hints", presets.Options{Store: NewMockStore()}, []string{"presets: hints fetches the blocks of the requests the node announces, so Options.Hints must be set to the intake it feeds (snapshot.NewHints)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := presets.New(tt.preset, tt.o)
			if err == nil || p != nil {
				t.Fatalf("New = %v, %v; want an error", p, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	for _, n := range []string{"v1", "v2", "v3", "warmup", "hints"} {
		if !strings.Contains(strings.Join(presets.Names(), ","), n) {
			t.Errorf("Names() = %v lacks %s", presets.Names(), n)
		}
	}
}

// inFlightStore is a MockStore that also knows fetches in flight.
type inFlightStore struct {
	*MockStore
	inFlight map[block.Hash]bool
}

func (s inFlightStore) InFlight(_ string, h block.Hash) bool { return s.inFlight[h] }

// TestConfigWiring checks what each preset is made of.
func TestConfigWiring(t *testing.T) {
	idx := index.NewMemory(nil)
	model := digest(9)
	for _, name := range allPresets {
		t.Run(name, func(t *testing.T) {
			cfg, err := presets.Config(name, presets.Options{Index: idx, Store: NewMockStore(), Model: model,
				Namespace: "ns-w", TopK: 3, Interval: time.Second, FetchTimeout: time.Minute, Limit: 4})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Namespace != "ns-w" || cfg.TopK != 3 || cfg.Interval != time.Second || cfg.FetchTimeout != time.Minute {
				t.Errorf("settings not passed through: %+v", cfg)
			}
			if _, ok := cfg.Selector.(topk.Heap); !ok {
				t.Errorf("Selector is %T, want topk.Heap", cfg.Selector)
			}
			if s, ok := cfg.Scorer.(*score.RFC0008); !ok || *s != *score.NewRFC0008(model) {
				t.Errorf("Scorer is %#v, want the seed's RFC0008 for the active model", cfg.Scorer)
			}
			if len(cfg.Sources) != 1 {
				t.Errorf("%d sources, want the index", len(cfg.Sources))
			}
			switch name {
			case presets.NameV1:
				if _, ok := cfg.Fetcher.(fetch.DryRun); !ok {
					t.Errorf("v1 Fetcher is %T, want fetch.DryRun", cfg.Fetcher)
				}
				if len(cfg.Filters) != 0 || len(cfg.PreFilters) != 0 {
					t.Errorf("v1 filters: %d pre, %d post; want none (it asks the store nothing)", len(cfg.PreFilters), len(cfg.Filters))
				}
			case presets.NameV2:
				if _, ok := cfg.Fetcher.(*fetch.Sequential); !ok {
					t.Errorf("v2 Fetcher is %T, want *fetch.Sequential", cfg.Fetcher)
				}
			case presets.NameV3:
				p, ok := cfg.Fetcher.(*fetch.Parallel)
				if !ok || p.Limit != 4 {
					t.Errorf("v3 Fetcher is %#v, want *fetch.Parallel with Limit 4", cfg.Fetcher)
				}
			}
			if name != presets.NameV1 {
				if len(cfg.Filters) != 1 {
					t.Fatalf("%d filters, want already-flat alone", len(cfg.Filters))
				}
				if _, ok := cfg.Filters[0].(*filter.AlreadyFlat); !ok {
					t.Errorf("Filters[0] is %T, want *filter.AlreadyFlat", cfg.Filters[0])
				}
			}
		})
	}
	// A store that knows fetches in flight gets the in-flight filter too.
	st := inFlightStore{NewMockStore(), map[block.Hash]bool{makeHash(1): true}}
	cfg, err := presets.Config(presets.NameV2, presets.Options{Index: idx, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Filters) != 2 {
		t.Fatalf("%d filters with an InFlight store, want 2", len(cfg.Filters))
	}
	if _, ok := cfg.Filters[1].(*filter.NotInFlight); !ok {
		t.Errorf("Filters[1] is %T, want *filter.NotInFlight", cfg.Filters[1])
	}
}

// TestInFlightStoreSkips runs the wiring above: a block in flight is
// skipped with its reason, not fetched again.
func TestInFlightStoreSkips(t *testing.T) {
	idx := index.NewMemory(nil)
	hashes := seedRecentBlocks(idx, 3, digest(1), seedNow)
	st := inFlightStore{NewMockStore(), map[block.Hash]bool{hashes[1]: true}}
	for _, h := range hashes {
		st.StockHit(block.Key(h), 10)
	}
	p := mustPreset(t, presets.NameV2, presets.Options{Index: idx, Store: st, Clock: func() time.Time { return seedNow }})
	o := p.Run(context.Background())
	if o.Skipped[pipeline.SkipInFlight] != 1 || o.Fetched != 2 {
		t.Errorf("skipped %v, fetched %d; want 1 in flight and 2 fetched", o.Skipped, o.Fetched)
	}
}

// TestEmittersFollowTheLine: Options.Emitters run after the MyelonInstr
// line, in order.
func TestEmittersFollowTheLine(t *testing.T) {
	var order []string
	w := writerFunc(func(p []byte) { order = append(order, "line") })
	mk := func(n string) pipeline.Emitter {
		return emit.Func(func(*pipeline.Outcome) { order = append(order, n) })
	}
	p, err := presets.New(presets.NameV1, presets.Options{Index: index.NewMemory(nil), InstrLog: w, Emitters: []pipeline.Emitter{mk("a"), mk("b")}})
	if err != nil {
		t.Fatal(err)
	}
	p.Run(context.Background())
	if diff := cmp.Diff([]string{"line", "a", "b"}, order); diff != "" {
		t.Errorf("emit order mismatch (-want +got):\n%s", diff)
	}
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// slowStore takes a second per fetch (honoring ctx) and tracks how many run
// at once.
type slowStore struct {
	*MockStore
	inFlight, peak atomic.Int32
}

func (s *slowStore) Materialize(ctx context.Context, ns string, h block.Hash, meta block.Meta) (int64, bool, error) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
	return s.MockStore.Materialize(ctx, ns, h, meta)
}

// TestV3Limit: v3 keeps at most Options.Limit fetches in flight (default
// 8), and v2 one. Nine one-second fetches: enough to fill the default
// window, and short enough for the cycle's fetch deadline when sequential.
func TestV3Limit(t *testing.T) {
	for _, tt := range []struct {
		preset string
		limit  int
		want   int32
	}{
		{presets.NameV3, 3, 3},
		{presets.NameV3, 0, 8},
		{presets.NameV3, 1, 1},
		{presets.NameV2, 5, 1},
	} {
		t.Run(fmt.Sprintf("%s/limit=%d", tt.preset, tt.limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				idx := index.NewMemory(nil)
				hashes := seedRecentBlocks(idx, 9, digest(1), time.Now())
				st := &slowStore{MockStore: NewMockStore()}
				for _, h := range hashes {
					st.StockHit(block.Key(h), 1)
				}
				p := mustPreset(t, tt.preset, presets.Options{Index: idx, Store: st, TopK: 9, Limit: tt.limit})
				o := p.Run(context.Background())
				if o.Fetched != 9 {
					t.Errorf("fetched %d, want 9", o.Fetched)
				}
				if got := st.peak.Load(); got != tt.want {
					t.Errorf("peak in flight %d, want %d", got, tt.want)
				}
			})
		})
	}
}
