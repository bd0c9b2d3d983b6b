// Package fetch holds the fetch stage: strategies that materialize a
// cycle's surviving candidates from the cold tier into the flat tier.
//
// Each strategy is a [pipeline.Fetcher] over a [Materializer], the small
// interface a store implements:
//
//   - [DryRun] fetches nothing (the v1 preset);
//   - [Sequential] fetches one block after another (v2);
//   - [Parallel] keeps at most Limit fetches in flight, a sliding window
//     through errgroup's SetLimit (v3).
//
// A strategy is its scheduling alone: each fetch it makes is an [Attempt],
// which enforces the cycle's per-fetch deadline (pipeline.Cycle.FetchTimeout)
// through the context it hands the Materializer (an overrun counts as
// failed with reason pipeline.FailDeadline and the cycle goes on with the
// next block), counts a miss as failed with reason pipeline.FailMiss, and
// recovers a panic in the Materializer as a failure with
// reason pipeline.FailPanic. A new strategy calls Attempt once per
// candidate, in whatever order and concurrency it likes. Cross-cutting
// behaviour around a Materializer (metrics, logging) is a [Middleware],
// composed with [Chain].
package fetch

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// Materializer fetches one block from the cold tier into the flat tier.
// It speaks in [block] types alone, so that a store implements it without
// importing the pipeline.
type Materializer interface {
	// Materialize fetches block h, whose index entry is m, into flat in
	// namespace ns. It returns the payload size and found=true on a hit;
	// found=false and a nil error on a miss (the cold tier does not hold
	// the block); or an error, whose reason [pipeline.FailureReason] names.
	// m.PayloadBytes, when not 0, is the size the index expects. It must
	// honor ctx: the fetch stage sets the per-fetch deadline there. On any
	// failure nothing may be left in flat.
	Materialize(ctx context.Context, ns string, h block.Hash, m block.Meta) (n int64, found bool, err error)
}

// MaterializerFunc adapts a function to [Materializer].
type MaterializerFunc func(ctx context.Context, ns string, h block.Hash, m block.Meta) (int64, bool, error)

// Materialize calls f(ctx, ns, h, m).
func (f MaterializerFunc) Materialize(ctx context.Context, ns string, h block.Hash, m block.Meta) (int64, bool, error) {
	return f(ctx, ns, h, m)
}

// Middleware wraps a Materializer with cross-cutting behaviour.
type Middleware func(Materializer) Materializer

// Chain composes middlewares; the first is outermost, so
// Chain(a, b)(m) == a(b(m)).
func Chain(outer Middleware, others ...Middleware) Middleware {
	return func(m Materializer) Materializer {
		for i := len(others) - 1; i >= 0; i-- {
			m = others[i](m)
		}
		return outer(m)
	}
}

// DryRun is the v1 strategy: it fetches nothing. The cycle still scores,
// selects and filters, and its emitter reports what would be fetched.
type DryRun struct{}

// Fetch returns no results.
func (DryRun) Fetch(context.Context, *pipeline.Cycle, []pipeline.Candidate) []pipeline.FetchResult {
	return nil
}

// Sequential is the v2 strategy: one fetch after another, each under the
// per-fetch deadline. A failure moves on to the next block; a canceled
// context ends the remaining fetches as pipeline.FailCanceled without
// calling the Materializer.
type Sequential struct {
	// Materializer fetches each block (a store).
	Materializer Materializer
}

// NewSequential returns the sequential strategy over m.
func NewSequential(m Materializer) *Sequential { return &Sequential{Materializer: m} }

// Validate reports a missing Materializer.
func (s *Sequential) Validate() error {
	if s == nil || s.Materializer == nil {
		return errors.New("fetch: Sequential.Materializer is nil, want the Materializer (a store)")
	}
	return nil
}

// Fetch fetches cands one by one.
func (s *Sequential) Fetch(ctx context.Context, cy *pipeline.Cycle, cands []pipeline.Candidate) []pipeline.FetchResult {
	res := make([]pipeline.FetchResult, len(cands))
	for i, c := range cands {
		res[i] = Attempt(ctx, cy, s.Materializer, c)
	}
	return res
}

// DefaultLimit is the default fan-out of [Parallel]: at most 8 fetches in
// flight.
const DefaultLimit = 8

// Parallel is the v3 strategy: a sliding window of at most Limit fetches in
// flight (errgroup's SetLimit), each under the per-fetch deadline. Results
// keep the order of the candidates. Fetch returns when every fetch it
// started has returned.
type Parallel struct {
	// Materializer fetches each block (a store).
	Materializer Materializer
	// Limit is the most fetches in flight (0 means DefaultLimit; Fetch
	// treats a negative Limit as 0, and Validate reports it).
	Limit int
}

// NewParallel returns the parallel strategy over m with at most limit
// fetches in flight (0 means DefaultLimit). It checks nothing:
// [Parallel.Validate] does, and pipeline.New calls it.
func NewParallel(m Materializer, limit int) *Parallel {
	return &Parallel{Materializer: m, Limit: limit}
}

// Validate reports a missing Materializer and a negative Limit.
func (p *Parallel) Validate() error {
	if p == nil {
		return errors.New("fetch: Parallel is nil")
	}
	var errs []error
	if p.Materializer == nil {
		errs = append(errs, errors.New("fetch: Parallel.Materializer is nil, want the Materializer (a store)"))
	}
	if p.Limit < 0 {
		errs = append(errs, fmt.Errorf("fetch: Parallel.Limit = %d, want >= 0 (0 means the default, %d)", p.Limit, DefaultLimit))
	}
	return errors.Join(errs...)
}

// Fetch fetches cands with at most Limit in flight.
func (p *Parallel) Fetch(ctx context.Context, cy *pipeline.Cycle, cands []pipeline.Candidate) []pipeline.FetchResult {
	limit := p.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	res := make([]pipeline.FetchResult, len(cands))
	var g errgroup.Group // failures are data, not errors: no shared cancel
	g.SetLimit(limit)
	for i, c := range cands {
		if ctx.Err() != nil {
			res[i] = canceled(c, ctx)
			continue
		}
		g.Go(func() error {
			res[i] = Attempt(ctx, cy, p.Materializer, c)
			return nil
		})
	}
	_ = g.Wait() // tasks never return errors
	return res
}

// canceled is the result of a fetch never started because ctx ended: the
// worker stopped (pipeline.FailCanceled) or the cycle's fetch deadline
// passed (pipeline.FailCycleDeadline).
func canceled(c pipeline.Candidate, ctx context.Context) pipeline.FetchResult {
	err := context.Cause(ctx)
	return pipeline.FetchResult{Hash: c.Hash, Reason: pipeline.FailureReason(err), Err: err}
}

// Attempt fetches c through m once and returns its result, as every
// strategy of this package does for each candidate:
//
//   - when ctx has already ended it does not call m, and the result fails
//     with the reason of ctx's cause (pipeline.FailCanceled when the worker
//     stopped, pipeline.FailCycleDeadline when the cycle's fetch time ran
//     out);
//   - m runs under the per-fetch deadline cy.FetchTimeout (0 means none), in
//     namespace cy.Namespace;
//   - a miss fails with pipeline.FailMiss, and an error with the reason
//     [pipeline.FailureReason] names, but for two cases: when ctx ended
//     meanwhile the reason is that of ctx's cause, whatever m returned;
//     and a bare error (pipeline.FailError) after this fetch's own
//     deadline is named pipeline.FailDeadline;
//   - a panic in m is recovered: the result fails with pipeline.FailPanic
//     and Err is a *pipeline.PanicError holding the value and the stack.
//
// Duration is the time m took. Attempt is safe to call from several
// goroutines at once (as m must be).
func Attempt(ctx context.Context, cy *pipeline.Cycle, m Materializer, c pipeline.Candidate) (r pipeline.FetchResult) {
	if ctx.Err() != nil {
		return canceled(c, ctx)
	}
	r.Hash = c.Hash
	start := time.Now()
	fctx, cancel := ctx, context.CancelFunc(func() {})
	if cy.FetchTimeout > 0 { // a hand-built Cycle may leave it 0: no deadline
		fctx, cancel = context.WithTimeout(ctx, cy.FetchTimeout)
	}
	defer func() {
		cancel()
		r.Duration = time.Since(start)
		if v := recover(); v != nil {
			r.Bytes = 0
			r.Err = &pipeline.PanicError{Stage: pipeline.StageFetcher, Value: v, Stack: debug.Stack()}
			r.Reason = pipeline.FailPanic
		}
	}()
	n, found, err := m.Materialize(fctx, cy.Namespace, c.Hash, c.Meta)
	switch {
	case err != nil:
		// The store may return a bare error after its context expired:
		// name the deadline when it is this fetch's, and the cycle's
		// reason (stopped, or out of fetch time) when it is the cycle's.
		r.Reason = failure(fctx, err)
		if pipeline.FailureReason(err) == pipeline.FailError && fctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, fctx.Err())
		}
		r.Err = err
	case !found:
		r.Reason = pipeline.FailMiss
	default:
		r.Bytes = n
	}
	return r
}

// failure names why a Materialize under fctx failed with err, for
// Outcome.FailedBy and the fetch metrics alike: the cycle's own cause when
// the cycle ended (stopped: canceled; out of fetch time: cycle_deadline);
// this fetch's deadline when the store returned a bare error after it;
// else err's reason.
func failure(fctx context.Context, err error) string {
	r := pipeline.FailureReason(err)
	if fctx.Err() == nil {
		return r
	}
	cause := context.Cause(fctx)
	if !errors.Is(cause, context.DeadlineExceeded) || r == pipeline.FailError {
		return pipeline.FailureReason(cause)
	}
	return r
}
