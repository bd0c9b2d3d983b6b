package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"sync"
	"time"

	"github.com/wombatkv/prefetch/block"
)

// Pipeline runs prefetch cycles composed from a [Config]. It is safe for
// concurrent use, but cycles run one at a time: a Run waits for the one in
// progress.
type Pipeline struct {
	cfg       Config
	observers []Observer

	mu   sync.Mutex // serializes cycles; guards the fields below
	seq  uint64
	seen map[block.Hash]struct{} // dedup across several sources, reused
	// extras are the candidates of the sources other than the index
	// source, extraSet their hashes, after whether each one's source
	// comes after the index source (see gather); batch holds the rows a
	// scan scores next. All are reused from cycle to cycle.
	extras   rows
	extraSet map[block.Hash]struct{}
	after    []bool
	batch    rows
	// warm is the last pruned cycle's selection, offered first by the
	// next pruned cycle (see scanPruned).
	warm []block.Hash
	// The last cycle's scan path and why, as logged.
	lastPath   ScanPath
	lastWhy    pathWhy
	lastReason string
}

// New returns a pipeline for cfg, with defaults filled in, or the error
// from [Config.Validate].
func New(cfg Config) (*Pipeline, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Pipeline{cfg: cfg}
	var stages []any
	for _, s := range cfg.Sources {
		stages = append(stages, s)
	}
	stages = append(stages, cfg.Scorer, cfg.Selector)
	for _, f := range cfg.PreFilters {
		stages = append(stages, f)
	}
	for _, f := range cfg.Filters {
		stages = append(stages, f)
	}
	stages = append(stages, cfg.Fetcher, cfg.Emitter)
	for _, s := range stages {
		if o, ok := s.(Observer); ok && !containsObserver(p.observers, o) {
			p.observers = append(p.observers, o)
		}
	}
	for _, o := range cfg.Observers {
		if !containsObserver(p.observers, o) {
			p.observers = append(p.observers, o)
		}
	}
	return p, nil
}

// containsObserver reports whether list holds o itself (a stage listed in
// two places, say as filter and as observer, observes once). A value that
// cannot be compared (a func, or a struct holding one in an interface
// field) is never found: comparing it with == would panic.
func containsObserver(list []Observer, o Observer) bool {
	if !reflect.ValueOf(o).Comparable() {
		return false
	}
	for _, x := range list {
		if x == o { // o's dynamic value is comparable: == cannot panic
			return true
		}
	}
	return false
}

// Config returns the pipeline's configuration, defaults filled in.
func (p *Pipeline) Config() Config { return p.cfg }

// Run runs one cycle and returns its outcome. It is synchronous: when it
// returns, every goroutine it started has exited. Canceling ctx ends the
// cycle early (fetches in flight are canceled and count as FailCanceled);
// the outcome is still emitted and observed, with Err set. A panic in any
// stage is recovered, logged with its stack and recorded in Outcome.Err;
// the next cycle runs as usual.
func (p *Pipeline) Run(ctx context.Context) *Outcome {
	p.mu.Lock()
	defer p.mu.Unlock()
	cfg := &p.cfg
	p.seq++
	started := time.Now()
	cy := &Cycle{
		Seq:          p.seq,
		Now:          cfg.Clock(),
		Namespace:    cfg.Namespace,
		TopK:         cfg.TopK,
		FetchTimeout: cfg.FetchTimeout,
	}
	o := &Outcome{Seq: cy.Seq, Start: cy.Now, Namespace: cy.Namespace, Skipped: map[string]int{}}

	p.scan(ctx, cy, o)
	o.Timings.Scan = time.Since(started)

	t := time.Now()
	survivors := p.filter(ctx, cy, o)
	o.Timings.Filter = time.Since(t)

	t = time.Now()
	p.fetch(ctx, cy, o, survivors)
	o.Timings.Fetch = time.Since(t)

	if o.Err == nil {
		o.Err = ctx.Err()
	}
	o.Elapsed = time.Since(started)

	if cfg.Emitter != nil {
		t = time.Now()
		p.guard(o, StageEmitter, func() { cfg.Emitter.Emit(ctx, o) })
		o.Timings.Emit = time.Since(t)
	}
	for _, obs := range p.observers {
		p.guard(o, StageObserver, func() { obs.Observe(o) })
	}
	return o
}

// guard runs f, turning a panic into o.Err (the first error wins) and a log
// line with the stack. It reports whether f returned normally.
func (p *Pipeline) guard(o *Outcome, stage Stage, f func()) (ok bool) {
	return p.guardAt(o, &stage, f)
}

// guardAt is guard for a step that runs several stages: *stage names the
// one running when f panicked.
func (p *Pipeline) guardAt(o *Outcome, stage *Stage, f func()) (ok bool) {
	defer func() {
		if ok {
			return
		}
		v := recover()
		stage := *stage
		pe := &PanicError{Stage: stage, Value: v, Stack: debug.Stack()}
		p.cfg.Logger.Error("prefetch stage panicked; cycle continues without it",
			slog.String("stage", string(stage)), slog.Uint64("cycle", o.Seq),
			slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(pe.Stack)))
		if o.Err == nil {
			o.Err = pe
		}
	}()
	f()
	return true
}

// preFiltered runs the pre-filters on c and reports whether one dropped
// it, counting the drop in o.Skipped.
func (p *Pipeline) preFiltered(ctx context.Context, cy *Cycle, o *Outcome, c Candidate) bool {
	for _, f := range p.cfg.PreFilters {
		if r := f.Skip(ctx, cy, c); r != "" {
			o.Skipped[r]++
			return true
		}
	}
	return false
}

// filter runs the post-selection filters over o.Selected and returns the
// candidates that still need a fetch.
func (p *Pipeline) filter(ctx context.Context, cy *Cycle, o *Outcome) []Candidate {
	if o.Err != nil || len(o.Selected) == 0 {
		return nil
	}
	if len(p.cfg.Filters) == 0 {
		return o.Selected
	}
	survivors := make([]Candidate, 0, len(o.Selected))
	ok := p.guard(o, StageFilter, func() {
	cands:
		for _, c := range o.Selected {
			for _, f := range p.cfg.Filters {
				if r := f.Skip(ctx, cy, c); r != "" {
					o.Skipped[r]++
					continue cands
				}
			}
			survivors = append(survivors, c)
		}
	})
	if !ok {
		return nil
	}
	return survivors
}

// fetch runs the fetch stage and tallies its results into o.
func (p *Pipeline) fetch(ctx context.Context, cy *Cycle, o *Outcome, cands []Candidate) {
	if p.cfg.Fetcher == nil || len(cands) == 0 || ctx.Err() != nil {
		return
	}
	if budget := p.cfg.CycleByteBudget; budget > 0 {
		kept := cands[:0:0]
		for _, c := range cands {
			n, known := c.Meta.Size()
			if !known {
				o.Skipped[SkipUnknownSize]++
				continue
			}
			if n > budget {
				o.Skipped[SkipByteBudget]++
				continue
			}
			budget -= n
			kept = append(kept, c)
		}
		if cands = kept; len(cands) == 0 {
			return
		}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, p.cfg.CycleFetchTimeout, ErrCycleDeadline)
	defer cancel()
	var res []FetchResult
	p.guard(o, StageFetcher, func() { res = p.cfg.Fetcher.Fetch(ctx, cy, cands) })
	o.Fetches = res
	for _, r := range res {
		if r.Fetched() {
			o.Fetched++
			o.BytesMaterialized += r.Bytes
			continue
		}
		o.Failed++
		if o.FailedBy == nil {
			o.FailedBy = map[string]int{}
		}
		o.FailedBy[r.Reason]++
	}
}
