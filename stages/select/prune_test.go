package topk_test

import (
	"encoding/binary"
	"iter"
	"math"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	topk "github.com/wombatkv/prefetch/stages/select"
)

var (
	_ pipeline.ThresholdSelector = topk.Heap{}
	_ pipeline.ThresholdSelector = topk.Quickselect{}
)

// pruneCands decodes fuzz input into candidates, 2 bytes each: a hash
// byte (so hashes repeat) and a score byte (few values, so scores tie;
// 255 is NaN, 254 -Inf).
func pruneCands(data []byte) []pipeline.Candidate {
	var cs []pipeline.Candidate
	for i := 0; i+2 <= len(data); i += 2 {
		var c pipeline.Candidate
		c.Hash[0] = data[i] % 32
		binary.BigEndian.PutUint16(c.Hash[30:], uint16(i))
		switch v := data[i+1]; v {
		case 255:
			c.Score = math.NaN()
		case 254:
			c.Score = math.Inf(-1)
		default:
			c.Score = float64(v%20) / 4
		}
		cs = append(cs, c)
	}
	return cs
}

// pruneRef is the K best by sorting everything: the spec.
func pruneRef(cs []pipeline.Candidate, k int) []pipeline.Candidate {
	all := slices.Clone(cs)
	slices.SortFunc(all, func(a, b pipeline.Candidate) int { return pipeline.Compare(&a, &b) })
	return all[:min(k, len(all))]
}

func pruneSeq(cs []pipeline.Candidate) iter.Seq[pipeline.Candidate] { return slices.Values(cs) }

// pruned streams cs but skips every candidate that does not beat the
// selector's published threshold, as the pipeline's fast path does (the
// fast path skips fewer: only those its score bound rules out). It checks
// that the threshold never falls.
func pruned(t *testing.T, cs []pipeline.Candidate, th *pipeline.Threshold, skipped *int) iter.Seq[pipeline.Candidate] {
	return func(yield func(pipeline.Candidate) bool) {
		var prev pipeline.Threshold
		for _, c := range cs {
			if prev.Full {
				if !th.Full {
					t.Fatalf("threshold emptied mid-selection")
				}
				was := pipeline.Candidate{Score: prev.Score, Hash: prev.Hash}
				now := pipeline.Candidate{Score: th.Score, Hash: th.Hash}
				if pipeline.Compare(&now, &was) > 0 {
					t.Fatalf("threshold fell from %v to %v", prev, *th)
				}
			}
			prev = *th
			if !th.Beats(c.Score, c.Hash) {
				*skipped++
				continue
			}
			if !yield(c) {
				return
			}
		}
	}
}

var pruneSelectors = []struct {
	name string
	sel  pipeline.ThresholdSelector
}{
	{"heap", topk.Heap{}},
	{"quickselect", topk.Quickselect{}},
}

// same reports whether two selections are equal, scores bit for bit.
func same(a, b []pipeline.Candidate) bool {
	return slices.EqualFunc(a, b, func(x, y pipeline.Candidate) bool {
		return x.Hash == y.Hash && x.Meta == y.Meta && math.Float64bits(x.Score) == math.Float64bits(y.Score)
	})
}

func checkPruned(t *testing.T, cs []pipeline.Candidate, k int) (skipped int) {
	t.Helper()
	want := pruneRef(cs, k)
	for _, s := range pruneSelectors {
		if got := s.sel.Select(nil, k, pruneSeq(cs)); !same(want, got) {
			t.Fatalf("%s: Select mismatch (-want +got):\n%s", s.name, cmp.Diff(want, got, cmpopts.EquateNaNs()))
		}
		th := pipeline.Threshold{Full: true, Score: math.Inf(1)} // stale: must be reset
		got := s.sel.SelectThreshold(nil, k, &th, pruned(t, cs, &th, &skipped))
		if !same(want, got) {
			t.Fatalf("%s: pruned selection mismatch (-want +got):\n%s", s.name, cmp.Diff(want, got, cmpopts.EquateNaNs()))
		}
	}
	return skipped
}

// FuzzPrunedSelection proves that pruning by the published threshold does
// not change the top K: with ties, repeated hashes, NaN and -Inf scores.
func FuzzPrunedSelection(f *testing.F) {
	f.Add([]byte("\x01\x05\x02\x05\x03\x05\x00\xff\x04\xfe\x05\x13"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, k uint8) {
		checkPruned(t, pruneCands(data), int(k%70)+1)
	})
}

// TestPrunedSelection runs the property over larger inputs in every order
// that matters to a streaming selector, and checks pruning happens.
func TestPrunedSelection(t *testing.T) {
	var seed uint64 = 7
	next := func() byte {
		seed = seed*6364136223846793005 + 1442695040888963407
		return byte(seed >> 56)
	}
	for _, n := range []int{0, 1, 5, 63, 64, 65, 200, 3000} {
		data := make([]byte, 2*n)
		for i := range data {
			data[i] = next()
		}
		cs := pruneCands(data)
		desc := pruneRef(cs, len(cs)) // best first
		asc := slices.Clone(desc)     // worst first
		slices.Reverse(asc)
		for _, k := range []int{1, 2, 8, 31, 64, 100, 1024} {
			for i, order := range [][]pipeline.Candidate{cs, desc, asc} {
				skipped := checkPruned(t, order, k)
				// Worst first, every candidate beats the bar of its time.
				if n == 3000 && k == 8 && i < 2 && skipped == 0 {
					t.Errorf("n=%d k=%d order %d: nothing pruned", n, k, i)
				}
			}
		}
	}
}

// TestQuickselectDistinct checks Quickselect on distinct scores against
// the pruneRef across buffer refills, and that a dst with room is reused.
func TestQuickselectDistinct(t *testing.T) {
	for _, n := range []int{10, 1000, 100000} {
		cs := make([]pipeline.Candidate, n)
		for i := range cs {
			cs[i].Score = float64((i * 7919) % n)
			cs[i].Hash = block.Hash{byte(i), byte(i >> 8), byte(i >> 16)}
		}
		for _, k := range []int{1, 8, 64, 1024} {
			want := pruneRef(cs, k)
			dst := make([]pipeline.Candidate, 0, 2*k+64)
			got := topk.Quickselect{}.Select(dst, k, pruneSeq(cs))
			if !same(want, got) {
				t.Fatalf("n=%d k=%d mismatch (-want +got):\n%s", n, k, cmp.Diff(want, got))
			}
			if &got[0] != &dst[:1][0] {
				t.Errorf("n=%d k=%d: dst with room not reused", n, k)
			}
		}
	}
	if got := (topk.Quickselect{}).Select(nil, 0, pruneSeq(make([]pipeline.Candidate, 3))); len(got) != 0 {
		t.Errorf("k=0 selected %d", len(got))
	}
}

// TestQuickselectAllEqual: a stream of identical candidates (equal score
// and hash) must not degrade into a quadratic partition or lose count.
func TestQuickselectAllEqual(t *testing.T) {
	cs := make([]pipeline.Candidate, 50000)
	for i := range cs {
		cs[i].Score = 1
	}
	got := topk.Quickselect{}.Select(nil, 100, pruneSeq(cs))
	if len(got) != 100 {
		t.Fatalf("selected %d, want 100", len(got))
	}
}
