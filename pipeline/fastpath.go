package pipeline

import (
	"context"
	"iter"
	"math"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
)

// The scan's fast path. A cycle's scan streams every candidate through the
// scorer into the selector; at a million entries almost all of that work
// is spent on entries that cannot reach the top K. The optional interfaces
// below let stages that can do better say so, the way io.Copy discovers
// io.WriterTo, and [Pipeline.Run] takes the fast path when all of them are
// present:
//
//   - the only source is a [ReaderSource] whose index is a
//     [ColumnScanner] (snapshot.Index over an *index.Memory): the scan reads
//     the index's last-access column in place instead of copying entries;
//   - the scorer is a [ScoreBounder] (score.RFC0008, score.Recency): from
//     the K-th best score so far it names a last-access time before which
//     no entry can rank in the top K whatever its bonuses, so most entries
//     are skipped with one integer comparison, without reading the rest of
//     their row; of the others, most are ruled out by a tighter time for
//     their kind (chain head or not, read from the dense Seqs column), and
//     of the rest those whose own bonus cannot lift them to the K-th; exp
//     runs only for the few left;
//   - the selector is a [ThresholdSelector] (topk.Heap, topk.Quickselect):
//     it publishes its current K-th best while it selects;
//   - every pre-filter is an [InlineFilter] (cheap, in memory, never calls
//     into the index), since the fast path consults pre-filters while it
//     reads an index shard in place, under that shard's read lock; as on
//     the general path, only about candidates that beat the K-th so far.
//
// Otherwise the general path runs, unchanged: any custom source, scorer or
// selector works through the stage interfaces alone.
//
// On the fast path the scorer and the selector run while the index holds
// one shard's read lock (a few hundred entries), so they must not call
// into the index; no stage of this module does. Writers to that shard wait
// for at most that shard's scan.
//
// Both paths return the same Outcome.Selected (the same candidates, scores
// and order, ties by the lower hash) and the same Outcome.Scored (every
// entry the scan passed over, pruned ones included: they were ranked, by
// their bound). Only a canceled cycle may differ: both stop early with
// Outcome.Err set to the context's error, at different points.

// InlineFilter is an optional interface for a [Filter] that is cheap (an
// in-memory lookup), never blocks and never calls into the index: the
// fast path may then consult it while it holds an index shard's read lock.
// filter.Backoff and filter.NotInFlight implement it. Inline does nothing;
// it only marks the type.
type InlineFilter interface {
	Filter
	Inline()
}

// ReaderSource is an optional interface for a [Source] that proposes
// exactly the entries of one index: its Candidates streams Reader().All()
// unchanged, for every cycle. snapshot.Index implements it.
type ReaderSource interface {
	Source
	Reader() index.Reader
}

// ColumnScanner is an optional interface for an [index.Reader] that can
// hand out its entries column by column, in place (index.Memory implements
// it).
type ColumnScanner interface {
	index.Reader
	// ScanColumns calls f with successive runs of entries until f returns
	// false or every entry has been seen once, as All would see them. It
	// may hold a lock while f runs: f must be short and must not call into
	// the index.
	ScanColumns(f func(index.Columns) bool)
}

// ScoreBounder is an optional interface for a [Scorer] whose score splits
// into a part that grows with the block's last access and a bonus that
// does not depend on it:
//
//	Score(now, h, m) <= f(now, m.LastAccessNs) + Bonus(&m)
//
// with f non-decreasing in the last access (score.RFC0008: the recency
// term, and the chain and model bonuses). A scan can then rule a block out
// from its last-access time alone, using MaxBonus; then from its
// last-access time and whether it heads its chain, again with MaxBonus;
// then from its own bonus; all without computing its score.
type ScoreBounder interface {
	Scorer
	// Bonus returns the part of m's score that does not depend on
	// m.LastAccessNs, or an upper bound on it.
	Bonus(m *block.Meta) float64
	// MaxBonus returns an upper bound on Bonus over every block that
	// heads its chain (Seq 0) when head is true, over every other block
	// when head is false.
	MaxBonus(head bool) float64
	// MinLastAccess returns a time t in ns since the Unix epoch such that
	// every block m with Bonus(&m) <= bonus that was last accessed before
	// t (m.LastAccessNs < t) scores below bar at now, or NaN. It returns
	// math.MinInt64 when it can promise nothing (nothing is pruned) and
	// math.MaxInt64 when no such block can reach bar. It must hold despite
	// the rounding of the scorer's float arithmetic: rounding may only
	// make t earlier.
	MinLastAccess(now time.Time, bar, bonus float64) int64
}

// Threshold is the bar a candidate must clear to enter a full selection:
// the K-th best candidate kept so far. A candidate that does not rank
// before Score and Hash (see [Compare]) is not kept.
type Threshold struct {
	// Full reports whether the selection holds K candidates; until it
	// does, every candidate is kept and Score and Hash mean nothing.
	Full  bool
	Score float64
	Hash  block.Hash
}

// Beats reports whether a candidate with score s and hash h ranks before
// the threshold, so a full selection would keep it. It is true for every
// candidate while th is not full.
func (th *Threshold) Beats(s float64, h block.Hash) bool {
	if !th.Full {
		return true
	}
	kth := Candidate{Hash: th.Hash, Score: th.Score}
	c := Candidate{Hash: h, Score: s}
	return Compare(&c, &kth) < 0
}

// ThresholdSelector is an optional interface for a [Selector] that can
// tell, while it ranges over its input, which candidates it would still
// keep.
type ThresholdSelector interface {
	Selector
	// SelectThreshold is Select that keeps *th current: whenever it asks
	// seq for the next candidate, *th holds the bar a newcomer must clear
	// (it may lag behind, never run ahead: a candidate that fails to beat
	// *th is one Select would drop). Over one call the bar only rises.
	// seq may therefore skip candidates that provably do not beat *th
	// without changing the result. th must not be nil.
	SelectThreshold(dst []Candidate, k int, th *Threshold, seq iter.Seq[Candidate]) []Candidate
}

// ctxCheckShards is how many column runs (index shards) the fast path scans
// between checks of ctx: about as often as the general path's check every
// ctxCheckEvery candidates at a million entries.
const ctxCheckShards = 8

// scanColumns is the scan's fast path (see above). It reports false, having
// done nothing, when the cycle's stages do not all support it.
func (p *Pipeline) scanColumns(ctx context.Context, cy *Cycle, o *Outcome) bool {
	cfg := &p.cfg
	if len(cfg.Sources) != 1 {
		return false
	}
	for _, f := range cfg.PreFilters {
		if _, ok := f.(InlineFilter); !ok {
			return false
		}
	}
	pre := len(cfg.PreFilters) > 0
	rs, ok := cfg.Sources[0].(ReaderSource)
	if !ok {
		return false
	}
	cs, ok := rs.Reader().(ColumnScanner)
	if !ok {
		return false
	}
	sb, ok := cfg.Scorer.(ScoreBounder)
	if !ok {
		return false
	}
	ts, ok := cfg.Selector.(ThresholdSelector)
	if !ok {
		return false
	}

	now := cy.Now
	headBonus, tailBonus := sb.MaxBonus(true), sb.MaxBonus(false)
	var (
		th     Threshold
		scored int
		runs   int
		seqErr error
		bar    float64 // the th.Score the cuts below were computed for
		barSet bool
		// Entries last accessed before cutHead (chain heads) or cutTail
		// (the others) cannot reach bar; cut is the earlier of the two.
		// cuts holds the same for an entry's own bonus, on demand.
		cut, cutHead, cutTail = int64(math.MinInt64), int64(math.MinInt64), int64(math.MinInt64)
		cuts                  bonusCuts
	)
	// stage names the stage whose code runs, for a PanicError, as in the
	// general path: the index's scan is the source, the bound and the
	// score are the scorer's, yield runs the selector.
	stage := StageSelector
	cands := func(yield func(Candidate) bool) {
		stage = StageSource
		cs.ScanColumns(func(c index.Columns) bool {
			if runs++; runs%ctxCheckShards == 0 && ctx.Err() != nil {
				seqErr = ctx.Err()
				return false
			}
			last := c.LastAccessNs
			scored += len(last)
			// Newest first within a run: an index filled in time order
			// keeps each shard in ascending order, and meeting its newest
			// entries first raises the bar before the rest are looked at.
			for i := len(last) - 1; i >= 0; i-- {
				t := last[i]
				if t < cut {
					continue
				}
				if c.Seqs[i] == 0 && t < cutHead || c.Seqs[i] != 0 && t < cutTail {
					continue
				}
				m := &c.Metas[i]
				if th.Full {
					stage = StageScorer
					own := cuts.get(sb, now, bar, sb.Bonus(m))
					stage = StageSource
					if t < own {
						continue
					}
				}
				cand := Candidate{Hash: c.Hashes[i], Meta: *m}
				stage = StageScorer
				cand.Score = sb.Score(now, cand.Hash, cand.Meta)
				if pre && th.Full {
					if !th.Beats(cand.Score, cand.Hash) {
						stage = StageSource
						continue
					}
				}
				if pre {
					stage = StageFilter
					if p.preFiltered(ctx, cy, o, cand) {
						scored--
						stage = StageSource
						continue
					}
				}
				stage = StageSelector
				if !yield(cand) {
					return false
				}
				if th.Full && (th.Score != bar || !barSet) {
					stage = StageScorer
					bar, barSet = th.Score, true
					cutHead = sb.MinLastAccess(now, bar, headBonus)
					cutTail = sb.MinLastAccess(now, bar, tailBonus)
					cut = min(cutHead, cutTail)
					cuts.reset()
				}
				stage = StageSource
			}
			return true
		})
		stage = StageSelector
	}
	var sel []Candidate
	if p.guardAt(o, &stage, func() { sel = ts.SelectThreshold(nil, cy.TopK, &th, iter.Seq[Candidate](cands)) }) {
		if len(sel) > cy.TopK {
			sel = sel[:cy.TopK]
		}
		o.Selected = sel
	}
	o.Scored = scored
	if seqErr != nil && o.Err == nil {
		o.Err = seqErr
	}
	return true
}

// bonusCuts caches ScoreBounder.MinLastAccess for the few distinct bonuses
// a scorer gives (RFC 0008: at most four), for the current bar.
type bonusCuts struct {
	n     int // slots filled
	next  int // slot to replace once all are filled
	bonus [4]float64
	cut   [4]int64
}

func (bc *bonusCuts) reset() { bc.n, bc.next = 0, 0 }

func (bc *bonusCuts) get(sb ScoreBounder, now time.Time, bar, bonus float64) int64 {
	for j := range bc.n {
		if bc.bonus[j] == bonus {
			return bc.cut[j]
		}
	}
	t := sb.MinLastAccess(now, bar, bonus)
	j := bc.n
	if j == len(bc.bonus) {
		j, bc.next = bc.next, (bc.next+1)%len(bc.bonus)
	} else {
		bc.n++
	}
	bc.bonus[j], bc.cut[j] = bonus, t
	return t
}
