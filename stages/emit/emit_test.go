package emit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/emit"
)

var (
	_ pipeline.Emitter = (*emit.MyelonInstr)(nil)
	_ pipeline.Emitter = (*emit.Slog)(nil)
	_ pipeline.Emitter = emit.Func(nil)
	_ pipeline.Emitter = emit.Multi(nil)
)

// sample is a cycle with every count distinct, so a field read from the
// wrong place shows.
func sample() *pipeline.Outcome {
	return &pipeline.Outcome{
		Seq:       7,
		Namespace: "ns-a",
		Scored:    100,
		Selected:  make([]pipeline.Candidate, 10),
		Skipped:   map[string]int{pipeline.SkipAlreadyFlat: 3, pipeline.SkipInFlight: 2},
		Fetched:   4,
		Failed:    1,
		FailedBy:  map[string]int{pipeline.FailMiss: 1},

		BytesMaterialized: 4096,
		Elapsed:           12*time.Millisecond + 999*time.Microsecond, // 12 ms: truncated, as the seed's as_millis
		Timings:           pipeline.Timings{Scan: time.Millisecond, Filter: 2 * time.Millisecond, Fetch: 3 * time.Millisecond},
	}
}

func TestMyelonInstrLines(t *testing.T) {
	tests := []struct {
		format emit.Format
		want   string
	}{
		{emit.V1, `[MyelonInstr] {"scope":"wmbt_kv_timing","fn":"prefetch_cycle","stages":{"scored":100,"materialized":10,"elapsed_ms":12}}`},
		{emit.V2, `[MyelonInstr] {"scope":"wmbt_kv_timing","fn":"prefetch_cycle_v2","stages":{"scored":100,"selected":10,"skipped_already_flat":3,"fetched":4,"failed":1,"bytes_materialized":4096,"elapsed_ms":12}}`},
		{emit.V3, `[MyelonInstr] {"scope":"wmbt_kv_timing","fn":"prefetch_cycle_v3","stages":{"scored":100,"selected":10,"skipped_already_flat":3,"fetched":4,"failed":1,"bytes_materialized":4096,"elapsed_ms":12}}`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.format), func(t *testing.T) {
			if got := string(emit.Line(tt.format, sample())); got != tt.want {
				t.Errorf("Line =\n%s\nwant\n%s", got, tt.want)
			}
			var buf bytes.Buffer
			emit.NewMyelonInstr(&buf, tt.format).Emit(context.Background(), sample())
			if got := buf.String(); got != tt.want+"\n" {
				t.Errorf("Emit wrote\n%q\nwant\n%q", got, tt.want+"\n")
			}
			// The line after the prefix is JSON a log parser can read.
			var v map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(tt.want, emit.Prefix)), &v); err != nil {
				t.Errorf("not JSON after the prefix: %v", err)
			}
		})
	}
	if emit.Prefix != "[MyelonInstr] " {
		t.Errorf("Prefix = %q", emit.Prefix)
	}
}

// TestMyelonInstrSeedFormat rebuilds the seed's v1 and v2 lines with its
// own format strings (default_emit, default_v2_emit) and compares.
func TestMyelonInstrSeedFormat(t *testing.T) {
	o := sample()
	o.Skipped = nil // an empty cycle: zero counts are written, not omitted
	o.Selected, o.Fetched, o.Failed, o.BytesMaterialized, o.Elapsed = nil, 0, 0, 0, 0
	v1 := fmt.Sprintf(`[MyelonInstr] {"scope":"wmbt_kv_timing","fn":"prefetch_cycle","stages":{"scored":%d,"materialized":%d,"elapsed_ms":%d}}`, 100, 0, 0)
	v2 := fmt.Sprintf(`[MyelonInstr] {"scope":"wmbt_kv_timing","fn":"prefetch_cycle_v2","stages":{"scored":%d,"selected":%d,"skipped_already_flat":%d,"fetched":%d,"failed":%d,"bytes_materialized":%d,"elapsed_ms":%d}}`, 100, 0, 0, 0, 0, 0, 0)
	if got := string(emit.Line(emit.V1, o)); got != v1 {
		t.Errorf("v1 = %s\nwant %s", got, v1)
	}
	if got := string(emit.Line(emit.V2, o)); got != v2 {
		t.Errorf("v2 = %s\nwant %s", got, v2)
	}
}

// TestMyelonInstrConcurrentEmits: each line is one intact Write.
func TestMyelonInstrConcurrentEmits(t *testing.T) {
	w := &writeLog{}
	e := emit.NewMyelonInstr(w, emit.V2)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.Emit(context.Background(), sample())
		}()
	}
	wg.Wait()
	want := string(emit.Line(emit.V2, sample())) + "\n"
	if len(w.writes) != 50 {
		t.Fatalf("%d writes, want 50", len(w.writes))
	}
	for i, s := range w.writes {
		if s != want {
			t.Fatalf("write %d = %q, want one whole line", i, s)
		}
	}
}

type writeLog struct {
	mu     sync.Mutex
	writes []string
	err    error
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), w.err
}

func TestMyelonInstrDropsWriteErrors(t *testing.T) {
	w := &writeLog{err: errors.New("disk full")}
	emit.NewMyelonInstr(w, emit.V1).Emit(context.Background(), sample()) // must not panic
	if len(w.writes) != 1 {
		t.Errorf("%d writes, want 1", len(w.writes))
	}
}

func TestSlog(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))

	emit.NewSlog(l, slog.LevelInfo).Emit(context.Background(), sample())
	failed := sample()
	failed.Err = &pipeline.PanicError{Stage: "scorer", Value: "boom"}
	emit.NewSlog(l, slog.LevelInfo).Emit(context.Background(), failed)
	emit.NewSlog(l, slog.LevelDebug).Emit(context.Background(), sample())
	emit.NewSlog(l, slog.LevelError).Emit(context.Background(), failed) // an error never lowers the level

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d records, want 4:\n%s", len(lines), buf.String())
	}
	var recs []map[string]any
	for _, line := range lines {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	want := map[string]any{
		"level": "INFO", "msg": "prefetch cycle", "cycle": 7.0, "namespace": "ns-a",
		"scored": 100.0, "selected": 10.0, "skipped_already_flat": 3.0, "fetched": 4.0, "failed": 1.0,
		"bytes_materialized": 4096.0, "elapsed": float64(sample().Elapsed),
		"skipped":   map[string]any{"already_flat": 3.0, "in_flight": 2.0},
		"failed_by": map[string]any{"miss": 1.0},
		"timings":   map[string]any{"scan": float64(time.Millisecond), "filter": float64(2 * time.Millisecond), "fetch": float64(3 * time.Millisecond)},
	}
	got := recs[0]
	delete(got, "time")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("clean cycle record mismatch (-want +got):\n%s", diff)
	}
	if recs[1]["level"] != "WARN" || recs[1]["err"] != "pipeline: scorer panicked: boom" {
		t.Errorf("a failed cycle logged level %v err %v, want WARN and the error", recs[1]["level"], recs[1]["err"])
	}
	if recs[2]["level"] != "DEBUG" {
		t.Errorf("Level Debug logged at %v", recs[2]["level"])
	}
	if recs[3]["level"] != "ERROR" {
		t.Errorf("a failed cycle at Level Error logged at %v", recs[3]["level"])
	}
}

func TestFunc(t *testing.T) {
	var got *pipeline.Outcome
	o := sample()
	emit.Func(func(o *pipeline.Outcome) { got = o }).Emit(context.Background(), o)
	if got != o {
		t.Error("Func was not called with the outcome")
	}
}

func TestMulti(t *testing.T) {
	var order []string
	rec := func(name string) pipeline.Emitter {
		return emit.Func(func(o *pipeline.Outcome) { order = append(order, fmt.Sprint(name, o.Seq)) })
	}
	var buf bytes.Buffer
	m := emit.Multi{rec("a"), emit.NewMyelonInstr(&buf, emit.V1), rec("b")}
	m.Emit(context.Background(), sample())
	if diff := cmp.Diff([]string{"a7", "b7"}, order); diff != "" {
		t.Errorf("order mismatch (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(buf.String(), emit.Prefix) {
		t.Errorf("the MyelonInstr emitter in Multi wrote %q", buf.String())
	}
	emit.Multi{}.Emit(context.Background(), sample()) // empty: a no-op
}
