package score_test

import (
	"math"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/score"
)

var _ pipeline.Scorer = (*score.Deadline)(nil)

// dueRanks is a hint intake of fixed Dues, ranked by position.
type dueRanks []time.Time

func (d dueRanks) Due(h block.Hash) (time.Time, bool) {
	if i := int(h[31]); i < len(d) {
		return d[i], true
	}
	return time.Time{}, false
}

func (d dueRanks) Rank(h block.Hash) (int, bool) {
	if i := int(h[31]); i < len(d) {
		return i, true
	}
	return 0, false
}

func TestDeadline(t *testing.T) {
	now := time.Unix(100, 0)
	hints := dueRanks{now.Add(time.Second), now.Add(100 * time.Millisecond), now.Add(99 * time.Millisecond), now.Add(-time.Second)}
	late := func(slack time.Duration, seq uint32) float64 { return -1e15 + float64(slack) + float64(seq) }
	for _, tt := range []struct {
		name    string
		getTime func(uint64) time.Duration
		b       byte
		seq     uint32
		want    float64
	}{
		{"in time: -rank", nil, 0, 5, 0},
		{"exactly GetTime ahead is in time", nil, 1, 0, -1},
		{"1 ms short of GetTime is late", nil, 2, 3, late(99*time.Millisecond, 3)},
		{"past due is late", nil, 3, 0, late(-time.Second, 0)},
		{"not hinted", nil, 4, 0, math.Inf(-1)},
		{"GetTime by size", func(n uint64) time.Duration { return time.Duration(n) * time.Millisecond }, 1, 0, late(100*time.Millisecond, 0)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := score.NewDeadline(hints, tt.getTime)
			m := block.Meta{Seq: tt.seq, PayloadBytes: 101}
			if got := s.Score(now, block.Hash{31: tt.b}, m); got != tt.want {
				t.Errorf("Score = %v, want %v", got, tt.want)
			}
		})
	}
	if score.DefaultGetTime != 100*time.Millisecond {
		t.Errorf("DefaultGetTime = %v, want 100ms", score.DefaultGetTime)
	}
}

func TestDeadlineValidate(t *testing.T) {
	if err := score.NewDeadline(nil, nil).Validate(); err == nil || err.Error() != "score: Deadline.Hints is nil, want the hint intake (snapshot.Hints)" {
		t.Errorf("Validate without Hints = %v", err)
	}
	if err := score.NewDeadline(dueRanks{}, nil).Validate(); err != nil {
		t.Errorf("Validate = %v, want nil", err)
	}
}

func TestDeadlineAllocatesNothing(t *testing.T) {
	s := score.NewDeadline(dueRanks{time.Unix(200, 0)}, nil)
	var sink float64
	if n := testing.AllocsPerRun(100, func() { sink += s.Score(time.Unix(100, 0), block.Hash{}, block.Meta{}) }); n != 0 {
		t.Errorf("Score allocates %v times per call", n)
	}
	_ = sink
}
