package policy_test

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// The fixture: an index of fixtureBlocks entries, and a store whose tiers
// exercise every stage: blocks missing from cold, blocks whose fetch
// fails, blocks already in flat, blocks in flight, blocks of unknown size
// and a flat tier of bounded room.
const fixtureBlocks = 300

var (
	fixtureStart = time.Unix(1_700_000_000, 0)
	activeModel  = block.ModelDigest{1, 2, 3}
)

func fixtureHash(i int) block.Hash { return block.Hash{byte(i), byte(i >> 8), 0xab} }

// fixtureIndex returns the fixture's index: chains of four (Seq 0..3),
// payloads of 0 (unknown) to 4 KiB, block i read i x 10 s ago, a third of
// them of the active model.
func fixtureIndex() *index.Memory {
	idx := index.NewMemory(func() time.Time { return fixtureStart })
	idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := range fixtureBlocks {
			m := block.Meta{
				Seq:          uint32(i % 4),
				PayloadBytes: uint64(i%5) * 1024,
				LastAccessNs: fixtureStart.Add(-time.Duration(i) * 10 * time.Second).UnixNano(),
			}
			if m.Seq > 0 {
				m.Parent = fixtureHash(i - 1)
			}
			if i%3 == 0 {
				m.Model = activeModel
			}
			if !yield(fixtureHash(i), m) {
				return
			}
		}
	})
	return idx
}

var errBroken = errors.New("broken block")

// fakeStore is the fixture's tiers. It implements filter.Flat,
// fetch.Materializer, filter.InFlight and filter.Room.
type fakeStore struct {
	mu       sync.Mutex
	capacity int64
	flat     map[block.Hash]int64
	inFlight map[block.Hash]bool
}

// newFakeStore returns the fixture's store, the same at every call: block
// i is missing from cold when i%7 == 0, fails to fetch when i%5 == 3, is in
// flight when i%13 == 4 and already in flat when i%17 == 0; flat has room
// for 48 KiB.
func newFakeStore() *fakeStore {
	s := &fakeStore{capacity: 48 << 10, flat: map[block.Hash]int64{}, inFlight: map[block.Hash]bool{}}
	for i := range fixtureBlocks {
		if i%13 == 4 {
			s.inFlight[fixtureHash(i)] = true
		}
		if i%17 == 0 {
			s.flat[fixtureHash(i)] = int64(i%5) * 1024
		}
	}
	return s
}

func fixtureIndexOf(h block.Hash) int { return int(h[0]) | int(h[1])<<8 }

func (s *fakeStore) ContainsFlat(_ context.Context, _ string, h block.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.flat[h]
	return ok
}

func (s *fakeStore) Materialize(_ context.Context, _ string, h block.Hash, m block.Meta) (int64, bool, error) {
	i := fixtureIndexOf(h)
	switch {
	case i%7 == 0:
		return 0, false, nil
	case i%5 == 3:
		return 0, false, errBroken
	}
	n := int64(m.PayloadBytes)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flat[h] = n
	return n, true, nil
}

func (s *fakeStore) InFlight(_ string, h block.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight[h]
}

func (s *fakeStore) FreeBytes(string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	free := s.capacity
	for n := range maps.Values(s.flat) {
		free -= n
	}
	return free
}

// plainStore is a store that tracks no fetches in flight and reports no
// room: only filter.Flat and fetch.Materializer.
type plainStore struct{ s *fakeStore }

func (p plainStore) ContainsFlat(ctx context.Context, ns string, h block.Hash) bool {
	return p.s.ContainsFlat(ctx, ns, h)
}

func (p plainStore) Materialize(ctx context.Context, ns string, h block.Hash, m block.Meta) (int64, bool, error) {
	return p.s.Materialize(ctx, ns, h, m)
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// addHints feeds h the fixture's hints of cycle n: ten blocks, due from
// 50 ms (too late to land) to 2 s after now.
func addHints(h *snapshot.Hints, n int, now time.Time) {
	for j := range 10 {
		i := (n*10 + j) * 7 % fixtureBlocks
		h.Add(snapshot.Hint{
			Hash: fixtureHash(i),
			Meta: block.Meta{Seq: uint32(j % 3), PayloadBytes: uint64(j+1) * 512},
			Due:  now.Add(time.Duration(50+j*j*20) * time.Millisecond),
		})
	}
}
