package policy

import (
	"io"
	"log/slog"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// Store is what the module's fetching stages need of the tiers: presence
// in flat and materialization from cold (the method set of presets.Tiers,
// so a value of either type is the other). A store that also implements
// [filter.InFlight] can back the "not-in-flight" filter, and one that
// implements [filter.Room] the "free-room" filter and the "room-gate"
// source.
type Store interface {
	filter.Flat
	fetch.Materializer
}

// Env is what a spec is built against: the node's (or the replay lab's)
// index, tiers, hint intake, clock and logs. A stage's constructor takes
// what it needs from it, and [Spec.Build] reports a stage whose need is
// not met (the "sequential" fetcher without a Store, say). Every field is
// optional to Build; which are needed depends on the spec.
type Env struct {
	// Index is the metadata index the "index" source streams.
	Index index.Reader
	// Store is the flat and cold tiers: the filters ask it, the fetchers
	// materialize through it. To instrument fetches (fetch.Instrument) or
	// add latency, wrap its Materialize and keep its other methods, as the
	// presets do: the filters then still see the store's own.
	Store Store
	// Hints is the intake of hinted blocks, for a spec that uses hints
	// ([Spec.UsesHints]): the "hints" source and the "deadline" scorer
	// read it. The caller creates it (snapshot.NewHints) and feeds it;
	// [Spec.Worker] wires its notify function to the worker's Wake.
	Hints *snapshot.Hints
	// GetTime is the caller's estimate of how long a GET of a block of
	// the given payload size takes (the replay lab's cost model), for the
	// "deadline" scorer when its params give neither get_latency nor
	// get_bandwidth. Nil means score.DefaultGetTime.
	GetTime func(payloadBytes uint64) time.Duration
	// Model is the active model's digest, for the "rfc0008" scorer's
	// model bonus; the zero digest disables the bonus.
	Model block.ModelDigest
	// InstrLog is where the "myelon" emitter writes its MyelonInstr lines;
	// nil leaves that emitter out, as the presets do with a nil
	// Options.InstrLog.
	InstrLog io.Writer
	// Emitters are called after the spec's own emitters, in order (as
	// presets.Options.Emitters): a caller's metrics or outcome collector.
	Emitters []pipeline.Emitter
	// Clock and Logger set the same fields of pipeline.Config (nil means
	// time.Now and discard). The "slog" emitter logs to Logger, and needs
	// it.
	Clock  func() time.Time
	Logger *slog.Logger
}
