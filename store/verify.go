package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/zeebo/blake3"
)

// The cold tier's objects: written with their checksum, and read and
// verified (declared size, checksum metadata, body length and BLAKE3-256)
// before any byte reaches flat or a caller.

func (s *Store) putCold(ctx context.Context, n name, payload []byte) error {
	sum := blake3.Sum256(payload)
	obj := n.object()
	if err := s.cold.WriteAll(ctx, obj, payload, map[string]string{ChecksumKey: hex.EncodeToString(sum[:])}); err != nil {
		return s.coldErr(ctx, "put", obj, err)
	}
	return nil
}

// directChunk is the most direct preallocates from an object's declared
// size: past it, the buffer grows with the bytes received.
const directChunk = 1 << 20

// direct reads block n from cold into memory, verified, without publishing
// it: Get's way for a block flat cannot take. It refuses an object that
// declares more than Config.MaxObjectBytes before reading its body, and
// allocates for the bytes received, so an object that declares more than
// it sends costs what it sends.
func (s *Store) direct(ctx context.Context, n name) ([]byte, error) {
	r, sum, found, err := s.openCold(ctx, n, 0, s.cfg.MaxObjectBytes, "Get reads into memory (MaxObjectBytes)")
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, n.object())
	}
	defer r.Close()
	var buf bytes.Buffer
	buf.Grow(int(min(max(r.Size(), 0), directChunk)) + bytes.MinRead) // and room for the read that finds EOF
	if err := s.copyVerified(ctx, &buf, r, n.object(), r.Size(), sum); err != nil {
		s.countRejected(err)
		return nil, err
	}
	if sum == "" {
		s.st.unverified.Add(1)
	}
	return buf.Bytes(), nil
}

// coldObject is an open cold object: its body and the size it declares.
type coldObject struct {
	io.ReadCloser
	size int64
}

// Size is the size the object declares, which its body may belie.
func (o *coldObject) Size() int64 { return o.size }

// openCold opens block n's cold object and checks what it can before the
// body is read: its declared size against expect (when not 0) and max
// (limit names it in the error), and its checksum metadata. found is false
// on a miss; sum is "" when the object has no checksum.
func (s *Store) openCold(ctx context.Context, n name, expect, max int64, limit string) (r *coldObject, sum string, found bool, err error) {
	obj := n.object()
	s.st.coldGets.Add(1)
	body, size, meta, err := s.cold.NewReader(ctx, obj)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", false, nil
		}
		return nil, "", false, s.coldErr(ctx, "get", obj, err)
	}
	defer func() {
		if err != nil {
			body.Close()
			s.countRejected(err)
		}
	}()
	switch {
	case expect != 0 && size != expect:
		return nil, "", false, failf(ReasonSize, "store: %s: object is %d bytes, index says %d", obj, size, expect)
	case size > max:
		return nil, "", false, failf(ReasonTooLarge, "store: %s: object is %d bytes, more than %s (%d bytes)", obj, size, limit, max)
	}
	sum, ok := lookupMeta(meta)
	switch {
	case !ok && s.cfg.RequireChecksum:
		return nil, "", false, failf(ReasonUnverified, "store: %s: object has no %q metadata and the store requires one (RequireChecksum)", obj, ChecksumKey)
	case ok && !isLowerHex(sum, 64): // an empty value too: present, so not unverified
		return nil, "", false, failf(ReasonCorrupt, "store: %s: %q metadata is %q, want 64 lowercase hex digits", obj, ChecksumKey, clip(sum))
	}
	return &coldObject{ReadCloser: body, size: size}, sum, true, nil
}

// metaValue returns the "b3" value of metadata m, "" when it has none.
func metaValue(m map[string]string) string {
	v, _ := lookupMeta(m)
	return v
}

// lookupMeta returns the "b3" value of metadata m, its key in any case; ok
// is false when m has no such key (an empty value is still a value).
func lookupMeta(m map[string]string) (v string, ok bool) {
	if v, ok := m[ChecksumKey]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, ChecksumKey) {
			return v, true
		}
	}
	return "", false
}

// copyVerified copies exactly size bytes from r to w, checking the length
// and, when sum is not "", the BLAKE3-256.
func (s *Store) copyVerified(ctx context.Context, w io.Writer, r io.Reader, obj string, size int64, sum string) error {
	h := blake3.New()
	got, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(ctxReader{ctx, r}, size+1))
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("store: get %s: %w", obj, ctx.Err())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return failf(ReasonSize, "store: %s: body ended after %d of %d bytes: %w", obj, got, size, err)
	case err != nil && strings.Contains(err.Error(), "checksum did not match"):
		// The AWS SDK verifies S3's own response checksum (CRC32 and the
		// like) as the body ends; its error type is internal to the SDK.
		return failf(ReasonCorrupt, "store: %s: body failed the S3 response checksum: %w", obj, err)
	case err != nil:
		return fmt.Errorf("store: read %s: %w", obj, err)
	case got < size:
		return failf(ReasonSize, "store: %s: body ended after %d of %d bytes", obj, got, size)
	case got > size:
		return failf(ReasonSize, "store: %s: body longer than the %d bytes the object declares", obj, size)
	}
	if sum == "" {
		return nil
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return failf(ReasonCorrupt, "store: %s: payload BLAKE3-256 is %s, %q metadata says %s", obj, got, ChecksumKey, sum)
	}
	return nil
}

// ctxReader ends a read at ctx's end, for drivers whose reads ignore it.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// countRejected counts err when it refuses an object for its content.
func (s *Store) countRejected(err error) {
	switch failureReason(err) {
	case ReasonCorrupt, ReasonSize, ReasonUnverified, ReasonTooLarge:
		s.st.rejected.Add(1)
	}
}

// coldErr wraps an error of the cold tier, naming the context's end when
// that is what ended the call.
func (s *Store) coldErr(ctx context.Context, op, obj string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("store: %s %s: %w", op, obj, cerr)
	}
	return fmt.Errorf("store: %s %s: %w", op, obj, err)
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// clip shortens s for an error message so a hostile input cannot flood logs.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
