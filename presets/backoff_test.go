package presets_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
)

// missingStore holds every block in cold except those in missing; nothing
// is ever in flat, so each cycle wants to fetch its top K again.
type missingStore struct {
	mu      sync.Mutex
	missing map[block.Hash]bool
	calls   map[block.Hash]int
}

func (s *missingStore) ContainsFlat(context.Context, string, block.Hash) bool { return false }

func (s *missingStore) Materialize(_ context.Context, _ string, h block.Hash, _ block.Meta) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[h]++
	if s.missing[h] {
		return 0, false, nil
	}
	return 100, true, nil
}

// TestBackoffPermanentlyMissingTopBlock: a top-1 block deleted from cold,
// over 10 minutes of cycles at 500 ms, is tried O(log) times instead of
// 1,200, and the next block gets its slot meanwhile.
func TestBackoffPermanentlyMissingTopBlock(t *testing.T) {
	for _, name := range []string{presets.NameV2, presets.NameV3} {
		t.Run(name, func(t *testing.T) {
			start := time.Unix(1_700_000_000, 0)
			now := start
			idx := index.NewMemory(nil)
			top, next := block.Hash{31: 1}, block.Hash{31: 2}
			idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
				_ = yield(top, block.Meta{Seq: 0, LastAccessNs: start.UnixNano()}) && // chain head: ranks first
					yield(next, block.Meta{Seq: 1, LastAccessNs: start.UnixNano()})
			})
			st := &missingStore{missing: map[block.Hash]bool{top: true}, calls: map[block.Hash]int{}}
			p, err := presets.New(name, presets.Options{
				Index: idx, Store: st, TopK: 1,
				Clock: func() time.Time { return now },
			})
			if err != nil {
				t.Fatal(err)
			}
			const cycles = 1200 // 10 minutes at 500 ms
			backedOff := 0
			for range cycles {
				o := p.Run(context.Background())
				backedOff += o.Skipped[pipeline.SkipBackoff]
				now = now.Add(500 * time.Millisecond)
			}
			t.Logf("%s: missing top block tried %d times, next fetched %d times", name, st.calls[top], st.calls[next])
			// 1 s doubling to 5 min: tries at 0, 1, 3, 7, ..., 255 s, then
			// every 5 min: 9 + 2 = 11 within 600 s.
			if got := st.calls[top]; got > 12 || got < 5 {
				t.Errorf("missing top block tried %d times in %d cycles, want O(log) (about 11)", got, cycles)
			}
			if got, want := st.calls[next], cycles-st.calls[top]; got != want {
				t.Errorf("next block fetched %d times, want %d (every cycle the top block backs off)", got, want)
			}
			if backedOff != cycles-st.calls[top] {
				t.Errorf("Skipped[backoff] summed to %d, want %d", backedOff, cycles-st.calls[top])
			}
		})
	}
}
