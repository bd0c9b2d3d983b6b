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
	n     int64
	found bool
}

// shared fetches block n from cold into flat once for every concurrent
// caller. The first caller leads: the GET runs under its context, and it
// waits for the GET to end (which its context bounds), so no goroutine
// outlives the call that started it. Others join and wait under their own
// contexts; a joiner whose leader's context ended while its own did not
// tries again, leading this time if no one else does.
func (s *Store) shared(ctx context.Context, n name, expect int64, p place) (fetched, error) {
	id := n.id()
	for attempt := 0; ; attempt++ {
		s.fmu.Lock()
		_, joining := s.flights[id]
		if !joining {
			s.flights[id] = struct{}{}
		}
		// Under fmu, flights and sf agree: when no flight is recorded, sf
		// runs no call for id, so this closure is the one that runs.
		ch := s.sf.DoChan(id, func() (any, error) { return s.flight(ctx, n, expect, p) })
		s.fmu.Unlock()
		if joining && s.hooks != nil && s.hooks.onJoin != nil {
			s.hooks.onJoin()
		}
		if !joining {
			r := <-ch
			return r.Val.(fetched), r.Err
		}
		select {
		case r := <-ch:
			if r.Err != nil && ctx.Err() == nil && attempt < 3 &&
				(errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) {
				continue // the leader's context ended, not ours
			}
			return r.Val.(fetched), r.Err
		case <-ctx.Done():
			return fetched{}, fmt.Errorf("store: get %s: %w", n.object(), ctx.Err())
		}
	}
}

// flight is the body of a shared fetch. It never panics (a panic inside
// singleflight's goroutine could not be recovered by the caller) and it
// ends the flight, under fmu, before singleflight hands out its result.
func (s *Store) flight(ctx context.Context, n name, expect int64, p place) (v any, err error) {
	v = fetched{}
	defer func() {
		if r := recover(); r != nil {
			v, err = fetched{}, failf(reasonPanic, "store: fetch %s panicked: %v", n.object(), r)
		}
		s.fmu.Lock()
		delete(s.flights, n.id())
		s.sf.Forget(n.id())
		s.fmu.Unlock()
	}()
	return s.fetch(ctx, n, expect, p)
}

// fetch GETs block n from cold, verifies it into a temporary file and
// publishes it to flat at p.
func (s *Store) fetch(ctx context.Context, n name, expect int64, p place) (fetched, error) {
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
	if err := s.publish(tmp, n, size, p); err != nil {
		return fetched{}, err
	}
	if sum == "" {
		s.st.unverified.Add(1)
	}
	return fetched{n: size, found: true}, nil
}
