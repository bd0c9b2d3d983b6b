package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// flatLock is a Store's hold on its flat directory: the lock file in it,
// open and (on Unix) flocked.
type flatLock struct {
	file *os.File
}

// lockFlat takes an exclusive, non-blocking flock on the lock file
// (lockName) of the flat directory that r opens (at path), so that two
// Stores never share a flat directory (one would delete the other's
// temporary files at Open). The lock file must be a plain file. The
// kernel drops the lock when the process dies, however it dies.
func lockFlat(r *os.Root, path string) (*flatLock, error) {
	lp := filepath.Join(path, lockName)
	f, err := openLockFile(r, lp)
	if err != nil {
		return nil, err
	}
	if err := flock(f, lp); err != nil {
		f.Close()
		return nil, err
	}
	return &flatLock{file: f}, nil
}

// openLockFile opens the lock file, creating it if need be, and refuses
// one that is not a plain file: it never follows a symlink.
func openLockFile(r *os.Root, lp string) (*os.File, error) {
	if fi, err := r.Lstat(lockName); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("store: lock file %s is a %s, not a plain file: remove it and open again", lp, kindOf(fi.Mode()))
	}
	// O_CREATE|O_EXCL never follows a symlink; a file already there is
	// opened without O_CREATE.
	f, err := r.OpenFile(lockName, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		f, err = r.OpenFile(lockName, os.O_RDWR, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("store: lock flat dir: %w", err)
	}
	return f, nil
}

// Close releases the lock.
func (l *flatLock) Close() error { return l.file.Close() }
