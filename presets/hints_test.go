package presets_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// roomStore is a flat tier with a capacity, for the hint and warm-up
// presets: it records GETs and reports free room.
type roomStore struct {
	mu       sync.Mutex
	capacity int64
	flat     map[block.Hash]int64
	gets     []block.Hash
}

func newRoomStore(capacity int64) *roomStore {
	return &roomStore{capacity: capacity, flat: map[block.Hash]int64{}}
}

func (s *roomStore) ContainsFlat(_ context.Context, _ string, h block.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.flat[h]
	return ok
}

func (s *roomStore) Materialize(_ context.Context, _ string, h block.Hash, meta block.Meta) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := int64(max(meta.PayloadBytes, 1))
	s.flat[h] = n
	s.gets = append(s.gets, h)
	return n, true, nil
}

func (s *roomStore) FreeBytes(string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	free := s.capacity
	for _, n := range s.flat {
		free -= n
	}
	return free
}

func (s *roomStore) got() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []byte
	for _, h := range s.gets {
		out = append(out, h[31])
	}
	slices.Sort(out) // parallel fetches land in any order
	return out
}

func hintHash(b byte) block.Hash { return block.Hash{31: b} }

// Blocks due soon enough to land first, by deadline then prefix; the ones
// too late to land before their request after, the later deadline and the
// deeper block first.
func TestHintedRanking(t *testing.T) {
	now := time.Unix(100, 0)
	hints := snapshot.NewHints(snapshot.HintsConfig{})
	add := func(b byte, seq uint32, due time.Duration) {
		hints.Add(snapshot.Hint{Hash: hintHash(b), Meta: block.Meta{Seq: seq, PayloadBytes: 1}, Due: now.Add(due)})
	}
	add(1, 0, 50*time.Millisecond) // too late for a 100 ms GET
	add(2, 1, 50*time.Millisecond) // too late, deeper
	add(3, 0, 80*time.Millisecond) // too late, more slack
	add(4, 0, 2*time.Second)
	add(5, 1, 2*time.Second)
	add(6, 0, time.Second)
	st := newRoomStore(1 << 30)
	p, err := presets.New(presets.NameHints, presets.Options{
		Store: st, TopK: 6, Clock: func() time.Time { return now },
		Hints: hints, GetsPerSecond: 100, Burst: 6,
	})
	if err != nil {
		t.Fatal(err)
	}
	o := p.Run(context.Background())
	var got []byte
	for _, c := range o.Selected {
		got = append(got, c.Hash[31])
	}
	if diff := cmp.Diff([]byte{6, 4, 5, 3, 2, 1}, got); diff != "" {
		t.Errorf("selection order mismatch (-want +got):\n%s", diff)
	}
}

// The budget holds an event-driven pipeline to its rate: woken every
// 10 ms by a hint, it spends the bucket's 16 and then 16 per second.
func TestHintedBudget(t *testing.T) {
	now := time.Unix(100, 0)
	hints := snapshot.NewHints(snapshot.HintsConfig{})
	st := newRoomStore(1 << 30)
	p, err := presets.New(presets.NameHints, presets.Options{
		Store: st, Clock: func() time.Time { return now },
		Hints: hints,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := now
	for i := range 100 { // one hint and one cycle every 10 ms, for 1 s
		hints.Add(snapshot.Hint{Hash: block.Hash{0: byte(i), 31: 1}, Due: start.Add(time.Hour)})
		p.Run(context.Background())
		now = now.Add(10 * time.Millisecond)
	}
	// The bucket's 16 at once, then 16/s over the 0.99 s that followed:
	// 16 + 15.
	if got := len(st.got()); got != 16+15 {
		t.Errorf("%d GETs in 1 s, want %d", got, 16+15)
	}
}

// The hint preset tells its intake which hinted blocks it found in flat,
// metrics or not: such a hint is served, not expired.
func TestHintedCountsFlatHints(t *testing.T) {
	now := time.Unix(100, 0)
	clock := func() time.Time { return now }
	hints := snapshot.NewHints(snapshot.HintsConfig{Clock: clock})
	st := newRoomStore(1 << 30)
	st.flat[hintHash(1)] = 1 // already in flat
	hints.Add(snapshot.Hint{Hash: hintHash(1), Meta: block.Meta{PayloadBytes: 1}, Due: now.Add(time.Second)},
		snapshot.Hint{Hash: hintHash(2), Meta: block.Meta{PayloadBytes: 1}, Due: now.Add(time.Second)})
	p, err := presets.New(presets.NameHints, presets.Options{Store: st, Clock: clock, Hints: hints})
	if err != nil {
		t.Fatal(err)
	}
	p.Run(context.Background())
	got := hints.Stats()
	if got.AlreadyFlat != 1 || got.Fetched != 1 {
		t.Errorf("Stats: AlreadyFlat %d, Fetched %d; want 1, 1", got.AlreadyFlat, got.Fetched)
	}
}

func TestHintsConfigErrors(t *testing.T) {
	_, err := presets.Config(presets.NameHints, presets.Options{GetsPerSecond: -1, Burst: -2, Limit: -1})
	for _, want := range []string{"Options.Hints must be set", "Options.Store must be set", "Limit = -1", "GetsPerSecond = -1", "Burst = -2"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}

func TestWarmupConfigErrors(t *testing.T) {
	_, err := presets.Config(presets.NameWarmup, presets.Options{})
	for _, want := range []string{"Options.Index is nil", "Options.Store must be set"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
	_, err = presets.Config(presets.NameWarmup, presets.Options{Index: index.NewMemory(nil), Store: &memStore{}})
	if err == nil || !strings.Contains(err.Error(), "must implement filter.Room") {
		t.Errorf("a store without FreeBytes: err = %v, want it named", err)
	}
}

// The warm-up fetches the most recent blocks into free room only, and does
// not scan while flat has no room for the largest block seen.
func TestWarmup(t *testing.T) {
	now := time.Unix(1000, 0)
	idx := index.NewMemory(func() time.Time { return now })
	for i := byte(1); i <= 5; i++ {
		idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
			yield(hintHash(i), block.Meta{PayloadBytes: 10, LastAccessNs: now.Add(-time.Duration(i) * time.Second).UnixNano()})
		})
	}
	st := newRoomStore(35)
	var scored []int
	p, err := presets.New(presets.NameWarmup, presets.Options{Index: idx, Store: st, Clock: func() time.Time { return now },
		Emitters: []pipeline.Emitter{pipeline.EmitterFunc(func(_ context.Context, o *pipeline.Outcome) { scored = append(scored, o.Scored) })}})
	if err != nil {
		t.Fatal(err)
	}
	p.Run(context.Background()) // room for 3 of 10 B: the 3 most recent
	p.Run(context.Background()) // 5 B free, less than the largest block: no scan
	if diff := cmp.Diff([]byte{1, 2, 3}, st.got()); diff != "" {
		t.Errorf("GETs mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{5, 0}, scored); diff != "" {
		t.Errorf("scored per cycle mismatch (-want +got):\n%s", diff)
	}
}

// The warm-up never fetches a block of unknown size: it could need more
// than the free room, and its fetch would evict a hot block.
func TestWarmupUnknownSizes(t *testing.T) {
	now := time.Unix(1000, 0)
	idx := index.NewMemory(func() time.Time { return now })
	for i := byte(1); i <= 9; i++ {
		idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
			yield(hintHash(i), block.Meta{LastAccessNs: now.Add(-time.Duration(i) * time.Second).UnixNano()})
		})
	}
	st := newRoomStore(1 << 30)
	p, err := presets.New(presets.NameWarmup, presets.Options{Index: idx, Store: st, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	o := p.Run(context.Background())
	if got := st.got(); len(got) != 0 {
		t.Errorf("GETs of blocks of unknown size: %v, want none", got)
	}
	if diff := cmp.Diff(map[string]int{pipeline.SkipUnknownSize: 8}, o.Skipped); diff != "" {
		t.Errorf("Skipped mismatch (-want +got):\n%s", diff)
	}
}
