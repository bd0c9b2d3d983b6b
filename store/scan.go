package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/block"
)

// Rebuilding the flat tier's index at Open, from what the flat directory
// holds.

// scan rebuilds the recency index from the flat directory and removes the
// temporary files a crash left. Files it does not recognise are left alone
// and not counted; an entry where a namespace directory, a fan-out
// directory or a block belongs that is neither a plain file nor a
// directory is skipped and counted in Stats.Irregular. A directory it
// cannot read fails it.
func (s *Store) scan() error {
	type found struct {
		id    string
		size  int64
		mtime time.Time
	}
	var blocks []found
	nsDirs, err := s.readDir(".")
	if err != nil {
		return err
	}
	for _, nd := range nsDirs {
		ns := nd.Name()
		if block.ValidateNamespace(ns) != nil || !s.isDir(nd, ns) {
			continue
		}
		fans, err := s.readDir(ns)
		if err != nil {
			return err
		}
		for _, fd := range fans {
			dir := filepath.Join(ns, fd.Name())
			if !isLowerHex(fd.Name(), 2) || !s.isDir(fd, dir) {
				continue
			}
			files, err := s.readDir(dir)
			if err != nil {
				return err
			}
			for _, f := range files {
				fn := f.Name()
				rel := filepath.Join(dir, fn)
				if strings.HasPrefix(fn, tmpPrefix) {
					if f.IsDir() {
						continue // not the store's
					}
					if err := s.flat.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
						return fmt.Errorf("store: remove stale temporary file: %w", err)
					}
					s.log.Info("store: removed stale temporary file", "path", filepath.Join(s.root, rel))
					continue
				}
				if !strings.HasPrefix(fn, fd.Name()) {
					continue
				}
				if _, err := block.ParseKey(block.KeyPrefix + fn); err != nil {
					continue
				}
				if !f.Type().IsRegular() {
					s.countIrregular(f.Type(), rel)
					continue
				}
				info, err := s.flat.Lstat(rel)
				if err != nil || !info.Mode().IsRegular() {
					continue // removed or replaced meanwhile
				}
				blocks = append(blocks, found{id: ns + "/" + fn, size: info.Size(), mtime: info.ModTime()})
			}
		}
	}
	slices.SortFunc(blocks, func(a, b found) int {
		if c := a.mtime.Compare(b.mtime); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	for _, b := range blocks {
		s.rec.load(b.id, b.size, b.mtime)
	}
	return nil
}

// readDir lists the flat directory rel (relative to the root).
func (s *Store) readDir(rel string) ([]fs.DirEntry, error) {
	d, err := s.flat.Open(rel)
	if err != nil {
		return nil, s.unreadable(rel, err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, s.unreadable(rel, err)
	}
	return entries, nil
}

// unreadable is Open's error for a flat directory it cannot read: it stops
// there rather than run with blocks it cannot see, which would escape the
// budget and never be evicted.
func (s *Store) unreadable(rel string, err error) error {
	return fmt.Errorf("store: cannot read flat directory %s (%w): Open indexes every namespace and fan-out directory in flat, so it stops here; make it readable by this process, or remove it (flat holds only copies of cold blocks)", filepath.Join(s.root, rel), err)
}

// isDir reports whether d, the entry rel of a flat directory, is a
// directory, counting it in Stats.Irregular when it is neither that nor a
// plain file.
func (s *Store) isDir(d fs.DirEntry, rel string) bool {
	if d.IsDir() {
		return true
	}
	if !d.Type().IsRegular() {
		s.countIrregular(d.Type(), rel)
	}
	return false
}

func (s *Store) countIrregular(mode fs.FileMode, rel string) {
	s.st.irregular.Add(1)
	s.log.Warn("store: skipped a flat entry that is neither a plain file nor a directory", "path", filepath.Join(s.root, rel), "type", kindOf(mode))
}
