package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wombatkv/prefetch/block"
)

// The flat tier on disk. Every call below goes through s.flat, an os.Root
// on FlatDir, so no read, write, rename or delete leaves FlatDir whatever
// its entries are (a symlink to elsewhere fails the call). On top of that
// the store follows no symlink of its own: a block is served only when the
// index holds it and its file is a plain file of the size published.

// indexed returns the index entry of block n and its size; e is nil when
// the index does not hold n.
func (s *Store) indexed(n name) (e *entry, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e = s.rec.m[n.id()]; e != nil {
		size = e.size
	}
	return e, size
}

// inFlat reports whether flat holds block n as the store published it:
// indexed, and its file a plain file (by lstat) of the indexed size and,
// when expect is not 0, of expect bytes. A file that fails the check is
// dropped.
func (s *Store) inFlat(n name, expect int64) (int64, bool) {
	e, size := s.indexed(n)
	if e == nil {
		return 0, false
	}
	fi, err := s.flat.Lstat(n.rel())
	if !s.check(n, e, size, expect, fi, err) {
		return 0, false
	}
	return size, true
}

// check checks fi, the lstat of block n's file (or err), against its
// index entry e of size bytes and against expect (when not 0). On a
// mismatch it drops the block and reports false.
func (s *Store) check(n name, e *entry, size, expect int64, fi fs.FileInfo, err error) bool {
	switch {
	case err != nil:
		s.drop(n, e, &s.st.damaged, "cannot stat it", err)
	case !fi.Mode().IsRegular():
		s.drop(n, e, &s.st.irregular, "it is a "+kindOf(fi.Mode())+", not a plain file", nil)
	case fi.Size() != size:
		s.drop(n, e, &s.st.damaged, fmt.Sprintf("it is %d bytes, published at %d", fi.Size(), size), nil)
	case expect != 0 && size != expect:
		s.drop(n, e, &s.st.damaged, fmt.Sprintf("it is %d bytes, the index expects %d", size, expect), nil)
	default:
		return true
	}
	return false
}

// drop forgets block n, indexed as e, and removes whatever is at its
// place in flat, counting it in c: a check found it is not the file the
// store published. It does nothing when the block was published again
// since (e is no longer its entry), so it never removes a fresh file.
func (s *Store) drop(n name, e *entry, c *atomic.Uint64, why string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rec.m[n.id()] != e {
		return
	}
	s.rec.forget(n.id())
	c.Add(1)
	rel := n.rel()
	s.log.Warn("store: dropped a flat block that is not as published; it will be fetched afresh", "path", filepath.Join(s.root, rel), "why", why, "err", err)
	if err := s.flat.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("store: remove dropped flat block", "path", filepath.Join(s.root, rel), "err", err)
	}
}

// readFlat reads block n from flat and marks it most recently used. ok is
// false when flat does not hold it as published: not indexed, or its file
// not a plain file of the size published (then dropped). The file is
// checked by lstat before it is opened (so a fifo is never opened, and the
// open is non-blocking besides) and by fstat after, and only the size
// published is read: memory follows what the store wrote.
func (s *Store) readFlat(n name) (data []byte, ok bool) {
	e, size := s.indexed(n)
	if e == nil {
		return nil, false
	}
	rel := n.rel()
	fi, err := s.flat.Lstat(rel)
	if !s.check(n, e, size, 0, fi, err) {
		return nil, false
	}
	f, err := s.flat.OpenFile(rel, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		s.drop(n, e, &s.st.damaged, "cannot open it", err)
		return nil, false
	}
	defer f.Close()
	if oi, err := f.Stat(); err != nil || !os.SameFile(fi, oi) || !s.check(n, e, size, 0, oi, nil) {
		s.drop(n, e, &s.st.damaged, "it changed between lstat and open", err)
		return nil, false
	}
	data = make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		s.drop(n, e, &s.st.damaged, "cannot read it whole", err)
		return nil, false
	}
	now := time.Now()
	s.mu.Lock()
	if s.rec.touch(n.id(), now) {
		// Mirror the new recency in the mtime, which a reopen orders by.
		// Under the lock, so it cannot touch a file an eviction replaced.
		if err := s.flat.Chtimes(rel, now, now); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("store: touch flat block", "path", filepath.Join(s.root, rel), "err", err)
		}
	}
	s.mu.Unlock()
	return data, true
}

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
// after evicting what the budget requires. Eviction, the rename and the
// index change happen under one lock, so the index and the directory
// agree. On failure tmp is removed.
func (s *Store) publish(tmp string, n name, size int64, p place) error {
	if s.hooks != nil && s.hooks.beforeRename != nil {
		s.hooks.beforeRename(tmp)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	evicted, stamp := s.rec.admit(n.id(), size, p, time.Now())
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
	return nil
}

// removeEvicted deletes the files of evicted entries. Call with mu held.
func (s *Store) removeEvicted(evicted []*entry) {
	for _, e := range evicted {
		rel := relOfID(e.key)
		if err := s.flat.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("store: evict flat block", "path", filepath.Join(s.root, rel), "err", err)
		}
		s.st.evicted.Add(1)
		s.st.evictedBytes.Add(uint64(e.size))
	}
}

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

// kindOf names the type of a file mode for a message.
func kindOf(m fs.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return "plain file"
	case t&fs.ModeDir != 0:
		return "directory"
	case t&fs.ModeSymlink != 0:
		return "symlink"
	case t&fs.ModeNamedPipe != 0:
		return "fifo"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeDevice != 0:
		return "device"
	default:
		return "irregular file"
	}
}
