// Package emit holds the emit stage: [pipeline.Emitter] implementations that
// report each finished cycle's [pipeline.Outcome].
//
//   - [MyelonInstr] writes the "[MyelonInstr] {...}" JSON line, whose
//     envelope and field names log parsers rely on;
//   - [Slog] logs the outcome through log/slog;
//   - [Func] calls a plain function;
//   - [Multi] reports to several emitters in turn.
package emit

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"

	"github.com/wombatkv/prefetch/pipeline"
)

// Format selects the [MyelonInstr] line's shape. The zero Format writes
// V2's line.
type Format int

const (
	// V1 is the dry-run line: fn "prefetch_cycle" with stages
	// scored, materialized (the number selected: what would be fetched)
	// and elapsed_ms.
	V1 Format = iota + 1
	// V2 is the fetching line: fn "prefetch_cycle_v2" with stages
	// scored, selected, skipped_already_flat, fetched, failed,
	// bytes_materialized and elapsed_ms.
	V2
	// V3 is V2's line with fn "prefetch_cycle_v3", for the parallel
	// preset: the same seven counts, so a parser of v2 lines reads it by
	// changing only the fn it matches.
	V3
)

// Prefix starts every MyelonInstr line.
const Prefix = "[MyelonInstr] "

// MyelonInstr writes one line per cycle to W:
//
//	[MyelonInstr] {"scope":"wmbt_kv_timing","fn":"prefetch_cycle_v2","stages":{...}}
//
// It is safe for concurrent use; each line is one Write.
type MyelonInstr struct {
	W      io.Writer
	Format Format

	mu sync.Mutex
}

// NewMyelonInstr returns the emitter writing lines of format f to w.
func NewMyelonInstr(w io.Writer, f Format) *MyelonInstr {
	return &MyelonInstr{W: w, Format: f}
}

type instrV1 struct {
	Scored       int   `json:"scored"`
	Materialized int   `json:"materialized"`
	ElapsedMs    int64 `json:"elapsed_ms"`
}

type instrV2 struct {
	Scored             int   `json:"scored"`
	Selected           int   `json:"selected"`
	SkippedAlreadyFlat int   `json:"skipped_already_flat"`
	Fetched            int   `json:"fetched"`
	Failed             int   `json:"failed"`
	BytesMaterialized  int64 `json:"bytes_materialized"`
	ElapsedMs          int64 `json:"elapsed_ms"`
}

type instrLine struct {
	Scope  string `json:"scope"`
	Fn     string `json:"fn"`
	Stages any    `json:"stages"`
}

// Line returns o's line in format f, without the trailing newline.
func Line(f Format, o *pipeline.Outcome) []byte {
	line := instrLine{Scope: "wmbt_kv_timing"}
	ms := o.Elapsed.Milliseconds()
	switch f {
	case V1:
		line.Fn = "prefetch_cycle"
		line.Stages = instrV1{Scored: o.Scored, Materialized: len(o.Selected), ElapsedMs: ms}
	default:
		line.Fn = "prefetch_cycle_v2"
		if f == V3 {
			line.Fn = "prefetch_cycle_v3"
		}
		line.Stages = instrV2{
			Scored:             o.Scored,
			Selected:           len(o.Selected),
			SkippedAlreadyFlat: o.SkippedAlreadyFlat(),
			Fetched:            o.Fetched,
			Failed:             o.Failed,
			BytesMaterialized:  o.BytesMaterialized,
			ElapsedMs:          ms,
		}
	}
	b, err := json.Marshal(line)
	if err != nil { // plain ints and strings cannot fail to marshal
		panic("emit: " + err.Error())
	}
	return append([]byte(Prefix), b...)
}

// Emit writes o's line. A write error is dropped: a full log disk must not
// stop the prefetcher.
func (e *MyelonInstr) Emit(_ context.Context, o *pipeline.Outcome) {
	b := append(Line(e.Format, o), '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.W.Write(b)
}

// Slog logs each outcome as one record with the cycle's counts, the skip
// and failure breakdowns and the stage timings. A cycle that ended with an
// error logs at Warn.
type Slog struct {
	Logger *slog.Logger
	// Level is the level of a clean cycle (default Info).
	Level slog.Level
}

// NewSlog returns the slog emitter logging clean cycles at level.
func NewSlog(l *slog.Logger, level slog.Level) *Slog { return &Slog{Logger: l, Level: level} }

// Emit logs o.
func (e *Slog) Emit(ctx context.Context, o *pipeline.Outcome) {
	level := e.Level
	attrs := []slog.Attr{
		slog.Uint64("cycle", o.Seq),
		slog.String("namespace", o.Namespace),
		slog.Int("scored", o.Scored),
		slog.Int("selected", len(o.Selected)),
		slog.Int("skipped_already_flat", o.SkippedAlreadyFlat()),
		slog.Int("fetched", o.Fetched),
		slog.Int("failed", o.Failed),
		slog.Int64("bytes_materialized", o.BytesMaterialized),
		slog.Duration("elapsed", o.Elapsed),
		slog.Any("skipped", o.Skipped),
		slog.Any("failed_by", o.FailedBy),
		slog.Group("timings",
			slog.Duration("scan", o.Timings.Scan),
			slog.Duration("filter", o.Timings.Filter),
			slog.Duration("fetch", o.Timings.Fetch)),
	}
	if o.Err != nil {
		level = max(level, slog.LevelWarn)
		attrs = append(attrs, slog.String("err", o.Err.Error()))
	}
	e.Logger.LogAttrs(ctx, level, "prefetch cycle", attrs...)
}

// Func is an emitter that calls a plain function with each outcome, for
// tests and callers that collect outcomes themselves.
type Func func(o *pipeline.Outcome)

// Emit calls f(o).
func (f Func) Emit(_ context.Context, o *pipeline.Outcome) { f(o) }

// Multi reports each outcome to every emitter, in order.
type Multi []pipeline.Emitter

// Emit calls Emit on each emitter in turn.
func (m Multi) Emit(ctx context.Context, o *pipeline.Outcome) {
	for _, e := range m {
		e.Emit(ctx, o)
	}
}
