package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/wombatkv/prefetch/pipeline"
)

type reasonErr string

func (e reasonErr) Error() string  { return "store: " + string(e) }
func (e reasonErr) Reason() string { return string(e) }

func TestFailureReason(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain", errors.New("boom"), pipeline.FailError},
		{"deadline", context.DeadlineExceeded, pipeline.FailDeadline},
		{"wrapped deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), pipeline.FailDeadline},
		{"canceled", fmt.Errorf("get: %w", context.Canceled), pipeline.FailCanceled},
		{"reasoner", reasonErr("corrupt"), "corrupt"},
		{"wrapped reasoner wins over deadline", fmt.Errorf("%w (%w)", reasonErr("short"), context.DeadlineExceeded), "short"},
		{"empty reason falls through", fmt.Errorf("%w: %w", reasonErr(""), context.Canceled), pipeline.FailCanceled},
		{"panic error", &pipeline.PanicError{Stage: "fetcher", Value: 1}, pipeline.FailPanic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pipeline.FailureReason(tt.err); got != tt.want {
				t.Errorf("FailureReason(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestFetchResultFetched(t *testing.T) {
	if !(pipeline.FetchResult{Bytes: 1}).Fetched() {
		t.Error("a result without a reason is not fetched")
	}
	if (pipeline.FetchResult{Reason: pipeline.FailMiss}).Fetched() {
		t.Error("a miss is fetched")
	}
}

func TestPanicErrorMessage(t *testing.T) {
	e := &pipeline.PanicError{Stage: "scorer", Value: "boom"}
	if got, want := e.Error(), "pipeline: scorer panicked: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestSkippedAlreadyFlat(t *testing.T) {
	o := &pipeline.Outcome{Skipped: map[string]int{pipeline.SkipAlreadyFlat: 3, pipeline.SkipInFlight: 2}}
	if got := o.SkippedAlreadyFlat(); got != 3 {
		t.Errorf("SkippedAlreadyFlat = %d, want 3", got)
	}
	if got := (&pipeline.Outcome{}).SkippedAlreadyFlat(); got != 0 {
		t.Errorf("SkippedAlreadyFlat of a nil map = %d, want 0", got)
	}
}
