//go:build !race

package presets_test

const raceEnabled = false
