package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/wombatkv/prefetch/internal/usefulness"
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
	if e = s.rec.get(n.id()); e != nil {
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
	if s.rec.get(n.id()) != e {
		return
	}
	s.gone(e, false, s.clock())
	s.rec.forget(n.id())
	c.Add(1)
	rel := n.rel()
	s.log.Warn("store: dropped a flat block that is not as published; it will be fetched afresh", "path", filepath.Join(s.root, rel), "why", why, "err", err)
	if err := s.flat.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("store: remove dropped flat block", "path", filepath.Join(s.root, rel), "err", err)
	}
}

// openFlat opens block n's file in flat for reading and marks the block
// most recently used, counting the read (reached by way via, see
// Store.hit); it returns the file, the block's index entry and its size.
// ok is false when flat does not hold it as published: not indexed, or
// its file not a plain file of the size published (then dropped). The
// file is checked by lstat before it is opened (so a fifo is never
// opened, and the open is non-blocking besides) and by fstat after.
func (s *Store) openFlat(n name, via usefulness.Read) (f *os.File, e *entry, size int64, ok bool) {
	e, size = s.indexed(n)
	if e == nil {
		return nil, nil, 0, false
	}
	rel := n.rel()
	fi, err := s.flat.Lstat(rel)
	if !s.check(n, e, size, 0, fi, err) {
		return nil, nil, 0, false
	}
	f, err = s.flat.OpenFile(rel, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		s.drop(n, e, &s.st.damaged, "cannot open it", err)
		return nil, nil, 0, false
	}
	if oi, err := f.Stat(); err != nil || !os.SameFile(fi, oi) || !s.check(n, e, size, 0, oi, nil) {
		f.Close()
		s.drop(n, e, &s.st.damaged, "it changed between lstat and open", err)
		return nil, nil, 0, false
	}
	now, id := time.Now(), n.id()
	s.mu.Lock()
	te := s.rec.touch(id, now)
	if s.accounting {
		s.hit(n, te, via, s.accountingNow(now))
	}
	if te != nil {
		// Mirror the new recency in the mtime, which a reopen orders by.
		// Under the lock, so it cannot touch a file an eviction replaced.
		if err := s.flat.Chtimes(rel, now, now); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("store: touch flat block", "path", filepath.Join(s.root, rel), "err", err)
		}
	}
	s.mu.Unlock()
	return f, e, size, true
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
