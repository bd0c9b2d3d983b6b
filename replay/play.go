package replay

import (
	"context"
	"maps"
	"time"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// play replays the whole trace with the policy's pipeline (nil for no
// prefetch): at each instant, GET completions land first, then the
// restart, then hints become visible, then the cycle (on the grid, or
// woken by a hint), then the requests of that instant in trace order.
//
// Grid cycles in an idle stretch that provably repeat the last one are
// credited without running (see idle.go), unless runIdle.
func (r *run) play(ctx context.Context, b *built, lead time.Duration, restart, runIdle bool) error {
	m := r.m
	n := m.requests()
	if n == 0 {
		return nil
	}
	first, last := m.t[0], m.t[n-1]
	const never = int64(1<<63 - 1)
	nextCycle := never
	var interval int64
	if b.p != nil {
		interval = int64(b.p.Config().Interval)
		nextCycle = addSat(first, interval-1) / interval * interval
		if first < 0 {
			nextCycle = first / interval * interval
		}
	}
	restartAt := never
	if restart {
		restartAt = first + (last-first)/2
	}
	H := int64(lead)
	hintPtr := n
	if b.hints != nil {
		hintPtr = 0
	}
	var scratch []snapshot.Hint
	// The last cycle's skip counts while it fetched nothing and nothing
	// has happened since, for quietFunc's again.
	var quietSkips map[string]int
	quietValid := false
	for r.ptr < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := m.t[r.ptr]
		if nextCycle <= last && nextCycle < t {
			t = nextCycle
		}
		if hintPtr < n && m.t[hintPtr]-H < t {
			t = m.t[hintPtr] - H
		}
		if restartAt < t {
			t = restartAt
		}
		r.now = t
		changed := r.complete(t)
		r.flat.Advance(t) // pins and guesses, on the virtual clock
		if restartAt == t {
			r.restart()
			restartAt = never
			changed = true
		}
		r.wake = false
		for hintPtr < n && m.t[hintPtr]-H == t {
			scratch = r.hintsOf(hintPtr, scratch)
			b.hints.Add(scratch...)
			hintPtr++
			changed = true
		}
		if changed {
			quietValid = false
		}
		grid := nextCycle == t && nextCycle <= last
		if grid {
			nextCycle = addSat(nextCycle, interval)
		}
		if grid || (r.wake && b.p != nil) {
			o := b.p.Run(ctx)
			if o.Err != nil {
				return o.Err
			}
			r.cycles++
			r.ran++
			for k, v := range o.Skipped {
				r.skipped[k] += v
			}
			r.schedule(o)
			served := r.ptr < n && m.t[r.ptr] == t
			if len(o.Fetches) > 0 || served {
				quietValid = false
			} else {
				again := quietValid && maps.Equal(quietSkips, o.Skipped)
				quietSkips, quietValid = o.Skipped, true
				if !runIdle && b.quiet != nil && r.pending == 0 && r.failed == 0 {
					nextCycle = r.skipIdle(b, o, again, nextCycle, interval, min(m.t[r.ptr], hintTime(m, hintPtr, H), restartAt), last)
				}
			}
		}
		for r.ptr < n && m.t[r.ptr] == t {
			r.serve(r.ptr)
			r.ptr++
			quietValid = false
		}
	}
	if b.hints != nil {
		r.hintDropped = b.hints.Dropped()
	}
	return nil
}

// hintTime returns when request i becomes a hint, or never past the end.
func hintTime(m *model, i int, lead int64) int64 {
	if i >= m.requests() {
		return 1<<63 - 1
	}
	return m.t[i] - lead
}

// skipIdle credits the grid cycles from next on that come before end (the
// next event) and no later than last, as far as the policy promises they
// repeat o, the cycle just run at r.now, and returns the next cycle to
// run.
func (r *run) skipIdle(b *built, o *pipeline.Outcome, again bool, next, interval, end, last int64) int64 {
	upto := min(end-1, last)
	if next > upto {
		return next
	}
	upto = min(upto, b.quiet(r, o, end, again))
	if next > upto {
		return next
	}
	k := (upto-next)/interval + 1
	r.cycles += int(k)
	for reason, v := range o.Skipped {
		r.skipped[reason] += int(k) * v
	}
	return addSat(next, k*interval)
}
