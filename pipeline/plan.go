package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
)

// ScanPath names the way a cycle's scan step ran, as [Outcome.Path]
// reports it. Every path selects the same blocks; they differ in how many
// entries they score.
type ScanPath string

// The scan paths, fastest first.
const (
	// PathPruned reads the index's columns in place and passes over the
	// entries the scorer's bound rules out without scoring them. It is
	// taken when one source is a [ReaderSource] over a [ColumnScanner]
	// (snapshot.Index over an index.Memory), the scorer a [ScoreBounder]
	// (see [AsScoreBounder]), the selector a [ThresholdSelector], every
	// pre-filter an [InlineFilter], and, with several sources, the index
	// a [Getter].
	PathPruned ScanPath = "pruned"
	// PathScored scores every entry, with no lock of the index held, and
	// builds a candidate only for those that beat the selector's K-th so
	// far. It is taken when the selector is a ThresholdSelector but
	// another stage keeps the cycle off the pruned path (a plain
	// ScorerFunc, say).
	PathScored ScanPath = "scored"
	// PathGeneral scores every entry and hands each to the selector. It
	// is taken when the selector is not a ThresholdSelector.
	PathGeneral ScanPath = "general"
)

// scanPlan is how a cycle scans, as decided from its stages.
type scanPlan struct {
	path ScanPath
	why  pathWhy // why not the next faster path; zero on the pruned path
	// index is the position in Config.Sources of the source that is
	// scanned last, after the others have been gathered, and whose index
	// get looks their blocks up in; -1 when the sources are scanned in
	// order (one source, or several without such an index).
	index int
	get   Getter
	// warm is the index source's index when it can look entries up, for
	// the pruned path's warm start (see scanPruned); nil otherwise.
	warm Getter
	cs   ColumnScanner     // pruned path: the index
	sb   ScoreBounder      // pruned path: the scorer's bound
	ts   ThresholdSelector // pruned and scored paths
}

// plan decides how the cycle scans. It calls stage code (a source's
// Reader, a scorer's MaxBonus), naming it in *stage.
func (p *Pipeline) plan(stage *Stage) scanPlan {
	cfg := &p.cfg
	pl := scanPlan{index: -1}
	note := func(w pathWhy) {
		if pl.why.kind == whyNone {
			pl.why = w
		}
	}
	var rs ReaderSource
	*stage = StageSource
	for i, s := range cfg.Sources {
		if r, ok := s.(ReaderSource); ok {
			rs, pl.index = r, i
			break
		}
	}
	switch {
	case rs == nil && len(cfg.Sources) == 1:
		note(pathWhy{kind: whyNoReaderSource, t: reflect.TypeOf(cfg.Sources[0])})
	case rs == nil:
		note(pathWhy{kind: whyNoReaderSources, i: len(cfg.Sources)})
	default:
		r := rs.Reader()
		g, isGetter := r.(Getter)
		if isGetter {
			pl.warm = g
		}
		if len(cfg.Sources) > 1 {
			if isGetter {
				pl.get = g
			} else {
				note(pathWhy{kind: whyNoGetter, i: pl.index, t: reflect.TypeOf(r)})
			}
		}
		if cs, ok := r.(ColumnScanner); ok {
			pl.cs = cs
		} else {
			note(pathWhy{kind: whyNoColumns, i: pl.index, t: reflect.TypeOf(r)})
		}
	}
	if pl.get == nil {
		pl.index = -1
	}
	*stage = StageScorer
	if sb := findBounder(cfg.Scorer); sb == nil {
		note(pathWhy{kind: whyNoBounder, t: reflect.TypeOf(cfg.Scorer)})
	} else if boundsNothing(sb) {
		note(pathWhy{kind: whyBoundsNothing, t: reflect.TypeOf(cfg.Scorer)})
	} else {
		pl.sb = sb
	}
	for i, f := range cfg.PreFilters {
		if _, inline := f.(InlineFilter); !inline {
			note(pathWhy{kind: whyNotInline, i: i, t: reflect.TypeOf(f)})
			break
		}
	}
	pl.ts, _ = cfg.Selector.(ThresholdSelector)
	switch {
	case pl.ts == nil:
		pl.path = PathGeneral
		pl.why = pathWhy{kind: whyNoThreshold, t: reflect.TypeOf(cfg.Selector)}
	case pl.why.kind != whyNone:
		pl.path = PathScored
	default:
		pl.path = PathPruned
	}
	return pl
}

// pathWhy is why a scan did not take a faster path, kept unformatted so
// that a cycle formats it only when it differs from the last cycle's.
type pathWhy struct {
	kind whyKind
	i    int          // a position in Sources or PreFilters, or a count
	t    reflect.Type // the stage's type
}

type whyKind int

const (
	whyNone whyKind = iota
	whyNoReaderSource
	whyNoReaderSources
	whyNoGetter
	whyNoColumns
	whyNoBounder
	whyBoundsNothing
	whyNoThreshold
	whyNotInline
)

func (w pathWhy) String() string {
	switch w.kind {
	case whyNoReaderSource:
		return fmt.Sprintf("Sources[0] %v is not a pipeline.ReaderSource", w.t)
	case whyNoReaderSources:
		return fmt.Sprintf("none of the %d Sources is a pipeline.ReaderSource", w.i)
	case whyNoGetter:
		return fmt.Sprintf("Sources[%d]'s index %v is not a pipeline.Getter, which the other sources are deduplicated against", w.i, w.t)
	case whyNoColumns:
		return fmt.Sprintf("Sources[%d]'s index %v is not a pipeline.ColumnScanner", w.i, w.t)
	case whyNoBounder:
		return fmt.Sprintf("Scorer %v is not a pipeline.ScoreBounder", w.t)
	case whyBoundsNothing:
		return fmt.Sprintf("Scorer %v offers no bound (its MaxBonus is +Inf)", w.t)
	case whyNoThreshold:
		return fmt.Sprintf("Selector %v is not a pipeline.ThresholdSelector", w.t)
	case whyNotInline:
		return fmt.Sprintf("PreFilters[%d] %v is not a pipeline.InlineFilter", w.i, w.t)
	}
	return ""
}

// notePath records the plan's path in o and logs it when it differs from
// the last cycle's: at a pipeline's first cycle, and after a change.
func (p *Pipeline) notePath(ctx context.Context, o *Outcome, pl *scanPlan) {
	if pl.path != p.lastPath || pl.why != p.lastWhy {
		p.lastPath, p.lastWhy, p.lastReason = pl.path, pl.why, pl.why.String()
		level := slog.LevelInfo
		if pl.path == PathPruned {
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{slog.String("path", string(pl.path)), slog.Uint64("cycle", o.Seq)}
		if p.lastReason != "" {
			attrs = append(attrs, slog.String("reason", p.lastReason))
		}
		p.cfg.Logger.LogAttrs(ctx, level, "prefetch scan path", attrs...)
	}
	o.Path, o.PathReason = pl.path, p.lastReason
}
