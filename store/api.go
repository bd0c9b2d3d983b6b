package store

import (
	"context"
	"fmt"
	"io"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/internal/usefulness"
)

// The store's public API: what the cycle's stages ask ([Store.ContainsFlat],
// [Store.InFlight], [Store.FreeBytes], [Store.Materialize]) and the node's
// own writes and reads ([Store.Put], [Store.PutCold], [Store.Get]).

// ContainsFlat reports whether the flat tier holds block h of namespace ns
// as the store published it: indexed, and its file a plain file of the
// size published, checked with one lstat (a file that fails the check is
// dropped, see Stats.Damaged). An invalid namespace holds nothing.
func (s *Store) ContainsFlat(_ context.Context, ns string, h block.Hash) bool {
	n, err := nameOf(ns, h)
	if err != nil || s.closed.Load() {
		return false
	}
	_, ok := s.inFlat(n, 0)
	return ok
}

// InFlight reports whether a cold GET of block h of namespace ns is running
// (for a Materialize or a Get), which concurrent fetches of it would join.
// It is a pre-filter's per-candidate check: with no GET running (the
// common case) it names nothing and allocates nothing.
func (s *Store) InFlight(ns string, h block.Hash) bool {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if len(s.flights) == 0 {
		return false
	}
	n, err := nameOf(ns, h)
	if err != nil {
		return false
	}
	_, ok := s.flights[n.id()]
	return ok
}

// Materialize fetches block h of namespace ns, whose index entry is m,
// from the cold tier into the flat tier, entering it in the recency order
// as Config.Admission says. It returns the payload size and found=true
// once the block is in flat (at once, without a GET, when it already
// was); found=false and a nil error when the cold tier does not hold it;
// or an error whose reason pipeline.FailureReason names (ReasonCorrupt,
// ReasonSize, ReasonUnverified, ReasonTooLarge, ReasonBadName, or the
// context's). When m.PayloadBytes is not zero the object's size must
// equal it, and so must the size of a block already in flat: one of
// another size is dropped and fetched afresh. On any failure nothing is
// published. Concurrent fetches of one block, here or in Get, share one
// GET.
func (s *Store) Materialize(ctx context.Context, ns string, h block.Hash, m block.Meta) (int64, bool, error) {
	n, err := nameOf(ns, h)
	if err != nil {
		return 0, false, err
	}
	if s.closed.Load() {
		return 0, false, ErrClosed
	}
	// Size is the module's rule for sizes: PayloadBytes 0 is unknown (no
	// size to check), and one above MaxInt64 is no size a tier holds.
	expect, known := m.Size()
	if !known && m.PayloadBytes != 0 {
		s.st.rejected.Add(1)
		return 0, false, failf(ReasonTooLarge, "store: %s: index says %d bytes, more than any tier holds", n.object(), m.PayloadBytes)
	}
	if size, ok := s.inFlat(n, expect); ok {
		return size, true, nil
	}
	if m.PayloadBytes > uint64(s.maxSize(s.adm.Place())) {
		s.st.rejected.Add(1)
		return 0, false, failf(ReasonTooLarge, "store: %s: index says %d bytes, more than the flat tier admits (%d bytes)", n.object(), m.PayloadBytes, s.maxSize(s.adm.Place()))
	}
	r, _, err := s.shared(ctx, n, expect, s.adm.Place(), true)
	return r.n, r.found, err
}

// PutCold stores payload as the block with key (a [block.Key]) in
// namespace ns in the cold tier only, with its BLAKE3-256 as metadata
// "b3", leaving flat as it is: what another node's write looks like from
// here (tools that seed or backfill a bucket use it).
func (s *Store) PutCold(ctx context.Context, ns, key string, payload []byte) error {
	n, err := parseName(ns, key)
	if err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return s.putCold(ctx, n, payload)
}

// FreeBytes returns the payload bytes a prefetched block may take in flat
// without evicting anything: the room where Config.Admission puts it (the
// budget less what flat holds; with probation admission, no more than the
// probation segment's room) less what the cold fetches in flight will
// publish. The budget is shared by every namespace; an invalid namespace
// has none. It is what the free-room filter (filter.FreeRoom) asks: a
// filter.Room.
func (s *Store) FreeBytes(ns string) int64 {
	if block.ValidateNamespace(ns) != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.rec.room(s.adm.Place())-s.pending, 0)
}

// Put stores payload as the block with key (a [block.Key]) in namespace ns:
// first in the cold tier, with its BLAKE3-256 as metadata "b3", then in
// the flat tier as the most recently used block. A payload larger than
// the flat budget goes to cold only. A nil error means the cold tier holds
// the block.
func (s *Store) Put(ctx context.Context, ns, key string, payload []byte) error {
	n, err := parseName(ns, key)
	if err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.putCold(ctx, n, payload); err != nil {
		return err
	}
	obj, size := n.object(), int64(len(payload))
	if size > s.maxSize(placeFront) {
		return nil
	}
	tmp, err := s.writeTemp(n, func(w io.Writer) error {
		_, err := w.Write(payload)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put %s: in cold, but not in flat: %w", obj, err)
	}
	if err := s.publish(tmp, n, size, placeFront, nil); err != nil {
		return fmt.Errorf("store: put %s: in cold, but not in flat: %w", obj, err)
	}
	return nil
}

// Get returns the payload of the block with key (a [block.Key]) in
// namespace ns: from the flat tier when it holds it as published (indexed,
// a plain file of the size published; marking it most recently used),
// else from the cold tier, verified as Materialize verifies, then
// published to flat. A block flat cannot take (larger than FlatBudget, or
// refused by the flat disk) is read from cold into memory, verified and
// not published: at most Config.MaxObjectBytes, and the memory follows
// the bytes received, not the size the object declares. It returns an
// error wrapping [ErrNotFound] when neither tier holds the block.
func (s *Store) Get(ctx context.Context, ns, key string) ([]byte, error) {
	// A flat file that fails its read is dropped (Reader.Read): the
	// second try fetches it afresh.
	for try := 0; ; try++ {
		r, err := s.NewReader(ctx, ns, key)
		if err != nil {
			return nil, err
		}
		if r.data != nil {
			return r.data, nil
		}
		data := make([]byte, r.size)
		_, err = io.ReadFull(r, data)
		r.Close()
		switch {
		case err == nil:
			return data, nil
		case try == 1:
			return nil, err
		}
	}
}

// readDirect is Get's read of block n from cold into memory, counted as a
// read by way via once it succeeds.
func (s *Store) readDirect(ctx context.Context, n name, via usefulness.Read) ([]byte, error) {
	data, err := s.direct(ctx, n)
	if err == nil {
		s.countRead(n, via)
	}
	return data, err
}

// maxSize is the largest block that may enter flat at p.
func (s *Store) maxSize(p place) int64 { return s.rec.maxSize(p) }
