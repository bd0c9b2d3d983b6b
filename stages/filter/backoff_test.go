package filter_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/filter"
)

func fail(h block.Hash, reason string) pipeline.FetchResult {
	return pipeline.FetchResult{Hash: h, Reason: reason}
}

// TestBackoffSchedule checks the doubling, the cap, and that a success or
// a cancellation is handled as documented.
func TestBackoffSchedule(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := block.Hash{1}
	b := filter.NewBackoff(time.Second, 4*time.Second)
	skipAt := func(d time.Duration) string {
		cy := &pipeline.Cycle{Now: t0.Add(d), Namespace: "ns"}
		return b.Skip(context.Background(), cy, pipeline.Candidate{Hash: h})
	}
	observe := func(d time.Duration, rs ...pipeline.FetchResult) {
		b.Observe(&pipeline.Outcome{Start: t0.Add(d), Namespace: "ns", Fetches: rs})
	}
	if got := skipAt(0); got != "" {
		t.Fatalf("before any failure: Skip = %q, want keep", got)
	}
	// Failures at 0 (1 s), 1 s (2 s), 3 s (4 s), 7 s (capped at 4 s).
	var got []string
	for _, step := range []struct{ fail, probe time.Duration }{
		{0, 999 * time.Millisecond}, {time.Second, 2999 * time.Millisecond},
		{3 * time.Second, 6999 * time.Millisecond}, {7 * time.Second, 10999 * time.Millisecond},
	} {
		observe(step.fail, fail(h, pipeline.FailMiss))
		got = append(got, skipAt(step.probe), skipAt(step.probe+time.Millisecond))
	}
	want := []string{"backoff", "", "backoff", "", "backoff", "", "backoff", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schedule mismatch (-want +got):\n%s", diff)
	}

	// A cancellation says nothing about the block.
	observe(11*time.Second, fail(h, pipeline.FailCanceled))
	if got := skipAt(11 * time.Second); got != "" {
		t.Errorf("after a cancellation: Skip = %q, want keep", got)
	}
	// A success forgets the block.
	observe(20*time.Second, fail(h, pipeline.FailDeadline))
	observe(30*time.Second, pipeline.FetchResult{Hash: h, Bytes: 1})
	if b.Len() != 0 {
		t.Errorf("after a success: Len = %d, want 0", b.Len())
	}
	// Namespaces are separate.
	observe(40*time.Second, fail(h, pipeline.FailError))
	cy := &pipeline.Cycle{Now: t0.Add(40 * time.Second), Namespace: "other"}
	if got := b.Skip(context.Background(), cy, pipeline.Candidate{Hash: h}); got != "" {
		t.Errorf("other namespace: Skip = %q, want keep", got)
	}
}

// TestBackoffBoundedMemory: entries expire once eligible for Max, and
// MaxEntries caps the rest, dropping the soonest eligible first.
func TestBackoffBoundedMemory(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := &filter.Backoff{Base: time.Second, Max: time.Minute, MaxEntries: 100}
	var rs []pipeline.FetchResult
	for i := range 250 {
		rs = append(rs, fail(block.Hash{byte(i), byte(i >> 8)}, pipeline.FailMiss))
		if len(rs) == 50 {
			b.Observe(&pipeline.Outcome{Start: t0.Add(time.Duration(i) * time.Millisecond), Fetches: rs})
			rs = nil
		}
	}
	if got := b.Len(); got != 100 {
		t.Errorf("Len = %d, want the cap, 100", got)
	}
	// The newest failures (ids 150..249) are kept: eligible last.
	cy := &pipeline.Cycle{Now: t0.Add(300 * time.Millisecond)}
	for _, i := range []int{0, 149, 150, 249} {
		got := b.Skip(context.Background(), cy, pipeline.Candidate{Hash: block.Hash{byte(i), byte(i >> 8)}})
		if want := map[bool]string{true: "backoff", false: ""}[i >= 150]; got != want {
			t.Errorf("block %d: Skip = %q, want %q", i, got, want)
		}
	}
	// Much later, one more observation expires every old entry.
	b.Observe(&pipeline.Outcome{Start: t0.Add(time.Hour), Fetches: []pipeline.FetchResult{fail(block.Hash{9, 9, 9}, pipeline.FailMiss)}})
	if got := b.Len(); got != 1 {
		t.Errorf("after an hour: Len = %d, want 1", got)
	}
}

// TestBackoffForgetsWithoutFetches: cycles that fetch nothing still expire
// old entries, so Skip is back to one atomic load once nothing is
// remembered.
func TestBackoffForgetsWithoutFetches(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := filter.NewBackoff(time.Second, time.Minute)
	b.Observe(&pipeline.Outcome{Start: t0, Fetches: []pipeline.FetchResult{fail(block.Hash{1}, pipeline.FailMiss)}})
	b.Observe(&pipeline.Outcome{Start: t0.Add(30 * time.Second)})
	if got := b.Len(); got != 1 {
		t.Fatalf("30 s later: Len = %d, want 1 (eligible for less than Max)", got)
	}
	b.Observe(&pipeline.Outcome{Start: t0.Add(time.Hour)})
	if got := b.Len(); got != 0 {
		t.Errorf("an hour later, after a cycle with no fetch: Len = %d, want 0", got)
	}
}
