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

// TestPanicErrorUnwrap: errors.Is and errors.As see through a panic whose
// value is an error; the panic still counts as FailPanic.
func TestPanicErrorUnwrap(t *testing.T) {
	sentinel := errors.New("store: closed")
	tests := []struct {
		name       string
		value      any
		wantUnwrap error
		isSentinel bool
	}{
		{"error value", sentinel, sentinel, true},
		{"wrapped error value", fmt.Errorf("get: %w", sentinel), nil, true},
		{"reasoner value", reasonErr("corrupt"), reasonErr("corrupt"), false},
		{"string value", "boom", nil, false},
		{"nil value", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := &pipeline.PanicError{Stage: pipeline.StageFetcher, Value: tt.value}
			got := pe.Unwrap()
			if tt.wantUnwrap != nil && got != tt.wantUnwrap {
				t.Errorf("Unwrap() = %v, want %v", got, tt.wantUnwrap)
			}
			if _, isErr := tt.value.(error); !isErr && got != nil {
				t.Errorf("Unwrap() = %v for a %T value, want nil", got, tt.value)
			}
			if errors.Is(pe, sentinel) != tt.isSentinel {
				t.Errorf("errors.Is(PanicError{%v}, sentinel) = %v, want %v", tt.value, !tt.isSentinel, tt.isSentinel)
			}
			if r := pipeline.FailureReason(pe); r != pipeline.FailPanic {
				t.Errorf("FailureReason = %q, want %q whatever the value's own reason", r, pipeline.FailPanic)
			}
		})
	}
}
