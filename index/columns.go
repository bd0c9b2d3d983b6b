package index

import "github.com/wombatkv/prefetch/block"

// Columns is a read-only view of a run of index entries stored column by
// column: entry i is Hashes[i] with metadata Metas[i], last accessed at
// LastAccessNs[i] and at position Seqs[i] in its chain (always equal to
// Metas[i].LastAccessNs and Metas[i].Seq). A scan that needs only the
// last-access times reads that one dense column, 8 bytes per entry, and
// looks at an entry's other columns only when it must: the dense Seqs
// column first (4 bytes), an entry's row (Metas, 96 bytes) last.
//
// A Columns handed to a scan callback is valid only during that call: the
// slices alias the index's storage and must be neither kept nor modified.
type Columns struct {
	LastAccessNs []int64
	Seqs         []uint32
	Hashes       []block.Hash
	Metas        []block.Meta
}

// Len returns the number of entries in c.
func (c Columns) Len() int { return len(c.LastAccessNs) }

// ScanColumns calls f with each shard's columns in turn, under that shard's
// read lock, until f returns false: the column-wise counterpart of
// [Memory.All], for a scan that must not copy the index (the pipeline's
// fast path, see pipeline.ColumnScanner). Each call sees each entry at most
// once, with the value it had at some moment during the call; the columns
// of one shard are mutually consistent.
//
// While f runs, writers to that shard (Insert, Touch, Remove on the
// request path) wait: keep f short, proportional to the few hundred
// entries of one shard, and never call back into the index from f (a
// writer queued on the shard would deadlock it). A panic in f releases the
// lock and propagates.
func (x *Memory) ScanColumns(f func(Columns) bool) {
	for i := range x.shards {
		if !x.shards[i].scan(f) {
			return
		}
	}
}

func (s *shard) scan(f func(Columns) bool) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := len(s.hashes)
	if n == 0 {
		return true
	}
	return f(Columns{LastAccessNs: s.last[:n:n], Seqs: s.seqs[:n:n], Hashes: s.hashes[:n:n], Metas: s.metas[:n:n]})
}
