// Package snapshot holds the snapshot stage: [pipeline.Source]
// implementations that supply a cycle's candidates.
//
// [Index] streams a metadata index ([index.Reader]) without copying it: the
// cycle scores each entry as it passes. [Hints] is the intake of the blocks
// the node knows it will need soon, and the source of those blocks.
// [RoomGate] wraps another source and proposes nothing while the flat tier
// has no room for the largest block seen.
package snapshot

import (
	"context"
	"errors"
	"iter"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
)

// Index is the source that proposes every entry of a metadata index.
type Index struct {
	// Index is the metadata index whose entries are proposed.
	Index index.Reader
}

// NewIndex returns the source over r.
func NewIndex(r index.Reader) *Index { return &Index{Index: r} }

// Validate reports a missing index.
func (s *Index) Validate() error {
	if s == nil || s.Index == nil {
		return errors.New("snapshot: Index.Index is nil, want the metadata index (an index.Reader)")
	}
	return nil
}

// Candidates streams every entry of the index.
func (s *Index) Candidates(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
	return s.Index.All()
}
