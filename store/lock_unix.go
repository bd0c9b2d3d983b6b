//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// flock takes an exclusive, non-blocking flock on f, the file or
// directory at path.
func flock(f *os.File, path string) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("store: flat dir is in use by another store (%s is locked); close it first or use another FlatDir", path)
		}
		return fmt.Errorf("store: lock flat dir %s: %w", path, err)
	}
	return nil
}
