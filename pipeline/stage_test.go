package pipeline_test

import (
	"math"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

func TestCompare(t *testing.T) {
	lo, hi := block.Hash{1}, block.Hash{2}
	nan, inf := math.NaN(), math.Inf(1)
	c := func(s float64, h block.Hash) *pipeline.Candidate { return &pipeline.Candidate{Score: s, Hash: h} }
	tests := []struct {
		name string
		a, b *pipeline.Candidate
		want int // sign
	}{
		{"higher score first", c(2, hi), c(1, lo), -1},
		{"lower score after", c(1, lo), c(2, hi), 1},
		{"equal score, lower hash first", c(1, lo), c(1, hi), -1},
		{"equal score, higher hash after", c(1, hi), c(1, lo), 1},
		{"identical", c(1, lo), c(1, lo), 0},
		{"+Inf before max", c(inf, hi), c(math.MaxFloat64, lo), -1},
		{"-Inf after lowest", c(-inf, lo), c(-math.MaxFloat64, hi), 1},
		{"NaN after -Inf", c(nan, lo), c(-inf, hi), 1},
		{"-Inf before NaN", c(-inf, hi), c(nan, lo), -1},
		{"NaN after 0", c(nan, lo), c(0, hi), 1},
		{"NaN vs NaN by hash", c(nan, lo), c(nan, hi), -1},
		{"NaN vs NaN by hash, reversed", c(nan, hi), c(nan, lo), 1},
		{"NaN vs NaN same hash", c(nan, lo), c(nan, lo), 0},
		{"-0 equals +0: by hash", c(math.Copysign(0, -1), lo), c(0, hi), -1},
		{"+0 equals -0: by hash", c(0, hi), c(math.Copysign(0, -1), lo), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pipeline.Compare(tt.a, tt.b)
			if sign(got) != tt.want {
				t.Errorf("Compare(%v/%x, %v/%x) = %d, want sign %d", tt.a.Score, tt.a.Hash[0], tt.b.Score, tt.b.Hash[0], got, tt.want)
			}
		})
	}
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// TestCompareSortsTotally sorts a mix of every special value and checks
// the one order Compare allows.
func TestCompareSortsTotally(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	scores := []float64{nan, 1, -inf, 0, inf, nan, 1, -1, 0.5, -inf, inf}
	var cands []pipeline.Candidate
	for i, s := range scores {
		cands = append(cands, pipeline.Candidate{Score: s, Hash: block.Hash{byte(100 - i)}})
	}
	slices.SortFunc(cands, func(a, b pipeline.Candidate) int { return pipeline.Compare(&a, &b) })
	type sh struct {
		S float64
		H byte
	}
	var got []sh
	for _, c := range cands {
		got = append(got, sh{c.Score, c.Hash[0]})
	}
	want := []sh{{inf, 90}, {inf, 96}, {1, 94}, {1, 99}, {0.5, 92}, {0, 97}, {-1, 93}, {-inf, 91}, {-inf, 98}, {nan, 95}, {nan, 100}}
	if diff := cmp.Diff(want, got, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("sorted order mismatch (-want +got):\n%s", diff)
	}
}
