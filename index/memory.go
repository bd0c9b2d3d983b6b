package index

import (
	"encoding/binary"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wombatkv/prefetch/block"
)

// shardBits sets the shard count (4096). A scan reads one shard under its
// read lock, so the shard size bounds how long a writer can wait behind a
// scan: at 1e6 entries a shard holds about 250 entries.
const shardBits = 12

const numShards = 1 << shardBits

// Memory is a concurrent in-memory metadata index. It is safe for concurrent
// use; the zero value is not usable, call [NewMemory].
//
// Each shard keeps its entries in dense parallel columns (hashes, metadata,
// and the hot fields last-access time and chain position; a map only
// locates an entry's slot), so a scan walks contiguous memory rather than
// a map, and a scan that needs only the last-access times
// ([Memory.ScanColumns]) reads 8 bytes per entry.
type Memory struct {
	now    func() time.Time
	n      atomic.Int64
	shards [numShards]shard
	bufs   sync.Pool // *allBuf scratch for All
}

type shard struct {
	mu   sync.RWMutex
	slot map[block.Hash]int32
	// The columns: entry i is hashes[i], metas[i], last[i], seqs[i], and
	// metas[i].LastAccessNs == last[i], metas[i].Seq == seqs[i] always.
	hashes []block.Hash
	metas  []block.Meta
	last   []int64
	seqs   []uint32
}

// allBuf is one shard's copy, made by All under the shard's read lock.
type allBuf struct {
	hashes []block.Hash
	metas  []block.Meta
}

// NewMemory returns an empty index whose Insert and Touch stamp the time
// read from now (nil means time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now}
}

func (x *Memory) shardOf(h block.Hash) *shard {
	// Hashes are uniformly random in a node, but the replay lab builds them
	// from small ids in the last bytes: mix both ends.
	v := binary.LittleEndian.Uint64(h[:8]) ^ binary.BigEndian.Uint64(h[24:])
	v *= 0x9e3779b97f4a7c15
	return &x.shards[v>>(64-shardBits)]
}

// Insert adds or replaces the entry for h and stamps its last access with
// the index's clock, as a write on the request path does.
func (x *Memory) Insert(h block.Hash, m block.Meta) {
	m.LastAccessNs = x.now().UnixNano()
	x.put(h, m)
}

// BulkLoad adds or replaces every entry of seq, keeping the given last-access
// times (a node restoring its index, a test building a fixture).
func (x *Memory) BulkLoad(seq iter.Seq2[block.Hash, block.Meta]) {
	for h, m := range seq {
		x.put(h, m)
	}
}

func (x *Memory) put(h block.Hash, m block.Meta) {
	s := x.shardOf(h)
	s.mu.Lock()
	if i, ok := s.slot[h]; ok {
		s.metas[i] = m
		s.last[i] = m.LastAccessNs
		s.seqs[i] = m.Seq
		s.mu.Unlock()
		return
	}
	if s.slot == nil {
		s.slot = make(map[block.Hash]int32)
	}
	s.slot[h] = int32(len(s.hashes))
	s.hashes = append(s.hashes, h)
	s.metas = append(s.metas, m)
	s.last = append(s.last, m.LastAccessNs)
	s.seqs = append(s.seqs, m.Seq)
	s.mu.Unlock()
	x.n.Add(1)
}

// Touch sets the last access of h to now and reports whether h is present.
func (x *Memory) Touch(h block.Hash) bool {
	t := x.now().UnixNano()
	s := x.shardOf(h)
	s.mu.Lock()
	i, ok := s.slot[h]
	if ok {
		s.last[i] = t
		s.metas[i].LastAccessNs = t
	}
	s.mu.Unlock()
	return ok
}

// Get returns the entry for h.
func (x *Memory) Get(h block.Hash) (block.Meta, bool) {
	s := x.shardOf(h)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if i, ok := s.slot[h]; ok {
		return s.metas[i], true
	}
	return block.Meta{}, false
}

// Remove deletes the entry for h and reports whether it was present.
func (x *Memory) Remove(h block.Hash) bool {
	s := x.shardOf(h)
	s.mu.Lock()
	i, ok := s.slot[h]
	if ok {
		last := len(s.hashes) - 1
		if int(i) != last {
			s.hashes[i] = s.hashes[last]
			s.metas[i] = s.metas[last]
			s.last[i] = s.last[last]
			s.seqs[i] = s.seqs[last]
			s.slot[s.hashes[i]] = i
		}
		s.hashes[last] = block.Hash{}
		s.metas[last] = block.Meta{}
		s.hashes, s.metas, s.last, s.seqs = s.hashes[:last], s.metas[:last], s.last[:last], s.seqs[:last]
		delete(s.slot, h)
	}
	s.mu.Unlock()
	if ok {
		x.n.Add(-1)
	}
	return ok
}

// Len returns the number of entries.
func (x *Memory) Len() int { return int(x.n.Load()) }

// All streams every entry, shard by shard. It copies one shard at a time
// under that shard's read lock and yields outside it, so the loop body may
// call back into the index (Touch, Insert) without deadlock, and a writer
// waits at most for one shard's copy. The sequence may be ranged over more
// than once; each pass sees each entry at most once.
func (x *Memory) All() iter.Seq2[block.Hash, block.Meta] {
	return func(yield func(block.Hash, block.Meta) bool) {
		b, _ := x.bufs.Get().(*allBuf)
		if b == nil {
			b = new(allBuf)
		}
		defer x.bufs.Put(b)
		for i := range x.shards {
			s := &x.shards[i]
			s.mu.RLock()
			b.hashes = append(b.hashes[:0], s.hashes...)
			b.metas = append(b.metas[:0], s.metas...)
			s.mu.RUnlock()
			for j := range b.hashes {
				if !yield(b.hashes[j], b.metas[j]) {
					return
				}
			}
		}
	}
}
