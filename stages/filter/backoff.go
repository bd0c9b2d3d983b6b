package filter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// Defaults of [Backoff].
const (
	DefaultBackoffBase       = time.Second
	DefaultBackoffMax        = 5 * time.Minute
	DefaultBackoffMaxEntries = 1 << 16
)

// Backoff skips a block that failed to fetch recently, with reason
// pipeline.SkipBackoff, so that a block that keeps failing (deleted from
// cold, corrupt, timing out) does not take a top-K slot and a GET every
// cycle. After the n-th consecutive failure the block is skipped for
// Base·2^(n-1), capped at Max; a successful fetch forgets it.
//
// It learns from each finished cycle through [pipeline.Observer]: list it
// in Config.PreFilters (so the top K is chosen among the others, which get
// its slot meanwhile) or Config.Filters, and the pipeline shows it every
// Outcome. A failure with reason pipeline.FailCanceled (the worker stopped)
// says nothing about the block and is ignored. Time is the cycle's clock
// (Cycle.Now, Outcome.Start), so it backs off on virtual time in replay.
//
// Memory is bounded: an entry is forgotten once it has been eligible again
// for Max without failing, and past MaxEntries the entries that become
// eligible soonest are dropped first. A negative field counts as its
// default; [Backoff.Validate] reports it (pipeline.New calls it). Safe for
// concurrent use; Skip costs one atomic load while nothing is remembered.
type Backoff struct {
	// Base is the first backoff (default 1 s).
	Base time.Duration
	// Max caps the backoff (default 5 min).
	Max time.Duration
	// MaxEntries bounds the blocks remembered (default 65536).
	MaxEntries int

	n  atomic.Int64 // len(m), read without the lock
	mu sync.Mutex
	m  map[backoffKey]backoffEntry
}

type backoffKey struct {
	ns string
	h  block.Hash
}

type backoffEntry struct {
	fails int
	until int64 // unix ns: skipped while now < until
}

// NewBackoff returns a backoff filter with the given base and cap (0 means
// the defaults). It checks nothing: [Backoff.Validate] does, and
// pipeline.New calls it.
func NewBackoff(base, ceiling time.Duration) *Backoff {
	return &Backoff{Base: base, Max: ceiling}
}

// Validate reports a negative field.
func (b *Backoff) Validate() error {
	if b == nil {
		return errors.New("filter: Backoff is nil")
	}
	var errs []error
	if b.Base < 0 {
		errs = append(errs, fmt.Errorf("filter: Backoff.Base = %v, want >= 0 (0 means the default, %v)", b.Base, DefaultBackoffBase))
	}
	if b.Max < 0 {
		errs = append(errs, fmt.Errorf("filter: Backoff.Max = %v, want >= 0 (0 means the default, %v)", b.Max, DefaultBackoffMax))
	}
	if b.MaxEntries < 0 {
		errs = append(errs, fmt.Errorf("filter: Backoff.MaxEntries = %d, want >= 0 (0 means the default, %d)", b.MaxEntries, DefaultBackoffMaxEntries))
	}
	return errors.Join(errs...)
}

func (b *Backoff) settings() (base, ceiling time.Duration, entries int) {
	base, ceiling, entries = b.Base, b.Max, b.MaxEntries
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if ceiling <= 0 {
		ceiling = DefaultBackoffMax
	}
	if entries <= 0 {
		entries = DefaultBackoffMaxEntries
	}
	return base, max(ceiling, base), entries
}

// Inline marks Backoff as a [pipeline.InlineFilter]: an in-memory lookup.
func (b *Backoff) Inline() {}

// Skip returns pipeline.SkipBackoff while c is backing off.
func (b *Backoff) Skip(_ context.Context, cy *pipeline.Cycle, c pipeline.Candidate) string {
	if b.n.Load() == 0 {
		return ""
	}
	b.mu.Lock()
	e, ok := b.m[backoffKey{cy.Namespace, c.Hash}]
	b.mu.Unlock()
	if ok && cy.Now.UnixNano() < e.until {
		return pipeline.SkipBackoff
	}
	return ""
}

// Observe records the cycle's fetch failures and successes.
func (b *Backoff) Observe(o *pipeline.Outcome) {
	if len(o.Fetches) == 0 && b.n.Load() == 0 {
		return
	}
	base, ceiling, limit := b.settings()
	now := o.Start.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[backoffKey]backoffEntry)
	}
	for _, r := range o.Fetches {
		k := backoffKey{o.Namespace, r.Hash}
		switch {
		case r.Fetched():
			delete(b.m, k)
		case r.Reason != pipeline.FailCanceled:
			e := b.m[k]
			e.fails++
			d := ceiling
			if shift := e.fails - 1; shift < 62 && base<<shift > 0 && base<<shift < ceiling {
				d = base << shift
			}
			e.until = now + int64(d)
			b.m[k] = e
		}
	}
	b.trim(now, int64(ceiling), limit)
	b.n.Store(int64(len(b.m)))
}

// trim forgets entries eligible for longer than max, then, past limit, the
// entries that become eligible soonest.
func (b *Backoff) trim(now, ceiling int64, limit int) {
	for k, e := range b.m {
		if now-e.until > ceiling {
			delete(b.m, k)
		}
	}
	if len(b.m) <= limit {
		return
	}
	type kv struct {
		k backoffKey
		e backoffEntry
	}
	all := make([]kv, 0, len(b.m))
	for k, e := range b.m {
		all = append(all, kv{k, e})
	}
	slices.SortFunc(all, func(a, b kv) int { return cmp.Compare(a.e.until, b.e.until) })
	for _, x := range all[:len(all)-limit] {
		delete(b.m, x.k)
	}
}

// Len returns the number of blocks remembered.
func (b *Backoff) Len() int { return int(b.n.Load()) }
