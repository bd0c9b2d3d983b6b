package score_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

var (
	_ pipeline.Scorer     = (*score.Frequency)(nil)
	_ pipeline.Validator  = (*score.Frequency)(nil)
	_ score.AccessCounter = (*index.Memory)(nil)
)

// fixedCounts holds a count for the blocks whose last byte is below its
// length, decayed by the time it is asked at: count / (1 + seconds).
type fixedCounts []float64

func (c fixedCounts) AccessCountAt(h block.Hash, at time.Time) (float64, bool) {
	if i := int(h[31]); i < len(c) {
		return c[i] / float64(1+at.Unix()), true
	}
	return 0, false
}

func TestFrequency(t *testing.T) {
	s := score.NewFrequency(fixedCounts{3, 0.5})
	for _, tt := range []struct {
		name string
		b    byte
		at   int64
		want float64
	}{
		{"counted", 0, 0, 3},
		{"counted, read at the cycle's time", 0, 2, 1},
		{"another", 1, 0, 0.5},
		{"no count: 0", 2, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Score(time.Unix(tt.at, 0), block.Hash{31: tt.b}, block.Meta{LastAccessNs: 99}); got != tt.want {
				t.Errorf("Score = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFrequencyValidate(t *testing.T) {
	counting, err := index.New(index.Options{CountHalfLife: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		s    *score.Frequency
		want string
	}{
		{"nil", nil, "score: Frequency.Counts is nil, want the index (an index.Memory built with index.Options.CountHalfLife > 0)"},
		{"no Counts", score.NewFrequency(nil), "score: Frequency.Counts is nil, want the index (an index.Memory built with index.Options.CountHalfLife > 0)"},
		{"an index without counts", score.NewFrequency(index.NewMemory(nil)), "score: Frequency.Counts keeps no access counts (its CountHalfLife is 0), want an index built with index.Options.CountHalfLife > 0"},
		{"a nil index", score.NewFrequency((*index.Memory)(nil)), "score: Frequency.Counts keeps no access counts (its CountHalfLife is 0), want an index built with index.Options.CountHalfLife > 0"},
		{"an index with counts", score.NewFrequency(counting), ""},
		{"another counter", score.NewFrequency(fixedCounts{}), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if got := fmt.Sprint(err); tt.want == "" && err != nil || tt.want != "" && got != tt.want {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
	// pipeline.New calls it.
	_, err = pipeline.New(pipeline.Config{
		Sources:  []pipeline.Source{snapshot.NewIndex(index.NewMemory(nil))},
		Scorer:   score.NewFrequency(index.NewMemory(nil)),
		Selector: topk.Heap{},
	})
	if err == nil || !strings.Contains(err.Error(), "keeps no access counts") {
		t.Errorf("pipeline.New with a Frequency over an index without counts = %v, want its Validate error", err)
	}
}

func TestFrequencyAllocatesNothing(t *testing.T) {
	s := score.NewFrequency(fixedCounts{1})
	var sink float64
	if n := testing.AllocsPerRun(100, func() { sink += s.Score(time.Unix(100, 0), block.Hash{}, block.Meta{}) }); n != 0 {
		t.Errorf("Score allocates %v times per call", n)
	}
	_ = sink
}

// freqHash spreads i over the index's shards.
func freqHash(i int) block.Hash {
	var h block.Hash
	binary.LittleEndian.PutUint64(h[:8], uint64(i)*0x9e3779b97f4a7c15+1)
	binary.BigEndian.PutUint64(h[24:], uint64(i))
	return h
}

// TestFrequencyCycle runs a cycle over an index.Memory that keeps counts:
// it takes the scored path (Frequency is not a ScoreBounder, so it never
// runs under the index's locks, and its lookups into the index cannot
// deadlock), and selects the most accessed blocks, each scored its count
// decayed to the cycle's clock reading.
func TestFrequencyCycle(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	x, err := index.New(index.Options{Now: func() time.Time { return now }, CountHalfLife: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	for i := range n {
		x.Insert(freqHash(i), block.Meta{Seq: uint32(i % 7)})
	}
	for i := range 5 { // block i read 10*(i+1) more times
		for range 10 * (i + 1) {
			x.Touch(freqHash(i))
		}
	}
	cycleAt := now.Add(time.Minute) // every count halved
	p, err := pipeline.New(pipeline.Config{
		Sources:  []pipeline.Source{snapshot.NewIndex(x)},
		Scorer:   score.NewFrequency(x),
		Selector: topk.Heap{},
		TopK:     4,
		Clock:    func() time.Time { return cycleAt },
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *pipeline.Outcome)
	go func() { done <- p.Run(context.Background()) }()
	var o *pipeline.Outcome
	select {
	case o = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a cycle with a Frequency scorer over its own index did not finish: deadlocked on the index's locks?")
	}
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	if o.Path != pipeline.PathScored || o.Scored != n {
		t.Errorf("path %v (%s), scored %d; want %v, %d", o.Path, o.PathReason, o.Scored, pipeline.PathScored, n)
	}
	var got []string
	for _, c := range o.Selected {
		got = append(got, fmt.Sprintf("%x:%g", c.Hash[24:], c.Score))
	}
	var want []string
	for i := 4; i >= 1; i-- {
		h := freqHash(i)
		want = append(want, fmt.Sprintf("%x:%g", h[24:], float64(1+10*(i+1))/2))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("selected %v, want %v", got, want)
	}
	if c, _ := x.AccessCountAt(freqHash(0), cycleAt); math.Abs(c-5.5) > 1e-9 {
		t.Errorf("block 0 at the cycle: count %v, want 5.5", c)
	}
}

// BenchmarkFrequencyCycle is a cycle (K = 8) over an index of 1e6 entries
// that keeps counts, ranked by Frequency, which looks every entry up
// (scored path), against the same cycle ranked by Recency (pruned path):
// what ranking by count through lookups costs.
//
//	go test ./stages/score/ -run '^$' -bench FrequencyCycle -count 6
func BenchmarkFrequencyCycle(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	x, err := index.New(index.Options{Now: func() time.Time { return now }, CountHalfLife: 10 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1_000_000
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := range n {
			if !yield(freqHash(i), block.Meta{Seq: uint32(i % 32), LastAccessNs: now.UnixNano() - int64(i)*int64(time.Millisecond)}) {
				return
			}
		}
	})
	for i := 0; i < n; i += 97 {
		x.Touch(freqHash(i))
	}
	for _, tt := range []struct {
		name string
		s    pipeline.Scorer
		path pipeline.ScanPath
	}{
		{"frequency", score.NewFrequency(x), pipeline.PathScored},
		{"recency", score.NewRecency(10 * time.Minute), pipeline.PathPruned},
	} {
		b.Run(fmt.Sprintf("n=%d/k=8/scorer=%s", n, tt.name), func(b *testing.B) {
			p, err := pipeline.New(pipeline.Config{
				Sources:  []pipeline.Source{snapshot.NewIndex(x)},
				Scorer:   tt.s,
				Selector: topk.Heap{},
				Clock:    func() time.Time { return now },
			})
			if err != nil {
				b.Fatal(err)
			}
			if o := p.Run(context.Background()); o.Err != nil || o.Path != tt.path || len(o.Selected) != 8 {
				b.Fatalf("cycle: path %v, %d selected, err %v; want path %v, 8", o.Path, len(o.Selected), o.Err, tt.path)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.Run(context.Background())
			}
		})
	}
}
