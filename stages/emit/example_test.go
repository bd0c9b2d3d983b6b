package emit_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

func ExampleNewMyelonInstr() {
	o := &pipeline.Outcome{
		Scored:            100,
		Selected:          make([]pipeline.Candidate, 10),
		Skipped:           map[string]int{pipeline.SkipAlreadyFlat: 2},
		Fetched:           7,
		Failed:            1,
		BytesMaterialized: 7 * 1024,
		Elapsed:           3 * time.Millisecond,
	}
	for _, f := range []emit.Format{emit.V1, emit.V2, emit.V3} {
		emit.NewMyelonInstr(os.Stdout, f).Emit(context.Background(), o)
	}
	// Output:
	// [MyelonInstr] {"scope":"wmbt_kv_timing","fn":"prefetch_cycle","stages":{"scored":100,"materialized":10,"elapsed_ms":3}}
	// [MyelonInstr] {"scope":"wmbt_kv_timing","fn":"prefetch_cycle_v2","stages":{"scored":100,"selected":10,"skipped_already_flat":2,"fetched":7,"failed":1,"bytes_materialized":7168,"elapsed_ms":3}}
	// [MyelonInstr] {"scope":"wmbt_kv_timing","fn":"prefetch_cycle_v3","stages":{"scored":100,"selected":10,"skipped_already_flat":2,"fetched":7,"failed":1,"bytes_materialized":7168,"elapsed_ms":3}}
}

func ExampleFunc() {
	e := emit.Func(func(o *pipeline.Outcome) {
		fmt.Printf("cycle %d: fetched %d of %d selected\n", o.Seq, o.Fetched, len(o.Selected))
	})
	e.Emit(context.Background(), &pipeline.Outcome{Seq: 1, Fetched: 2, Selected: make([]pipeline.Candidate, 3)})
	// Output:
	// cycle 1: fetched 2 of 3 selected
}

func ExampleNewHintMetrics() {
	now := time.Unix(0, 0)
	hints := snapshot.NewHints(snapshot.HintsConfig{Clock: func() time.Time { return now }})
	reg := prometheus.NewRegistry() // serve it with promhttp.HandlerFor(reg, ...)
	if _, err := emit.NewHintMetrics(reg, hints, emit.HintMetricsOptions{}); err != nil {
		panic(err)
	}
	hints.Add(snapshot.Hint{Hash: block.Hash{1}, Due: now.Add(time.Second)},
		snapshot.Hint{Hash: block.Hash{2}, Due: now.Add(time.Second)})
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kvprefetch_hints_added_total Hints given to the intake.
# TYPE kvprefetch_hints_added_total counter
kvprefetch_hints_added_total 2
# HELP kvprefetch_hints_pending Hints held by the intake.
# TYPE kvprefetch_hints_pending gauge
kvprefetch_hints_pending 2
`), "kvprefetch_hints_added_total", "kvprefetch_hints_pending")
	fmt.Println("metrics as expected:", err == nil)
	// Output:
	// metrics as expected: true
}

func ExampleNewPrometheus() {
	reg := prometheus.NewRegistry() // serve it with promhttp.HandlerFor(reg, ...)
	p, err := emit.NewPrometheus(reg, emit.PrometheusOptions{})
	if err != nil {
		panic(err)
	}
	p.Emit(context.Background(), &pipeline.Outcome{
		Namespace:         "tp-default",
		Fetched:           2,
		BytesMaterialized: 4096,
		Failed:            1,
		FailedBy:          map[string]int{pipeline.FailMiss: 1},
	})
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kvprefetch_blocks_fetched_total Blocks materialized into the flat tier.
# TYPE kvprefetch_blocks_fetched_total counter
kvprefetch_blocks_fetched_total{kv_namespace="tp-default"} 2
# HELP kvprefetch_blocks_failed_total Block fetches that failed, by reason.
# TYPE kvprefetch_blocks_failed_total counter
kvprefetch_blocks_failed_total{kv_namespace="tp-default",reason="miss"} 1
`), "kvprefetch_blocks_fetched_total", "kvprefetch_blocks_failed_total")
	fmt.Println("metrics as expected:", err == nil)
	// Output:
	// metrics as expected: true
}

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
