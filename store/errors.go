package store

import (
	"errors"
	"fmt"
)

// Failure reasons of the store, as pipeline.FailureReason reads them from
// the errors it returns and Outcome.FailedBy counts them.
const (
	// ReasonCorrupt: the payload's BLAKE3-256 differs from the object's
	// "b3" metadata, or that metadata is not 64 lowercase hex digits (an
	// empty value included; an object without the key is unverified,
	// not corrupt).
	ReasonCorrupt = "corrupt"
	// ReasonSize: the payload is shorter or longer than expected: than the
	// index's PayloadBytes, or than the object's own declared size (a
	// truncated body).
	ReasonSize = "size"
	// ReasonUnverified: the object carries no "b3" metadata and the store
	// requires one (Config.RequireChecksum).
	ReasonUnverified = "unverified"
	// ReasonTooLarge: the block is larger than the whole flat budget, so
	// it can never be published to flat; or, for the block [Store.Get]
	// reads into memory because flat cannot take it, larger than
	// Config.MaxObjectBytes. Either is found from the size the index or
	// the object declares, before the body is read.
	ReasonTooLarge = "too_large"
	// ReasonFlatWrite: the flat tier refused the block (a full or
	// read-only disk, a broken directory, a symlink or a file where a
	// directory belongs): the cold tier is not to blame.
	ReasonFlatWrite = "flat_write"
	// ReasonBadName: the namespace or key is not valid (see
	// [block.ValidateNamespace] and [block.ParseKey]).
	ReasonBadName = "bad_name"
)

// ErrNotFound is wrapped by the error [Store.Get] returns when neither tier
// holds the block.
var ErrNotFound = errors.New("store: block not found")

// ErrClosed is wrapped by the errors of a Store used after Close.
var ErrClosed = errors.New("store: closed")

// reasonError is an error that names its failure reason, implementing
// pipeline.Reasoner.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string  { return e.err.Error() }
func (e *reasonError) Unwrap() error  { return e.err }
func (e *reasonError) Reason() string { return e.reason }

// reasonPanic is pipeline.FailPanic, the reason of a fetch that panicked
// (the store names it without importing the pipeline; a test checks they
// agree).
const reasonPanic = "panic"

// failureReason returns the reason an error in err's chain names (as
// pipeline.FailureReason reads it), "" when none does.
func failureReason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return ""
}

// failf returns an error with reason, formatted as fmt.Errorf would.
func failf(reason, format string, args ...any) error {
	return &reasonError{reason: reason, err: fmt.Errorf(format, args...)}
}
