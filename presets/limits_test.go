package presets_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// timedStore is a flat tier whose GETs take getTime on the clock (under
// synctest, virtual time), counting the GETs in flight (filter.Pending)
// and leasing what it holds (snapshot.Leaser).
type timedStore struct {
	getTime time.Duration

	mu       sync.Mutex
	flat     map[block.Hash]bool
	inFlight int
	most     int
	gets     int
	leases   []string
}

var (
	_ filter.Pending  = (*timedStore)(nil)
	_ snapshot.Leaser = (*timedStore)(nil)
	_ filter.InFlight = (*timedStore)(nil)
)

func newTimedStore(getTime time.Duration) *timedStore {
	return &timedStore{getTime: getTime, flat: map[block.Hash]bool{}}
}

func (s *timedStore) ContainsFlat(_ context.Context, _ string, h block.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flat[h]
}

func (s *timedStore) InFlight(string, block.Hash) bool { return false }

func (s *timedStore) Materialize(ctx context.Context, _ string, h block.Hash, m block.Meta) (int64, bool, error) {
	s.mu.Lock()
	s.inFlight++
	s.gets++
	s.most = max(s.most, s.inFlight)
	s.mu.Unlock()
	select {
	case <-time.After(s.getTime):
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.inFlight--
	s.flat[h] = true
	s.mu.Unlock()
	return 1, true, nil
}

func (s *timedStore) PendingGets(string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

func (s *timedStore) Lease(ns string, h block.Hash, until time.Time, pin bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	mode := "touch"
	if pin {
		mode = "pin"
	}
	s.leases = append(s.leases, ns+" "+h.String()[62:]+" "+mode+" "+until.UTC().Format("15:04:05.000"))
	return s.flat[h]
}

func (s *timedStore) counts() (gets, most int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets, s.most
}

// plainTiers are tiers that neither count their GETs nor lease.
type plainTiers struct{ s *timedStore }

func (p plainTiers) ContainsFlat(ctx context.Context, ns string, h block.Hash) bool {
	return p.s.ContainsFlat(ctx, ns, h)
}

func (p plainTiers) Materialize(ctx context.Context, ns string, h block.Hash, m block.Meta) (int64, bool, error) {
	return p.s.Materialize(ctx, ns, h, m)
}

// TestHintedMaxInFlight: the hints preset's cap counts the GETs in flight
// of every pipeline over the store. A grid worker's 5 GETs of 300 ms are
// in flight when 8 hints arrive: the hints worker starts 3, and the 5
// others once the grid's have landed; never more than 8 at once.
func TestHintedMaxInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newTimedStore(300 * time.Millisecond)
		idx := index.NewMemory(nil)
		for i := range 5 {
			idx.Insert(block.Hash{0: 1, 31: byte(i)}, block.Meta{PayloadBytes: 1})
		}
		grid, err := presets.Worker(presets.NameV3, presets.Options{Index: idx, Store: st, TopK: 5, Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		hints := snapshot.NewHints(snapshot.HintsConfig{})
		hw, err := presets.Worker(presets.NameHints, presets.Options{Store: st, Hints: hints})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		if err := grid.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer grid.Stop()
		synctest.Wait() // the grid's 5 GETs are in flight
		if err := hw.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer hw.Stop()
		due := time.Now().Add(10 * time.Second)
		for i := range 8 {
			hints.Add(snapshot.Hint{Hash: block.Hash{0: 2, 31: byte(i)}, Meta: block.Meta{PayloadBytes: 1}, Due: due})
		}
		synctest.Wait()
		if gets, most := st.counts(); gets != 5+3 || most != 8 {
			t.Errorf("with the grid's 5 in flight: %d GETs started, %d at most in flight; want 8 and 8", gets, most)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if gets, most := st.counts(); gets != 5+8 || most != 8 {
			t.Errorf("after 1 s: %d GETs, %d at most in flight; want 13 and 8", gets, most)
		}
	})
}

// TestHintedLease: on a store that leases, the hints preset leases a
// hinted block when its hint first reaches a cycle: touch by default,
// pin until Due + LeaseGrace when asked; none when told so or when the
// store cannot, and an explicit lease on such a store is an error.
func TestHintedLease(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		lease snapshot.LeaseMode
		grace time.Duration
		plain bool
		want  []string
	}{
		{"default", "", 0, false, []string{"tp-default 01 touch 00:00:03.000", "tp-default 02 touch 00:00:03.000"}},
		{"pin", snapshot.LeasePin, 250 * time.Millisecond, false, []string{"tp-default 01 pin 00:00:02.250", "tp-default 02 pin 00:00:02.250"}},
		{"none", snapshot.LeaseNone, 0, false, nil},
		{"store that cannot lease", "", 0, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newTimedStore(0)
			st.flat[block.Hash{31: 1}] = true
			var tiers presets.Tiers = st
			if tc.plain {
				tiers = plainTiers{st}
			}
			hints := snapshot.NewHints(snapshot.HintsConfig{})
			p, err := presets.New(presets.NameHints, presets.Options{
				Store: tiers, Hints: hints, Lease: tc.lease, LeaseGrace: tc.grace,
				Clock: func() time.Time { return t0 },
			})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				hints.Add(snapshot.Hint{Hash: block.Hash{31: byte(i + 1)}, Meta: block.Meta{PayloadBytes: 1}, Due: t0.Add(2 * time.Second)})
			}
			p.Run(context.Background())
			p.Run(context.Background()) // leased once per hint
			if diff := cmp.Diff(tc.want, st.leases); diff != "" {
				t.Errorf("leases mismatch (-want +got):\n%s", diff)
			}
			wantLeased := uint64(0)
			if len(tc.want) > 0 {
				wantLeased = 1 // block 1 was in flat
			}
			if got := hints.Stats().Leased; got != wantLeased {
				t.Errorf("Leased = %d, want %d", got, wantLeased)
			}
		})
	}
}

func TestHintedLimitErrors(t *testing.T) {
	st := newTimedStore(0)
	for _, tc := range []struct {
		o    presets.Options
		want []string
	}{
		{presets.Options{Store: plainTiers{st}, Lease: snapshot.LeasePin}, []string{
			`presets: Lease = "pin" needs a Store that leases (snapshot.Leaser), and presets_test.plainTiers does not; leave Lease empty for the default (touch when the store leases, else none)`,
		}},
		{presets.Options{Store: st, Lease: "hold", LeaseGrace: -1, MaxInFlight: -1}, []string{
			"presets: MaxInFlight = -1, want >= 1 (0 means the default, Limit)",
			`presets: Lease: snapshot: lease mode "hold", want "none", "touch" or "pin"`,
			"presets: LeaseGrace = -1ns, want >= 0 (0 means the default, 1s)",
		}},
	} {
		tc.o.Hints = snapshot.NewHints(snapshot.HintsConfig{})
		_, err := presets.Config(presets.NameHints, tc.o)
		var got []string
		if err != nil {
			got = strings.Split(err.Error(), "\n")
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Config error mismatch (-want +got):\n%s", diff)
		}
	}
}

// pendingRoomStore is a roomStore with GETs of other pipelines in flight.
type pendingRoomStore struct {
	*roomStore
	pending int
}

func (s pendingRoomStore) PendingGets(string) int { return s.pending }

// The warm-up holds the worker-wide cap too: with 6 GETs of another
// pipeline in flight it starts 2 of the 8 it would, and none with 8.
func TestWarmupMaxInFlight(t *testing.T) {
	now := time.Unix(1000, 0)
	idx := index.NewMemory(func() time.Time { return now })
	for i := byte(1); i <= 10; i++ {
		idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
			yield(hintHash(i), block.Meta{PayloadBytes: 10, LastAccessNs: now.Add(-time.Duration(i) * time.Second).UnixNano()})
		})
	}
	for _, tc := range []struct {
		pending int
		want    []byte
	}{{6, []byte{1, 2}}, {8, nil}, {0, []byte{1, 2, 3, 4, 5, 6, 7, 8}}} {
		st := pendingRoomStore{newRoomStore(1 << 20), tc.pending}
		p, err := presets.New(presets.NameWarmup, presets.Options{Index: idx, Store: st, Clock: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		p.Run(context.Background())
		if diff := cmp.Diff(tc.want, st.got()); diff != "" {
			t.Errorf("%d in flight: GETs mismatch (-want +got):\n%s", tc.pending, diff)
		}
	}
}
