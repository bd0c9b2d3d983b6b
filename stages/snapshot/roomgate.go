package snapshot

import (
	"context"
	"errors"
	"iter"
	"sync/atomic"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// Room reports how many bytes the flat tier can take without evicting
// anything (the method of filter.Room, which a store with a capacity
// implements).
type Room interface {
	FreeBytes(ns string) int64
}

// RoomGate is a source that proposes nothing while the flat tier has no
// room for the largest block its Source has proposed so far, and
// otherwise what its Source proposes. A full LRU tier always keeps a
// sliver free (it evicts whole blocks); filling slivers with small blocks
// would spend GETs for nothing, and a cycle behind a closed gate does not
// even scan its Source. The largest block is that of known size (see
// [block.Meta.Size]) among those the cycles have drawn from the Source.
//
// RoomGate is not a [pipeline.ReaderSource], so a cycle through it takes
// the general path, which lets it see every entry's size. Safe for
// concurrent use if its Source and Room are.
type RoomGate struct {
	// Source supplies the candidates when the gate is open.
	Source pipeline.Source
	// Room reports the free room in the cycle's namespace.
	Room Room

	largest atomic.Uint64
}

// NewRoomGate returns src gated by room. It checks nothing:
// [RoomGate.Validate] does, and pipeline.New calls it.
func NewRoomGate(src pipeline.Source, room Room) *RoomGate {
	return &RoomGate{Source: src, Room: room}
}

// Validate reports a missing Source or Room, and what the Source's own
// Validate reports.
func (g *RoomGate) Validate() error {
	if g == nil {
		return errors.New("snapshot: RoomGate is nil")
	}
	var errs []error
	if g.Source == nil {
		errs = append(errs, errors.New("snapshot: RoomGate.Source is nil, want the source to gate (e.g. snapshot.Index)"))
	} else if v, ok := g.Source.(pipeline.Validator); ok {
		errs = append(errs, v.Validate())
	}
	if g.Room == nil {
		errs = append(errs, errors.New("snapshot: RoomGate.Room is nil, want the flat tier's free room (a store with a capacity)"))
	}
	return errors.Join(errs...)
}

// Candidates streams the Source's candidates when the flat tier has room
// for the largest block seen, and nothing otherwise.
func (g *RoomGate) Candidates(ctx context.Context, cy *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
	free := g.Room.FreeBytes(cy.Namespace)
	if free <= 0 || uint64(free) < g.largest.Load() {
		return func(func(block.Hash, block.Meta) bool) {}
	}
	seq := g.Source.Candidates(ctx, cy)
	return func(yield func(block.Hash, block.Meta) bool) {
		var big uint64
		defer g.see(&big)
		for h, m := range seq {
			if n, known := m.Size(); known {
				big = max(big, uint64(n))
			}
			if !yield(h, m) {
				return
			}
		}
	}
}

// see raises the largest block seen to *n.
func (g *RoomGate) see(n *uint64) {
	for {
		old := g.largest.Load()
		if *n <= old || g.largest.CompareAndSwap(old, *n) {
			return
		}
	}
}
