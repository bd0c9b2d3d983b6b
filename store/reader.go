package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/wombatkv/prefetch/internal/usefulness"
)

// Reader reads one block's payload, as [Store.NewReader] returns it: from
// its file in flat, which a reader keeps open (an eviction meanwhile
// removes the name, not the open file, on systems that allow it), or from
// memory when flat could not take the block. Close it.
type Reader struct {
	r    io.Reader
	size int64
	left int64  // bytes not yet read
	data []byte // the payload, when it is in memory
	// inFlat says flat held the block as published when NewReader was
	// called: it was read without a cold GET.
	inFlat bool
	// From flat: the file, and what a failed read drops.
	f *os.File
	s *Store
	n name
	e *entry
}

// Size returns the payload's size in bytes.
func (r *Reader) Size() int64 { return r.size }

// InFlat reports whether flat held the block when NewReader was called,
// so that it is read without a cold GET (a "flat" answer), rather than
// fetched from cold for this read or another's (a "cold" one).
func (r *Reader) InFlat() bool { return r.inFlat }

// Read reads the payload. A flat file that cannot be read whole (it
// shrank, or the disk failed) ends the read with an error, and the block
// is dropped from flat, to be fetched afresh.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	return n, r.account(int64(n), err)
}

// WriteTo writes the rest of the payload to w. From a flat file it hands
// w an *io.LimitedReader over the *os.File, which a TCP connection sends
// with sendfile.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	n, err := io.Copy(w, r.r)
	if err == nil && r.left > n {
		err = io.ErrUnexpectedEOF
	}
	return n, r.account(n, err)
}

// account counts n bytes read, and on a failed read from flat drops the
// block; it returns err, an early end of the file as io.ErrUnexpectedEOF.
func (r *Reader) account(n int64, err error) error {
	r.left -= n
	if err == io.EOF && r.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF && r.f != nil {
		r.s.drop(r.n, r.e, &r.s.st.damaged, "cannot read it whole", err)
	}
	return err
}

// Close releases the reader's file.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}

// NewReader is [Store.Get] as a stream: the block's payload without
// holding it in memory when flat holds it or takes it. It reads flat
// first; otherwise it fetches the block from cold into flat, sharing one
// GET with every other reader and fetch of it, and reads it from there.
// A block flat cannot take (larger than its budget or
// Config.MaxObjectBytes allows in flat) is read from cold into memory, as
// Get does. Its errors are Get's; a read counts as Get's does.
func (s *Store) NewReader(ctx context.Context, ns, key string) (*Reader, error) {
	n, err := parseName(ns, key)
	if err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if r, ok := s.readerFlat(n, usefulness.ReadFlat); ok {
		r.inFlat = true
		return r, nil
	}
	f, joined, err := s.shared(ctx, n, 0, placeFront, false)
	via := usefulness.ReadCold
	switch {
	case f.already:
		via = usefulness.ReadFlat
	case joined:
		via = usefulness.ReadJoined
	}
	switch reason := failureReason(err); {
	case reason == ReasonTooLarge, reason == ReasonFlatWrite:
		return s.readerDirect(ctx, n, via)
	case err != nil:
		return nil, err
	case !f.found:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, n.object())
	}
	if r, ok := s.readerFlat(n, via); ok {
		return r, nil
	}
	// Published, then evicted before we opened it (a tiny budget under
	// load).
	return s.readerDirect(ctx, n, via)
}

// readerFlat opens block n in flat as a Reader (see openFlat).
func (s *Store) readerFlat(n name, via usefulness.Read) (*Reader, bool) {
	f, e, size, ok := s.openFlat(n, via)
	if !ok {
		return nil, false
	}
	return &Reader{r: &io.LimitedReader{R: f, N: size}, size: size, left: size, f: f, s: s, n: n, e: e}, true
}

// readerDirect reads block n from cold into memory as a Reader.
func (s *Store) readerDirect(ctx context.Context, n name, via usefulness.Read) (*Reader, error) {
	data, err := s.readDirect(ctx, n, via)
	if err != nil {
		return nil, err
	}
	return &Reader{r: bytes.NewReader(data), size: int64(len(data)), left: int64(len(data)), data: data}, nil
}

// Stat returns the size of the block with key in namespace ns, and
// whether flat holds it, without reading its payload or changing either
// tier: from flat when it holds the block as published (its recency
// unchanged), else from the size the cold object declares (one cold
// request whose body is not read; not counted in Stats.ColdGets). It
// returns an error wrapping [ErrNotFound] when neither tier holds it.
func (s *Store) Stat(ctx context.Context, ns, key string) (size int64, inFlat bool, err error) {
	n, err := parseName(ns, key)
	if err != nil {
		return 0, false, err
	}
	if s.closed.Load() {
		return 0, false, ErrClosed
	}
	if size, ok := s.inFlat(n, 0); ok {
		return size, true, nil
	}
	obj := n.object()
	body, size, _, err := s.cold.NewReader(ctx, obj)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, false, fmt.Errorf("%w: %s", ErrNotFound, obj)
		}
		return 0, false, s.coldErr(ctx, "stat", obj, err)
	}
	body.Close()
	return size, false, nil
}
