package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wombatkv/prefetch/block"
)

// shardBits sets the default shard count (4096). A scan reads one shard
// under its read lock, so the shard size bounds how long a writer can wait
// behind a scan: at 1e6 entries a shard holds about 250 entries.
const shardBits = 12

// MaxShards is the most shards an index has, and [NewMemory]'s count.
const MaxShards = 1 << shardBits

// Memory is a concurrent in-memory metadata index. It is safe for concurrent
// use; the zero value is not usable, call [New] or [NewMemory].
//
// Each shard keeps its entries in dense parallel columns (hashes,
// metadata, and the hot fields last-access time and chain position): the
// hot columns in chunks of up to 1024 entries, the others in zones of up
// to 32, so a scan walks contiguous memory and a scan that needs only the
// last-access times ([Memory.ScanColumns]) reads 8 bytes per entry. A
// slot table of 4-byte words locates an entry from its hash without a
// second copy of the hash: an entry costs about 159 bytes at 1e6 entries
// and 152 at 1e7, against the 140 of its columns. Each zone, and each
// shard, carries upper bounds on the last access of its chain heads and
// of its other entries, so that a scan can pass over what cannot matter
// to it ([Memory.ScanColumnsBounded]).
//
// An index built with [Options].CountHalfLife also keeps a decayed access
// count per entry (see [Memory.AccessCount]), in a fifth hot column of 4
// bytes an entry: about 165 bytes an entry at 1e6 entries and 159 at 1e7.
// Its Touch does some 30 ns more work (the decay's math.Exp2), which does
// not show in Touch's or Insert's latency at 1e7 entries
// (bench/RESULTS.md). An index without counts holds no trace of them: not
// a byte, and one untaken branch a write.
//
// No write copies more than a few kilobytes while it holds a shard's lock,
// whatever the shard's size: columns grow a chunk or a zone at a time, and
// the slot table grows incrementally (see [Memory.Insert]).
type Memory struct {
	shards []shard
	bits   uint // len(shards) == 1<<bits
	now    func() time.Time
	seed   maphash.Seed
	n      atomic.Int64
	bufs   sync.Pool // *allBuf scratch for All
	// halfLife is Options.CountHalfLife in nanoseconds; 0 keeps no counts.
	halfLife float64
}

type shard struct {
	// mu guards everything below except the atomics, which writers change
	// only while they hold mu and which a bounded scan reads without it.
	mu sync.RWMutex
	// n is the number of entries.
	n atomic.Int32
	// headMax and tailMax bound the last access of the shard's chain heads
	// and other entries: no entry's time exceeds its kind's bound (see
	// raise). They may lie above every entry's; stale says they may, and
	// that the next scan should recompute them from the zones' bounds.
	headMax, tailMax atomic.Int64
	stale            atomic.Bool

	// The columns. Entry i is at k = i%hotSize in hot[i/hotSize], and in
	// that chunk's zone k/zoneSize at k%zoneSize. Every chunk and zone but
	// the last is full.
	hot   []*hotChunk
	slots slotTable
	// counts[hi] is hot[hi]'s access-count column, entry k's count at
	// counts[hi][k], of the same length and capacity as hot[hi].last;
	// nil in an index that keeps no counts. It lives here rather than in
	// the chunk so that it costs nothing when off (a chunk of 5 slice
	// headers would take the next size class).
	counts [][]float32
	_      [16]byte // to 192 bytes, 3 cache lines: mu and the atomics share one
}

// A shard's hot columns, the last-access times and chain positions a scan
// reads, are kept in chunks of up to hotSize entries, so that a scan
// reads them from a few contiguous arrays; the cold ones, hashes and
// metadata rows (128 bytes an entry), in zones of up to zoneSize entries,
// the runs a scan is handed and can pass over whole.
const (
	hotBits  = 10
	hotSize  = 1 << hotBits
	hotMask  = hotSize - 1
	zoneBits = 5
	zoneSize = 1 << zoneBits
	zoneMask = zoneSize - 1
)

// hotChunk holds up to hotSize entries' hot columns, and their zones:
// entry k is last[k], seqs[k] and zones[k/zoneSize] at k%zoneSize, and
// last[k] == its row's LastAccessNs, seqs[k] == its row's Seq always.
// bounds[z] bounds the last accesses of zone z: kept apart from the zones,
// 16 bytes each, so that a scan reads them densely.
type hotChunk struct {
	last   []int64
	seqs   []uint32
	zones  []zone
	bounds []Bounds
}

// zone holds up to zoneSize entries' hashes and rows; hashes and metas
// share one length and one capacity.
type zone struct {
	hashes []block.Hash
	metas  []block.Meta
}

// The capacities a shard's last hot chunk and last zone grow through, by
// copying at most 768 entries' hot columns (9 KB) or 16 entries' hashes
// and rows (2 KB). Every array fills a Go size class exactly.
var (
	hotCaps  = [...]int{32, 128, 256, 288, 384, 512, 768, hotSize}
	zoneCaps = [...]int{8, 16, zoneSize}
)

func nextCap(caps []int, n int) int {
	for _, c := range caps {
		if c > n {
			return c
		}
	}
	return caps[len(caps)-1]
}

// noBounds bounds an empty run.
var noBounds = Bounds{HeadMax: math.MinInt64, TailMax: math.MinInt64}

func (b *Bounds) bound(head bool) int64 {
	if head {
		return b.HeadMax
	}
	return b.TailMax
}

func (b *Bounds) raise(head bool, t int64) {
	if head {
		b.HeadMax = max(b.HeadMax, t)
	} else {
		b.TailMax = max(b.TailMax, t)
	}
}

// times returns the hot columns of hc's zone zi.
func (hc *hotChunk) times(zi int) ([]int64, []uint32) {
	lo := zi << zoneBits
	hi := min(lo+zoneSize, len(hc.last))
	return hc.last[lo:hi:hi], hc.seqs[lo:hi:hi]
}

// recompute sets the bounds of hc's zone zi to the largest times it holds.
func (hc *hotChunk) recompute(zi int) {
	last, seqs := hc.times(zi)
	b := noBounds
	for j, t := range last {
		b.raise(seqs[j] == 0, t)
	}
	hc.bounds[zi] = b
}

// raise lifts the shard's bound for head's kind to t. The caller holds
// the write lock, so no other write races it, and it raises the bound
// before it stores the time t in an entry, and before it unlocks: a
// scan that reads a bound without the lock reads one at least as high as
// the time of every entry of that kind stored by a write that finished
// before the read.
func (s *shard) raise(head bool, t int64) {
	b := &s.tailMax
	if head {
		b = &s.headMax
	}
	if t > b.Load() {
		b.Store(t)
	}
}

func (s *shard) bound(head bool) int64 {
	if head {
		return s.headMax.Load()
	}
	return s.tailMax.Load()
}

// lowered notes, under the write lock, that a time t of head's kind left
// the shard or fell: if it was the shard's highest, the bound may now be
// stale-high.
func (s *shard) lowered(head bool, t int64) {
	if t >= s.bound(head) {
		s.stale.Store(true)
	}
}

// tighten recomputes the shard's bounds from its zones' if they may be
// stale. The caller holds the read lock: no write runs meanwhile, and
// other readers store the same values.
func (s *shard) tighten() {
	if !s.stale.Load() {
		return
	}
	b := noBounds
	for _, hc := range s.hot {
		for _, zb := range hc.bounds {
			b.HeadMax = max(b.HeadMax, zb.HeadMax)
			b.TailMax = max(b.TailMax, zb.TailMax)
		}
	}
	s.headMax.Store(b.HeadMax)
	s.tailMax.Store(b.TailMax)
	s.stale.Store(false)
}

// loc returns where entry i is: its hot chunk and index k there, and its
// zone's index there and index j in the zone.
func (s *shard) loc(i int32) (hc *hotChunk, k, zi, j int) {
	hc = s.hot[i>>hotBits]
	k = int(i & hotMask)
	return hc, k, k >> zoneBits, k & zoneMask
}

func (s *shard) hashAt(i int32) *block.Hash {
	hc, _, zi, j := s.loc(i)
	return &hc.zones[zi].hashes[j]
}

// appendEntry adds an entry at slot n, the shard's entry count, with the
// access count c if x keeps counts.
func (s *shard) appendEntry(x *Memory, n int32, h *block.Hash, m *block.Meta, c float32) {
	hi := int(n >> hotBits)
	if hi == len(s.hot) {
		s.hot = append(s.hot, &hotChunk{last: make([]int64, 0, hotCaps[0]), seqs: make([]uint32, 0, hotCaps[0])})
		if x.halfLife > 0 {
			s.counts = append(s.counts, make([]float32, 0, hotCaps[0]))
		}
	}
	hc := s.hot[hi]
	if k := len(hc.last); k == cap(hc.last) {
		c := nextCap(hotCaps[:], k)
		hc.last = append(make([]int64, 0, c), hc.last...)
		hc.seqs = append(make([]uint32, 0, c), hc.seqs...)
		if x.halfLife > 0 {
			s.counts[hi] = append(make([]float32, 0, c), s.counts[hi]...)
		}
	}
	zi := int(n&hotMask) >> zoneBits
	if zi == len(hc.zones) {
		hc.zones = append(hc.zones, zone{hashes: make([]block.Hash, 0, zoneCaps[0]), metas: make([]block.Meta, 0, zoneCaps[0])})
		hc.bounds = append(hc.bounds, noBounds)
	}
	z, zb := &hc.zones[zi], &hc.bounds[zi]
	if j := len(z.hashes); j == cap(z.hashes) {
		c := nextCap(zoneCaps[:], j)
		z.hashes = append(make([]block.Hash, 0, c), z.hashes...)
		z.metas = append(make([]block.Meta, 0, c), z.metas...)
	}
	t, head := m.LastAccessNs, m.Seq == 0
	s.raise(head, t)
	zb.raise(head, t)
	hc.last = append(hc.last, t)
	hc.seqs = append(hc.seqs, m.Seq)
	if x.halfLife > 0 {
		s.counts[hi] = append(s.counts[hi], c)
	}
	z.hashes = append(z.hashes, *h)
	z.metas = append(z.metas, *m)
}

// removeAt deletes entry i, moving the shard's last entry into its place;
// the slot table must already be without i's word.
func (s *shard) removeAt(x *Memory, i int32) {
	last := s.n.Load() - 1
	hc, k, zi, j := s.loc(i)
	lhc, lk, lzi, lj := s.loc(last)
	z, lz := &hc.zones[zi], &lhc.zones[lzi]
	zb, lzb := &hc.bounds[zi], &lhc.bounds[lzi]
	gone, goneHead := hc.last[k], hc.seqs[k] == 0
	lzLost := false
	if i != last {
		moved := &lz.hashes[lj]
		a, pos, _ := s.slots.find(s, moved, x.fingerprint(moved))
		setSlot(a, pos, i)
		t, seq := lhc.last[lk], lhc.seqs[lk]
		hc.last[k], hc.seqs[k] = t, seq
		if x.halfLife > 0 {
			s.counts[i>>hotBits][k] = s.counts[last>>hotBits][lk]
		}
		z.hashes[j], z.metas[j] = *moved, lz.metas[lj]
		zb.raise(seq == 0, t)
		lzLost = z != lz && t >= lzb.bound(seq == 0)
	}
	lhc.last, lhc.seqs = lhc.last[:lk], lhc.seqs[:lk]
	if x.halfLife > 0 {
		s.counts[last>>hotBits] = s.counts[last>>hotBits][:lk]
	}
	lz.hashes, lz.metas = lz.hashes[:lj], lz.metas[:lj]
	if gone >= zb.bound(goneHead) {
		hc.recompute(zi)
	}
	if lzLost { // it lost its highest time of that kind
		lhc.recompute(lzi)
	}
	s.lowered(goneHead, gone)
	if lj == 0 {
		lhc.zones[lzi] = zone{}
		lhc.zones, lhc.bounds = lhc.zones[:lzi], lhc.bounds[:lzi]
		if lk == 0 {
			s.hot[len(s.hot)-1] = nil
			s.hot = s.hot[:len(s.hot)-1]
			if x.halfLife > 0 {
				s.counts[len(s.counts)-1] = nil
				s.counts = s.counts[:len(s.counts)-1]
			}
		}
	}
}

// Locking. A shard's read lock is held for one shard's scan (microseconds)
// and its write lock for one write (sub-microsecond), so a goroutine that
// finds the lock taken spins on TryLock for up to lockSpin before it
// blocks: blocking would cost it a park and a wake-up (tens of
// microseconds, milliseconds on a loaded machine) to wait out a holder
// that is nearly done. A read lock is taken the same way, so that a scan
// never sits registered as a reader while it sleeps, holding writers up.
const lockSpin = 50 * time.Microsecond

func (s *shard) lock() {
	if !s.mu.TryLock() {
		spinLock(&s.mu)
	}
}

func (s *shard) rlock() {
	if !s.mu.TryRLock() {
		spinRLock(&s.mu)
	}
}

func spinLock(mu *sync.RWMutex) {
	for start, i := time.Now(), 1; !mu.TryLock(); i++ {
		if i%64 == 0 && time.Since(start) > lockSpin {
			mu.Lock()
			return
		}
	}
}

func spinRLock(mu *sync.RWMutex) {
	for start, i := time.Now(), 1; !mu.TryRLock(); i++ {
		if i%64 == 0 && time.Since(start) > lockSpin {
			mu.RLock()
			return
		}
	}
}

// allBuf is one shard's copy, made by All (and WriteSnapshot) under the
// shard's read lock.
type allBuf struct {
	hashes []block.Hash
	metas  []block.Meta
	counts []float32 // only when asked for, in an index that keeps counts
}

// Options configures an index built by [New]. The zero value is the
// default index: the wall clock, MaxShards shards, no access counts.
type Options struct {
	// Now is the clock Insert and Touch stamp, and AccessCount decays to
	// (nil means time.Now).
	Now func() time.Time
	// Shards is the number of shards, from 1 to MaxShards, rounded up to
	// a power of two (0 means MaxShards). Every scan visits every shard,
	// so a small index scans faster with fewer of them (the replay lab
	// sizes its index to its trace); a writer waits behind a scan of its
	// shard, so a large index that writers share keeps the default.
	Shards int
	// CountHalfLife, when above 0, has the index keep a decayed access
	// count per entry, halving every CountHalfLife (see
	// [Memory.AccessCount]); 0 keeps no counts, and costs nothing.
	CountHalfLife time.Duration
}

// Validate reports every problem with o at once (joined with
// errors.Join), each naming the field, its value and what is allowed.
// Zero fields are valid: they mean the defaults.
func (o Options) Validate() error {
	var errs []error
	if o.Shards < 0 || o.Shards > MaxShards {
		errs = append(errs, fmt.Errorf("index: Shards = %d, want 1 to %d, rounded up to a power of two (0 means the default, %d)", o.Shards, MaxShards, MaxShards))
	}
	if o.CountHalfLife < 0 {
		errs = append(errs, fmt.Errorf("index: CountHalfLife = %v, want > 0 to keep access counts (0 keeps none)", o.CountHalfLife))
	}
	return errors.Join(errs...)
}

// New returns an empty index configured by o, or the error of
// [Options.Validate] if o is not valid.
func New(o Options) (*Memory, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Shards == 0 {
		o.Shards = MaxShards
	}
	bits := uint(0)
	for 1<<bits < o.Shards {
		bits++
	}
	x := &Memory{shards: make([]shard, 1<<bits), bits: bits, now: o.Now, seed: maphash.MakeSeed(), halfLife: float64(o.CountHalfLife)}
	for i := range x.shards {
		s := &x.shards[i]
		s.headMax.Store(math.MinInt64)
		s.tailMax.Store(math.MinInt64)
	}
	return x, nil
}

// NewMemory returns an empty index whose Insert and Touch stamp the time
// read from now (nil means time.Now), with the default options otherwise:
// New(Options{Now: now}).
func NewMemory(now func() time.Time) *Memory {
	return NewMemoryShards(now, MaxShards)
}

// NewMemoryShards is [NewMemory] with shards shards (see
// [Options].Shards), clamped to [1, MaxShards] rather than refused.
func NewMemoryShards(now func() time.Time, shards int) *Memory {
	x, err := New(Options{Now: now, Shards: min(max(shards, 1), MaxShards)})
	if err != nil {
		panic(err) // not reached: the options are valid
	}
	return x
}

// Shards returns the index's shard count.
func (x *Memory) Shards() int { return len(x.shards) }

func (x *Memory) shardOf(h *block.Hash) *shard {
	// Hashes are uniformly random in a node, but the replay lab builds them
	// from small ids in the last bytes: mix both ends.
	v := binary.LittleEndian.Uint64(h[:8]) ^ binary.BigEndian.Uint64(h[24:])
	v *= 0x9e3779b97f4a7c15
	return &x.shards[v>>(64-x.bits)]
}

// fingerprint is the slot table's hash of h: seeded, so that no choice of
// block hashes makes a shard's probes long.
func (x *Memory) fingerprint(h *block.Hash) uint64 { return maphash.Comparable(x.seed, *h) }

// Insert adds or replaces the entry for h and stamps its last access with
// the index's clock, as a write on the request path does. In an index that
// keeps counts it is an access (see [Memory.AccessCount]).
//
// It holds h's shard's write lock for a bounded time, whatever the
// shard's size: to grow the shard's columns it copies at most 768
// entries' hot columns (9 KB, 12 KB with counts) or 16 entries' hashes
// and rows (2 KB), or appends a chunk or a zone to a short list (at most
// 32 zones a chunk, one chunk pointer per 1024 entries); it moves at most
// 64 words of a growing slot table. The one step that grows with the
// shard is the allocation of a new, zeroed slot table, 6.7 bytes per
// entry of the shard (16 KB at 1e7 entries), once per growth by half.
func (x *Memory) Insert(h block.Hash, m block.Meta) {
	m.LastAccessNs = x.now().UnixNano()
	x.put(&h, &m, 0)
}

// BulkLoad adds or replaces every entry of seq, keeping the given last-access
// times (a node restoring its index, a test building a fixture). In an
// index that keeps counts each entry is an access at its given time (see
// [Memory.AccessCount]).
func (x *Memory) BulkLoad(seq iter.Seq2[block.Hash, block.Meta]) {
	for h, m := range seq {
		x.put(&h, &m, 0)
	}
}

// put adds or replaces the entry for h. In an index that keeps counts,
// its count becomes c, or when c is 0, put is an access.
func (x *Memory) put(h *block.Hash, m *block.Meta, c float32) {
	s := x.shardOf(h)
	fp := x.fingerprint(h)
	t, head := m.LastAccessNs, m.Seq == 0
	s.lock()
	if _, _, i := s.slots.find(s, h, fp); i >= 0 {
		hc, k, zi, j := s.loc(i)
		zb := &hc.bounds[zi]
		ot, oh := hc.last[k], hc.seqs[k] == 0
		var cs *float32
		var oc float32
		if x.halfLife > 0 { // read before raise's barrier, as in Touch
			cs = &s.counts[i>>hotBits][k]
			oc = *cs
		}
		s.raise(head, t)
		zb.raise(head, t)
		hc.last[k], hc.seqs[k], hc.zones[zi].metas[j] = t, m.Seq, *m
		if cs != nil {
			if c == 0 {
				c = accessed(oc, ot, t, x.halfLife)
			}
			*cs = c
		}
		if oh != head || t < ot {
			if ot >= zb.bound(oh) {
				hc.recompute(zi)
			}
			s.lowered(oh, ot)
		}
		s.mu.Unlock()
		return
	}
	if c == 0 {
		c = 1
	}
	n := s.n.Load()
	s.appendEntry(x, n, h, m, c)
	s.slots.add(fp, n)
	s.n.Store(n + 1)
	s.mu.Unlock()
	x.n.Add(1)
}

// Touch sets the last access of h to now and reports whether h is present.
// In an index that keeps counts it is an access (see [Memory.AccessCount]).
func (x *Memory) Touch(h block.Hash) bool {
	t := x.now().UnixNano()
	s := x.shardOf(&h)
	fp := x.fingerprint(&h)
	s.lock()
	_, _, i := s.slots.find(s, &h, fp)
	if i >= 0 {
		hc, k, zi, j := s.loc(i)
		zb := &hc.bounds[zi]
		head, ot := hc.seqs[k] == 0, hc.last[k]
		var cs *float32
		var c float32
		if x.halfLife > 0 {
			// Read before raise, whose atomic store is a full barrier
			// on amd64, so that the count's cache miss overlaps those
			// of the other hot columns rather than following them.
			cs = &s.counts[i>>hotBits][k]
			c = *cs
		}
		s.raise(head, t)
		zb.raise(head, t)
		hc.last[k] = t
		hc.zones[zi].metas[j].LastAccessNs = t
		if cs != nil {
			*cs = accessed(c, ot, t, x.halfLife)
		}
		if t < ot { // a clock that stepped back
			if ot >= zb.bound(head) {
				hc.recompute(zi)
			}
			s.lowered(head, ot)
		}
	}
	s.mu.Unlock()
	return i >= 0
}

// Get returns the entry for h.
func (x *Memory) Get(h block.Hash) (block.Meta, bool) {
	s := x.shardOf(&h)
	fp := x.fingerprint(&h)
	s.rlock()
	defer s.mu.RUnlock()
	if _, _, i := s.slots.find(s, &h, fp); i >= 0 {
		hc, _, zi, j := s.loc(i)
		return hc.zones[zi].metas[j], true
	}
	return block.Meta{}, false
}

// Remove deletes the entry for h and reports whether it was present. It
// moves the shard's last entry into the hole, and holds the lock for a
// bounded time (at most two zones' bounds recomputed, 64 words of the
// slot table moved).
func (x *Memory) Remove(h block.Hash) bool {
	s := x.shardOf(&h)
	fp := x.fingerprint(&h)
	s.lock()
	a, pos, i := s.slots.find(s, &h, fp)
	if i < 0 {
		s.mu.Unlock()
		return false
	}
	a.deleteAt(pos)
	s.removeAt(x, i)
	s.slots.step()
	s.n.Add(-1)
	s.mu.Unlock()
	x.n.Add(-1)
	return true
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
		x.copies(false, func(b *allBuf) bool {
			for j := range b.hashes {
				if !yield(b.hashes[j], b.metas[j]) {
					return false
				}
			}
			return true
		})
	}
}

// copies calls f with a copy of each shard that holds entries in turn,
// until f returns false: made under the shard's read lock, with the
// entries' counts too when counts is true and x keeps them, and handed
// to f outside it.
func (x *Memory) copies(counts bool, f func(*allBuf) bool) {
	b, _ := x.bufs.Get().(*allBuf)
	if b == nil {
		b = new(allBuf)
	}
	defer x.bufs.Put(b)
	counts = counts && x.halfLife > 0
	for i := range x.shards {
		s := &x.shards[i]
		if s.n.Load() == 0 {
			continue
		}
		b.hashes, b.metas, b.counts = b.hashes[:0], b.metas[:0], b.counts[:0]
		s.rlock()
		for hi, hc := range s.hot {
			for _, z := range hc.zones {
				b.hashes = append(b.hashes, z.hashes...)
				b.metas = append(b.metas, z.metas...)
			}
			if counts {
				b.counts = append(b.counts, s.counts[hi]...)
			}
		}
		s.mu.RUnlock()
		if !f(b) {
			return
		}
	}
}
