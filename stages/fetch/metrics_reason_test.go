package fetch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/fetch"
)

// TestInstrumentReasonMatchesOutcome: a store that returns a bare error
// once its deadline passed is labelled as the outcome counts it,
// "deadline", not "error".
func TestInstrumentReasonMatchesOutcome(t *testing.T) {
	reg := prometheus.NewRegistry()
	instrument, err := fetch.Instrument(reg, fetch.InstrumentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bare := fetch.MaterializerFunc(func(ctx context.Context, _ string, _ block.Hash, _ block.Meta) (int64, bool, error) {
		<-ctx.Done()
		return 0, false, errors.New("connection reset")
	})
	cy := &pipeline.Cycle{Namespace: "ns", FetchTimeout: 10 * time.Millisecond}
	res := fetch.NewSequential(instrument(bare)).Fetch(context.Background(), cy, make([]pipeline.Candidate, 1))
	if got := res[0].Reason; got != pipeline.FailDeadline {
		t.Fatalf("outcome reason = %q, want %q", got, pipeline.FailDeadline)
	}
	n, err := testutil.GatherAndCount(reg, "kvprefetch_fetch_duration_seconds")
	if err != nil || n != 1 {
		t.Fatalf("duration series = %d (err %v), want 1", n, err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "kvprefetch_fetch_duration_seconds" {
			continue
		}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			if l.GetName() == "result" && l.GetValue() != pipeline.FailDeadline {
				t.Errorf("metric result label = %q, want %q", l.GetValue(), pipeline.FailDeadline)
			}
		}
	}
}
