//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import "os"

// flock takes no lock: this platform has no flock. Two Stores must not
// share a flat directory here.
func flock(*os.File, string) error { return nil }
