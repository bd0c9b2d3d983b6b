package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/emit"
)

// demoFlags are the demo's settings.
type demoFlags struct {
	preset    string
	topK      int
	interval  time.Duration
	cycles    int
	blocks    int
	blockSize int64
	latency   time.Duration
	seed      uint64
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f demoFlags
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.preset, "preset", presets.NameV1, "preset to run: v1 (dry run), v2 (sequential fetch) or v3 (parallel fetch)")
	fs.IntVar(&f.topK, "top-k", pipeline.DefaultTopK, "blocks selected per cycle")
	fs.DurationVar(&f.interval, "interval", pipeline.DefaultInterval, "time between cycles")
	fs.IntVar(&f.cycles, "cycles", 5, "cycles to run before stopping")
	fs.IntVar(&f.blocks, "blocks", 10000, "blocks in the generated index")
	fs.Int64Var(&f.blockSize, "block-size", 64<<10, "payload bytes per block")
	fs.DurationVar(&f.latency, "latency", 20*time.Millisecond, "simulated cold-tier latency per fetch")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the generated node")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kvprefetch demo [flags]\n\nRuns a preset on a generated node: an in-memory index of chained\nblocks from a few models, touched by simulated requests while the\nworker cycles. Prints each cycle's [MyelonInstr] line, then a summary.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}

	start := time.Now()
	node := generateNode(f.seed, f.blocks, f.blockSize, start)
	node.store.latency = f.latency
	outcomes := make(chan *pipeline.Outcome, 1)
	p, err := presets.ByName(f.preset, presets.Options{
		Index:    node.index,
		Store:    node.store,
		Model:    node.models[0],
		TopK:     f.topK,
		Interval: f.interval,
		Log:      stdout,
		Emitters: []pipeline.Emitter{emit.Func(func(o *pipeline.Outcome) { outcomes <- o })},
	})
	if err != nil {
		return usageError{err}
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { node.traffic(ctx, f.seed) })
	defer func() { cancel(); wg.Wait() }()

	w := pipeline.NewWorker(p)
	if err := w.Start(ctx); err != nil {
		return err
	}
	var sum demoSummary
	interrupted := false
wait:
	for sum.cycles < f.cycles {
		select {
		case o := <-outcomes:
			sum.add(o)
		case <-ctx.Done():
			interrupted = true
			break wait
		}
	}
	// Stop cancels the cycle in flight, which still emits: drain it, and
	// count it only when the user interrupted (it is then part of the run).
	stopped := make(chan struct{})
	go func() { w.Stop(); close(stopped) }()
	for done := false; !done; {
		select {
		case o := <-outcomes:
			if interrupted {
				sum.add(o)
			}
		case <-stopped:
			done = true
		}
	}
	sum.print(stdout, f.preset, node, time.Since(start))
	if interrupted {
		return ctx.Err()
	}
	return nil
}

func (f *demoFlags) validate() error {
	switch {
	case f.topK < 1:
		return usagef("demo: --top-k = %d, want >= 1", f.topK)
	case f.interval <= 0:
		return usagef("demo: --interval = %v, want > 0", f.interval)
	case f.cycles < 1:
		return usagef("demo: --cycles = %d, want >= 1", f.cycles)
	case f.blocks < 1:
		return usagef("demo: --blocks = %d, want >= 1", f.blocks)
	case f.blockSize < 1:
		return usagef("demo: --block-size = %d, want >= 1", f.blockSize)
	case f.latency < 0:
		return usagef("demo: --latency = %v, want >= 0", f.latency)
	}
	return nil
}

// demoSummary totals the cycles the demo saw.
type demoSummary struct {
	cycles, scored, selected, skipped, fetched, failed int
	bytes                                              int64
}

func (s *demoSummary) add(o *pipeline.Outcome) {
	s.cycles++
	s.scored += o.Scored
	s.selected += len(o.Selected)
	s.skipped += o.SkippedAlreadyFlat()
	s.fetched += o.Fetched
	s.failed += o.Failed
	s.bytes += o.BytesMaterialized
}

func (s *demoSummary) print(w io.Writer, preset string, n *demoNode, took time.Duration) {
	fmt.Fprintf(w, "\nsummary: preset %s, %d cycles in %v\n", preset, s.cycles, took.Round(time.Millisecond))
	fmt.Fprintf(w, "  scored %d, selected %d, skipped already flat %d\n", s.scored, s.selected, s.skipped)
	fmt.Fprintf(w, "  fetched %d blocks (%d bytes), failed %d\n", s.fetched, s.bytes, s.failed)
	blocks, bytes := n.store.flatSize()
	fmt.Fprintf(w, "  flat tier: %d blocks, %d bytes; index: %d blocks\n", blocks, bytes, n.index.Len())
}

// demoNode is a generated node: an index and simulated tiers.
type demoNode struct {
	index  *index.Memory
	store  *memStore
	models []block.ModelDigest
	hashes []block.Hash
}

// generateNode builds an index of n blocks in chains: a few shared system
// prompts (chain heads, popular ones reused more) extended by
// conversations, across three models, last accessed up to an hour before
// now. Every block is in the cold tier; none is in flat.
func generateNode(seed uint64, n int, size int64, now time.Time) *demoNode {
	rng := rand.New(rand.NewPCG(seed, 0x6b76707265666574))
	node := &demoNode{index: index.NewMemory(nil), store: newMemStore(), models: make([]block.ModelDigest, 3)}
	for i := range node.models {
		node.models[i][0] = byte(i + 1)
	}
	newHash := func() block.Hash {
		var h block.Hash
		for i := 0; i < len(h); i += 8 {
			binary.LittleEndian.PutUint64(h[i:], rng.Uint64())
		}
		return h
	}
	add := func(h block.Hash, m block.Meta) {
		node.index.BulkLoad(func(yield func(block.Hash, block.Meta) bool) { yield(h, m) })
		node.store.cold[h] = int64(m.PayloadBytes)
		node.hashes = append(node.hashes, h)
	}
	type prefix struct {
		hash  block.Hash
		meta  block.Meta
		model block.ModelDigest
	}
	var heads []prefix
	for len(node.hashes) < n {
		// One conversation: a system prompt (new, or a popular one
		// reused), then a few turns that extend the chain.
		var parent prefix
		if len(heads) == 0 || rng.IntN(4) == 0 {
			h := newHash()
			model := node.models[min(rng.IntN(5), 2)] // the first model is busiest
			m := block.Meta{Seq: 0, PayloadBytes: uint64(size), Model: model}
			m.LastAccessNs = now.Add(-time.Duration(rng.ExpFloat64() * float64(10*time.Minute))).UnixNano()
			add(h, m)
			parent = prefix{h, m, model}
			heads = append(heads, parent)
		} else {
			parent = heads[int(float64(len(heads))*math.Pow(rng.Float64(), 3))] // skewed popularity
		}
		turns := 1 + rng.IntN(6)
		for t := 0; t < turns && len(node.hashes) < n; t++ {
			h := newHash()
			m := block.Meta{Parent: parent.hash, Seq: parent.meta.Seq + 1, PayloadBytes: uint64(size), Model: parent.model}
			m.LastAccessNs = min(now.UnixNano(), parent.meta.LastAccessNs+int64(rng.IntN(int(time.Minute))))
			add(h, m)
			parent = prefix{h, m, parent.model}
		}
	}
	return node
}

// traffic touches random blocks, as requests on the node would, until ctx
// ends: recently read blocks rise in the next cycle's ranking.
func (n *demoNode) traffic(ctx context.Context, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.index.Touch(n.hashes[rng.IntN(len(n.hashes))])
		}
	}
}

// memStore is an in-memory flat tier and cold tier with a fixed fetch
// latency, standing in for real storage.
type memStore struct {
	latency time.Duration
	mu      sync.Mutex
	flat    map[block.Hash]int64
	cold    map[block.Hash]int64
}

func newMemStore() *memStore {
	return &memStore{latency: 20 * time.Millisecond, flat: map[block.Hash]int64{}, cold: map[block.Hash]int64{}}
}

func (s *memStore) ContainsFlat(_ context.Context, _ string, h block.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.flat[h]
	return ok
}

func (s *memStore) Materialize(ctx context.Context, _ string, c pipeline.Candidate) (int64, bool, error) {
	t := time.NewTimer(s.latency)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return 0, false, ctx.Err()
	case <-t.C:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.cold[c.Hash]
	if !ok {
		return 0, false, nil
	}
	s.flat[c.Hash] = n
	return n, true, nil
}

func (s *memStore) flatSize() (blocks int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.flat {
		bytes += n
	}
	return len(s.flat), bytes
}
