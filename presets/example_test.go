package presets_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/score"
	"github.com/wombatkv/prefetch/stages/snapshot"
	"github.com/wombatkv/prefetch/store"
)

// memStore is a toy store for the examples: cold holds every block given
// a size, flat is a set; a fetch copies a block from cold into flat.
type memStore struct {
	mu   sync.Mutex
	cold map[block.Hash]int64
	flat map[block.Hash]bool
}

func (s *memStore) ContainsFlat(_ context.Context, _ string, h block.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flat[h]
}

func (s *memStore) Materialize(_ context.Context, _ string, h block.Hash, _ block.Meta) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.cold[h]
	if ok {
		s.flat[h] = true
	}
	return n, ok, nil
}

// exampleSetup returns an index of five chain heads read 0..4 minutes ago
// (block 1 is the freshest), a store whose cold tier holds blocks 1..4 of
// 1 KiB each (block 5 is missing) with block 2 already in flat, and the
// clock reading the cycle scores against.
func exampleSetup() (*index.Memory, *memStore, func() time.Time) {
	now := time.Unix(1_700_000_000, 0)
	idx := index.NewMemory(func() time.Time { return now })
	st := &memStore{cold: map[block.Hash]int64{}, flat: map[block.Hash]bool{{2}: true}}
	for i := range 5 {
		h := block.Hash{byte(i + 1)}
		idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
			yield(h, block.Meta{Seq: 0, LastAccessNs: now.Add(-time.Duration(i) * time.Minute).UnixNano()})
		})
		if i < 4 {
			st.cold[h] = 1024
		}
	}
	return idx, st, func() time.Time { return now }
}

// report prints the counts of the MyelonInstr line, without elapsed_ms
// (a wall-clock figure that differs run to run).
var report = emit.Func(func(o *pipeline.Outcome) {
	fmt.Printf("scored=%d selected=%d skipped_already_flat=%d fetched=%d failed=%d bytes=%d failed_by=%v\n",
		o.Scored, len(o.Selected), o.SkippedAlreadyFlat(), o.Fetched, o.Failed, o.BytesMaterialized, o.FailedBy)
})

// The dry run ranks and reports what it would fetch, and fetches nothing.
func ExampleNew_v1() {
	idx, st, clock := exampleSetup()
	p, err := presets.New(presets.NameV1, presets.Options{
		Index: idx, Store: st, TopK: 3, Clock: clock,
		Emitters: []pipeline.Emitter{report},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	o := p.Run(context.Background())
	for _, c := range o.Selected {
		fmt.Printf("would fetch %s (score %.3f)\n", c.Hash.String()[:2], c.Score)
	}
	// Output:
	// scored=5 selected=3 skipped_already_flat=0 fetched=0 failed=0 bytes=0 failed_by=map[]
	// would fetch 01 (score 1.300)
	// would fetch 02 (score 1.233)
	// would fetch 03 (score 1.171)
}

// The sequential preset skips what flat holds and fetches the rest one
// after another.
func ExampleNew_v2() {
	idx, st, clock := exampleSetup()
	p, err := presets.New(presets.NameV2, presets.Options{
		Index: idx, Store: st, TopK: 5, Namespace: "tp-default", Clock: clock,
		Emitters: []pipeline.Emitter{report},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	p.Run(context.Background()) // block 2 is flat, block 5 is missing from cold
	p.Run(context.Background()) // everything fetched is now flat; block 5 backs off
	// Output:
	// scored=5 selected=5 skipped_already_flat=1 fetched=3 failed=1 bytes=3072 failed_by=map[miss:1]
	// scored=4 selected=4 skipped_already_flat=4 fetched=0 failed=0 bytes=0 failed_by=map[]
}

// The parallel preset fetches at most Limit blocks at once, and reports
// them in rank order.
func ExampleNew_v3() {
	idx, st, clock := exampleSetup()
	p, err := presets.New(presets.NameV3, presets.Options{
		Index: idx, Store: st, TopK: 4, Limit: 2, Clock: clock,
		Emitters: []pipeline.Emitter{report},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	o := p.Run(context.Background())
	for _, r := range o.Fetches { // in rank order, whatever order they finished in
		fmt.Printf("%s fetched=%v bytes=%d\n", r.Hash.String()[:2], r.Fetched(), r.Bytes)
	}
	// Output:
	// scored=5 selected=4 skipped_already_flat=1 fetched=3 failed=0 bytes=3072 failed_by=map[]
	// 01 fetched=true bytes=1024
	// 03 fetched=true bytes=1024
	// 04 fetched=true bytes=1024
}

// ExampleConfig adjusts a preset before building it: here v3 with a GET
// budget of one block per cycle after the already-flat filter, which the
// preset has no option for.
func ExampleConfig() {
	idx, st, clock := exampleSetup()
	cfg, err := presets.Config(presets.NameV3, presets.Options{
		Index: idx, Store: st, TopK: 3, Clock: clock,
		Emitters: []pipeline.Emitter{report},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.Filters = append(cfg.Filters, filter.NewBudget(1, 0, 0))
	p, err := pipeline.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	p.Run(context.Background())
	// Output:
	// scored=5 selected=3 skipped_already_flat=1 fetched=1 failed=0 bytes=1024 failed_by=map[]
}

func ExampleFromEnv() {
	env := map[string]string{
		presets.EnvDryRun:    "1", // forces v1 whatever the preset says
		presets.EnvPreset:    "v3",
		presets.EnvNamespace: "tenant-7",
	}
	idx, st, clock := exampleSetup()
	name, w, err := presets.FromEnv(func(k string) string { return env[k] },
		presets.Options{Index: idx, Store: st, Clock: clock})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(name, w.Pipeline().Config().Namespace) // w.Start(ctx) runs it

	// The hints preset needs the intake the node feeds.
	_, _, err = presets.FromEnv(func(k string) string { return map[string]string{presets.EnvPreset: "hints"}[k] },
		presets.Options{Store: st})
	fmt.Println(err)

	_, _, err = presets.FromEnv(func(k string) string { return map[string]string{presets.EnvPreset: "v4"}[k] },
		presets.Options{Index: idx, Store: st})
	fmt.Println(err)
	// Output:
	// v1 tenant-7
	// presets: hints fetches the blocks of the requests the node announces, so Options.Hints must be set to the intake it feeds (snapshot.NewHints) (from the environment: WMBT_KV_PREFETCH_DRY_RUN="", WMBT_KV_PREFETCH_PRESET="hints", WMBT_KV_NAMESPACE="")
	// presets: unknown preset "v4", want one of v1, v2, v3, warmup, hints (from the environment: WMBT_KV_PREFETCH_DRY_RUN="", WMBT_KV_PREFETCH_PRESET="v4", WMBT_KV_NAMESPACE="")
}

func ExampleDryRunEnabled() {
	for _, v := range []string{"1", "yes", "0", "True"} {
		fmt.Println(v, presets.DryRunEnabled(func(string) string { return v }))
	}
	// Output:
	// 1 true
	// yes true
	// 0 false
	// True false
}

// The hints preset's worker wakes at each hint.
func ExampleWorker() {
	hints := snapshot.NewHints(snapshot.HintsConfig{})
	st := newRoomStore(1 << 30)
	fetched := make(chan struct{}, 1)
	w, err := presets.Worker(presets.NameHints, presets.Options{
		Store: st, Interval: time.Hour, Hints: hints,
		Emitters: []pipeline.Emitter{pipeline.EmitterFunc(func(_ context.Context, o *pipeline.Outcome) {
			if o.Fetched > 0 {
				fetched <- struct{}{}
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
	// The router announces a request due in a second: the worker wakes at
	// once, not in an hour.
	hints.Add(snapshot.Hint{Hash: hintHash(7), Meta: block.Meta{PayloadBytes: 1 << 20}, Due: time.Now().Add(time.Second)})
	<-fetched
	fmt.Println("fetched", st.got())
	// Output:
	// fetched [7]
}

// The warm-up fetches the most recent blocks into free room only.
func ExampleNew_warmup() {
	now := time.Unix(1000, 0)
	idx := index.NewMemory(func() time.Time { return now })
	for i := byte(1); i <= 3; i++ {
		idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
			yield(hintHash(i), block.Meta{PayloadBytes: 64 << 20, LastAccessNs: now.Add(-time.Duration(i) * time.Minute).UnixNano()})
		})
	}
	st := newRoomStore(128 << 20) // an empty flat tier with room for two
	p, err := presets.New(presets.NameWarmup, presets.Options{Index: idx, Store: st, Clock: func() time.Time { return now }})
	if err != nil {
		fmt.Println(err)
		return
	}
	o := p.Run(context.Background())
	fmt.Println("fetched", st.got(), "skipped", o.Skipped["no_room"], "for lack of room")
	// Output:
	// fetched [1 2] skipped 1 for lack of room
}

// ExampleNew picks a preset by the name a flag or a config file gives.
func ExampleNew() {
	idx, st, clock := exampleSetup()
	for _, name := range []string{"v3", "v4"} {
		p, err := presets.New(name, presets.Options{
			Index: idx, Store: st, TopK: 3, Clock: clock,
			Emitters: []pipeline.Emitter{report},
		})
		if err != nil {
			fmt.Println(err)
			continue
		}
		p.Run(context.Background())
	}
	// Output:
	// scored=5 selected=3 skipped_already_flat=1 fetched=2 failed=0 bytes=2048 failed_by=map[]
	// presets: unknown preset "v4", want one of v1, v2, v3, warmup, hints
}

func ExampleNames() {
	fmt.Println(presets.Names())
	// Output:
	// [v1 v2 v3 warmup hints]
}

// Example_embed is the README's embedding example: a node's metadata index,
// its two tiers, and the v3 preset running in the background.
func Example_embed() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "prefetch-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cold := "file://" + filepath.Join(dir, "cold") + "?create_dir=true"

	// Another node wrote three blocks to the shared cold tier; this node's
	// index knows them (from the router, say), its flat tier does not.
	other, err := store.Open(ctx, store.Config{FlatDir: filepath.Join(dir, "other"), ColdURL: cold})
	if err != nil {
		log.Fatal(err)
	}
	idx := index.NewMemory(nil)
	for i := range 3 {
		h := block.Hash{31: byte(i + 1)}
		payload := fmt.Appendf(nil, "kv-cache block %d", i)
		if err := other.Put(ctx, "tp-default", block.Key(h), payload); err != nil {
			log.Fatal(err)
		}
		idx.Insert(h, block.Meta{Seq: uint32(i), PayloadBytes: uint64(len(payload))})
	}
	other.Close()

	// This node: its flat directory in front of the same cold bucket (in
	// production an S3 bucket, opened with store/gocloud and passed as
	// Config.Cold).
	st, err := store.Open(ctx, store.Config{FlatDir: filepath.Join(dir, "flat"), ColdURL: cold})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	first := make(chan *pipeline.Outcome, 1)
	w, err := presets.Worker(presets.NameV3, presets.Options{
		Index:    idx,
		Store:    st,
		Interval: time.Minute,
		Emitters: []pipeline.Emitter{emit.Func(func(o *pipeline.Outcome) {
			select {
			case first <- o:
			default:
			}
		})},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer w.Stop()

	o := <-first
	fmt.Printf("fetched %d blocks, %d bytes, %d failed\n", o.Fetched, o.BytesMaterialized, o.Failed)
	fmt.Println("in flat:", st.ContainsFlat(ctx, "tp-default", block.Hash{31: 1}))
	// Output:
	// fetched 3 blocks, 48 bytes, 0 failed
	// in flat: true
}

// Example_customScorer is the README's custom scorer: recently used chain
// heads of the active model first, everything else by recency.
func Example_customScorer() {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	activeModel := block.ModelDigest{0: 7}
	idx := index.NewMemory(nil)
	idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		_ = yield(block.Hash{31: 1}, block.Meta{Seq: 3, Model: activeModel, LastAccessNs: now.UnixNano()}) &&
			yield(block.Hash{31: 2}, block.Meta{Seq: 0, Model: activeModel, LastAccessNs: now.Add(-time.Hour).UnixNano()}) &&
			yield(block.Hash{31: 3}, block.Meta{Seq: 0, LastAccessNs: now.UnixNano()})
	})

	recency := score.NewRecency(10 * time.Minute)
	myScorer := pipeline.ScorerFunc(func(now time.Time, h block.Hash, m block.Meta) float64 {
		s := recency.Score(now, h, m)
		if m.IsChainHead() && m.Model == activeModel {
			s += 1
		}
		return s
	})
	cfg, err := presets.Config(presets.NameV1, presets.Options{Index: idx, Clock: func() time.Time { return now }})
	if err != nil {
		log.Fatal(err)
	}
	cfg.Scorer = myScorer
	p, err := pipeline.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range p.Run(context.Background()).Selected {
		fmt.Printf("block %d: %.3f\n", c.Hash[31], c.Score)
	}
	// Output:
	// block 2: 1.016
	// block 1: 1.000
	// block 3: 1.000
}
