package pipeline

import (
	"cmp"
	"context"
	"iter"
	"math"
	"time"

	"github.com/wombatkv/prefetch/block"
)

// Stage names a stage of the cycle, as [PanicError] reports it and the
// pipeline logs it.
type Stage string

// The stages of a cycle. A pre-filter is a StageFilter too.
const (
	StageSource   Stage = "source"
	StageScorer   Stage = "scorer"
	StageSelector Stage = "selector"
	StageFilter   Stage = "filter"
	StageFetcher  Stage = "fetcher"
	StageEmitter  Stage = "emitter"
	StageObserver Stage = "observer"
)

// Candidate is a block on its way down the cycle: its hash, its metadata as
// the source saw it, and the score the Scorer gave it.
type Candidate struct {
	Hash  block.Hash
	Meta  block.Meta
	Score float64
}

// Compare orders candidates by rank: it returns a negative number when a
// ranks before b. Higher scores rank first; a NaN score ranks after every
// number (it is treated as below -Inf); equal scores rank the lower hash
// first, so every selector returns the same K in the same order.
func Compare(a, b *Candidate) int {
	an, bn := math.IsNaN(a.Score), math.IsNaN(b.Score)
	switch {
	case an && !bn:
		return 1
	case bn && !an:
		return -1
	case !an && a.Score != b.Score:
		return cmp.Compare(b.Score, a.Score)
	}
	return a.Hash.Compare(b.Hash)
}

// Cycle describes the cycle in progress. Stages receive it read-only.
type Cycle struct {
	// Seq counts the pipeline's cycles, from 1.
	Seq uint64
	// Now is the clock reading the cycle scores against.
	Now time.Time
	// Namespace is the namespace blocks are fetched in (Config.Namespace).
	Namespace string
	// TopK is how many candidates the selector keeps (Config.TopK).
	TopK int
	// FetchTimeout is the deadline of one fetch (Config.FetchTimeout).
	FetchTimeout time.Duration
}

// Source supplies a cycle's candidates.
type Source interface {
	// Candidates streams the blocks this source proposes for the cycle.
	// The sequence is ranged over once per cycle.
	Candidates(ctx context.Context, cy *Cycle) iter.Seq2[block.Hash, block.Meta]
}

// SourceFunc adapts a function to [Source].
type SourceFunc func(ctx context.Context, cy *Cycle) iter.Seq2[block.Hash, block.Meta]

// Candidates calls f(ctx, cy).
func (f SourceFunc) Candidates(ctx context.Context, cy *Cycle) iter.Seq2[block.Hash, block.Meta] {
	return f(ctx, cy)
}

// Scorer maps one block to a score: higher means fetch sooner. It must read
// time only from now (the cycle's clock), never from the wall clock, so the
// same scorer runs on virtual time in replay. It is called once per
// candidate and must not allocate.
//
// The pipeline never has the index hold a lock while it calls a Scorer,
// so a scorer may read the index (look a block's parent up, say), unless
// it offers a score bound ([ScoreBounder], itself or through a wrapper's
// Unwrap, see [AsScoreBounder]): such a scorer runs on the pruned path,
// under an index shard's read lock, and must then never call into the
// index (a writer queued on the shard would deadlock it) nor block.
type Scorer interface {
	Score(now time.Time, h block.Hash, m block.Meta) float64
}

// ScorerFunc adapts a function to [Scorer].
type ScorerFunc func(now time.Time, h block.Hash, m block.Meta) float64

// Score calls f(now, h, m).
func (f ScorerFunc) Score(now time.Time, h block.Hash, m block.Meta) float64 { return f(now, h, m) }

// Selector keeps the k best candidates of a stream.
type Selector interface {
	// Select returns the k best candidates of seq in [Compare] order,
	// appended to dst[:0] (dst may be nil). seq is ranged over once.
	Select(dst []Candidate, k int, seq iter.Seq[Candidate]) []Candidate
}

// SelectorFunc adapts a function to [Selector].
type SelectorFunc func(dst []Candidate, k int, seq iter.Seq[Candidate]) []Candidate

// Select calls f(dst, k, seq).
func (f SelectorFunc) Select(dst []Candidate, k int, seq iter.Seq[Candidate]) []Candidate {
	return f(dst, k, seq)
}

// Filter drops candidates that need no fetch.
type Filter interface {
	// Skip returns the reason c needs no fetch (counted in
	// Outcome.Skipped), or "" to keep it.
	Skip(ctx context.Context, cy *Cycle, c Candidate) (reason string)
}

// FilterFunc adapts a function to [Filter].
type FilterFunc func(ctx context.Context, cy *Cycle, c Candidate) string

// Skip calls f(ctx, cy, c).
func (f FilterFunc) Skip(ctx context.Context, cy *Cycle, c Candidate) string { return f(ctx, cy, c) }

// Fetcher materializes candidates into the flat tier.
type Fetcher interface {
	// Fetch fetches cands and returns one result per fetch attempted, in
	// the order of cands. A failing block never stops the others: failures
	// are results, not errors. Fetch returns when every fetch it started
	// has ended; ctx cancellation ends those in flight.
	Fetch(ctx context.Context, cy *Cycle, cands []Candidate) []FetchResult
}

// FetcherFunc adapts a function to [Fetcher].
type FetcherFunc func(ctx context.Context, cy *Cycle, cands []Candidate) []FetchResult

// Fetch calls f(ctx, cy, cands).
func (f FetcherFunc) Fetch(ctx context.Context, cy *Cycle, cands []Candidate) []FetchResult {
	return f(ctx, cy, cands)
}

// Emitter reports a finished cycle.
type Emitter interface {
	// Emit reports o. It must not keep o after returning; o is not
	// modified afterwards, so it may copy what it needs.
	Emit(ctx context.Context, o *Outcome)
}

// EmitterFunc adapts a function to [Emitter].
type EmitterFunc func(ctx context.Context, o *Outcome)

// Emit calls f(ctx, o).
func (f EmitterFunc) Emit(ctx context.Context, o *Outcome) { f(ctx, o) }

// Observer is an optional interface for a stage that learns from the past.
// After each cycle, once it has been emitted, the pipeline calls Observe on
// every configured stage that implements it (and on Config.Observers), one
// at a time, never concurrently with the stage's use in a cycle.
type Observer interface {
	Observe(o *Outcome)
}

// ObserverFunc adapts a function to [Observer].
type ObserverFunc func(o *Outcome)

// Observe calls f(o).
func (f ObserverFunc) Observe(o *Outcome) { f(o) }

// Validator is an optional interface for a stage whose settings can be
// out of range. [Config.Validate], and so [New], calls Validate on every
// configured stage that implements it, and reports each problem it returns
// beside the Config's own, prefixed with the field that holds the stage:
//
//	pipeline: Fetcher: fetch: Parallel.Limit = -1, want >= 0 (0 means the default, 8)
//
// Validate should report every problem at once, joined with errors.Join
// (each is then a line of its own), each naming the field, its value and
// what is allowed. It is called before any cycle, never concurrently with
// one.
type Validator interface {
	Validate() error
}
