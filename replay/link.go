package replay

import (
	"math"
	"slices"
)

// The shared link (Settings.LinkBandwidth): every GET, a request's cold
// load or a prefetch, first waits the per-GET latency, then moves its
// bytes at up to the per-GET bandwidth, over one link of bw bytes per
// second. Requests' loads are served first, in the order they start: each
// takes what the earlier ones leave, up to the per-GET bandwidth, so a
// load's completion is known when it starts (no later load can slow it).
// Prefetches share what the loads leave, equally, each up to the per-GET
// bandwidth, so their completions move as loads come and go; the lab
// advances them to each event's time (advance). A prefetch a request
// joins (a late prefetch hit) becomes that request's load from then on
// (join). An uncontended GET takes exactly Settings.GetCost, as without a
// link.

// link is the shared link's state: the loads' use of it from now on, and
// the prefetches in flight.
type link struct {
	bw, perGet float64 // bytes per second: the link's, and one GET's most
	latency    int64   // ns per GET
	now        int64
	// load is the requests' loads' use of the link from now on, as
	// breakpoints: load[i].used bytes/s from load[i].at until
	// load[i+1].at, and the last's until forever (0 once the loads end).
	load []usage
	// pre are the prefetches started (in latency or moving), in issue
	// order; groups their windows.
	pre    []*transfer
	groups map[uint64]*window
	moving []*transfer // advance's scratch
}

type usage struct {
	at   int64
	used float64
}

// transfer is one prefetch GET on the link.
type transfer struct {
	b     int32
	issue uint64
	group uint64
	ready int64   // when its latency ends and its bytes start to move
	rem   float64 // bytes still to move
}

// window is the GETs of one cycle waiting for a slot of its fetcher's
// window (limit at once, as errgroup's SetLimit; 1 for a sequential
// fetch).
type window struct {
	limit, active int
	queue         []*transfer // not started, in issue order
}

func newLink(bw, perGet float64, latency int64) *link {
	return &link{bw: bw, perGet: perGet, latency: latency, load: []usage{{at: math.MinInt64}}, groups: map[uint64]*window{}}
}

// moveNs returns how long rem bytes take at rate bytes/s, truncated to
// whole nanoseconds (exactly, as Settings.GetCost, when both are whole).
func moveNs(rem, rate float64) int64 {
	if rem == math.Trunc(rem) && rem >= 0 && rem < 1<<63 {
		return transferNs(uint64(rem), rate)
	}
	if ns := math.Floor(rem * 1e9 / rate); ns < 1<<63 {
		return int64(ns)
	}
	return math.MaxInt64
}

// done reports whether rem bytes are moved, at rate: less than one
// nanosecond's worth is left (the truncation of moveNs).
func done(rem, rate float64) bool { return rem <= rate*1e-9 || rem <= 0 }

// demand books a request's load of n bytes starting at start (>= now) and
// returns when it completes: the latency, then its bytes at what the
// earlier loads leave of the link, up to the per-GET bandwidth.
func (l *link) demand(start int64, n float64) int64 {
	t := addSat(start, l.latency)
	i := l.split(t)
	rem := n
	for {
		end := int64(math.MaxInt64)
		if i+1 < len(l.load) {
			end = l.load[i+1].at
		}
		rate := min(l.perGet, l.bw-l.load[i].used)
		if rate > 0 {
			if done(rem, rate) {
				return t
			}
			fin := addSat(t, moveNs(rem, rate))
			if fin < end {
				l.split(fin)
				l.load[i].used += rate
				return fin
			}
			rem -= rate * float64(end-t) / 1e9
			l.load[i].used += rate
		}
		if end == math.MaxInt64 {
			return math.MaxInt64 // the link is never free: cannot happen with loads that end
		}
		t = end
		i++
	}
}

// split makes t a breakpoint of the loads' use and returns its index.
func (l *link) split(t int64) int {
	i, found := slices.BinarySearchFunc(l.load, t, func(u usage, t int64) int {
		switch {
		case u.at < t:
			return -1
		case u.at > t:
			return 1
		}
		return 0
	})
	if found {
		return i
	}
	l.load = slices.Insert(l.load, i, usage{at: t, used: l.load[i-1].used})
	return i
}

// loadAt returns the loads' use of the link at t (>= now) and the next
// breakpoint after t.
func (l *link) loadAt(t int64) (float64, int64) {
	i, _ := slices.BinarySearchFunc(l.load, t+1, func(u usage, t int64) int {
		if u.at < t {
			return -1
		}
		return 1
	})
	next := int64(math.MaxInt64)
	if i < len(l.load) {
		next = l.load[i].at
	}
	return l.load[i-1].used, next
}

// prefetch starts (or queues in its cycle's window) a prefetch GET of
// block b, of n bytes, the issue-th of the run, at now. A window's limit
// is fixed by its first GET.
func (l *link) prefetch(b int32, issue, group uint64, limit int, n float64) {
	w := l.groups[group]
	if w == nil {
		w = &window{limit: limit}
		l.groups[group] = w
	}
	x := &transfer{b: b, issue: issue, group: group, rem: n}
	if w.active < w.limit {
		w.active++
		x.ready = addSat(l.now, l.latency)
		l.pre = append(l.pre, x)
		return
	}
	w.queue = append(w.queue, x)
}

// advance moves the link to t (>= now), calling land for every prefetch
// that completes by then, in time order, then issue order, with its
// completion time.
func (l *link) advance(t int64, land func(b int32, at int64)) {
	for {
		used, nextLoad := l.loadAt(l.now)
		horizon := min(t, nextLoad)
		moving := l.moving[:0]
		for _, x := range l.pre {
			if x.ready <= l.now {
				moving = append(moving, x)
			} else {
				horizon = min(horizon, x.ready)
			}
		}
		rate := 0.0
		if len(moving) > 0 {
			rate = min(l.perGet, max(l.bw-used, 0)/float64(len(moving)))
		}
		if rate > 0 {
			least := moving[0].rem
			for _, x := range moving[1:] {
				least = min(least, x.rem)
			}
			horizon = min(horizon, addSat(l.now, moveNs(least, rate)))
		}
		l.moving = moving
		if dt := horizon - l.now; dt > 0 && rate > 0 {
			moved := rate * float64(dt) / 1e9
			for _, x := range moving {
				x.rem -= moved
			}
		}
		l.now = horizon
		landed := false
		if rate > 0 {
			kept := l.pre[:0]
			var started []*transfer
			for _, x := range l.pre {
				if x.ready <= l.now && done(x.rem, rate) {
					land(x.b, l.now)
					landed = true
					if n := l.finish(x.group); n != nil {
						started = append(started, n)
					}
					continue
				}
				kept = append(kept, x)
			}
			clear(l.pre[len(kept):])
			l.pre = append(kept, started...)
		}
		if l.now >= t && !landed {
			break
		}
	}
	l.prune()
}

// finish frees a slot of group's window and returns the GET it starts
// now, if one was waiting.
func (l *link) finish(group uint64) *transfer {
	w := l.groups[group]
	if len(w.queue) == 0 {
		if w.active--; w.active == 0 {
			delete(l.groups, group)
		}
		return nil
	}
	x := w.queue[0]
	w.queue = w.queue[1:]
	x.ready = addSat(l.now, l.latency)
	return x
}

// prune drops the loads' breakpoints before now.
func (l *link) prune() {
	i := 0
	for i+1 < len(l.load) && l.load[i+1].at <= l.now {
		i++
	}
	if i > 0 {
		l.load = slices.Delete(l.load, 0, i)
	}
}

// join turns the prefetch of block b in flight (or waiting for its
// window) into a request's load from now on, and returns when it
// completes; false if no prefetch of b is in flight.
func (l *link) join(b int32) (int64, bool) {
	for i, x := range l.pre {
		if x.b == b {
			l.pre = slices.Delete(l.pre, i, i+1)
			if n := l.finish(x.group); n != nil {
				l.pre = append(l.pre, n)
			}
			return l.demandFrom(max(x.ready, l.now), x.rem), true
		}
	}
	for _, w := range l.groups {
		if i := slices.IndexFunc(w.queue, func(x *transfer) bool { return x.b == b }); i >= 0 {
			x := w.queue[i]
			w.queue = slices.Delete(w.queue, i, i+1)
			return l.demand(l.now, x.rem), true
		}
	}
	return 0, false
}

// demandFrom books a load whose latency has run out at ready: n bytes
// from ready on.
func (l *link) demandFrom(ready int64, n float64) int64 {
	return l.demand(ready-l.latency, n)
}

// cancel drops every prefetch in flight or waiting (a restart).
func (l *link) cancel() {
	l.pre = l.pre[:0]
	clear(l.groups)
}
