package snapshot_test

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

var _ pipeline.Observer = (*snapshot.Hints)(nil)

// fakeClock is a virtual clock, as the replay lab's: it moves only when
// told.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// fakeTiers is a flat tier over a cold one, both maps. Each GET takes
// getTime on the virtual clock, hit or miss.
type fakeTiers struct {
	clock   *fakeClock
	getTime time.Duration
	flat    map[block.Hash]bool
	cold    map[block.Hash]bool
}

func newFakeTiers(c *fakeClock, getTime time.Duration) *fakeTiers {
	return &fakeTiers{clock: c, getTime: getTime, flat: map[block.Hash]bool{}, cold: map[block.Hash]bool{}}
}

func (s *fakeTiers) ContainsFlat(_ context.Context, _ string, h block.Hash) bool { return s.flat[h] }

func (s *fakeTiers) Materialize(_ context.Context, _ string, h block.Hash, _ block.Meta) (int64, bool, error) {
	s.clock.now = s.clock.now.Add(s.getTime)
	if !s.cold[h] {
		return 0, false, nil
	}
	s.flat[h] = true
	return 1, true, nil
}

// hintPipeline returns a pipeline over h as the hints preset builds one:
// the intake as its source, flat blocks dropped before selection (through
// h.WatchFlat), the survivors fetched one after another.
func hintPipeline(t testing.TB, h *snapshot.Hints, c *fakeClock, st *fakeTiers) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.New(pipeline.Config{
		Sources:    []pipeline.Source{h},
		Scorer:     pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return 1 }),
		Selector:   topk.Heap{},
		PreFilters: []pipeline.Filter{filter.NewAlreadyFlat(h.WatchFlat(st))},
		Fetcher:    fetch.NewSequential(st),
		Clock:      c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// buckets returns the non-empty buckets of hh by upper bound ("+Inf" for
// the last).
func buckets(hh snapshot.HintHistogram) map[string]uint64 {
	got := map[string]uint64{}
	for i, n := range hh.Counts {
		if n == 0 {
			continue
		}
		le := "+Inf"
		if i < len(hh.Bounds) {
			le = strconv.FormatFloat(hh.Bounds[i], 'g', -1, 64)
		}
		got[le] = n
	}
	return got
}

// statsView is HintStats with its histograms reduced to their non-empty
// buckets, count and sum.
type statsView struct {
	Added, Dropped, Expired, Fetched, AlreadyFlat uint64
	Pending                                       int
	Lag, Slack, FlatShare                         histView
}

type histView struct {
	Buckets map[string]uint64
	Count   uint64
	Sum     float64
}

func view(s snapshot.HintStats) statsView {
	hv := func(hh snapshot.HintHistogram) histView { return histView{buckets(hh), hh.Count, hh.Sum} }
	return statsView{s.Added, s.Dropped, s.Expired, s.Fetched, s.AlreadyFlat, s.Pending, hv(s.Lag), hv(s.Slack), hv(s.FlatShare)}
}

// TestHintStats follows hints through three cycles of a real pipeline on
// a virtual clock where each GET takes 250 ms: every count, and every
// bucket of the lag and the slack, is known exactly.
func TestHintStats(t *testing.T) {
	c := &fakeClock{now: at}
	st := newFakeTiers(c, 250*time.Millisecond)
	for i := byte(1); i <= 6; i++ {
		st.cold[hh(i)] = i != 4 // 4 is nowhere: its GET misses
	}
	st.flat[hh(3)] = true
	h := snapshot.NewHints(snapshot.HintsConfig{Capacity: 5, Clock: c.Now})
	p := hintPipeline(t, h, c, st)
	s := func(d time.Duration) time.Time { return at.Add(d) }
	empty := map[string]uint64{}

	// At 0: four hints. 3 is in flat already; 4 misses.
	h.Add(snapshot.Hint{Hash: hh(1), Due: s(5 * time.Second)},
		snapshot.Hint{Hash: hh(2), Due: s(1500 * time.Millisecond)},
		snapshot.Hint{Hash: hh(3), Due: s(5 * time.Second)},
		snapshot.Hint{Hash: hh(4), Due: s(1200 * time.Millisecond)})

	// At 1 s, cycle 1 fetches 1, 2 and 4, and ends at 1.75 s: 1 and 2
	// landed 1.75 s after their Add, 1 with 3.25 s to spare, 2 late by
	// 0.25 s. 3 was found in flat; 4 missed, so its hint waits.
	c.now = s(time.Second)
	if o := p.Run(context.Background()); o.Fetched != 2 || o.Failed != 1 || o.SkippedAlreadyFlat() != 1 {
		t.Fatalf("cycle 1: fetched %d, failed %d, skipped %v; want 2, 1 and 1 already flat", o.Fetched, o.Failed, o.Skipped)
	}
	lag := histView{map[string]uint64{"2.5": 2}, 2, 3.5}
	slack := histView{map[string]uint64{"-0.1": 1, "5": 1}, 2, 3}
	want := statsView{Added: 4, Fetched: 2, AlreadyFlat: 1, Pending: 4, Lag: lag, Slack: slack, FlatShare: histView{Buckets: empty}}
	if diff := cmp.Diff(want, view(h.Stats())); diff != "" {
		t.Errorf("after cycle 1, stats mismatch (-want +got):\n%s", diff)
	}

	// At 1.75 s: three more hints overflow the five slots, dropping the
	// two oldest (1 and 2, served already). The new hint of 1 comes after
	// its fetch.
	h.Add(snapshot.Hint{Hash: hh(1), Due: s(10 * time.Second)},
		snapshot.Hint{Hash: hh(5), Due: s(10 * time.Second)},
		snapshot.Hint{Hash: hh(6), Due: s(10 * time.Second)})

	// At 2 s, cycle 2: 4's hint has expired unserved. 1 and 3 are in flat
	// (3's hint is served already, 1's new one is served now); 5 and 6
	// are fetched by 2.5 s, 0.75 s after their Add, 7.5 s early.
	c.now = s(2 * time.Second)
	if o := p.Run(context.Background()); o.Fetched != 2 || o.Failed != 0 || o.SkippedAlreadyFlat() != 2 {
		t.Fatalf("cycle 2: fetched %d, failed %d, skipped %v; want 2, 0 and 2 already flat", o.Fetched, o.Failed, o.Skipped)
	}
	lag = histView{map[string]uint64{"1": 2, "2.5": 2}, 4, 5}
	slack = histView{map[string]uint64{"-0.1": 1, "5": 1, "10": 2}, 4, 18}
	want = statsView{Added: 7, Dropped: 2, Expired: 1, Fetched: 4, AlreadyFlat: 2, Pending: 4, Lag: lag, Slack: slack, FlatShare: histView{Buckets: empty}}
	if diff := cmp.Diff(want, view(h.Stats())); diff != "" {
		t.Errorf("after cycle 2, stats mismatch (-want +got):\n%s", diff)
	}

	// At 6 s, cycle 3: 3's hint leaves, served, so not expired; the
	// others are in flat and served already: nothing changes but Pending.
	c.now = s(6 * time.Second)
	if o := p.Run(context.Background()); o.Fetched != 0 || o.SkippedAlreadyFlat() != 3 {
		t.Fatalf("cycle 3: fetched %d, skipped %v; want 0 and 3 already flat", o.Fetched, o.Skipped)
	}
	want.Pending = 3
	if diff := cmp.Diff(want, view(h.Stats())); diff != "" {
		t.Errorf("after cycle 3, stats mismatch (-want +got):\n%s", diff)
	}

	// The node reports its requests: 6 of 8 hinted blocks in flat, all 4,
	// 1 of 4, and a count above hinted, held at all; no hinted block
	// records nothing.
	h.Arrived(8, 6)
	h.Arrived(4, 4)
	h.Arrived(4, 1)
	h.Arrived(3, 5)
	h.Arrived(0, 0)
	want.FlatShare = histView{map[string]uint64{"0.25": 1, "0.75": 1, "1": 2}, 4, 3}
	if diff := cmp.Diff(want, view(h.Stats())); diff != "" {
		t.Errorf("after Arrived, stats mismatch (-want +got):\n%s", diff)
	}
}

// Without WatchFlat the intake cannot know that a block was in flat: the
// hint expires unserved.
func TestHintStatsWithoutWatchFlat(t *testing.T) {
	c := &fakeClock{now: at}
	st := newFakeTiers(c, 0)
	st.flat[hh(1)] = true
	h := snapshot.NewHints(snapshot.HintsConfig{Clock: c.Now})
	p, err := pipeline.New(pipeline.Config{
		Sources:    []pipeline.Source{h},
		Scorer:     pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return 1 }),
		Selector:   topk.Heap{},
		PreFilters: []pipeline.Filter{filter.NewAlreadyFlat(st)},
		Fetcher:    fetch.NewSequential(st),
		Clock:      c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Add(snapshot.Hint{Hash: hh(1), Due: at.Add(time.Second)})
	p.Run(context.Background())
	c.now = at.Add(time.Second)
	p.Run(context.Background())
	if got := h.Stats(); got.AlreadyFlat != 0 || got.Expired != 1 {
		t.Errorf("AlreadyFlat %d, Expired %d; want 0 and 1", got.AlreadyFlat, got.Expired)
	}
}

// Each hint is served once, by the first cycle that fetches or finds its
// block; a block found in flat that no pending hint names counts nothing.
func TestHintStatsServedOnce(t *testing.T) {
	c := &fakeClock{now: at}
	st := newFakeTiers(c, 0)
	st.cold[hh(1)] = true
	h := snapshot.NewHints(snapshot.HintsConfig{Clock: c.Now})
	p := hintPipeline(t, h, c, st)
	h.Add(snapshot.Hint{Hash: hh(1), Due: at.Add(time.Minute)}, snapshot.Hint{Hash: hh(1), Due: at.Add(2 * time.Minute)})
	for range 3 {
		p.Run(context.Background())
	}
	delete(st.flat, hh(1)) // evicted: fetched again, for no new hint
	p.Run(context.Background())
	if !st.flat[hh(1)] {
		t.Fatal("the evicted block was not fetched again")
	}
	watched := h.WatchFlat(st)
	st.flat[hh(9)] = true
	if !watched.ContainsFlat(context.Background(), "", hh(9)) {
		t.Error("WatchFlat changed the flat tier's answer")
	}
	p.Run(context.Background())
	got := h.Stats()
	if got.Fetched != 2 || got.AlreadyFlat != 0 || got.Lag.Count != 2 || got.Slack.Count != 2 {
		t.Errorf("Fetched %d, AlreadyFlat %d, lag %d, slack %d observations; want 2, 0, 2 and 2 (two hints, each served once)",
			got.Fetched, got.AlreadyFlat, got.Lag.Count, got.Slack.Count)
	}
}

// The histograms' buckets are inclusive upper bounds, as Prometheus's le,
// and an observation past the last bound lands in the last count; a Due
// beyond the clock's range gives a huge slack, not an overflow.
func TestHintStatsBucketEdges(t *testing.T) {
	c := &fakeClock{now: at}
	st := newFakeTiers(c, 0)
	for i := byte(1); i <= 3; i++ {
		st.cold[hh(i)] = true
	}
	h := snapshot.NewHints(snapshot.HintsConfig{Clock: c.Now})
	p := hintPipeline(t, h, c, st)
	h.Add(snapshot.Hint{Hash: hh(1), Due: at.Add(2 * time.Second)}, // slack 1 s exactly
		snapshot.Hint{Hash: hh(2), Due: at.Add(time.Hour)},                           // slack past 300 s
		snapshot.Hint{Hash: hh(3), Due: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}) // held as 2262
	c.now = at.Add(time.Second) // lag 1 s exactly
	p.Run(context.Background())
	got := h.Stats()
	if diff := cmp.Diff(map[string]uint64{"1": 3}, buckets(got.Lag)); diff != "" {
		t.Errorf("lag buckets mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{"1": 1, "+Inf": 2}, buckets(got.Slack)); diff != "" {
		t.Errorf("slack buckets mismatch (-want +got):\n%s", diff)
	}
	if n := len(got.Slack.Counts); n != len(got.Slack.Bounds)+1 {
		t.Errorf("len(Counts) = %d, want len(Bounds)+1 = %d", n, len(got.Slack.Bounds)+1)
	}
	if got.Slack.Sum < 9e9 || math.IsInf(got.Slack.Sum, 0) {
		t.Errorf("slack sum %v, want the far Due's ~9.2e9 s, finite", got.Slack.Sum)
	}
	// Stats is a copy: changing it changes nothing in the intake.
	got.Lag.Counts[0] = 99
	got.Lag.Bounds[0] = 99
	if again := h.Stats(); again.Lag.Counts[0] != 0 || again.Lag.Bounds[0] == 99 {
		t.Error("Stats shares its slices with the intake")
	}
}

// Run with -race: the node adds hints and reports requests while cycles
// run and a scrape reads the stats.
func TestHintStatsConcurrent(t *testing.T) {
	h := snapshot.NewHints(snapshot.HintsConfig{Capacity: 64})
	flat := filter.FlatFunc(func(context.Context, string, block.Hash) bool { return false })
	p, err := pipeline.New(pipeline.Config{
		Sources:    []pipeline.Source{h},
		Scorer:     pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return 1 }),
		Selector:   topk.Heap{},
		PreFilters: []pipeline.Filter{filter.NewAlreadyFlat(h.WatchFlat(flat))},
		Fetcher: fetch.NewSequential(fetch.MaterializerFunc(func(context.Context, string, block.Hash, block.Meta) (int64, bool, error) {
			return 1, true, nil
		})),
	})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 200
	done := make(chan struct{})
	for w := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				h.Add(snapshot.Hint{Hash: block.Hash{0: byte(w), 1: byte(i)}, Due: time.Now().Add(time.Hour)})
				h.Arrived(2, i%3)
				_ = h.Stats()
			}
		}()
	}
	for range 50 {
		p.Run(context.Background())
	}
	for range writers {
		<-done
	}
	p.Run(context.Background())
	s := h.Stats()
	if s.Added != writers*each || s.Added != s.Dropped+uint64(s.Pending) || s.FlatShare.Count != writers*each {
		t.Errorf("Added %d, Dropped %d, Pending %d, requests %d; want %d added, all kept or dropped, %d requests",
			s.Added, s.Dropped, s.Pending, s.FlatShare.Count, writers*each, writers*each)
	}
	if s.Fetched == 0 || s.Fetched > s.Added {
		t.Errorf("Fetched %d of %d added, want some, at most all", s.Fetched, s.Added)
	}
}
