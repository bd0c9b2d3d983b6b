package presets

import (
	"time"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

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

// Hinted returns the pipeline of the hints preset.
//
// Deprecated: use New(NameHints, o), or Worker(NameHints, o).
func Hinted(o HintOptions) (*pipeline.Pipeline, error) { return New(NameHints, o.options()) }

// HintedWorker returns a stopped worker running the hints preset.
//
// Deprecated: use Worker(NameHints, o).
func HintedWorker(o HintOptions) (*pipeline.Worker, error) { return Worker(NameHints, o.options()) }

// Warmup returns the pipeline of the warm-up preset.
//
// Deprecated: use New(NameWarmup, o).
func Warmup(o Options) (*pipeline.Pipeline, error) { return New(NameWarmup, o) }

// ByName returns the pipeline of the preset called name.
//
// Deprecated: use New(name, o).
func ByName(name string, o Options) (*pipeline.Pipeline, error) { return New(name, o) }

// V1DryRun returns the pipeline of the v1 preset.
//
// Deprecated: use New(NameV1, o).
func V1DryRun(o Options) (*pipeline.Pipeline, error) { return New(NameV1, o) }

// V2Sequential returns the pipeline of the v2 preset.
//
// Deprecated: use New(NameV2, o).
func V2Sequential(o Options) (*pipeline.Pipeline, error) { return New(NameV2, o) }

// V3Parallel returns the pipeline of the v3 preset.
//
// Deprecated: use New(NameV3, o).
func V3Parallel(o Options) (*pipeline.Pipeline, error) { return New(NameV3, o) }
