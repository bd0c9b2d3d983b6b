package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress reports a replay's progress on stderr: on a terminal, a bar
// redrawn in place as replays finish and every second; elsewhere (a log,
// a CI job), a line every `every` (none when every is 0) and one at the
// end if any was written.
//
// The work is a sequence of parts (one [replay.Run] each: a trace, or a
// shard's scenario on a trace); a part's replay count is known once it
// reports. Until every part has, the total is an estimate, from the
// replays per result row of the parts seen so far.
type progress struct {
	w     io.Writer
	tty   bool
	every time.Duration
	now   func() time.Time

	mu           sync.Mutex
	start, last  time.Time
	rows         []int // results each part reports
	done, total  []int // replays of each part; total 0: not reported yet
	lines, width int   // lines written (not tty); the bar's width drawn (tty)
}

func newProgress(w io.Writer, tty bool, every time.Duration, now func() time.Time, rows []int) *progress {
	t := now()
	return &progress{w: w, tty: tty, every: every, now: now, start: t, last: t,
		rows: rows, done: make([]int, len(rows)), total: make([]int, len(rows))}
}

// off reports whether p writes nothing at all.
func (p *progress) off() bool { return !p.tty && p.every <= 0 }

// part returns the Progress callback of part i.
func (p *progress) part(i int) func(done, total int) {
	return func(done, total int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.done[i], p.total[i] = done, total
		p.draw(false)
	}
}

// tick redraws the bar (tty), or writes a line if one is due.
func (p *progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(false)
}

// finish ends the report: the bar's line ends; a log gets a last line if
// it got any.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.tty && p.width > 0:
		fmt.Fprintln(p.w)
	case !p.tty && p.lines > 0:
		p.draw(true)
	}
}

// run ticks p until ctx is done or the returned stop is called; stop
// returns once the ticking goroutine has exited.
func (p *progress) run(ctx context.Context) (stop func()) {
	every := p.every
	if p.tty {
		every = time.Second
	}
	if p.off() || every <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				p.tick()
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// counts returns the replays done, the total, and whether the total is
// exact (0 when no part has reported yet).
func (p *progress) counts() (done, total int, exact bool) {
	known, knownRows, unknownRows := 0, 0, 0
	for i, t := range p.total {
		done += p.done[i]
		if t > 0 {
			known += t
			knownRows += p.rows[i]
		} else {
			unknownRows += p.rows[i]
		}
	}
	if knownRows == 0 {
		return done, 0, false
	}
	est := (known*unknownRows + knownRows - 1) / knownRows
	return done, known + est, unknownRows == 0
}

// draw writes the report: always on a terminal and at the end (final),
// otherwise when a line is due.
func (p *progress) draw(final bool) {
	now := p.now()
	if p.off() || (!p.tty && !final && now.Sub(p.last) < p.every) {
		return
	}
	p.last = now
	done, total, exact := p.counts()
	elapsed := now.Sub(p.start).Round(time.Second)
	of := "?"
	if total > 0 {
		of = fmt.Sprint(total)
		if !exact {
			of = "~" + of
		}
	}
	left := ""
	if done > 0 && total > done {
		eta := time.Duration(float64(now.Sub(p.start)) * float64(total-done) / float64(done))
		left = fmt.Sprintf(", about %v left", eta.Round(time.Second))
	}
	switch {
	case p.tty:
		const bar = 24
		fill := 0
		if total > 0 {
			fill = min(bar, bar*done/total)
		}
		s := fmt.Sprintf("\rreplay: [%s%s] %d/%s replays, %v%s", strings.Repeat("#", fill), strings.Repeat("-", bar-fill), done, of, elapsed, left)
		pad := max(0, p.width-len(s))
		p.width = len(s)
		fmt.Fprint(p.w, s+strings.Repeat(" ", pad))
	case final:
		fmt.Fprintf(p.w, "replay: %d/%s replays in %v\n", done, of, elapsed)
	default:
		p.lines++
		fmt.Fprintf(p.w, "replay: %d/%s replays, %v elapsed%s\n", done, of, elapsed, left)
	}
}
