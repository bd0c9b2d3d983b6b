package score_test

import (
	"math"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/score"
)

var (
	_ pipeline.Scorer = (*score.RFC0008)(nil)
	_ pipeline.Scorer = (*score.Recency)(nil)
	_ pipeline.Scorer = score.Weighted(nil)
)

// The seed's fixtures: now = 10_000_000_000_000 ns, model [7; 24].
var (
	seedNow   = time.Unix(0, 10_000_000_000_000)
	seedModel = block.ModelDigest{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}
)

// mkMeta mirrors the seed's mk_meta: seq, last access and model; 1024
// payload bytes.
func mkMeta(seq uint32, lastAccessNs int64, model block.ModelDigest) block.Meta {
	return block.Meta{Seq: seq, PayloadBytes: 1024, LastAccessNs: lastAccessNs, Model: model}
}

const sec = int64(time.Second)

// Mirrors the seed's score_recency_decay_monotone.
func TestScoreRecencyDecayMonotone(t *testing.T) {
	s := score.NewRFC0008(seedModel)
	now := seedNow.UnixNano()
	fresh := s.Score(seedNow, block.Hash{}, mkMeta(1, now-1*sec, seedModel))      // 1 s ago
	stale := s.Score(seedNow, block.Hash{}, mkMeta(1, now-600*sec, seedModel))    // 10 min ago
	ancient := s.Score(seedNow, block.Hash{}, mkMeta(1, now-3600*sec, seedModel)) // 1 h ago

	if !(fresh > stale && stale > ancient) {
		t.Fatalf("scores not decreasing with age: fresh %v, stale %v, ancient %v", fresh, stale, ancient)
	}
	// The 0.2 model bonus is paid to all three: compare the recency terms.
	ratio := (stale - 0.2) / (fresh - 0.2)
	if !(ratio > 0.40 && ratio < 0.60) {
		t.Errorf("stale/fresh recency ratio %v not near 0.5 (one half-life)", ratio)
	}
}

// Mirrors the seed's score_chain_head_outranks_successor_at_equal_recency.
func TestScoreChainHeadOutranksSuccessorAtEqualRecency(t *testing.T) {
	s := score.NewRFC0008(seedModel)
	now := seedNow.UnixNano()
	head := s.Score(seedNow, block.Hash{}, mkMeta(0, now-sec, seedModel))
	succ := s.Score(seedNow, block.Hash{}, mkMeta(5, now-sec, seedModel))
	if !(head > succ) {
		t.Errorf("chain head %v does not outrank successor %v", head, succ)
	}
	if d := head - succ; math.Abs(d-0.3) > 1e-12 {
		t.Errorf("head - successor = %v, want the chain weight 0.3", d)
	}
}

// Mirrors the seed's score_model_affinity_outranks_others.
func TestScoreModelAffinityOutranksOthers(t *testing.T) {
	other := block.ModelDigest{42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42}
	s := score.NewRFC0008(seedModel)
	now := seedNow.UnixNano()
	same := s.Score(seedNow, block.Hash{}, mkMeta(1, now-sec, seedModel))
	diff := s.Score(seedNow, block.Hash{}, mkMeta(1, now-sec, other))
	if !(same > diff) {
		t.Errorf("active model's block %v does not outrank another model's %v", same, diff)
	}
	if d := same - diff; math.Abs(d-0.2) > 1e-12 {
		t.Errorf("same - other = %v, want the model weight 0.2", d)
	}
}

// TestScoreZeroActiveDigestPaysNoModelBonus: the seed's doc says a zeroed
// active digest disables the bonus; its code paid it to every zero-digest
// block. This module follows the doc (a deliberate change).
func TestScoreZeroActiveDigestPaysNoModelBonus(t *testing.T) {
	s := score.NewRFC0008(block.ModelDigest{})
	now := seedNow.UnixNano()
	for _, model := range []block.ModelDigest{{}, seedModel} {
		got := s.Score(seedNow, block.Hash{}, mkMeta(1, now, model))
		if got != 1.0 {
			t.Errorf("zero active digest, block model %x: score %v, want 1.0 (recency only, no model bonus)", model[:2], got)
		}
	}
	// A non-zero active digest still pays it, and not to zero-digest blocks.
	s = score.NewRFC0008(seedModel)
	if got := s.Score(seedNow, block.Hash{}, mkMeta(1, now, block.ModelDigest{})); got != 1.0 {
		t.Errorf("zero-digest block under an active model: %v, want 1.0", got)
	}
	if got := s.Score(seedNow, block.Hash{}, mkMeta(1, now, seedModel)); got != 1.2 {
		t.Errorf("active model's block: %v, want 1.2", got)
	}
}

func TestScoreExactValues(t *testing.T) {
	now := seedNow.UnixNano()
	tests := []struct {
		name string
		s    *score.RFC0008
		m    block.Meta
		want float64
	}{
		{"just touched head of the active model", score.NewRFC0008(seedModel), mkMeta(0, now, seedModel), 1.5},
		{"one half-life", score.NewRFC0008(seedModel), mkMeta(1, now-600*sec, block.ModelDigest{1}), 0.5},
		{"two half-lives", score.NewRFC0008(seedModel), mkMeta(1, now-1200*sec, block.ModelDigest{1}), 0.25},
		{"future access clamps to age 0", score.NewRFC0008(seedModel), mkMeta(1, now+3600*sec, block.ModelDigest{1}), 1},
		{"far future clamps too", score.NewRFC0008(seedModel), mkMeta(0, math.MaxInt64, seedModel), 1.5},
		{"very old", score.NewRFC0008(seedModel), mkMeta(1, math.MinInt64, block.ModelDigest{1}), 0},
		{
			"custom weights and half-life",
			&score.RFC0008{Recency: 2, Chain: 0.5, Model: 0.25, HalfLife: time.Minute, Active: seedModel},
			mkMeta(0, now-60*sec, seedModel),
			2*0.5 + 0.5 + 0.25,
		},
		{
			"custom half-life, three half-lives",
			&score.RFC0008{Recency: 1, HalfLife: 10 * time.Second},
			mkMeta(3, now-30*sec, seedModel),
			0.125,
		},
		{
			"zero half-life means the default",
			&score.RFC0008{Recency: 1, HalfLife: 0},
			mkMeta(1, now-600*sec, block.ModelDigest{}),
			0.5,
		},
		{
			"negative half-life means the default",
			&score.RFC0008{Recency: 1, HalfLife: -time.Second},
			mkMeta(1, now-600*sec, block.ModelDigest{}),
			0.5,
		},
		{"zero weights", &score.RFC0008{Active: seedModel}, mkMeta(0, now, seedModel), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.s.Score(seedNow, block.Hash{}, tt.m)
			if math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("Score = %.15g, want %.15g", got, tt.want)
			}
		})
	}
}

func TestNewRFC0008Defaults(t *testing.T) {
	s := score.NewRFC0008(seedModel)
	want := score.RFC0008{Recency: 1.0, Chain: 0.3, Model: 0.2, HalfLife: 600 * time.Second, Active: seedModel}
	if *s != want {
		t.Errorf("NewRFC0008 = %+v, want %+v", *s, want)
	}
	if score.DefaultRecencyWeight != 1.0 || score.DefaultChainWeight != 0.3 || score.DefaultModelWeight != 0.2 || score.DefaultHalfLife != 600*time.Second {
		t.Error("the default constants are not the seed's 1.0 / 0.3 / 0.2 / 600 s")
	}
}

func TestRecency(t *testing.T) {
	now := seedNow.UnixNano()
	tests := []struct {
		name     string
		halfLife time.Duration
		last     int64
		want     float64
	}{
		{"now", 0, now, 1},
		{"default half-life", 0, now - 600*sec, 0.5},
		{"custom half-life", time.Minute, now - 120*sec, 0.25},
		{"future clamps", time.Minute, now + sec, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Recency ignores chain position and model.
			got := score.NewRecency(tt.halfLife).Score(seedNow, block.Hash{}, mkMeta(0, tt.last, seedModel))
			if math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("Score = %v, want %v", got, tt.want)
			}
		})
	}
	if got := (&score.Recency{HalfLife: -1}).Score(seedNow, block.Hash{}, mkMeta(1, now-600*sec, block.ModelDigest{})); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("negative half-life: %v, want the default's 0.5", got)
	}
}

func TestWeighted(t *testing.T) {
	now := seedNow.UnixNano()
	seqScore := pipeline.ScorerFunc(func(_ time.Time, _ block.Hash, m block.Meta) float64 { return float64(m.Seq) })
	var sawNow time.Time
	var sawHash block.Hash
	spy := pipeline.ScorerFunc(func(n time.Time, h block.Hash, _ block.Meta) float64 { sawNow, sawHash = n, h; return 1 })
	w := score.Weighted{
		{Weight: 0.5, Scorer: score.NewRecency(0)},
		{Weight: -2, Scorer: seqScore},
		{Weight: 3, Scorer: spy},
	}
	h := block.Hash{9}
	got := w.Score(seedNow, h, mkMeta(4, now-600*sec, seedModel))
	if want := 0.5*0.5 - 2*4 + 3; math.Abs(got-want) > 1e-12 {
		t.Errorf("Weighted = %v, want %v", got, want)
	}
	if !sawNow.Equal(seedNow) || sawHash != h {
		t.Errorf("a term saw now %v and hash %x, want the cycle's", sawNow, sawHash[:1])
	}
	if got := (score.Weighted{}).Score(seedNow, h, block.Meta{}); got != 0 {
		t.Errorf("empty Weighted = %v, want 0", got)
	}
}

// TestScorersDoNotAllocate: a scorer runs once per index entry per cycle.
func TestScorersDoNotAllocate(t *testing.T) {
	m := mkMeta(0, seedNow.UnixNano()-sec, seedModel)
	scorers := map[string]pipeline.Scorer{
		"RFC0008":  score.NewRFC0008(seedModel),
		"Recency":  score.NewRecency(0),
		"Weighted": score.Weighted{{Weight: 1, Scorer: score.NewRFC0008(seedModel)}, {Weight: 1, Scorer: score.NewRecency(0)}},
	}
	for name, s := range scorers {
		var sink float64
		if n := testing.AllocsPerRun(100, func() { sink += s.Score(seedNow, block.Hash{}, m) }); n != 0 {
			t.Errorf("%s: %v allocs per Score, want 0", name, n)
		}
	}
}
