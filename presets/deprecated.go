package presets

import (
	"time"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// The old names the replay lab (replay/policy.go) still calls, until it
// moves to Config(name, o): nothing else in the module uses them.

// Store is the old name of [Tiers].
//
// Deprecated: use Tiers.
type Store = Tiers

// WarmupStore is the old name of [TiersWithRoom].
//
// Deprecated: use TiersWithRoom.
type WarmupStore = TiersWithRoom

// HintOptions are the old options of the hints preset, now fields of
// [Options].
//
// Deprecated: set Options.Hints, GetsPerSecond, Burst and GetTime, and
// use Config(NameHints, o).
type HintOptions struct {
	Options
	Hints         *snapshot.Hints
	GetsPerSecond float64
	Burst         int
	GetTime       func(payloadBytes uint64) time.Duration
}

// options returns o as the Options of the hints preset.
func (o HintOptions) options() Options {
	opts := o.Options
	opts.Hints, opts.GetsPerSecond, opts.Burst, opts.GetTime = o.Hints, o.GetsPerSecond, o.Burst, o.GetTime
	return opts
}

// HintsConfig returns the config of the hints preset.
//
// Deprecated: use Config(NameHints, o).
func HintsConfig(o HintOptions) (pipeline.Config, error) { return Config(NameHints, o.options()) }

// WarmupConfig returns the config of the warm-up preset.
//
// Deprecated: use Config(NameWarmup, o).
func WarmupConfig(o Options) (pipeline.Config, error) { return Config(NameWarmup, o) }
