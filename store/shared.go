package store

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Shared fetches: one cold GET of a block for every concurrent caller,
// whether it prefetches (Materialize) or reads (Get).

// fetched is the result of a shared cold fetch.
type fetched struct {
	n       int64
	found   bool
	already bool // flat held it by the time the flight looked: no GET
}

// shared fetches block n from cold into flat once for every concurrent
// caller. The first caller leads: the GET runs under its context, and it
// waits for the GET to end (which its context bounds), so no goroutine
// outlives the call that started it. Others join and wait under their own
// contexts; a joiner whose leader's context ended while its own did not
// tries again, leading this time if no one else does. prefetch says the
// caller is Materialize (a Get's is false): what a flight led by a
// prefetch publishes is a prefetched block, and a Get that joins one makes
// it late. joined reports whether the caller joined another's GET.
func (s *Store) shared(ctx context.Context, n name, expect int64, p place, prefetch bool) (_ fetched, joined bool, _ error) {
	id := n.id()
	for attempt := 0; ; attempt++ {
		s.fmu.Lock()
		fl, joining := s.flights[id]
		if !joining {
			fl = &flight{prefetch: prefetch}
			s.flights[id] = fl
			if prefetch {
				s.prefetching[n.ns]++
			}
		} else if !prefetch && !fl.joined {
			fl.joined, fl.joinedAt = true, s.clock()
		}
		// Under fmu, flights and sf agree: when no flight is recorded, sf
		// runs no call for id, so this closure is the one that runs.
		ch := s.sf.DoChan(id, func() (any, error) { return s.flight(ctx, n, expect, p, fl) })
		s.fmu.Unlock()
		joined = joined || joining
		if joining && s.hooks != nil && s.hooks.onJoin != nil {
			s.hooks.onJoin()
		}
		if !joining {
			r := <-ch
			return r.Val.(fetched), joined, r.Err
		}
		select {
		case r := <-ch:
			if r.Err != nil && ctx.Err() == nil && attempt < 3 &&
				(errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) {
				continue // the leader's context ended, not ours
			}
			return r.Val.(fetched), joined, r.Err
		case <-ctx.Done():
			return fetched{}, joined, fmt.Errorf("store: get %s: %w", n.object(), ctx.Err())
		}
	}
}

// flight is the body of a shared fetch. It never panics (a panic inside
// singleflight's goroutine could not be recovered by the caller) and it
// ends the flight, under fmu, before singleflight hands out its result.
func (s *Store) flight(ctx context.Context, n name, expect int64, p place, fl *flight) (v any, err error) {
	v = fetched{}
	defer func() {
		if r := recover(); r != nil {
			v, err = fetched{}, failf(reasonPanic, "store: fetch %s panicked: %v", n.object(), r)
		}
		s.fmu.Lock()
		delete(s.flights, n.id())
		if fl.prefetch {
			if s.prefetching[n.ns]--; s.prefetching[n.ns] == 0 {
				delete(s.prefetching, n.ns)
			}
		}
		s.sf.Forget(n.id())
		s.fmu.Unlock()
	}()
	return s.fetch(ctx, n, expect, p, fl)
}

// fetch GETs block n from cold, verifies it into a temporary file and
// publishes it to flat at p, for flight fl. A block that flat holds by now
// (a fetch that landed between the caller's look and this flight) is not
// fetched again.
func (s *Store) fetch(ctx context.Context, n name, expect int64, p place, fl *flight) (fetched, error) {
	if size, ok := s.inFlat(n, expect); ok {
		return fetched{n: size, found: true, already: true}, nil
	}
	r, sum, found, err := s.openCold(ctx, n, expect, s.maxSize(p), "the flat tier admits")
	if err != nil || !found {
		return fetched{}, err
	}
	defer r.Close()
	size := r.Size()
	s.mu.Lock()
	s.pending += size // until published or failed: FreeBytes counts it
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.pending -= size
		s.mu.Unlock()
	}()
	tmp, err := s.writeTemp(n, func(w io.Writer) error {
		return s.copyVerified(ctx, w, r, n.object(), size, sum)
	})
	if err != nil {
		s.countRejected(err)
		return fetched{}, err
	}
	if err := ctx.Err(); err != nil {
		s.flat.Remove(tmp)
		return fetched{}, fmt.Errorf("store: get %s: %w", n.object(), err)
	}
	if err := s.publish(tmp, n, size, p, fl); err != nil {
		return fetched{}, err
	}
	if sum == "" {
		s.st.unverified.Add(1)
	}
	return fetched{n: size, found: true}, nil
}
