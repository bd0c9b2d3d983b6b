package pipeline_test

import (
	"context"
	"iter"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// budgetConfig returns a config of n candidates of the given sizes, ranked
// in order (the first scores highest), with the given fetcher.
func budgetConfig(sizes []uint64, f pipeline.Fetcher) pipeline.Config {
	src := pipeline.SourceFunc(func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
		return func(yield func(block.Hash, block.Meta) bool) {
			for i, n := range sizes {
				if !yield(block.Hash{31: byte(i)}, block.Meta{PayloadBytes: n}) {
					return
				}
			}
		}
	})
	return pipeline.Config{
		TopK:    len(sizes),
		Sources: []pipeline.Source{src},
		Scorer: pipeline.ScorerFunc(func(_ time.Time, h block.Hash, _ block.Meta) float64 {
			return -float64(h[31])
		}),
		Selector: pipeline.SelectorFunc(func(dst []pipeline.Candidate, k int, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
			for c := range seq {
				dst = append(dst, c)
			}
			return dst
		}),
		Fetcher: f,
	}
}

func TestCycleByteBudget(t *testing.T) {
	var fetched []byte
	f := pipeline.FetcherFunc(func(_ context.Context, _ *pipeline.Cycle, cs []pipeline.Candidate) []pipeline.FetchResult {
		var rs []pipeline.FetchResult
		for _, c := range cs {
			fetched = append(fetched, c.Hash[31])
			rs = append(rs, pipeline.FetchResult{Hash: c.Hash, Bytes: int64(c.Meta.PayloadBytes)})
		}
		return rs
	})
	cfg := budgetConfig([]uint64{40, 50, 30, 10, 0, 1<<63 + 1}, f)
	cfg.CycleByteBudget = 60
	p, err := pipeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := p.Run(context.Background())
	// 40 fits (20 left), 50 and 30 do not, 10 fits; the unknown size (0)
	// and the one no tier can hold (> MaxInt64, which as an int64 would be
	// negative and enlarge the budget) cannot be vouched for.
	if diff := cmp.Diff([]byte{0, 3}, fetched); diff != "" {
		t.Errorf("fetched blocks mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{pipeline.SkipByteBudget: 2, pipeline.SkipUnknownSize: 2}, o.Skipped); diff != "" {
		t.Errorf("Skipped mismatch (-want +got):\n%s", diff)
	}
	if o.BytesMaterialized != 50 {
		t.Errorf("BytesMaterialized = %d, want 50", o.BytesMaterialized)
	}
}

// TestCycleFetchTimeout: a store that hangs cannot hold a cycle past the
// cycle's fetch deadline; the fetches cut by it count as cycle_deadline.
func TestCycleFetchTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := pipeline.FetcherFunc(func(ctx context.Context, _ *pipeline.Cycle, cs []pipeline.Candidate) []pipeline.FetchResult {
			var rs []pipeline.FetchResult
			for _, c := range cs { // sequential, each hangs until canceled
				<-ctx.Done()
				rs = append(rs, pipeline.FetchResult{Hash: c.Hash, Reason: pipeline.FailureReason(context.Cause(ctx))})
			}
			return rs
		})
		cfg := budgetConfig([]uint64{1, 1, 1}, f)
		cfg.FetchTimeout, cfg.CycleFetchTimeout = time.Second, 3*time.Second
		p, err := pipeline.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		o := p.Run(context.Background())
		if took := time.Since(start); took != 3*time.Second {
			t.Errorf("cycle took %v of virtual time, want the 3s cycle fetch deadline", took)
		}
		if diff := cmp.Diff(map[string]int{pipeline.FailCycleDeadline: 3}, o.FailedBy); diff != "" {
			t.Errorf("FailedBy mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestCycleFetchTimeoutFollowsFetchTimeout(t *testing.T) {
	for _, tt := range []struct {
		fetch, cycle, want time.Duration
		wantErr            bool
	}{
		{0, 0, 10 * time.Second, false},
		{30 * time.Second, 0, time.Minute, false},
		{30 * time.Second, 45 * time.Second, 45 * time.Second, false},
		{30 * time.Second, 10 * time.Second, 0, true},
	} {
		cfg := budgetConfig([]uint64{1}, nil)
		cfg.FetchTimeout, cfg.CycleFetchTimeout = tt.fetch, tt.cycle
		p, err := pipeline.New(cfg)
		if tt.wantErr {
			if err == nil {
				t.Errorf("FetchTimeout %v, CycleFetchTimeout %v: New succeeded, want an error", tt.fetch, tt.cycle)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Config().CycleFetchTimeout; got != tt.want {
			t.Errorf("FetchTimeout %v, CycleFetchTimeout %v: got %v, want %v", tt.fetch, tt.cycle, got, tt.want)
		}
	}
}

func TestBudgetValidation(t *testing.T) {
	cfg := budgetConfig([]uint64{1}, nil)
	cfg.CycleFetchTimeout = -time.Second
	cfg.CycleByteBudget = -5
	_, err := pipeline.New(cfg)
	want := "pipeline: CycleFetchTimeout = -1s, want >= FetchTimeout (5s) (0 means the default, 2 x FetchTimeout)\n" +
		"pipeline: CycleByteBudget = -5, want >= 0 (0 means no cap)"
	if err == nil || err.Error() != want {
		t.Errorf("New error = %v, want:\n%s", err, want)
	}
}
