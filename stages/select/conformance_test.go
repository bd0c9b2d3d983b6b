package topk_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	topk "github.com/wombatkv/prefetch/stages/select"
)

// selectors is every implementation the conformance suite checks. A new
// selector joins by adding one line.
var selectors = []struct {
	name string
	sel  pipeline.Selector
}{
	{"FullSort", topk.FullSort{}},
	{"Heap", topk.Heap{}},
	{"Quickselect", topk.Quickselect{}},
	{"reference", refSelector},
}

// refRanksBefore is the rank order written out independently of
// pipeline.Compare: a number before NaN, a higher score first, equal scores
// by the lower hash.
func refRanksBefore(a, b pipeline.Candidate) bool {
	an, bn := math.IsNaN(a.Score), math.IsNaN(b.Score)
	if an != bn {
		return bn
	}
	if !an && a.Score != b.Score {
		return a.Score > b.Score
	}
	return bytes.Compare(a.Hash[:], b.Hash[:]) < 0
}

// refSelector is the naive reference: collect, sort, slice.
var refSelector = pipeline.SelectorFunc(func(dst []pipeline.Candidate, k int, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
	var all []pipeline.Candidate
	for c := range seq {
		all = append(all, c)
	}
	sort.SliceStable(all, func(i, j int) bool { return refRanksBefore(all[i], all[j]) })
	if k < 0 {
		k = 0
	}
	if k < len(all) {
		all = all[:k]
	}
	return append(dst[:0], all...)
})

// sameCands reports whether a and b hold the same candidates in the same
// order, a NaN score equal to a NaN. It is the fast check; cmp.Diff only
// explains a mismatch (it is too slow for every comparison under -race).
func sameCands(a, b []pipeline.Candidate) bool {
	return slices.EqualFunc(a, b, func(x, y pipeline.Candidate) bool {
		return x.Hash == y.Hash && x.Meta == y.Meta &&
			(x.Score == y.Score && math.Signbit(x.Score) == math.Signbit(y.Score) || math.IsNaN(x.Score) && math.IsNaN(y.Score))
	})
}

// diffCands explains a mismatch found by sameCands.
func diffCands(want, got []pipeline.Candidate) string {
	if sameCands(want, got) {
		return ""
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
		return diff
	}
	return fmt.Sprintf("same values but a zero of another sign:\nwant %v\ngot  %v", want, got)
}

func seqOf(cs []pipeline.Candidate) iter.Seq[pipeline.Candidate] {
	return func(yield func(pipeline.Candidate) bool) {
		for _, c := range cs {
			if !yield(c) {
				return
			}
		}
	}
}

// candAt gives candidate i a distinct hash (and metadata that follows it,
// so a selector that mixes up fields is caught).
func candAt(i int, score float64) pipeline.Candidate {
	var h block.Hash
	binary.BigEndian.PutUint64(h[:8], uint64(i)*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(h[24:], uint64(i))
	return pipeline.Candidate{Hash: h, Score: score, Meta: block.Meta{Seq: uint32(i), LastAccessNs: int64(i)}}
}

var (
	nan  = math.NaN()
	inf  = math.Inf(1)
	ninf = math.Inf(-1)
)

type scenario struct {
	name  string
	cands []pipeline.Candidate
}

func scenarios() []scenario {
	rng := rand.New(rand.NewPCG(7, 8))
	mk := func(n int, score func(i int) float64) []pipeline.Candidate {
		cs := make([]pipeline.Candidate, n)
		for i := range cs {
			cs[i] = candAt(i, score(i))
		}
		return cs
	}
	specials := []float64{nan, inf, ninf, 0, math.Copysign(0, -1), 1, -1, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64}
	return []scenario{
		{"empty", nil},
		{"one", mk(1, func(int) float64 { return 0.5 })},
		{"random", mk(1000, func(int) float64 { return rng.Float64() })},
		{"ascending", mk(500, func(i int) float64 { return float64(i) })},
		{"descending", mk(500, func(i int) float64 { return -float64(i) })},
		{"all equal", mk(300, func(int) float64 { return 1 })},
		{"many ties", mk(1000, func(int) float64 { return float64(rng.IntN(4)) })},
		{"duplicate scores", mk(200, func(i int) float64 { return float64(i / 10) })},
		{"all NaN", mk(50, func(int) float64 { return nan })},
		{"NaNs among numbers", mk(400, func(i int) float64 {
			if i%3 == 0 {
				return nan
			}
			return rng.NormFloat64()
		})},
		{"infinities", mk(100, func(i int) float64 { return []float64{inf, ninf, 0}[i%3] })},
		{"specials", mk(300, func(i int) float64 { return specials[rng.IntN(len(specials))] })},
		{"NaN first then numbers", mk(20, func(i int) float64 {
			if i < 10 {
				return nan
			}
			return float64(-i)
		})},
	}
}

// TestConformance runs every selector against the reference on every
// scenario, for k = 0, 1, a few, N-1, N and more than N — up to a K far
// beyond any memory (1<<40, MaxInt), which must cost what the stream holds.
func TestConformance(t *testing.T) {
	for _, sc := range scenarios() {
		n := len(sc.cands)
		ks := []int{0, 1, 2, 8, 10, n - 1, n, n + 1, 2*n + 5, 1 << 40, math.MaxInt}
		for _, s := range selectors {
			for _, k := range slices.Compact(slices.Sorted(slices.Values(ks))) {
				if k < 0 {
					continue
				}
				t.Run(fmt.Sprintf("%s/n=%d/k=%d/%s", sc.name, n, k, s.name), func(t *testing.T) {
					want := refSelector(nil, k, seqOf(sc.cands))
					if len(want) != min(k, n) {
						t.Fatalf("reference returned %d, want %d", len(want), min(k, n))
					}
					input := slices.Clone(sc.cands)
					got := s.sel.Select(nil, k, seqOf(input))
					if diff := diffCands(want, got); diff != "" {
						t.Errorf("Select mismatch (-want +got):\n%s", diff)
					}
					if diff := diffCands(sc.cands, input); diff != "" {
						t.Errorf("Select changed its input (-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

// TestSelectUsesDst: results are appended to dst[:0], reusing its storage
// when it has room, whatever dst held. (Quickselect's room is its 2K
// buffer, at least 64 candidates: dst has 64.)
func TestSelectUsesDst(t *testing.T) {
	cands := scenarios()[2].cands // random
	for _, s := range selectors {
		t.Run(s.name, func(t *testing.T) {
			want := refSelector(nil, 8, seqOf(cands))
			dst := make([]pipeline.Candidate, 3, 64)
			for i := range dst {
				dst[i] = candAt(1_000_000+i, 1e9) // garbage that would rank first
			}
			got := s.sel.Select(dst, 8, seqOf(cands))
			if diff := diffCands(want, got); diff != "" {
				t.Errorf("Select with a used dst mismatch (-want +got):\n%s", diff)
			}
			if &got[0] != &dst[:1][0] {
				t.Error("Select did not reuse dst's storage though it had room")
			}
		})
	}
}

// TestSelectConsumesOnce: seq is ranged over once, and fully.
func TestSelectConsumesOnce(t *testing.T) {
	cands := scenarios()[2].cands
	for _, s := range selectors {
		for _, k := range []int{0, 5} {
			t.Run(fmt.Sprintf("%s/k=%d", s.name, k), func(t *testing.T) {
				passes, pulled := 0, 0
				seq := func(yield func(pipeline.Candidate) bool) {
					passes++
					for _, c := range cands {
						pulled++
						if !yield(c) {
							return
						}
					}
				}
				s.sel.Select(nil, k, seq)
				if passes != 1 || pulled != len(cands) {
					t.Errorf("%d passes pulling %d candidates, want 1 pass over all %d", passes, pulled, len(cands))
				}
			})
		}
	}
}

// TestHeapNegativeK: a negative k selects nothing.
func TestHeapNegativeK(t *testing.T) {
	got := topk.Heap{}.Select(nil, -1, seqOf(scenarios()[2].cands))
	if len(got) != 0 {
		t.Errorf("Heap with k=-1 returned %d candidates", len(got))
	}
}

// TestFullSortNegativeK: a negative k selects nothing, as for Heap (FullSort
// used to slice all[:k] and panic).
func TestFullSortNegativeK(t *testing.T) {
	got := topk.FullSort{}.Select(nil, -1, seqOf(scenarios()[2].cands))
	if len(got) != 0 {
		t.Errorf("FullSort with k=-1 returned %d candidates", len(got))
	}
}

// TestHeapAllocationsDoNotGrowWithN: Heap allocates nothing per candidate
// when dst has room for k: a stream of 100000 costs what a stream of 0 does.
func TestHeapAllocationsDoNotGrowWithN(t *testing.T) {
	const k = 8
	perN := map[int]float64{}
	for _, n := range []int{0, 1, 100, 100_000} {
		cands := make([]pipeline.Candidate, n)
		for i := range cands {
			cands[i] = candAt(i, float64(i%97))
		}
		seq := seqOf(cands)
		dst := make([]pipeline.Candidate, 0, k)
		perN[n] = testing.AllocsPerRun(20, func() { dst = topk.Heap{}.Select(dst, k, seq) })
	}
	for n, a := range perN {
		if a != perN[0] {
			t.Errorf("Heap over %d candidates: %v allocs, over 0: %v; want no allocation per candidate", n, a, perN[0])
		}
	}
	if perN[0] > 4 {
		t.Errorf("Heap: %v allocs per Select, want a small constant", perN[0])
	}
}

// FuzzSelectors compares every selector with the reference on candidates
// built from the fuzzer's bytes: each byte picks a score from a small set
// rich in ties, NaNs and infinities, and the first byte picks k.
func FuzzSelectors(f *testing.F) {
	f.Add([]byte{3, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{0})
	f.Add([]byte{200, 0, 0, 0, 0})
	f.Add([]byte{2, 9, 9, 10, 11, 9, 10, 11, 12})
	f.Add([]byte{5, 255, 254, 253, 252, 251, 250, 0, 1})
	palette := []float64{nan, inf, ninf, 0, math.Copysign(0, -1), 1, -1, 0.5, 2, 2, 3, -math.MaxFloat64, math.MaxFloat64}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		k := int(data[0] % 40)
		var cands []pipeline.Candidate
		for i, b := range data[1:] {
			s := palette[int(b)%len(palette)]
			if b >= 128 {
				s = float64(b % 7) // more ties
			}
			c := candAt(i, s)
			c.Hash[0] = b // equal scores fall back on hash order
			cands = append(cands, c)
		}
		want := refSelector(nil, k, seqOf(cands))
		for _, s := range selectors {
			got := s.sel.Select(nil, k, seqOf(cands))
			if diff := diffCands(want, got); diff != "" {
				t.Fatalf("%s, k=%d, n=%d: mismatch with the reference (-want +got):\n%s", s.name, k, len(cands), diff)
			}
		}
	})
}
