package snapshot

import (
	"context"
	"math"
	"slices"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/internal/hist"
	"github.com/wombatkv/prefetch/pipeline"
)

// HintStats is what became of an intake's hints, as [Hints.Stats] reads
// it. A hint is served when, while it is pending, a cycle fetches its
// block (Fetched) or finds the block already in flat (AlreadyFlat); each
// hint is served at most once. A served hint stays pending until its Due
// (plus Grace), as every hint does (its block may be evicted and fetched
// again), then leaves without counting as Expired.
type HintStats struct {
	// Added counts the hints given to Add.
	Added uint64
	// Dropped counts the hints Add dropped because the intake was full,
	// served or not ([Hints.Dropped]).
	Dropped uint64
	// Expired counts the hints that left at their Due (plus Grace)
	// unserved: no cycle fetched their block, nor found it in flat,
	// while they were pending.
	Expired uint64
	// Fetched counts the hints whose block a cycle fetched while they
	// were pending, as the intake reads each finished cycle's
	// Outcome.Fetches (it is a [pipeline.Observer]).
	Fetched uint64
	// AlreadyFlat counts the hints whose block a cycle found in flat
	// while they were pending, before any cycle fetched it for them. The
	// intake knows it only through a flat check wrapped by
	// [Hints.WatchFlat]; without one, such hints count as Expired.
	AlreadyFlat uint64
	// Leased counts the hints whose block the flat tier leased when the
	// hint first reached a cycle ([Hints.SetLease]): it was in flat then,
	// and was moved to the most recently used end (and pinned, with
	// LeasePin).
	Leased uint64
	// Pending is the number of hints held ([Hints.Len]).
	Pending int
	// Lag is the time from a hint's Add to the end of the cycle that
	// fetched its block, in seconds, one observation per Fetched hint.
	// Both ends are read from HintsConfig.Clock; the end of the cycle is
	// when the intake observes it, so the lag is at most one cycle longer
	// than the fetch's.
	Lag HintHistogram
	// Slack is a Fetched hint's Due less the end of the cycle that
	// fetched its block, in seconds: negative when the block landed after
	// its Due (late), positive by how much it was early. It is read at the
	// same instant as Lag, no earlier than the fetch ended, so the true
	// slack is never smaller.
	Slack HintHistogram
	// FlatShare is, per request the node reported with [Hints.Arrived],
	// the share of its hinted blocks that were in flat when it arrived:
	// from 0 (none) to 1 (all).
	FlatShare HintHistogram
}

// HintHistogram is a histogram of fixed buckets, as [HintStats] holds
// them. Buckets are inclusive upper bounds, as Prometheus's le.
type HintHistogram = hist.Histogram

// hintAccount is what [Hints] counts of its hints, under Hints.mu. Added
// is Hints.arrived and Dropped Hints.dropped.
type hintAccount struct {
	expired, fetched, flat uint64
	leased                 uint64
	lag, slack, share      hintHist
	// done are the hashes the cycle being observed fetched; inFlat, those
	// of pending hints found in flat since the last Observe, with
	// Hints.arrived then (a hint added later was not yet pending). Both
	// are reused from cycle to cycle.
	done   map[block.Hash]struct{}
	inFlat map[block.Hash]uint64
}

// newHintAccount returns an empty account with its buckets.
func newHintAccount() hintAccount {
	return hintAccount{
		// Lag: 1 ms to a minute (the hints preset ticks every 100 ms and
		// wakes on Add).
		lag: newHintHist(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
		// Slack: late by up to 10 s or more, early by up to 5 min or more.
		slack:  newHintHist(-10, -1, -0.1, 0, 0.01, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
		share:  newHintHist(0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1),
		done:   make(map[block.Hash]struct{}),
		inFlat: make(map[block.Hash]uint64),
	}
}

type hintHist struct {
	bounds []float64
	counts []uint64
	n      uint64
	sum    float64
}

func newHintHist(bounds ...float64) hintHist {
	return hintHist{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *hintHist) observe(v float64) {
	h.counts[hist.Bucket(h.bounds, v)]++
	h.n++
	h.sum += v
}

func (h *hintHist) snapshot() HintHistogram {
	return HintHistogram{Bounds: slices.Clone(h.bounds), Counts: slices.Clone(h.counts), Count: h.n, Sum: h.sum}
}

// seconds returns a-b nanoseconds in seconds, saturating rather than
// overflowing at the far ends of the clamped range.
func seconds(a, b int64) float64 {
	d := a - b
	switch {
	case b < 0 && d < a: // a - b overflowed upwards
		d = math.MaxInt64
	case b > 0 && d > a: // a - b overflowed downwards
		d = math.MinInt64
	}
	return float64(d) / 1e9
}

// Stats returns what became of the intake's hints so far (see
// [HintStats]). It is safe to call at any time, from any goroutine: a
// Prometheus scrape, say (emit.NewHintMetrics).
func (h *Hints) Stats() HintStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := &h.acct
	return HintStats{
		Added:       h.arrived,
		Dropped:     h.dropped,
		Expired:     a.expired,
		Fetched:     a.fetched,
		AlreadyFlat: a.flat,
		Leased:      a.leased,
		Pending:     h.n,
		Lag:         a.lag.snapshot(),
		Slack:       a.slack.snapshot(),
		FlatShare:   a.share.snapshot(),
	}
}

// Observe implements [pipeline.Observer]: the pipeline that reads the
// intake shows it each finished cycle, and the intake counts each pending
// hint whose block the cycle fetched (HintStats.Fetched, with its Lag and
// Slack) or found in flat through [Hints.WatchFlat]
// (HintStats.AlreadyFlat). A hint dropped before the end of the cycle
// that served it counts as dropped only.
func (h *Hints) Observe(o *pipeline.Outcome) {
	end := block.Nanos(h.clock())
	h.mu.Lock()
	defer h.mu.Unlock()
	a := &h.acct
	clear(a.done)
	for _, r := range o.Fetches {
		if r.Fetched() {
			a.done[r.Hash] = struct{}{}
		}
	}
	if len(a.done) == 0 && len(a.inFlat) == 0 {
		return
	}
	for i := range h.n {
		e := &h.ring[(h.head+i)%len(h.ring)]
		if e.served {
			continue
		}
		if _, ok := a.done[e.hash]; ok {
			e.served = true
			a.fetched++
			a.lag.observe(seconds(end, e.added))
			a.slack.observe(seconds(e.due, end))
			continue
		}
		if upTo, ok := a.inFlat[e.hash]; ok && e.arrival <= upTo {
			e.served = true
			a.flat++
		}
	}
	clear(a.inFlat)
}

// WatchFlat returns f, the flat tier's presence check, telling the intake
// of each pending hinted block it finds in flat, so that the block's
// pending hints count as served (HintStats.AlreadyFlat) when the cycle
// ends, rather than as Expired. Only the intake's pipeline can see what
// is in flat; give the check to its already-flat filter:
//
//	filter.NewAlreadyFlat(hints.WatchFlat(store))
//
// A pre-filter is asked only about the candidates that could still be
// selected, so a hinted block that never ranks high enough is never
// checked: its hints count as Expired even if the block was in flat.
func (h *Hints) WatchFlat(f Flat) Flat {
	return flatFunc(func(ctx context.Context, ns string, x block.Hash) bool {
		if !f.ContainsFlat(ctx, ns, x) {
			return false
		}
		h.mu.Lock()
		if _, pending := h.rank[x]; pending {
			h.acct.inFlat[x] = h.arrived
		}
		h.mu.Unlock()
		return true
	})
}

// Arrived records that a request the node hinted has arrived: hinted is
// the number of its blocks that were hinted, inFlat how many of those the
// node found in flat (flat hits). Only the node's read path knows that;
// the intake adds inFlat/hinted to HintStats.FlatShare. A hinted below 1
// records nothing; inFlat is held between 0 and hinted.
func (h *Hints) Arrived(hinted, inFlat int) {
	if hinted < 1 {
		return
	}
	share := float64(min(max(inFlat, 0), hinted)) / float64(hinted)
	h.mu.Lock()
	h.acct.share.observe(share)
	h.mu.Unlock()
}

// Flat reports whether the flat tier holds a block: the method of
// filter.Flat, which a store implements (declared here so that a stage
// package does not import another).
type Flat interface {
	ContainsFlat(ctx context.Context, ns string, h block.Hash) bool
}

type flatFunc func(ctx context.Context, ns string, h block.Hash) bool

func (f flatFunc) ContainsFlat(ctx context.Context, ns string, h block.Hash) bool {
	return f(ctx, ns, h)
}
