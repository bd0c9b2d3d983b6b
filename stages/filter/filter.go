// Package filter holds the filter stage: [pipeline.Filter] implementations
// that drop candidates needing no fetch, each with the reason the cycle's
// Outcome counts.
//
// A filter runs after selection (Config.Filters, on the K selected) or
// before it (Config.PreFilters, on every candidate, so the top K is chosen
// among blocks that need a fetch). Before selection it runs once per index
// entry: only cheap, in-memory filters belong there.
package filter

import (
	"context"
	"errors"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// Flat reports whether the flat tier already holds a block. A store
// implements it; it should cost no
// more than one stat.
type Flat interface {
	ContainsFlat(ctx context.Context, ns string, h block.Hash) bool
}

// FlatFunc adapts a function to [Flat].
type FlatFunc func(ctx context.Context, ns string, h block.Hash) bool

// ContainsFlat calls f(ctx, ns, h).
func (f FlatFunc) ContainsFlat(ctx context.Context, ns string, h block.Hash) bool {
	return f(ctx, ns, h)
}

// AlreadyFlat skips blocks the flat tier already holds, with reason
// pipeline.SkipAlreadyFlat.
type AlreadyFlat struct {
	Flat Flat
}

// NewAlreadyFlat returns the already-flat filter over f.
func NewAlreadyFlat(f Flat) *AlreadyFlat { return &AlreadyFlat{Flat: f} }

// Validate reports a missing Flat.
func (a *AlreadyFlat) Validate() error {
	if a == nil || a.Flat == nil {
		return errors.New("filter: AlreadyFlat.Flat is nil, want the flat tier (a store)")
	}
	return nil
}

// Skip returns pipeline.SkipAlreadyFlat when flat holds c.
func (a *AlreadyFlat) Skip(ctx context.Context, cy *pipeline.Cycle, c pipeline.Candidate) string {
	if a.Flat.ContainsFlat(ctx, cy.Namespace, c.Hash) {
		return pipeline.SkipAlreadyFlat
	}
	return ""
}

// InFlight reports whether a fetch of a block is in flight (started and not
// yet finished), as a store with non-blocking fetches or a shared
// singleflight knows. It must be cheap and must not call into the index:
// [NotInFlight] is a [pipeline.InlineFilter].
type InFlight interface {
	InFlight(ns string, h block.Hash) bool
}

// NotInFlight skips blocks whose fetch is already in flight, with reason
// pipeline.SkipInFlight.
type NotInFlight struct {
	// InFlight tracks the fetches in flight (a store).
	InFlight InFlight
}

// NewNotInFlight returns the in-flight filter over f.
func NewNotInFlight(f InFlight) *NotInFlight { return &NotInFlight{InFlight: f} }

// Validate reports a missing InFlight.
func (n *NotInFlight) Validate() error {
	if n == nil || n.InFlight == nil {
		return errors.New("filter: NotInFlight.InFlight is nil, want what tracks the fetches in flight (a store)")
	}
	return nil
}

// Inline marks NotInFlight as a [pipeline.InlineFilter].
func (n *NotInFlight) Inline() {}

// Skip returns pipeline.SkipInFlight when a fetch of c is in flight.
func (n *NotInFlight) Skip(_ context.Context, cy *pipeline.Cycle, c pipeline.Candidate) string {
	if n.InFlight.InFlight(cy.Namespace, c.Hash) {
		return pipeline.SkipInFlight
	}
	return ""
}
