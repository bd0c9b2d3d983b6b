package replay

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/store"
)

// TestFlatMatchesStore: for the same reads and prefetches, the lab's flat
// tier holds the same blocks as a real store's after every step, under
// every admission. A read is a Put the first time (the block is computed)
// and a Get after; a prefetch is a Materialize. Blocks vary in size, so
// eviction is by bytes, and some are larger than the probation segment.
func TestFlatMatchesStore(t *testing.T) {
	const (
		ns       = "replay-flat"
		blocks   = 12
		tokens   = 8    // the largest block, in tokens
		perToken = 1000 // bytes per token
		capacity = 24 * perToken
	)
	s := Settings{BlockTokens: tokens, BytesPerToken: perToken}.WithDefaults()
	for _, adm := range []string{"mru", "lru", "probation:0.25", "probation:0.5", "probation:1"} {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("%s/seed=%d", adm, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 7))
				// The steps: a read of a block (a request), or a prefetch
				// of a block read before. Each block's size is drawn once.
				size := make([]int64, blocks)
				for i := range size {
					size[i] = 1 + rng.Int64N(tokens)
				}
				type step struct {
					id       uint64
					prefetch bool
				}
				var steps []step
				var reqs []Request
				seen := map[uint64]bool{}
				for range 150 {
					id := rng.Uint64N(blocks)
					if seen[id] && rng.IntN(3) == 0 {
						steps = append(steps, step{id, true})
						continue
					}
					seen[id] = true
					steps = append(steps, step{id, false})
					reqs = append(reqs, Request{Timestamp: int64(len(reqs)), InputLength: size[id], HashIDs: []uint64{id}})
				}

				a, err := ParseAdmission(adm)
				if err != nil {
					t.Fatal(err)
				}
				m := prepare(&Trace{Name: "flat", Requests: reqs}, s)
				r := newRun(m, capacity, a)
				r.timing = timing{limit: 8}

				ctx := context.Background()
				st, err := store.Open(ctx, store.Config{FlatDir: t.TempDir(), ColdURL: "mem://", FlatBudget: capacity, Admission: adm})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()

				payload := func(id uint64) []byte { return make([]byte, size[id]*perToken) }
				next := 0 // the next request
				for i, sp := range steps {
					h := Hash(sp.id)
					b, _ := m.lookup(h)
					if sp.prefetch {
						o := &pipeline.Outcome{Fetches: []pipeline.FetchResult{{Hash: h, Bytes: m.size[b]}}}
						r.schedule(o)
						r.complete(math.MaxInt64)
						if _, _, err := st.Materialize(ctx, ns, h, block.Meta{PayloadBytes: uint64(m.size[b])}); err != nil && pipeline.FailureReason(err) != store.ReasonTooLarge {
							t.Fatalf("step %d: Materialize %d: %v", i, sp.id, err)
						}
					} else {
						r.now = m.t[next]
						r.serve(next)
						next++
						if m.first[b] == int32(next-1) { // computed: the node writes it
							err = st.Put(ctx, ns, block.Key(h), payload(sp.id))
						} else {
							_, err = st.Get(ctx, ns, block.Key(h))
						}
						if err != nil {
							t.Fatalf("step %d: read %d: %v", i, sp.id, err)
						}
					}
					var lab, real []uint64
					for id := range uint64(blocks) {
						if b, ok := m.lookup(Hash(id)); ok && r.where[b] != inNone {
							lab = append(lab, id)
						}
						if st.ContainsFlat(ctx, ns, Hash(id)) {
							real = append(real, id)
						}
					}
					if !slices.Equal(lab, real) {
						t.Fatalf("step %d (%+v): the lab's flat holds %v, the store's %v", i, sp, lab, real)
					}
				}
			})
		}
	}
}
