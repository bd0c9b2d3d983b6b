// Package index holds the block metadata index the prefetcher ranks: the
// [Reader] interface the snapshot stage streams from, and [Memory], a
// concurrent in-memory index for nodes, tests and the replay lab.
//
// The request path writes the index (a read touches a block, a new block is
// inserted) while the prefetch cycle streams all of it, so [Memory] is built
// for both at once: it is split into 4096 shards with one lock each. [Memory.All]
// holds one shard's read lock only while it copies that shard's few hundred
// entries, never while it runs the caller's code; [Memory.ScanColumns], the
// pipeline's fast path, hands the caller a shard's columns in place under its
// read lock, so its callback must be short and must not call into the index.
// [Memory.ScanColumnsBounded] reads each shard's [Bounds] on last access
// before it locks the shard, and [Memory.ScanColumnsZoned] each run's too,
// so a scan ranking by recency passes over the shards and runs that cannot
// hold what it seeks, at a cost that follows what it selects rather than
// what the index holds.
//
// [New] builds an index from [Options]; [NewMemory] and [NewMemoryShards]
// are its shorthands. With Options.CountHalfLife set, the index also keeps
// a decayed access count per entry, bumped by every Insert, BulkLoad entry
// and Touch and halving every half-life, for a policy that ranks by
// frequency ([Memory.AccessCount], [Columns].Counts; score.Frequency reads
// it); it costs nothing in an index without counts, the default.
package index

import (
	"iter"

	"github.com/wombatkv/prefetch/block"
)

// Reader is the read side of a metadata index: what a cycle's snapshot
// stage needs.
type Reader interface {
	// All streams every entry. Each call starts a new pass; entries may be
	// inserted, touched or removed concurrently, and a pass sees each entry
	// at most once, with the value it had at some moment during the pass.
	All() iter.Seq2[block.Hash, block.Meta]
	// Len returns the number of entries.
	Len() int
}
