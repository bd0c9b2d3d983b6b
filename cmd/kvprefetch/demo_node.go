package main

import (
	"cmp"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// demoNode is a generated node's index.
type demoNode struct {
	index  *index.Memory
	models []block.ModelDigest
	hashes []block.Hash
}

// generateNode builds an index of n blocks of size bytes in chains: a few
// shared system prompts (chain heads, popular ones reused more) extended
// by conversations, across three models, last accessed up to an hour
// before now.
// Its index keeps access counts with half-life countHL when above 0.
func generateNode(seed uint64, n int, size int64, now time.Time, countHL time.Duration) *demoNode {
	rng := rand.New(rand.NewPCG(seed, 0x6b76707265666574))
	x, err := index.New(index.Options{CountHalfLife: countHL})
	if err != nil {
		panic(err) // not reached: parseDemoFlags checked the half-life
	}
	node := &demoNode{index: x, models: make([]block.ModelDigest, 3)}
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
// ends: recently read blocks rise in the next cycle's ranking. With read
// not nil it also reads each block it touches.
func (n *demoNode) traffic(ctx context.Context, seed uint64, read func(context.Context, block.Hash)) {
	rng := rand.New(rand.NewPCG(seed, 1))
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h := n.hashes[rng.IntN(len(n.hashes))]
			n.index.Touch(h)
			if read != nil {
				read(ctx, h)
			}
		}
	}
}

// hintRequestEvery is how often the hinted traffic sends a request.
const hintRequestEvery = 100 * time.Millisecond

// chain returns block h and the blocks before it in its chain, the head
// first: what a request that reads h reads.
func (n *demoNode) chain(h block.Hash) []block.Hash {
	var c []block.Hash
	for {
		m, ok := n.index.Get(h)
		if !ok {
			break
		}
		c = append(c, h)
		if m.IsChainHead() {
			break
		}
		h = m.Parent
	}
	slices.Reverse(c)
	return c
}

// hintedTraffic is the traffic of a node that knows its requests ahead
// (from its scheduler queue or its router), for a pipeline that reads
// hints: every hintRequestEvery it picks a request (a random block and the
// chain before it), announces the request's blocks to hints, due lead from
// then, and at that time reads them as the node serving the request would:
// it touches each in the index and gets it from the store, from flat when
// the prefetch (or an earlier read) put it there.
type hintedTraffic struct {
	node  *demoNode
	hints *snapshot.Hints   // the live pipeline's intake, nil when it reads none
	also  []*snapshot.Hints // the intakes of the shadows that read hints
	store *demoStore
	ns    string
	lead  time.Duration

	// What happened, for the summary: read them once run has returned.
	requests   int   // announced
	reads      int   // blocks read, by the requests whose time came
	fromFlat   int   // reads flat served
	prefetched int   // of those, blocks the pipeline had fetched
	fromCold   int   // reads the cold tier served
	failed     int   // reads that failed
	firstErr   error // the first failure
}

// hintedRequest is a request announced and not yet read.
type hintedRequest struct {
	due    time.Time
	blocks []block.Hash
}

// run sends requests until stop closes, then reads the requests it
// announced as their time comes, and returns once it has read them all or
// ctx ends.
func (t *hintedTraffic) run(ctx context.Context, stop <-chan struct{}, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 2))
	var pending []hintedRequest // in due order: each is due lead after its announcement
	announce := func() {
		r := hintedRequest{due: time.Now().Add(t.lead), blocks: t.node.chain(t.node.hashes[rng.IntN(len(t.node.hashes))])}
		hs := make([]snapshot.Hint, len(r.blocks))
		for i, h := range r.blocks {
			m, _ := t.node.index.Get(h)
			hs[i] = snapshot.Hint{Hash: h, Meta: m, Due: r.due}
		}
		if t.hints != nil {
			t.hints.Add(hs...)
		}
		for _, h := range t.also {
			h.Add(hs...)
		}
		pending = append(pending, r)
		t.requests++
	}
	tick := time.NewTicker(hintRequestEvery)
	defer tick.Stop()
	next := time.NewTimer(t.lead)
	defer next.Stop()
	ticks := tick.C
	announce()
	for {
		var due <-chan time.Time
		switch {
		case len(pending) > 0:
			next.Reset(time.Until(pending[0].due))
			due = next.C
		case ticks == nil:
			return // stopped, and every request read
		}
		select {
		case <-ctx.Done():
			return
		case <-stop:
			stop, ticks = nil, nil
		case <-ticks:
			announce()
		case <-due:
			t.read(ctx, pending[0].blocks)
			pending = pending[1:]
		}
	}
}

// read reads the blocks of a request, in order, until ctx ends.
func (t *hintedTraffic) read(ctx context.Context, blocks []block.Hash) {
	for _, h := range blocks {
		t.node.index.Touch(h)
		inFlat := t.store.ContainsFlat(ctx, t.ns, h)
		_, err := t.store.Get(ctx, t.ns, block.Key(h))
		switch {
		case ctx.Err() != nil:
			return // cut short: not a read
		case err != nil:
			t.failed++
			t.firstErr = cmp.Or(t.firstErr, err)
		case inFlat:
			t.fromFlat++
			if t.store.prefetched(h) {
				t.prefetched++
			}
		default:
			t.fromCold++
		}
		t.reads++
	}
}
