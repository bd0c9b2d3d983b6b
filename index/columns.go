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
// In an index that keeps access counts ([Options].CountHalfLife), Counts[i]
// is entry i's count as of LastAccessNs[i] (see [Memory.AccessCount]), a
// dense column of 4 bytes an entry, and [Columns.CountAt] decays it; in
// any other index Counts is nil.
//
// Bounds bound the run's last accesses (a zone map): a scan that can tell
// from them that no entry of the run matters to it passes over the run
// without reading its columns.
//
// A Columns handed to a scan callback is valid only during that call: the
// slices alias the index's storage and must be neither kept nor modified.
type Columns struct {
	LastAccessNs []int64
	Seqs         []uint32
	Hashes       []block.Hash
	Metas        []block.Meta
	Counts       []float32
	Bounds
	halfLife float64 // the index's, in nanoseconds
}

// Len returns the number of entries in c.
func (c Columns) Len() int { return len(c.LastAccessNs) }

// CountAt returns entry i's access count decayed to nowNs (nanoseconds
// since the Unix epoch), as [Memory.AccessCountAt] would: with H the
// index's count half-life, Counts[i]·2^(−max(0, nowNs−LastAccessNs[i])/H).
// It returns 0 when the index keeps no counts (Counts is nil).
func (c Columns) CountAt(i int, nowNs int64) float64 {
	if c.Counts == nil {
		return 0
	}
	return decayed(c.Counts[i], c.LastAccessNs[i], nowNs, c.halfLife)
}

// Bounds are upper bounds on the last-access times of a set of entries
// (a run of [Columns], or a shard of a [Memory]), one for the chain heads
// (Seq 0) and one for the others, so that a scan ranking by recency plus
// a bonus for chain heads can rule out each kind separately. Every chain
// head of the set was last accessed at or before HeadMax, and every other
// entry at or before TailMax; a bound is math.MinInt64 when the set holds
// no entry of its kind.
//
// A bound is not always a maximum: it rises on every write that raises a
// time, but a Remove, or a write that lowers a time (a BulkLoad with an
// earlier time, a Touch on a clock that stepped back), may leave it above
// every entry's until the index recomputes it (for a run, at once; for a
// shard, at the next scan that reads it). It is never below.
type Bounds struct {
	HeadMax int64
	TailMax int64
}

// Max returns the larger of the two bounds: one for every entry of the
// set.
func (b Bounds) Max() int64 { return max(b.HeadMax, b.TailMax) }

// ScanColumns calls f with each run of entries in turn, until f returns
// false: the column-wise counterpart of [Memory.All], for a scan that must
// not copy the index (the pipeline's fast path, see
// pipeline.ColumnScanner). A run holds at most 32 entries, of one shard;
// f sees a shard's runs one after another, all under that shard's read
// lock, so the columns of one shard are mutually
// consistent. Each call sees each entry at most once, with the value it
// had at some moment during the call.
//
// While f runs, writers to that shard (Insert, Touch, Remove on the
// request path) wait: keep f short, proportional to the entries of its
// run, and never call back into the index from f (a writer queued on the
// shard would deadlock it). A panic in f releases the lock and propagates.
func (x *Memory) ScanColumns(f func(Columns) bool) {
	for i := range x.shards {
		s := &x.shards[i]
		if s.n.Load() != 0 && !s.scan(x, nil, f) {
			return
		}
	}
}

// ScanColumnsBounded is [Memory.ScanColumns] that first asks skip about
// each shard that holds entries, before it locks the shard: skip gets the
// number of entries n and the shard's [Bounds], and returning true passes
// over the shard without locking it or calling f for it. skip is called
// without any lock held, between two shards.
//
// The bounds hold at the moment skip is called: they are at least the
// last access of every entry of the shard, of its kind, as set by every
// write that finished before the call (a write raises the bound before it
// stores a time, both under the shard's write lock). So a skip that rules
// a shard out from its bounds misses no entry that was present, with its
// time, before the scan began; a write that runs during the scan is seen
// or not, as by ScanColumns. n is the shard's entry count at some moment
// during the call: the entries passed over, for a scan that counts them.
//
// A scan ranking by recency passes over a shard whose bounds fall below
// what it needs, and, within f, over a run whose Columns.Bounds do (or
// see [Memory.ScanColumnsZoned]).
func (x *Memory) ScanColumnsBounded(skip func(n int, b Bounds) bool, f func(Columns) bool) {
	x.ScanColumnsZoned(skip, nil, f)
}

// ScanColumnsZoned is [Memory.ScanColumnsBounded] that also asks skipRun
// about each run of a shard it scans, under the shard's read lock, before
// it calls f with the run: skipRun gets the run's entry count and the
// Bounds its Columns would carry, and returning true passes over the run
// without calling f. The runs' bounds are kept in a dense array, 16 bytes
// a run, so passing over a run costs about what reading one of its
// entries does. Like f, skipRun must be short and must not call into the
// index; nil means no run is passed over. The runs' bounds hold as the
// shards' do, and exactly: no write runs while the shard is read-locked.
func (x *Memory) ScanColumnsZoned(skip, skipRun func(n int, b Bounds) bool, f func(Columns) bool) {
	for i := range x.shards {
		s := &x.shards[i]
		n := s.n.Load()
		if n == 0 || skip(int(n), Bounds{HeadMax: s.headMax.Load(), TailMax: s.tailMax.Load()}) {
			continue
		}
		if !s.scan(x, skipRun, f) {
			return
		}
	}
}

// scan calls f with each of the shard's runs that skip, if not nil, does
// not pass over, in insertion order, under the read lock.
func (s *shard) scan(x *Memory, skip func(int, Bounds) bool, f func(Columns) bool) bool {
	s.rlock()
	defer s.mu.RUnlock()
	s.tighten()
	for hi, hc := range s.hot {
		for zi := range hc.zones {
			n := min(zoneSize, len(hc.last)-zi<<zoneBits) // len(hc.times(zi))
			if skip != nil && skip(n, hc.bounds[zi]) {
				continue
			}
			last, seqs := hc.times(zi)
			z := &hc.zones[zi]
			c := Columns{LastAccessNs: last, Seqs: seqs, Hashes: z.hashes[:n:n], Metas: z.metas[:n:n], Bounds: hc.bounds[zi]}
			if x.halfLife > 0 {
				lo := zi << zoneBits
				c.Counts, c.halfLife = s.counts[hi][lo:lo+n:lo+n], x.halfLife
			}
			if !f(c) {
				return false
			}
		}
	}
	return true
}
