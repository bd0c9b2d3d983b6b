//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import (
	"fmt"
	"os"
)

// lockDir creates the lock file but takes no lock: this platform has no
// flock. Two Stores must not share a flat directory here.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: lock flat dir: %w", err)
	}
	return f, nil
}
