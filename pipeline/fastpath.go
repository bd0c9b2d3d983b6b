package pipeline

import (
	"context"
	"iter"
	"math"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
)

// The scan's paths. A cycle's scan streams every candidate through the
// scorer into the selector; at a million entries almost all of that work
// is spent on entries that cannot reach the top K. The optional interfaces
// below let stages that can do better say so, the way io.Copy discovers
// io.WriterTo, and [Pipeline.Run] takes the fastest path they allow
// ([Outcome.Path] says which, [Outcome.PathReason] why not a faster one):
//
//   - PathPruned, when one source is a [ReaderSource] whose index is a
//     [ColumnScanner] (snapshot.Index over an *index.Memory), the scorer
//     a [ScoreBounder] (score.RFC0008, score.Recency, a score.Weighted of
//     them), the selector a [ThresholdSelector] (topk.Heap,
//     topk.Quickselect) and every pre-filter an [InlineFilter]. The scan
//     reads the index's last-access column in place: from the K-th best
//     score so far the scorer names a last-access time before which no
//     entry can rank in the top K whatever its bonuses, so most entries
//     are skipped with one integer comparison, without reading the rest of
//     their row, and on a [ZoneScanner] whole shards and runs of entries
//     are, from their last-access bounds, without reading their columns at
//     all; of the others, most are ruled out by a tighter time for
//     their kind (chain head or not, read from the dense Seqs column), and
//     of the rest those whose own bonus cannot lift them to the K-th; the
//     scorer runs only for the few left. Pre-filters are asked, as on
//     every path, only about candidates that beat the K-th so far.
//   - PathScored, when the selector is a ThresholdSelector but another
//     stage lacks its interface (a plain ScorerFunc, say): every entry is
//     scored, and only those that beat the K-th so far become candidates
//     for the pre-filters and the selector. An index that is a
//     [ShardScanner] has each shard's rows copied out under its lock and
//     scored once the lock is released; any other source is scored a
//     batch of entries at a time as it streams them.
//   - PathGeneral otherwise: every entry is scored and handed to the
//     selector, in the same way.
//
// When the sources are several and one is a ReaderSource whose index is a
// [Getter], the others are read first, each of their blocks looked up in
// the index, and the index is then scanned on whichever path applies,
// passing over the blocks they proposed: they cost in proportion to their
// own size. Without such an index, the scan remembers every candidate's
// hash (the first source wins, see Config.Sources) on the scored or
// general path.
//
// On the pruned path the scorer, the selector and the pre-filters run
// while the index holds one shard's read lock (a few hundred entries), so
// they must not call into the index or block: a scorer, selector or filter
// opts into that by implementing ScoreBounder, ThresholdSelector or
// InlineFilter. No other path has the index hold a lock while a stage
// runs (a custom index streamed through its All must yield outside its
// locks for that, as index.Memory's does).
//
// Every path returns the same Outcome.Selected (the same candidates,
// scores and order, ties by the lower hash) and the same Outcome.Scored
// (every distinct entry the scan passed over, pruned ones included: they
// were ranked, by their bound). Only a canceled cycle may differ: each
// stops early with Outcome.Err set to the context's error, at different
// points; and so may a cycle that runs while the index changes, as the
// index changes under it.
//
// Wrappers. A wrapper hides the optional interfaces of what it wraps, and
// only a scorer's are found through it: a scorer wrapper with a method
// Unwrap() Scorer promises to return exactly the wrapped scorer's score,
// so the wrapped scorer's bound holds for it (see [AsScoreBounder]).
// A source, selector or filter wrapper keeps the pruned path only by
// implementing the interface itself: the pipeline would otherwise call
// the wrapped stage and bypass the wrapper's own code (a source's gate, a
// selector's metrics), or, for a filter, run code under a lock that never
// promised to be cheap.

// InlineFilter is an optional interface for a [Filter] that is cheap (an
// in-memory lookup), never blocks and never calls into the index: the
// pruned path may then consult it while it holds an index shard's read
// lock. filter.Backoff and filter.NotInFlight implement it. Inline does
// nothing; it only marks the type.
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

// ShardScanner is an optional interface for a [ColumnScanner] that scans
// shard by shard and asks, between two shards and without holding any
// lock, whether to pass over the next (index.Memory implements it). The
// scored and general paths copy a shard's rows out under its lock and
// score them from skip, where no lock is held, so that no stage runs under
// the lock.
type ShardScanner interface {
	ColumnScanner
	// ScanColumnsBounded is ScanColumns that first calls skip, without
	// any lock held, for each shard it is about to scan, with the shard's
	// entry count and last-access bounds; skip returning true passes over
	// the shard.
	ScanColumnsBounded(skip func(n int, b index.Bounds) bool, f func(index.Columns) bool)
}

// ZoneScanner is an optional interface for a [ShardScanner] that also
// asks, under a shard's read lock, whether to pass over each run of the
// shard, from the run's last-access bounds (index.Memory implements it).
// The pruned path passes over every shard and run whose bounds fall below
// its cuts without reading their columns.
type ZoneScanner interface {
	ShardScanner
	// ScanColumnsZoned is ScanColumnsBounded that also calls skipRun,
	// under the shard's read lock, for each run it is about to hand to
	// f, with the run's entry count and bounds; skipRun returning true
	// passes over the run.
	ScanColumnsZoned(skip, skipRun func(n int, b index.Bounds) bool, f func(index.Columns) bool)
}

// Getter is an optional interface for an [index.Reader] that can look one
// entry up (index.Memory implements it). It lets a cycle take the blocks
// of its other sources (hints, say) once each in time proportional to
// their number, however large the index.
type Getter interface {
	index.Reader
	Get(h block.Hash) (block.Meta, bool)
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
//
// A ScoreBounder's methods, Score included, run on the pruned path under
// an index shard's read lock: they must not call into the index or block.
// A ScoreBounder that can bound nothing in its current settings (a
// score.Weighted with a term that offers no bound) says so with a MaxBonus
// of +Inf for both kinds of block: the cycle then treats it as a plain
// Scorer, and never calls it under a lock.
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

// AsScoreBounder returns the score bound that holds for s: s itself if it
// is a [ScoreBounder], else the first ScoreBounder found by following
// Unwrap() Scorer methods from s, as http.ResponseController finds a
// wrapped ResponseWriter's optional methods. It reports false when there
// is none, or when the one found bounds nothing (MaxBonus is +Inf for
// both kinds).
//
// A scorer's Unwrap method promises that its Score returns exactly what
// the scorer it wraps returns, bit for bit, and that it may run wherever
// that one may (under an index lock, when that one is a ScoreBounder): a
// metrics, tracing or panic-isolating wrapper. The cycle then prunes with
// the wrapped scorer's bound and calls the wrapper's Score for the blocks
// it does not prune. A wrapper that changes the score must not have an
// Unwrap method; it may implement ScoreBounder for its own score.
func AsScoreBounder(s Scorer) (ScoreBounder, bool) {
	sb := findBounder(s)
	if sb == nil || boundsNothing(sb) {
		return nil, false
	}
	return sb, true
}

// findBounder returns the first ScoreBounder on s's Unwrap chain, or nil.
func findBounder(s Scorer) ScoreBounder {
	for s != nil {
		if sb, ok := s.(ScoreBounder); ok {
			return sb
		}
		u, ok := s.(interface{ Unwrap() Scorer })
		if !ok {
			return nil
		}
		s = u.Unwrap()
	}
	return nil
}

// boundsNothing reports whether sb says it offers no bound.
func boundsNothing(sb ScoreBounder) bool {
	return math.IsInf(sb.MaxBonus(true), 1) && math.IsInf(sb.MaxBonus(false), 1)
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
// keep. On the pruned path its code runs under an index shard's read lock
// (see [ScoreBounder]).
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

// ctxCheckShards is how many column runs (or shards and runs it passes
// over) the pruned path meets between checks of ctx.
const ctxCheckShards = 8

// scanPruned is the pruned path (see above), for a plan that allows it.
// The candidates gathered from the other sources (p.extras) come first;
// the index's entries they hold are passed over, found of them in all.
//
// Then, when the index can look entries up (pl.warm), comes the warm
// start: the blocks the last pruned cycle selected, each looked up in the
// index and offered with its entry as it is now, and passed over by the
// scan. The scan meets entries in the index's order, and over a large
// index with a large K the bar would otherwise rise slowly, each zone
// read until it does (1e7 entries, K = 1024: most of the cycle); the last
// selection is usually most of this one, so the bar starts near where it
// ends. Each entry is still offered once, as it is at one moment of the
// cycle, so the selection is the one the scan alone would make: only
// the order of the offers changes, and the selector's is independent of
// it.
func (p *Pipeline) scanPruned(ctx context.Context, cy *Cycle, o *Outcome, pl *scanPlan, found int) {
	cfg := &p.cfg
	sc, sb, cs := cfg.Scorer, pl.sb, pl.cs
	pre := len(cfg.PreFilters) > 0
	var skip map[block.Hash]struct{}
	if len(p.extras.hashes) > 0 {
		skip = p.extraSet
	}
	warm := pl.warm != nil && len(p.warm) > 0
	if warm {
		if skip == nil {
			if p.extraSet == nil {
				p.extraSet = make(map[block.Hash]struct{})
			}
			clear(p.extraSet)
			skip = p.extraSet
		}
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
	// stage names the stage whose code runs, for a PanicError, as on the
	// other paths: the index's scan is the source, the bound and the
	// score are the scorer's, yield runs the selector.
	stage := StageSelector
	var yield func(Candidate) bool
	// offer scores c, a candidate the cuts left, and hands it to the
	// selector unless it cannot be kept; it reports false to stop.
	offer := func(c *Candidate) bool {
		stage = StageScorer
		c.Score = sc.Score(now, c.Hash, c.Meta)
		if pre && th.Full && !th.Beats(c.Score, c.Hash) {
			stage = StageSource
			return true
		}
		if pre {
			stage = StageFilter
			if p.preFiltered(ctx, cy, o, *c) {
				scored--
				stage = StageSource
				return true
			}
		}
		stage = StageSelector
		if !yield(*c) {
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
		return true
	}
	cands := func(y func(Candidate) bool) {
		yield = y
		for i, h := range p.extras.hashes {
			if i%ctxCheckEvery == ctxCheckEvery-1 && ctx.Err() != nil {
				seqErr = ctx.Err()
				return
			}
			scored++
			if !offer(&Candidate{Hash: h, Meta: p.extras.metas[i]}) {
				return
			}
		}
		if warm {
			stage = StageSource
			for _, h := range p.warm {
				if _, dup := skip[h]; dup { // another source's
					continue
				}
				m, in := pl.warm.Get(h)
				if !in {
					continue
				}
				skip[h] = struct{}{}
				scored++
				found++ // the scan counts it again as it passes over it
				if !offer(&Candidate{Hash: h, Meta: m}) {
					return
				}
			}
		}
		stage = StageSource
		scan := cs.ScanColumns
		if zs, ok := cs.(ZoneScanner); ok {
			// A shard or run whose chain heads were all last accessed
			// before cutHead, and its other entries before cutTail, is
			// passed over whole (its bounds are never below an entry's
			// time); it counts as ranked.
			pass := func(n int, b index.Bounds) bool {
				if seqErr != nil {
					return true
				}
				if runs++; runs%ctxCheckShards == 0 && ctx.Err() != nil {
					seqErr = ctx.Err()
					return true
				}
				if b.HeadMax < cutHead && b.TailMax < cutTail {
					scored += n
					return true
				}
				return false
			}
			scan = func(f func(index.Columns) bool) { zs.ScanColumnsZoned(pass, pass, f) }
		}
		scan(func(c index.Columns) bool {
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
				if skip != nil {
					if _, dup := skip[c.Hashes[i]]; dup { // another source's, counted in found
						continue
					}
				}
				if !offer(&Candidate{Hash: c.Hashes[i], Meta: *m}) {
					return false
				}
			}
			return true
		})
		stage = StageSelector
	}
	var sel []Candidate
	if p.guardAt(o, &stage, func() { sel = pl.ts.SelectThreshold(nil, cy.TopK, &th, iter.Seq[Candidate](cands)) }) {
		if len(sel) > cy.TopK {
			sel = sel[:cy.TopK]
		}
		o.Selected = sel
	}
	o.Scored = max(scored-found, 0)
	if seqErr != nil && o.Err == nil {
		o.Err = seqErr
	}
	p.warm = p.warm[:0] // the warm start above has read it
	if o.Err == nil && pl.warm != nil {
		for _, c := range o.Selected {
			p.warm = append(p.warm, c.Hash)
		}
	}
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
