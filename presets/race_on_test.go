//go:build race

package presets_test

// raceEnabled: the race detector slows index writes about tenfold, so the
// load test's default index is smaller under it (-load.entries overrides).
const raceEnabled = true
