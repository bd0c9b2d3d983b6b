package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wombatkv/prefetch/pipeline"
)

// counter is an emitter that counts cycles and remembers their outcomes.
type counter struct {
	mu       sync.Mutex
	outcomes []*pipeline.Outcome
	at       []time.Time
}

func (c *counter) Emit(_ context.Context, o *pipeline.Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcomes = append(c.outcomes, o)
	c.at = append(c.at, time.Now())
}

func (c *counter) N() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.outcomes)
}

func newWorker(t *testing.T, interval time.Duration, c pipeline.Config) (*pipeline.Worker, *counter) {
	t.Helper()
	em := &counter{}
	c.Interval = interval
	if c.Sources == nil {
		c.Sources = []pipeline.Source{sliceSource(entries(3)...)}
	}
	c.Scorer, c.Selector, c.Emitter = seqScorer, sortSelector, em
	return pipeline.NewWorker(mustNew(t, c)), em
}

func TestWorkerStartStopRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, em := newWorker(t, time.Second, pipeline.Config{})
		if w.Running() {
			t.Fatal("a new worker is running")
		}
		if em.N() != 0 {
			t.Fatal("NewWorker ran a cycle")
		}
		w.Stop() // on a worker that never started: a no-op
		if w.Pipeline() == nil {
			t.Fatal("Pipeline() is nil")
		}

		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !w.Running() {
			t.Error("not running after Start")
		}
		if err := w.Start(context.Background()); !errors.Is(err, pipeline.ErrRunning) {
			t.Errorf("second Start = %v, want ErrRunning", err)
		}
		synctest.Wait()
		if em.N() != 1 {
			t.Errorf("%d cycles right after Start, want 1 (a cycle at start)", em.N())
		}
		w.Stop()
		if w.Running() {
			t.Error("running after Stop")
		}
		w.Stop() // twice is fine

		// A stopped worker starts again and its cycles go on counting.
		if err := w.Start(context.Background()); err != nil {
			t.Fatalf("restart: %v", err)
		}
		synctest.Wait()
		if !w.Running() || em.N() != 2 {
			t.Errorf("after restart: running %v, %d cycles; want true, 2", w.Running(), em.N())
		}
		w.Stop()
		if got := em.outcomes[1].Seq; got != 2 {
			t.Errorf("the restarted worker's cycle has Seq %d, want 2", got)
		}
	})
}

// TestWorkerTicks runs two virtual minutes of 500 ms cycles.
func TestWorkerTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, em := newWorker(t, 500*time.Millisecond, pipeline.Config{})
		start := time.Now()
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2*time.Minute + 250*time.Millisecond)
		synctest.Wait()
		if got := em.N(); got != 1+240 {
			t.Errorf("%d cycles in 2m0.25s at 500ms, want 241 (one at start, one per tick)", got)
		}
		w.Stop()
		for i, at := range em.at {
			if want := start.Add(time.Duration(i) * 500 * time.Millisecond); !at.Equal(want) {
				t.Fatalf("cycle %d ran at +%v, want +%v", i, at.Sub(start), want.Sub(start))
			}
		}
		for i, o := range em.outcomes {
			if o.Seq != uint64(i+1) || o.Scored != 3 || o.Err != nil {
				t.Fatalf("cycle %d: Seq %d Scored %d Err %v", i, o.Seq, o.Scored, o.Err)
			}
		}
	})
}

// TestWorkerStopIsImmediate: with a 10 s interval, Stop returns without
// any (virtual) time passing: the loop selects on its context, it does not
// sleep in slices.
func TestWorkerStopIsImmediate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, em := newWorker(t, 10*time.Second, pipeline.Config{})
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second) // mid-interval
		synctest.Wait()
		before := time.Now()
		w.Stop()
		if d := time.Since(before); d != 0 {
			t.Errorf("Stop took %v of virtual time, want 0", d)
		}
		if w.Running() || em.N() != 1 {
			t.Errorf("after Stop: running %v, %d cycles; want false, 1", w.Running(), em.N())
		}
	})
}

// TestWorkerStopCancelsFetchInFlight: Stop cancels the context of a fetch
// that is blocked, the fetch sees ctx.Done, and Stop waits for it.
func TestWorkerStopCancelsFetchInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sawDone atomic.Bool
		var returned atomic.Bool
		fetcher := pipeline.FetcherFunc(func(ctx context.Context, _ *pipeline.Cycle, cs []pipeline.Candidate) []pipeline.FetchResult {
			<-ctx.Done()
			sawDone.Store(true)
			time.Sleep(time.Millisecond) // Stop must wait for the fetch to end
			returned.Store(true)
			res := make([]pipeline.FetchResult, len(cs))
			for i, c := range cs {
				res[i] = pipeline.FetchResult{Hash: c.Hash, Reason: pipeline.FailureReason(ctx.Err()), Err: ctx.Err()}
			}
			return res
		})
		w, em := newWorker(t, 10*time.Second, pipeline.Config{Fetcher: fetcher})
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the fetch is blocked on ctx.Done
		if sawDone.Load() || em.N() != 0 {
			t.Fatal("the fetch did not block")
		}
		w.Stop()
		if !sawDone.Load() || !returned.Load() {
			t.Fatalf("Stop returned before the fetch saw ctx.Done (%v) and returned (%v)", sawDone.Load(), returned.Load())
		}
		if em.N() != 1 {
			t.Fatalf("%d cycles emitted, want the canceled one", em.N())
		}
		o := em.outcomes[0]
		if !errors.Is(o.Err, context.Canceled) || o.Failed != 3 || o.FailedBy[pipeline.FailCanceled] != 3 {
			t.Errorf("canceled cycle: Err %v Failed %d FailedBy %v", o.Err, o.Failed, o.FailedBy)
		}
	})
}

// TestWorkerWake: a Wake runs a cycle at once, before the tick; wakes that
// arrive while a cycle runs coalesce into one more cycle.
func TestWorkerWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		var blockNext atomic.Bool
		em := &counter{}
		emitter := pipeline.EmitterFunc(func(ctx context.Context, o *pipeline.Outcome) {
			em.Emit(ctx, o)
			if blockNext.Load() {
				blockNext.Store(false)
				<-gate
			}
		})
		p := mustNew(t, pipeline.Config{Interval: 10 * time.Second, Sources: []pipeline.Source{sliceSource(entries(2)...)},
			Scorer: seqScorer, Selector: sortSelector, Emitter: emitter})
		w := pipeline.NewWorker(p)

		w.Wake() // while stopped: must not add a cycle after Start
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		synctest.Wait()
		if em.N() != 1 {
			t.Fatalf("%d cycles after Start (with a Wake before it), want 1", em.N())
		}

		start := time.Now()
		w.Wake()
		synctest.Wait()
		if em.N() != 2 || time.Since(start) != 0 {
			t.Fatalf("after Wake: %d cycles at +%v, want 2 at once", em.N(), time.Since(start))
		}

		// Block the next cycle in its emitter, wake five times meanwhile:
		// one more cycle, not five.
		blockNext.Store(true)
		w.Wake()
		synctest.Wait()
		if em.N() != 3 {
			t.Fatalf("%d cycles, want 3 (one blocked)", em.N())
		}
		for range 5 {
			w.Wake()
		}
		close(gate)
		synctest.Wait()
		if em.N() != 4 {
			t.Errorf("5 wakes during a cycle gave %d more cycles, want 1", em.N()-3)
		}
		if time.Since(start) != 0 {
			t.Errorf("wakes waited %v for a tick", time.Since(start))
		}

		// The ticker goes on: the next cycle comes at the 10 s tick.
		time.Sleep(10*time.Second - time.Since(start) - time.Nanosecond)
		synctest.Wait()
		if em.N() != 4 {
			t.Errorf("a cycle ran before the tick: %d", em.N())
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if em.N() != 5 {
			t.Errorf("%d cycles after the first tick, want 5", em.N())
		}
	})
}

// TestWorkerEndsWithItsContext: canceling the context given to Start stops
// the loop as Stop does.
func TestWorkerEndsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, em := newWorker(t, time.Second, pipeline.Config{})
		ctx, cancel := context.WithCancel(context.Background())
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2500 * time.Millisecond)
		cancel()
		synctest.Wait()
		if w.Running() {
			t.Error("running after its context ended")
		}
		if em.N() != 3 {
			t.Errorf("%d cycles in 2.5s at 1s, want 3", em.N())
		}
		w.Stop() // still fine
		if err := w.Start(context.Background()); err != nil {
			t.Errorf("Start after the context ended: %v", err)
		}
		w.Stop()
	})
}

// TestWorkerOverrunDelaysNextCycle: a cycle longer than the interval delays
// the next one; ticks missed meanwhile are not queued up.
func TestWorkerOverrunDelaysNextCycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fetcher := pipeline.FetcherFunc(func(ctx context.Context, _ *pipeline.Cycle, cs []pipeline.Candidate) []pipeline.FetchResult {
			select {
			case <-time.After(3500 * time.Millisecond):
			case <-ctx.Done():
			}
			return make([]pipeline.FetchResult, len(cs))
		})
		w, em := newWorker(t, time.Second, pipeline.Config{Fetcher: fetcher})
		start := time.Now()
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(8 * time.Second)
		synctest.Wait()
		w.Stop()
		// Cycles start at 0 and end at 3.5; the tick buffered meanwhile
		// starts the next at once (3.5, ending 7.0); then again at 7.0.
		var got []time.Duration
		for _, o := range em.outcomes {
			got = append(got, o.Start.Sub(start))
		}
		want := []time.Duration{0, 3500 * time.Millisecond, 7 * time.Second}
		if len(got) != len(want) {
			t.Fatalf("cycle starts %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("cycle starts %v, want %v", got, want)
				break
			}
		}
	})
}

// TestWorkerNoCycleAfterStop stops the worker while a wake is pending, so
// that when the canceled cycle returns both the wake and ctx.Done are
// ready. select picks among ready cases at random: repeated 64 times, a
// loop that does not check its context before a cycle runs an extra,
// canceled cycle after Stop.
func TestWorkerNoCycleAfterStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		blocking := pipeline.FetcherFunc(func(ctx context.Context, _ *pipeline.Cycle, cs []pipeline.Candidate) []pipeline.FetchResult {
			<-ctx.Done()
			return make([]pipeline.FetchResult, len(cs))
		})
		w, em := newWorker(t, time.Hour, pipeline.Config{Fetcher: blocking})
		for i := range 64 {
			if err := w.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			synctest.Wait() // the cycle blocks in its fetch
			w.Wake()        // pending when the cycle ends
			w.Stop()
			if em.N() != i+1 {
				t.Fatalf("round %d: %d cycles emitted, want %d: a cycle ran after Stop", i, em.N(), i+1)
			}
		}
	})
}

// TestWorkerStartWithEndedContext: a context that has already ended runs
// no cycle.
func TestWorkerStartWithEndedContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, em := newWorker(t, time.Second, pipeline.Config{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if w.Running() || em.N() != 0 {
			t.Errorf("Start with an ended context: running %v, %d cycles; want false, 0", w.Running(), em.N())
		}
	})
}
