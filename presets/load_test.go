package presets_test

import (
	"context"
	"encoding/binary"
	"flag"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/emit"
)

var (
	loadFor     = flag.Duration("load.for", 300*time.Millisecond, "how long TestLoadWritersWhileCycling writes while the worker cycles")
	loadEntries = flag.Int("load.entries", 0, "index size of TestLoadWritersWhileCycling (default 1e6, 1e5 under -race or -short)")
)

func loadHash(i uint64) block.Hash {
	var h block.Hash
	binary.BigEndian.PutUint64(h[:8], i*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(h[24:], i)
	return h
}

// TestLoadWritersWhileCycling: writers touch and insert into a large index
// at full speed while a worker cycles every 10 ms. Run under -race: no
// race, no lost insert (every insert visible afterwards), and cycles keep
// completing. It asserts progress, not pace: pace and latency are measured
// in bench/. Longer and larger under the race detector:
//
//	go test ./presets -run Load -race -load.for=30s -load.entries=1000000
func TestLoadWritersWhileCycling(t *testing.T) {
	n := uint64(1_000_000)
	if raceEnabled || testing.Short() {
		n = 100_000
	}
	if *loadEntries > 0 {
		n = uint64(*loadEntries)
	}
	now := time.Unix(1_700_000_000, 0)
	idx := index.NewMemory(func() time.Time { return now })
	idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i := range n {
			if !yield(loadHash(i), block.Meta{Seq: uint32(i % 64), LastAccessNs: now.UnixNano() - int64(i)}) {
				return
			}
		}
	})

	var cycles, badCycles atomic.Int64
	p, err := presets.New(presets.NameV1, presets.Options{
		Index: idx, Interval: 10 * time.Millisecond,
		Emitters: []pipeline.Emitter{emit.Func(func(o *pipeline.Outcome) {
			if o.Err == nil && (o.Scored < int(n) || len(o.Selected) != pipeline.DefaultTopK) {
				badCycles.Add(1)
			}
			cycles.Add(1)
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := pipeline.NewWorker(p)
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}

	const writers = 4
	stop := make(chan struct{})
	inserted := make([][]uint64, writers)
	var wg sync.WaitGroup
	for wi := range writers {
		wg.Go(func() {
			next := n + uint64(wi)
			for i := uint64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i%2 == 0 {
					idx.Insert(loadHash(next), block.Meta{Seq: 1})
					inserted[wi] = append(inserted[wi], next)
					next += writers
				} else if !idx.Touch(loadHash(i * 7919 % n)) {
					t.Errorf("Touch of a loaded entry reported it absent")
					return
				}
			}
		})
	}
	// Progress, not pace: wait the configured time and at least 3 cycles.
	deadline := time.After(*loadFor)
	for waited := false; !waited || cycles.Load() < 3; {
		select {
		case <-deadline:
			waited = true
		case <-time.After(time.Millisecond):
		}
	}
	close(stop)
	wg.Wait()
	w.Stop()

	total := n
	for wi := range writers {
		for _, i := range inserted[wi] {
			if _, ok := idx.Get(loadHash(i)); !ok {
				t.Fatalf("insert of entry %d lost", i)
			}
		}
		total += uint64(len(inserted[wi]))
	}
	if got := idx.Len(); uint64(got) != total {
		t.Errorf("Len = %d, want %d (loaded + inserted)", got, total)
	}
	if got := badCycles.Load(); got != 0 {
		t.Errorf("%d cycles scored fewer than the %d loaded entries or selected other than %d", got, n, pipeline.DefaultTopK)
	}
	t.Logf("%d entries, %d inserted, %d cycles completed", n, total-n, cycles.Load())
}
