package pipeline

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrRunning is returned by [Worker.Start] when the worker is already
// running.
var ErrRunning = errors.New("pipeline: worker already running")

// Worker runs a pipeline's cycles in the background: one at start, then one
// every Config.Interval, and one at once after each [Worker.Wake], until
// [Worker.Stop] or its context ends. Constructing it starts nothing.
type Worker struct {
	p    *Pipeline
	wake chan struct{}

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewWorker returns a stopped worker for p.
func NewWorker(p *Pipeline) *Worker {
	return &Worker{p: p, wake: make(chan struct{}, 1)}
}

// Pipeline returns the pipeline the worker runs.
func (w *Worker) Pipeline() *Pipeline { return w.p }

// Start starts the loop in a new goroutine, which runs until ctx ends or
// Stop is called. It returns ErrRunning if the loop is already running. A
// stopped worker may be started again.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done != nil {
		select {
		case <-w.done:
		default:
			return ErrRunning
		}
	}
	select { // a Wake while stopped must not cause an extra cycle
	case <-w.wake:
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	w.cancel, w.done = cancel, done
	go w.loop(ctx, done)
	return nil
}

func (w *Worker) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(w.p.cfg.Interval)
	defer t.Stop()
	// Check ctx before each cycle: when a stop and a tick (or a wake) are
	// both ready, select picks either, and a cycle must not run after Stop.
	for ctx.Err() == nil {
		w.p.Run(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.wake:
		}
	}
}

// Wake asks for a cycle now instead of at the next tick. Wakes that arrive
// while a cycle runs coalesce into one more cycle. It never blocks, and is
// a no-op on a stopped worker.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Stop cancels the running cycle (fetches in flight are canceled) and waits
// for the loop to exit. It is safe to call more than once and on a worker
// that never started.
func (w *Worker) Stop() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// Running reports whether the loop is running: true from Start until the
// loop has exited after Stop or the end of its context.
func (w *Worker) Running() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done == nil {
		return false
	}
	select {
	case <-w.done:
		return false
	default:
		return true
	}
}
