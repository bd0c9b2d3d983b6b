//go:build race

package replay

// raceEnabled skips the long replays under the race detector, which slows
// them tenfold.
const raceEnabled = true
