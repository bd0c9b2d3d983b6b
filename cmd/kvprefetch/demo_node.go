package main

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
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
func generateNode(seed uint64, n int, size int64, now time.Time) *demoNode {
	rng := rand.New(rand.NewPCG(seed, 0x6b76707265666574))
	node := &demoNode{index: index.NewMemory(nil), models: make([]block.ModelDigest, 3)}
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
