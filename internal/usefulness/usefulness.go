// Package usefulness decides, once and the same way everywhere, what
// became of each block the prefetcher put in a flat tier: useful (read
// before it left), late (a read joined its GET while it was in flight) or
// wasted (it left flat unread: evicted for budget, or removed otherwise).
//
// The store's flat tier and the replay lab's simulated one both keep one
// [Mark] beside each block they hold and report the block's events to a
// [Tally]: so a production figure and a lab figure mean the same thing.
// The package knows nothing of blocks, bytes or tiers, starts no goroutine
// and reads no clock: every event carries its instant, so a virtual clock
// drives it as well as the wall clock. Each event costs a few additions
// and at most one bucket search over a fixed array; nothing allocates.
//
// A Tally is not safe for concurrent use: the tier guards it with the lock
// that already guards its index (the store's mutex), or runs on one
// goroutine (the lab).
package usefulness

import (
	"time"

	"github.com/wombatkv/prefetch/internal/hist"
)

// Mark is what a flat tier keeps beside one block it holds: whether the
// prefetcher published the block and no one has read it since, and when
// it was published. The zero Mark is a block that is not prefetched-unread
// (written or read by the node, or already read). It is 16 bytes.
type Mark struct {
	at     int64 // publication, Unix nanoseconds
	unread bool
}

// Unread reports whether m is a prefetched block not yet read.
func (m Mark) Unread() bool { return m.unread }

// Read is where a read of the node found its block, as [Tally.Read]
// counts it.
type Read int

const (
	// ReadFlat is a read that flat served: a block the node wrote or
	// read before, or a prefetched block read again.
	ReadFlat Read = iota
	// ReadPrefetched is the first read of a prefetched block while flat
	// held it: it made the prefetch useful.
	ReadPrefetched
	// ReadJoined is a read that joined a GET of its block already in
	// flight (a prefetch's, which made the prefetch late, or another
	// read's).
	ReadJoined
	// ReadCold is a read that went to the cold tier itself.
	ReadCold
	nReads
)

// String returns the read's result as the metrics label it: "flat",
// "prefetched", "joined" or "cold".
func (r Read) String() string {
	switch r {
	case ReadFlat:
		return "flat"
	case ReadPrefetched:
		return "prefetched"
	case ReadJoined:
		return "joined"
	case ReadCold:
		return "cold"
	}
	return "unknown"
}

// Histogram buckets, inclusive upper bounds in seconds (as Prometheus's
// le). Lead and unread age run from a millisecond to an hour (a hint
// arrives up to seconds ahead, a grid prefetch may wait minutes); the wait
// of a late read from 100 µs to 10 s (a GET's time).
var (
	leadBounds = [...]float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}
	waitBounds = [...]float64{0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// nBuckets is the number of counts a histogram keeps: one per bound and
// one above them all.
const nBuckets = len(leadBounds) + 1

type buckets struct {
	counts [nBuckets]uint64
	n      uint64
	sum    float64
}

func (h *buckets) observe(bounds []float64, v float64) {
	h.counts[hist.Bucket(bounds, v)]++
	h.n++
	h.sum += v
}

func (h *buckets) snapshot(bounds []float64) Histogram {
	return Histogram{Bounds: append([]float64(nil), bounds...), Counts: append([]uint64(nil), h.counts[:len(bounds)+1]...), Count: h.n, Sum: h.sum}
}

// Tally counts what became of one tier's prefetched blocks (a store keeps
// one per namespace) and where its reads were served. The zero Tally is
// empty and ready. It is about 500 bytes, whatever the number of blocks.
type Tally struct {
	prefetched, useful, late, evicted, removed uint64
	reads                                      [nReads]uint64
	lead, wait, age                            buckets
}

// Published records that a prefetch GET put a block in flat at now with
// no read waiting for it, and returns the Mark the tier keeps beside the
// block until the block's next event.
func (t *Tally) Published(now time.Time) Mark {
	t.prefetched++
	return Mark{at: now.UnixNano(), unread: true}
}

// Late records that a prefetch GET landed at landed while a read of its
// block, which joined it at joined, waited for it: the prefetch is late
// (one per block, however many reads joined), and the read waited
// landed-joined (0 when joined is after landed). The block enters flat
// with the zero Mark, as a block the node read. Count the reads
// themselves with Read(ReadJoined).
func (t *Tally) Late(joined, landed time.Time) {
	t.prefetched++
	t.late++
	t.wait.observe(waitBounds[:], max(landed.Sub(joined), 0).Seconds())
}

// Hit records a read of the node that flat served at now, for the block
// whose Mark is m: the first read of a prefetched block makes it useful
// (its lead, publication to now, observed) and clears the Mark; any other
// is a plain flat read. It reports what it counted: ReadPrefetched or
// ReadFlat.
func (t *Tally) Hit(m *Mark, now time.Time) Read {
	if !m.unread {
		t.reads[ReadFlat]++
		return ReadFlat
	}
	t.useful++
	t.reads[ReadPrefetched]++
	t.lead.observe(leadBounds[:], seconds(now, m.at))
	*m = Mark{}
	return ReadPrefetched
}

// Read counts a read of the node that flat did not serve: r is ReadJoined
// or ReadCold. (Reads flat serves go through [Tally.Hit].)
func (t *Tally) Read(r Read) {
	if r >= 0 && r < nReads {
		t.reads[r]++
	}
}

// Evicted records that the block whose Mark is m left flat at now to make
// room for another (for the budget): when it was prefetched and unread,
// it is wasted, and the time it sat is observed. It clears m and reports
// whether the block was wasted.
func (t *Tally) Evicted(m *Mark, now time.Time) bool { return t.gone(m, now, &t.evicted) }

// Removed records that the block whose Mark is m left flat at now for
// another reason than the budget: dropped as damaged, replaced by a new
// copy, or lost with the whole tier (a restart). When it was prefetched
// and unread it is wasted, as in Evicted.
func (t *Tally) Removed(m *Mark, now time.Time) bool { return t.gone(m, now, &t.removed) }

func (t *Tally) gone(m *Mark, now time.Time, c *uint64) bool {
	if !m.unread {
		return false
	}
	*c++
	t.age.observe(leadBounds[:], seconds(now, m.at))
	*m = Mark{}
	return true
}

// seconds returns now less at (Unix nanoseconds) in seconds, 0 when now
// is before at (a clock that stepped back).
func seconds(now time.Time, at int64) float64 {
	if d := now.UnixNano() - at; d > 0 {
		return float64(d) / 1e9
	}
	return 0
}

// Stats returns the tally's figures.
func (t *Tally) Stats() Stats {
	return Stats{
		Prefetched:    t.prefetched,
		Useful:        t.useful,
		Late:          t.late,
		WastedEvicted: t.evicted,
		WastedRemoved: t.removed,
		Reads:         Reads{Flat: t.reads[ReadFlat], Prefetched: t.reads[ReadPrefetched], Joined: t.reads[ReadJoined], Cold: t.reads[ReadCold]},
		Lead:          t.lead.snapshot(leadBounds[:]),
		Wait:          t.wait.snapshot(waitBounds[:]),
		UnreadAge:     t.age.snapshot(leadBounds[:]),
	}
}

// Stats are a [Tally]'s figures. Every prefetched block is counted once
// in Prefetched and, once its fate is known, once in exactly one of
// Useful, Late, WastedEvicted or WastedRemoved; until then it is Unread.
type Stats struct {
	// Prefetched counts the blocks prefetch GETs put in flat (or handed
	// to a read that joined them).
	Prefetched uint64
	// Useful counts the prefetched blocks read while flat held them (the
	// first read; a second read of the block counts in Reads.Flat).
	Useful uint64
	// Late counts the prefetched blocks a read asked for while their GET
	// was still in flight, and joined.
	Late uint64
	// WastedEvicted counts the prefetched blocks evicted for the budget
	// unread; WastedRemoved those that left flat unread otherwise
	// (dropped as damaged, replaced, or lost in a restart).
	WastedEvicted, WastedRemoved uint64
	// Reads splits the node's reads by where they were served.
	Reads Reads
	// Lead is, per useful block, the time from its publication to its
	// first read, in seconds.
	Lead Histogram
	// Wait is, per late block, how long the first read that joined its
	// GET waited for it, in seconds.
	Wait Histogram
	// UnreadAge is, per wasted block, how long it sat in flat unread, in
	// seconds.
	UnreadAge Histogram
}

// Reads counts a tier's reads by where they were served (see [Read]).
type Reads struct {
	Flat, Prefetched, Joined, Cold uint64
}

// Total is the number of reads.
func (r Reads) Total() uint64 { return r.Flat + r.Prefetched + r.Joined + r.Cold }

// Histogram is the module's histogram of fixed buckets (internal/hist):
// inclusive upper bounds in seconds, counts not cumulative.
type Histogram = hist.Histogram

// Wasted is WastedEvicted plus WastedRemoved.
func (s Stats) Wasted() uint64 { return s.WastedEvicted + s.WastedRemoved }

// Unread is the number of prefetched blocks whose fate is not known yet:
// in flat, unread.
func (s Stats) Unread() uint64 { return s.Prefetched - s.Useful - s.Late - s.Wasted() }

// Precision is the share of the prefetched blocks whose fate is known
// that a read wanted: (Useful + Late) / (Useful + Late + Wasted). ok is
// false when no fate is known yet. (The replay lab, at the end of a
// trace, counts the blocks still unread as wasted: there is no after.)
func (s Stats) Precision() (p float64, ok bool) {
	used := s.Useful + s.Late
	if used+s.Wasted() == 0 {
		return 0, false
	}
	return float64(used) / float64(used+s.Wasted()), true
}

// Served is the share of the node's reads the prefetcher served: those
// that found a prefetched block in flat, and the first to join each late
// prefetch, (Useful + Late) / Reads.Total(). ok is false when there were
// no reads.
func (s Stats) Served() (share float64, ok bool) {
	n := s.Reads.Total()
	if n == 0 {
		return 0, false
	}
	return float64(min(s.Useful+s.Late, n)) / float64(n), true
}

// Add adds o's figures to s (two namespaces' into one node's). The
// histograms must have the same bounds, as every Tally's have; an empty
// one takes o's.
func (s *Stats) Add(o Stats) {
	s.Prefetched += o.Prefetched
	s.Useful += o.Useful
	s.Late += o.Late
	s.WastedEvicted += o.WastedEvicted
	s.WastedRemoved += o.WastedRemoved
	s.Reads.Flat += o.Reads.Flat
	s.Reads.Prefetched += o.Reads.Prefetched
	s.Reads.Joined += o.Reads.Joined
	s.Reads.Cold += o.Reads.Cold
	s.Lead.Add(o.Lead)
	s.Wait.Add(o.Wait)
	s.UnreadAge.Add(o.UnreadAge)
}
