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
// eviction is by bytes, and some are larger than the probation segment
// (the prefetch fails with the store's reason "too_large" on both).
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
						// As the fetch stage reports a GET, to both tiers.
						meta := block.Meta{PayloadBytes: uint64(m.size[b])}
						n, _, err := r.Materialize(ctx, ns, h, meta)
						o := &pipeline.Outcome{Fetches: []pipeline.FetchResult{{Hash: h, Bytes: n, Reason: pipeline.FailureReason(err)}}}
						r.schedule(o)
						r.complete(math.MaxInt64)
						_, _, serr := st.Materialize(ctx, ns, h, meta)
						if got, want := pipeline.FailureReason(err), pipeline.FailureReason(serr); got != want {
							t.Fatalf("step %d: prefetch of %d fails with %q in the lab, %q in the store (%v)", i, sp.id, got, want, serr)
						}
						if serr != nil && pipeline.FailureReason(serr) != store.ReasonTooLarge {
							t.Fatalf("step %d: Materialize %d: %v", i, sp.id, serr)
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

// TestMaterializeTooLarge: a prefetch of a block larger than the probation
// segment fails before its GET, with the store's reason, unless the block
// is already in flat; under MRU the same block is fetched.
func TestMaterializeTooLarge(t *testing.T) {
	if reasonTooLarge != store.ReasonTooLarge {
		t.Fatalf("reasonTooLarge = %q, want the store's %q", reasonTooLarge, store.ReasonTooLarge)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		adm  Admission
		want []string // the reasons for blocks 1 (evicted) and 3 (in flat)
	}{
		{Admission{Mode: AdmitProbation, Fraction: 0.333}, []string{store.ReasonTooLarge, ""}},
		{Admission{Mode: AdmitProbation, Fraction: 0.5}, []string{"", ""}},
		{Admission{Mode: AdmitMRU}, []string{"", ""}},
	} {
		t.Run(tc.adm.String(), func(t *testing.T) {
			r := newTinyRun(t, 2*blk, req(0, 1), req(1, 2), req(2, 3))
			r.setAdmission(tc.adm)
			serveAll(r, 0, 3) // flat [2 3]
			var got []string
			for _, id := range []uint64{1, 3} {
				_, _, err := r.Materialize(ctx, "", Hash(id), block.Meta{})
				got = append(got, pipeline.FailureReason(err))
			}
			if !slices.Equal(tc.want, got) {
				t.Errorf("reasons = %q, want %q", got, tc.want)
			}
		})
	}
}
