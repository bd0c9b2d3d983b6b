package store

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Writing to the flat tier: a block is written to a temporary file beside
// its place, fsynced, and renamed into place under the store's lock, after
// the evictions the budget requires. Like every flat call, these go
// through s.flat.

// flatDirs makes sure that block n's namespace and fan-out directories are
// directories, creating them as needed. Anything else in their place, a
// symlink above all, is refused: a block is written only into the
// directories the store made, so that Open finds it again and counts it.
func (s *Store) flatDirs(n name) error {
	for _, d := range [...]string{n.ns, filepath.Join(n.ns, n.hex[:2])} {
		fi, err := s.flat.Lstat(d)
		if errors.Is(err, fs.ErrNotExist) {
			if err = s.flat.Mkdir(d, 0o755); err == nil {
				continue
			}
			if errors.Is(err, fs.ErrExist) { // made meanwhile
				fi, err = s.flat.Lstat(d)
			}
		}
		if err != nil {
			return failf(ReasonFlatWrite, "store: create flat dir: %w", err)
		}
		if !fi.IsDir() {
			return failf(ReasonFlatWrite, "store: flat path %s is a %s, not a directory: remove it (flat holds only copies of cold blocks)", filepath.Join(s.root, d), kindOf(fi.Mode()))
		}
	}
	return nil
}

// writeTemp creates a temporary file beside block n's flat path, fills it,
// fsyncs and closes it, and returns its path relative to the root. On
// failure it removes it.
func (s *Store) writeTemp(n name, fill func(io.Writer) error) (_ string, err error) {
	if err := s.flatDirs(n); err != nil {
		return "", err
	}
	var f *os.File
	var tmp string
	for try := 0; ; try++ {
		tmp = filepath.Join(n.ns, n.hex[:2], tmpPrefix+n.hex+"-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
		// O_EXCL: never through a symlink, never an existing file.
		f, err = s.flat.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) || try == 9 {
			break
		}
	}
	if err != nil {
		return "", failf(ReasonFlatWrite, "store: create flat temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			s.flat.Remove(tmp)
		}
	}()
	fw := &flatWriter{w: f}
	var w io.Writer = fw
	if s.hooks != nil && s.hooks.afterChunk != nil {
		w = &hookWriter{w: fw, after: s.hooks.afterChunk}
	}
	if err := fill(w); err != nil {
		if fw.err != nil { // the disk, not the cold tier, failed
			return "", failf(ReasonFlatWrite, "store: write flat temporary file for %s: %w", n.object(), fw.err)
		}
		return "", err
	}
	if err := f.Chmod(0o644); err != nil {
		return "", failf(ReasonFlatWrite, "store: chmod flat temporary file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", failf(ReasonFlatWrite, "store: fsync flat temporary file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", failf(ReasonFlatWrite, "store: close flat temporary file: %w", err)
	}
	return tmp, nil
}

// flatWriter remembers its writer's first error, so that a failing flat
// disk is told apart from a failing cold read in the same copy.
type flatWriter struct {
	w   io.Writer
	err error
}

func (f *flatWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil && f.err == nil {
		f.err = err
	}
	return n, err
}

type hookWriter struct {
	w     io.Writer
	n     int64
	after func(int64)
}

func (h *hookWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.n += int64(n)
	h.after(h.n)
	return n, err
}

// publish renames the verified temporary file tmp (relative to the root)
// into place as block n of size bytes, entered at p in the recency order,
// after evicting what the budget requires, for the shared fetch fl (nil
// for a Put). Eviction, the rename and the index change happen under one
// lock, so the index and the directory agree. On failure tmp is removed.
func (s *Store) publish(tmp string, n name, size int64, p place, fl *flight) error {
	if s.hooks != nil && s.hooks.beforeRename != nil {
		s.hooks.beforeRename(tmp)
	}
	// Whether a Get joined this prefetch, read before the publication: a
	// Get that joins after it finds the block marked and counts it useful.
	var late bool
	var joinedAt time.Time
	if fl != nil && fl.prefetch {
		s.fmu.Lock()
		late, joinedAt = fl.joined, fl.joinedAt
		s.fmu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := n.id()
	if old := s.rec.get(id); old != nil {
		s.gone(old, false, s.clock()) // replaced
	}
	evicted, stamp := s.rec.admit(id, size, p, time.Now())
	s.removeEvicted(evicted)
	err := s.flat.Chtimes(tmp, stamp, stamp)
	if err == nil {
		err = s.flat.Rename(tmp, n.rel())
	}
	if err != nil {
		s.rec.forget(n.id())
		s.flat.Remove(tmp)
		return failf(ReasonFlatWrite, "store: publish %s: %w", n.object(), err)
	}
	s.st.published.Add(1)
	s.published(n, s.rec.get(id), fl, late, joinedAt)
	return nil
}

// removeEvicted deletes the files of evicted entries. Call with mu held.
func (s *Store) removeEvicted(evicted []*entry) {
	var now time.Time
	for _, e := range evicted {
		if s.accounting && e.mark.Unread() {
			if now.IsZero() {
				now = s.clock()
			}
			s.gone(e, true, now)
		}
		rel := relOfID(e.key)
		if err := s.flat.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("store: evict flat block", "path", filepath.Join(s.root, rel), "err", err)
		}
		s.st.evicted.Add(1)
		s.st.evictedBytes.Add(uint64(e.size))
	}
}
