package store

import (
	"testing"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
)

// The contracts a Store meets. They are checked here, not in the package,
// so that the store itself imports nothing of the module but block.
var (
	_ presets.Tiers         = (*Store)(nil)
	_ presets.TiersWithRoom = (*Store)(nil)
	_ fetch.Materializer    = (*Store)(nil)
	_ filter.Flat           = (*Store)(nil)
	_ filter.InFlight       = (*Store)(nil)
	_ filter.Room           = (*Store)(nil)
)

// TestReasonsAgreeWithThePipeline checks that the reasons the store names
// on its own are the pipeline's.
func TestReasonsAgreeWithThePipeline(t *testing.T) {
	if reasonPanic != pipeline.FailPanic {
		t.Errorf("reasonPanic = %q, pipeline.FailPanic = %q: want them equal", reasonPanic, pipeline.FailPanic)
	}
	err := failf(ReasonCorrupt, "store: x")
	if got, want := failureReason(err), pipeline.FailureReason(err); got != want {
		t.Errorf("failureReason = %q, pipeline.FailureReason = %q: want them equal", got, want)
	}
}
