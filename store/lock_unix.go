//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive, non-blocking flock on path, so that two
// Stores never share a flat directory (one would delete the other's
// temporary files at Open). The kernel drops the lock when the process
// dies, however it dies.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: lock flat dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("store: flat dir is in use by another store (%s is locked); close it first or use another FlatDir", path)
		}
		return nil, fmt.Errorf("store: lock flat dir %s: %w", path, err)
	}
	return f, nil
}
