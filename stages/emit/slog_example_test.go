package emit_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/emit"
)

// ExampleNewSlog logs each cycle as one record.
func ExampleNewSlog() {
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // varies from run to run
			}
			return a
		},
	})
	e := emit.NewSlog(slog.New(h), slog.LevelInfo)
	e.Emit(context.Background(), &pipeline.Outcome{
		Seq: 7, Namespace: "tp-default", Scored: 1000, Selected: make([]pipeline.Candidate, 8),
		Skipped: map[string]int{pipeline.SkipAlreadyFlat: 5}, Fetched: 3, BytesMaterialized: 3 << 20,
	})
	// Output:
	// level=INFO msg="prefetch cycle" cycle=7 namespace=tp-default scored=1000 selected=8 skipped_already_flat=5 fetched=3 failed=0 bytes_materialized=3145728 elapsed=0s skipped=map[already_flat:5] failed_by=map[] timings.scan=0s timings.filter=0s timings.fetch=0s
}
