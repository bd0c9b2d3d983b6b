package snapshot_test

import (
	"context"
	"iter"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

var _ pipeline.Source = (*snapshot.Hints)(nil)

func hh(b byte) block.Hash { return block.Hash{31: b} }

// at is the hints' clock origin: times are offsets from it.
var at = time.Unix(1_000_000, 0)

func cycleAt(d time.Duration) *pipeline.Cycle { return &pipeline.Cycle{Seq: 1, Now: at.Add(d)} }

type proposed struct {
	Hash byte
	Seq  uint32
	Due  time.Duration
	Rank int
}

// propose runs one cycle's Candidates and returns what it proposed, with
// each block's Due and Rank as the intake reports them.
func propose(h *snapshot.Hints, now time.Duration) []proposed {
	var out []proposed
	for hash, m := range h.Candidates(context.Background(), cycleAt(now)) {
		due, ok := h.Due(hash)
		rank, rok := h.Rank(hash)
		if !ok || !rok {
			panic("a proposed block has no Due or Rank")
		}
		out = append(out, proposed{hash[31], m.Seq, due.Sub(at), rank})
	}
	return out
}

func TestHintsOrderDedupExpiry(t *testing.T) {
	h := snapshot.NewHints(snapshot.HintsConfig{})
	// Request A due at 3 s reads 1, 2; request B due at 2 s reads 1, 3;
	// request C due at 2 s (after B) reads 4.
	h.Add(snapshot.Hint{Hash: hh(1), Meta: block.Meta{Seq: 0}, Due: at.Add(3 * time.Second)},
		snapshot.Hint{Hash: hh(2), Meta: block.Meta{Seq: 1}, Due: at.Add(3 * time.Second)})
	h.Add(snapshot.Hint{Hash: hh(1), Meta: block.Meta{Seq: 0}, Due: at.Add(2 * time.Second)},
		snapshot.Hint{Hash: hh(3), Meta: block.Meta{Seq: 1}, Due: at.Add(2 * time.Second)})
	h.Add(snapshot.Hint{Hash: hh(4), Due: at.Add(2 * time.Second)})

	// Earliest Due first, then arrival; block 1 once, at its earliest Due.
	want := []proposed{{1, 0, 2 * time.Second, 0}, {3, 1, 2 * time.Second, 1}, {4, 0, 2 * time.Second, 2}, {2, 1, 3 * time.Second, 3}}
	if diff := cmp.Diff(want, propose(h, time.Second)); diff != "" {
		t.Errorf("at 1 s, proposals mismatch (-want +got):\n%s", diff)
	}
	// At 2 s, B and C are being served: only A is left, 1 due again at 3 s.
	want = []proposed{{1, 0, 3 * time.Second, 0}, {2, 1, 3 * time.Second, 1}}
	if diff := cmp.Diff(want, propose(h, 2*time.Second)); diff != "" {
		t.Errorf("at 2 s, proposals mismatch (-want +got):\n%s", diff)
	}
	if got := h.Len(); got != 2 {
		t.Errorf("Len() = %d after expiry, want 2", got)
	}
	if got := propose(h, 3*time.Second); len(got) != 0 || h.Len() != 0 {
		t.Errorf("at 3 s: proposed %v, Len %d; want nothing left", got, h.Len())
	}
	if _, ok := h.Due(hh(1)); ok {
		t.Error("Due still knows an expired hint")
	}
}

func TestHintsGrace(t *testing.T) {
	h := snapshot.NewHints(snapshot.HintsConfig{Grace: 100 * time.Millisecond})
	h.Add(snapshot.Hint{Hash: hh(1), Due: at.Add(time.Second)})
	if got := propose(h, time.Second+99*time.Millisecond); len(got) != 1 {
		t.Errorf("within the grace: proposed %v, want the hint", got)
	}
	if got := propose(h, time.Second+100*time.Millisecond); len(got) != 0 {
		t.Errorf("past the grace: proposed %v, want nothing", got)
	}
}

// A block the index does not know yet is held back and proposed once it
// is known (a request computed it, say), with the index's metadata.
func TestHintsLookupHoldsBack(t *testing.T) {
	var mu sync.Mutex
	known := map[block.Hash]block.Meta{hh(1): {Seq: 7, PayloadBytes: 100}}
	h := snapshot.NewHints(snapshot.HintsConfig{Lookup: func(x block.Hash) (block.Meta, bool) {
		mu.Lock()
		defer mu.Unlock()
		m, ok := known[x]
		return m, ok
	}})
	h.Add(snapshot.Hint{Hash: hh(1), Due: at.Add(time.Second)}, snapshot.Hint{Hash: hh(2), Meta: block.Meta{Seq: 9}, Due: at.Add(time.Second)})
	if diff := cmp.Diff([]proposed{{1, 7, time.Second, 0}}, propose(h, 0)); diff != "" {
		t.Errorf("before 2 is known, mismatch (-want +got):\n%s", diff)
	}
	mu.Lock()
	known[hh(2)] = block.Meta{Seq: 1}
	mu.Unlock()
	if diff := cmp.Diff([]proposed{{1, 7, time.Second, 0}, {2, 1, time.Second, 1}}, propose(h, 0)); diff != "" {
		t.Errorf("once 2 is known, mismatch (-want +got):\n%s", diff)
	}
}

func TestHintsBoundedDropsOldest(t *testing.T) {
	h := snapshot.NewHints(snapshot.HintsConfig{Capacity: 3})
	for i := byte(1); i <= 5; i++ {
		h.Add(snapshot.Hint{Hash: hh(i), Due: at.Add(time.Duration(10-i) * time.Second)})
	}
	if h.Len() != 3 || h.Dropped() != 2 {
		t.Errorf("Len %d, Dropped %d; want 3 and 2", h.Len(), h.Dropped())
	}
	var got []byte
	for _, p := range propose(h, 0) {
		got = append(got, p.Hash)
	}
	if diff := cmp.Diff([]byte{5, 4, 3}, got); diff != "" {
		t.Errorf("kept hints (by Due) mismatch (-want +got):\n%s", diff)
	}
}

// Run with -race: writers add while cycles read.
func TestHintsConcurrentAdd(t *testing.T) {
	var notified atomic.Int64
	h := snapshot.NewHints(snapshot.HintsConfig{Capacity: 64, Notify: func() { notified.Add(1) }})
	var wg sync.WaitGroup
	const writers, each = 4, 500
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				h.Add(snapshot.Hint{Hash: block.Hash{0: byte(w), 1: byte(i), 2: byte(i >> 8)}, Due: at.Add(time.Hour)})
			}
		})
	}
	stop := make(chan struct{})
	var cycles sync.WaitGroup
	cycles.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			for x := range h.Candidates(context.Background(), cycleAt(0)) {
				h.Due(x)
			}
		}
	})
	wg.Wait()
	close(stop)
	cycles.Wait()
	if got := notified.Load(); got != writers*each {
		t.Errorf("notified %d times, want %d", got, writers*each)
	}
	if h.Len() != 64 || h.Dropped() != writers*each-64 {
		t.Errorf("Len %d, Dropped %d; want 64 and %d", h.Len(), h.Dropped(), writers*each-64)
	}
}

// A hint wakes the worker at once: with an interval of an hour, the hinted
// block is fetched at the instant it is hinted, and a burst of hints
// coalesces into few cycles.
func TestHintsWakeWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := snapshot.NewHints(snapshot.HintsConfig{})
		var mu sync.Mutex
		var fetched []time.Time
		p, err := pipeline.New(pipeline.Config{
			Interval: time.Hour,
			Sources:  []pipeline.Source{h},
			Scorer:   pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return 0 }),
			Selector: pipeline.SelectorFunc(func(dst []pipeline.Candidate, k int, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
				for c := range seq {
					if len(dst) < k {
						dst = append(dst, c)
					}
				}
				return dst
			}),
			Fetcher: pipeline.FetcherFunc(func(_ context.Context, _ *pipeline.Cycle, cands []pipeline.Candidate) []pipeline.FetchResult {
				mu.Lock()
				defer mu.Unlock()
				var res []pipeline.FetchResult
				for _, c := range cands {
					fetched = append(fetched, time.Now())
					res = append(res, pipeline.FetchResult{Hash: c.Hash, Bytes: 1})
				}
				return res
			}),
		})
		if err != nil {
			t.Fatal(err)
		}
		w := pipeline.NewWorker(p)
		h.SetNotify(w.Wake)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		synctest.Wait() // the first cycle ran, on an empty intake

		time.Sleep(10 * time.Minute) // fake time: long before the next tick
		hinted := time.Now()
		h.Add(snapshot.Hint{Hash: hh(1), Due: hinted.Add(time.Second)})
		synctest.Wait()
		mu.Lock()
		got := append([]time.Time(nil), fetched...)
		mu.Unlock()
		if len(got) != 1 || !got[0].Equal(hinted) {
			t.Fatalf("fetches at %v, want one at the hint's instant %v", got, hinted)
		}

		// A burst of 100 hints in one Add wakes one cycle, which fetches
		// TopK (8) of them; the rest wait for the next tick or hint.
		var burst []snapshot.Hint
		for i := range 100 {
			burst = append(burst, snapshot.Hint{Hash: block.Hash{0: 1, 1: byte(i)}, Due: hinted.Add(time.Minute)})
		}
		h.Add(burst...)
		synctest.Wait()
		mu.Lock()
		n := len(fetched)
		mu.Unlock()
		if n != 1+pipeline.DefaultTopK {
			t.Errorf("after the burst, %d fetches in all; want %d", n, 1+pipeline.DefaultTopK)
		}
	})
}

// The ring grows with use and keeps the arrival order across growth and
// wrap-around.
func TestHintsGrowKeepsOrder(t *testing.T) {
	h := snapshot.NewHints(snapshot.HintsConfig{Capacity: 200})
	for i := range 300 {
		h.Add(snapshot.Hint{Hash: block.Hash{0: byte(i >> 8), 1: byte(i)}, Due: at.Add(time.Hour)})
		if i == 99 {
			propose(h, 0) // a cycle in between
		}
	}
	if h.Len() != 200 || h.Dropped() != 100 {
		t.Fatalf("Len %d, Dropped %d; want 200 and 100", h.Len(), h.Dropped())
	}
	i := 100
	for hash := range h.Candidates(context.Background(), cycleAt(0)) {
		if got := int(hash[0])<<8 | int(hash[1]); got != i {
			t.Fatalf("hint %d proposed where %d was due", got, i)
		}
		i++
	}
	if i != 300 {
		t.Errorf("proposed up to %d, want 300", i)
	}
}

// A Due past 2262 (where UnixNano wraps), at the edge of the range (where
// Due + Grace would wrap) or far beyond it stays pending, ordered after
// the ordinary ones; a Due before 1678, the zero time among them, is
// already past.
func TestHintsDueOutOfRange(t *testing.T) {
	edge := time.Unix(0, math.MaxInt64-int64(time.Second))
	h := snapshot.NewHints(snapshot.HintsConfig{Grace: time.Hour})
	h.Add(snapshot.Hint{Hash: hh(1), Due: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		snapshot.Hint{Hash: hh(2), Due: edge},
		snapshot.Hint{Hash: hh(3), Due: time.Unix(1<<62, 0)},
		snapshot.Hint{Hash: hh(4), Due: at.Add(time.Second)},
		snapshot.Hint{Hash: hh(5), Due: time.Time{}},
		snapshot.Hint{Hash: hh(6), Due: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)})
	var got []byte
	for range 2 { // still pending at the second cycle
		got = got[:0]
		for hash := range h.Candidates(context.Background(), cycleAt(0)) {
			got = append(got, hash[31])
		}
	}
	if diff := cmp.Diff([]byte{4, 2, 1, 3}, got); diff != "" {
		t.Errorf("proposed mismatch (-want +got):\n%s", diff)
	}
	if due, ok := h.Due(hh(1)); !ok || due.Year() != 2262 {
		t.Errorf("Due of a hint for the year 3000 = %v, %v; want the last instant UnixNano holds, true", due, ok)
	}
}

// TestHintsValidate: a bad HintsConfig does not panic NewHints; pipeline.New
// reports it for the intake among Config.Sources, and the intake used on
// its own treats a negative Capacity as the default, a negative Grace as 0.
func TestHintsValidate(t *testing.T) {
	newWith := func(src pipeline.Source) error {
		_, err := pipeline.New(pipeline.Config{
			Sources:  []pipeline.Source{snapshot.NewIndex(index.NewMemory(nil)), src},
			Scorer:   pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return 0 }),
			Selector: pipeline.SelectorFunc(func(dst []pipeline.Candidate, _ int, _ iter.Seq[pipeline.Candidate]) []pipeline.Candidate { return dst }),
		})
		return err
	}
	h := snapshot.NewHints(snapshot.HintsConfig{Capacity: -1, Grace: -time.Second})
	want := "pipeline: Sources[1]: snapshot: HintsConfig.Capacity = -1, want >= 1 (0 means the default, 4096)\n" +
		"pipeline: Sources[1]: snapshot: HintsConfig.Grace = -1s, want >= 0"
	if err := newWith(h); err == nil || err.Error() != want {
		t.Errorf("New error:\n%v\nwant:\n%s", err, want)
	}
	if err := newWith(snapshot.NewHints(snapshot.HintsConfig{})); err != nil {
		t.Errorf("New with a default intake: %v", err)
	}
	if err := newWith(snapshot.NewIndex(nil)); err == nil || err.Error() != "pipeline: Sources[1]: snapshot: Index.Index is nil, want the metadata index (an index.Reader)" {
		t.Errorf("New with an Index over nil: %v", err)
	}

	for i := range snapshot.DefaultHintCapacity + 10 {
		h.Add(snapshot.Hint{Hash: block.Hash{0: byte(i), 1: byte(i >> 8)}, Due: at.Add(time.Second)})
	}
	if h.Len() != snapshot.DefaultHintCapacity || h.Dropped() != 10 {
		t.Errorf("Capacity -1: Len %d, Dropped %d; want the default capacity, %d, and 10", h.Len(), h.Dropped(), snapshot.DefaultHintCapacity)
	}
	if got := propose(h, time.Second); len(got) != 0 {
		t.Errorf("Grace -1s: %d hints proposed at their Due, want none (as Grace 0)", len(got))
	}
}
