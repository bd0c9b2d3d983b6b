package policy

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// The shipped specs, one per preset of the presets package: each builds
// the pipeline.Config its Go constructor returns (the tests prove it).
//
//go:embed presets/*.json
var presetFiles embed.FS

// PresetNames returns the names of the shipped specs: "hints", "v1", "v2",
// "v3" and "warmup", sorted.
func PresetNames() []string {
	entries, _ := fs.ReadDir(presetFiles, "presets")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// PresetFile returns the JSON of the shipped spec called name, to print or
// to start a policy of one's own from.
func PresetFile(name string) ([]byte, error) {
	if !slices.Contains(PresetNames(), name) {
		return nil, fmt.Errorf("policy: unknown preset %q, want one of %s", name, strings.Join(PresetNames(), ", "))
	}
	return presetFiles.ReadFile(path.Join("presets", name+".json"))
}

// Preset returns the shipped spec called name, parsed with [Builtin]'s
// stages; errors name it as "presets/NAME.json". Built against an Env with
// the same index, store, hints, model, InstrLog, Emitters, Clock and
// Logger as presets.Options, it gives the pipeline.Config of the preset of
// the same name:
//
//	policy.Preset(name) built over env  ==  presets.Config(name, o)
//
// for Options whose numbers (TopK, Interval, Limit, ...) are zero, that is,
// the defaults. Its Admission is what the replay lab gives the preset
// ("lru" for warmup, the store's default for the others).
func Preset(name string) (*Spec, error) {
	data, err := PresetFile(name)
	if err != nil {
		return nil, err
	}
	return Parse(path.Join("presets", name+".json"), data, Builtin())
}
