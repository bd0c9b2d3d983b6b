package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// flatLock is a Store's hold on its flat directory: the directory itself
// and the lock file in it, both open and (on Unix) flocked.
type flatLock struct {
	dir, file *os.File
}

// lockFlat locks the flat directory that r opens (at path) for one Store.
// The lock that counts is an exclusive, non-blocking flock on the
// directory itself: no one can delete it from under a running store, so a
// second Open fails even after the lock file was deleted. The lock file
// (lockName) is locked as well, for older versions of the store, which
// lock only it: it must be a plain file, and after locking the path must
// still name the file locked (fstat against lstat), else Open refuses.
// The kernel drops both locks when the process dies, however it dies.
func lockFlat(r *os.Root, path string) (*flatLock, error) {
	d, err := r.Open(".")
	if err != nil {
		return nil, fmt.Errorf("store: lock flat dir: %w", err)
	}
	if err := flock(d, path); err != nil {
		d.Close()
		return nil, err
	}
	lp := filepath.Join(path, lockName)
	f, err := openLockFile(r, lp)
	if err != nil {
		d.Close()
		return nil, err
	}
	l := &flatLock{dir: d, file: f}
	if err := flock(f, lp); err != nil {
		l.Close()
		return nil, err
	}
	fi, err := f.Stat()
	li, lerr := r.Lstat(lockName)
	if err != nil || lerr != nil || !li.Mode().IsRegular() || !os.SameFile(fi, li) {
		l.Close()
		return nil, fmt.Errorf("store: lock file %s changed while Open locked it (deleted, replaced or made a symlink by another process): check what else uses FlatDir, then open again", lp)
	}
	return l, nil
}

// openLockFile opens the lock file, creating it if need be, and refuses
// one that is not a plain file: it never follows a symlink.
func openLockFile(r *os.Root, lp string) (*os.File, error) {
	if fi, err := r.Lstat(lockName); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("store: lock file %s is a %s, not a plain file: remove it and open again", lp, kindOf(fi.Mode()))
	}
	// O_CREATE|O_EXCL never follows a symlink; a file already there is
	// opened without O_CREATE and checked against its lstat once locked.
	f, err := r.OpenFile(lockName, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		f, err = r.OpenFile(lockName, os.O_RDWR, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("store: lock flat dir: %w", err)
	}
	return f, nil
}

// Close releases the locks.
func (l *flatLock) Close() error {
	return errors.Join(l.file.Close(), l.dir.Close())
}
