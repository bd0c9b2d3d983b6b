package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/block"
)

// Skip reasons of the module's own filters, as counted in Outcome.Skipped.
const (
	// SkipAlreadyFlat: the block is already in the flat tier (the seed's
	// skipped_already_flat).
	SkipAlreadyFlat = "already_flat"
	// SkipInFlight: a fetch of the block is already in flight.
	SkipInFlight = "in_flight"
	// SkipBackoff: the block failed recently and is backing off.
	SkipBackoff = "backoff"
	// SkipByteBudget: fetching the block would exceed the cycle's byte
	// budget (Config.CycleByteBudget).
	SkipByteBudget = "byte_budget"
	// SkipUnknownSize: a byte budget (Config.CycleByteBudget, or a filter
	// that bounds bytes such as filter.FreeRoom) cannot vouch for a block
	// whose size is unknown (see [block.Meta.Size]), so it drops it.
	SkipUnknownSize = "unknown_size"
	// SkipBudget: the GET budget (filter.Budget) is spent for now.
	SkipBudget = "budget"
	// SkipNoRoom: the block does not fit in the flat tier's free room
	// (filter.FreeRoom).
	SkipNoRoom = "no_room"
)

// Failure reasons of a fetch, as counted in Outcome.FailedBy.
const (
	// FailMiss: the cold tier does not hold the block. The seed counts a
	// miss as failed; so does this module.
	FailMiss = "miss"
	// FailError: the store returned an error without a more precise reason.
	FailError = "error"
	// FailDeadline: the fetch overran its deadline (Config.FetchTimeout).
	FailDeadline = "deadline"
	// FailCanceled: the cycle was canceled (the worker stopped) mid-fetch.
	FailCanceled = "canceled"
	// FailPanic: the fetch code panicked; the panic was recovered.
	FailPanic = "panic"
	// FailCycleDeadline: the cycle's fetch stage ran out of time
	// (Config.CycleFetchTimeout) before or during this fetch.
	FailCycleDeadline = "cycle_deadline"
)

// ErrCycleDeadline is the cause of the fetch stage's context when the
// cycle's fetch time (Config.CycleFetchTimeout) runs out; its reason is
// FailCycleDeadline.
var ErrCycleDeadline error = reasonError{FailCycleDeadline, "pipeline: the cycle's fetch deadline passed"}

type reasonError struct{ reason, msg string }

func (e reasonError) Error() string  { return e.msg }
func (e reasonError) Reason() string { return e.reason }

// FetchResult is the result of one fetch.
type FetchResult struct {
	Hash block.Hash
	// Bytes is the payload size materialized into flat (0 unless fetched).
	Bytes int64
	// Duration is how long the fetch took.
	Duration time.Duration
	// Reason is "" when the block was fetched, else why it failed
	// (FailMiss, FailDeadline, or a store's own reason such as "corrupt").
	Reason string
	// Err is the error behind a failure other than a miss, for logs.
	Err error
}

// Fetched reports whether the block was materialized.
func (r FetchResult) Fetched() bool { return r.Reason == "" }

// Reasoner is implemented by errors that name their own failure reason (a
// store's "corrupt" or "short" body, say); [FailureReason] looks for it.
type Reasoner interface {
	error
	Reason() string
}

// FailureReason names the failure behind err for Outcome.FailedBy: the
// Reason of a [Reasoner] in err's chain, else FailDeadline for
// context.DeadlineExceeded, FailCanceled for context.Canceled, else
// FailError. It returns "" for a nil err.
func FailureReason(err error) string {
	var r Reasoner
	switch {
	case err == nil:
		return ""
	case errors.As(err, &r) && r.Reason() != "":
		return r.Reason()
	case errors.Is(err, context.DeadlineExceeded):
		return FailDeadline
	case errors.Is(err, context.Canceled):
		return FailCanceled
	}
	return FailError
}

// Outcome is the report of one cycle.
type Outcome struct {
	// Seq counts the pipeline's cycles, from 1.
	Seq uint64
	// Start is the cycle's clock reading (Cycle.Now).
	Start time.Time
	// Namespace is the namespace the cycle fetched in.
	Namespace string
	// Scored is the number of candidates scored (after pre-filters).
	Scored int
	// Path is the way the scan step ran: PathPruned, PathScored or
	// PathGeneral (see [ScanPath]).
	Path ScanPath
	// PathReason says why the scan did not take the next faster path:
	// the first stage that lacks the optional interface it needs, as in
	// "Scorer pipeline.ScorerFunc is not a pipeline.ScoreBounder". It is
	// empty on the pruned path. The pipeline also logs it, at its first
	// cycle (Info level; Debug on the pruned path) and whenever it changes.
	PathReason string
	// Selected are the top-K candidates with their scores, best first,
	// before the post-selection filters.
	Selected []Candidate
	// Skipped counts candidates dropped by filters, by reason, before and
	// after selection.
	Skipped map[string]int
	// Fetches holds one result per fetch attempted.
	Fetches []FetchResult
	// Fetched, Failed and BytesMaterialized sum Fetches.
	Fetched           int
	Failed            int
	BytesMaterialized int64
	// FailedBy counts Failed by reason.
	FailedBy map[string]int
	// Elapsed is the cycle's duration up to the emit stage (as the seed's
	// elapsed_ms), measured on the wall clock.
	Elapsed time.Duration
	// Timings breaks Elapsed down by stage.
	Timings Timings
	// Err is why the cycle ended early or a stage failed: the context's
	// error when it was canceled, or a *PanicError when a stage panicked.
	// Counts cover what ran before. Nil for a clean cycle.
	Err error
}

// Timings are the per-stage durations of a cycle.
type Timings struct {
	// Scan covers snapshot, pre-filters, score and select, which stream
	// into each other and so run as one step.
	Scan time.Duration
	// Filter covers the post-selection filters.
	Filter time.Duration
	// Fetch covers the fetch stage.
	Fetch time.Duration
	// Emit covers the emit stage (not part of Elapsed).
	Emit time.Duration
}

// SkippedAlreadyFlat returns the seed's skipped_already_flat count.
func (o *Outcome) SkippedAlreadyFlat() int { return o.Skipped[SkipAlreadyFlat] }

// PanicError records a panic recovered from a stage.
type PanicError struct {
	// Stage names the stage that panicked (a pre-filter is StageFilter).
	Stage Stage
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("pipeline: %s panicked: %v", e.Stage, e.Value)
}

// Reason returns FailPanic, so a recovered panic counts under that reason
// whatever the panic value's own reason.
func (e *PanicError) Reason() string { return FailPanic }

// Unwrap returns the panic value when it is an error (a runtime.Error, or
// an error the stage panicked with), else nil, so errors.Is and errors.As
// see through the panic.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
