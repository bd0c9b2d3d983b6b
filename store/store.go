package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/zeebo/blake3"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// buckets
	_ "gocloud.dev/blob/memblob"  // mem:// buckets
	_ "gocloud.dev/blob/s3blob"   // s3:// buckets
	"gocloud.dev/gcerrors"
	"golang.org/x/sync/singleflight"

	"github.com/wombatkv/prefetch/block"
)

// ChecksumKey is the cold object metadata key that holds the payload's
// BLAKE3-256 as 64 lowercase hex digits.
const ChecksumKey = "b3"

const (
	lockName  = "@kvprefetch.lock" // '@' is in no namespace, so no namespace dir can clash
	tmpPrefix = ".tmp-"            // temporary files; no block file starts with '.'
)

// Store is a node's two tiers: a flat directory on local disk in front of a
// cold bucket. It implements the fetch stage's Materializer ([Store.Materialize]:
// prefetch from cold into flat) and the filters' Flat ([Store.ContainsFlat]:
// presence in flat), InFlight ([Store.InFlight]: a cold GET running) and
// Room ([Store.FreeBytes]), and offers [Store.Put] and [Store.Get] for the
// node's own writes and reads. It is safe for concurrent use.
type Store struct {
	cfg   Config
	root  string   // FlatDir, absolute: for messages
	flat  *os.Root // FlatDir: every file operation of the flat tier goes through it
	lock  *flatLock
	adm   admission
	cold  *blob.Bucket
	owned bool // cold was opened by Open, so Close closes it
	log   *slog.Logger
	hooks *testHooks // nil outside tests

	mu      sync.Mutex // guards rec, pending and every publish and eviction on disk
	rec     *recency
	pending int64 // payload bytes of cold fetches being written to flat

	fmu     sync.Mutex // guards flights; a key is there iff sf runs a call for it
	flights map[string]struct{}
	sf      singleflight.Group

	closed atomic.Bool
	st     struct {
		coldGets, published, evicted, evictedBytes, unverified, rejected, irregular, damaged atomic.Uint64
	}
}

// testHooks let in-package tests stop a store at exact points.
type testHooks struct {
	afterChunk   func(written int64) // after each chunk written to a temp file
	beforeRename func(tmp string)    // after fsync, before the rename that publishes
	onJoin       func()              // when a caller joins a running fetch
}

// Stats is a snapshot of a Store's figures.
type Stats struct {
	// FlatBlocks and FlatBytes are the blocks and payload bytes in flat.
	FlatBlocks int
	FlatBytes  int64
	// FlatBudget is Config.FlatBudget (after defaults).
	FlatBudget int64
	// ColdGets counts GETs sent to the cold tier (concurrent fetches of one
	// block share one).
	ColdGets uint64
	// Published counts blocks published to flat (fetched or put).
	Published uint64
	// Evicted and EvictedBytes count blocks evicted from flat for budget.
	Evicted      uint64
	EvictedBytes uint64
	// Unverified counts cold objects accepted without "b3" metadata, their
	// size alone checked. With Config.RequireChecksum it stays 0 and such
	// objects are rejected.
	Unverified uint64
	// Rejected counts cold objects refused for their content or size
	// (reasons "corrupt", "size", "unverified", "too_large"): never
	// published.
	Rejected uint64
	// Irregular counts the entries found where flat keeps its namespace
	// directories, fan-out directories and blocks that are neither plain
	// files nor directories (symlinks, devices, fifos, sockets): skipped
	// at Open, dropped when found at a block's place later. None is ever
	// followed or opened.
	Irregular uint64
	// Damaged counts block files found missing, unreadable, or of another
	// size than the store published them at (or than the index expects)
	// when checked: dropped from flat, so that they are fetched afresh.
	Damaged uint64
}

// Open opens the store cfg describes: it opens the cold bucket, creates and
// locks the flat directory, removes temporary files a crash left there, and
// rebuilds the flat tier's recency order from the blocks' sizes and
// modification times, evicting down to the budget if it shrank. Entries
// that are neither plain files nor directories are skipped and counted in
// Stats.Irregular. Open fails, naming the entry, when it cannot read a
// namespace or fan-out directory: it could not tell what that holds
// against the budget. Open starts no goroutines; call Close when done.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	adm, _ := parseAdmission(cfg.Admission) // Validate checked it
	root, err := filepath.Abs(cfg.FlatDir)
	if err != nil {
		return nil, fmt.Errorf("store: FlatDir %q: %w", cfg.FlatDir, err)
	}
	s := &Store{
		cfg:     cfg,
		root:    root,
		adm:     adm,
		cold:    cfg.Cold,
		log:     cfg.Logger,
		flights: make(map[string]struct{}),
		rec:     newRecency(cfg.FlatBudget, int64(adm.frac*float64(cfg.FlatBudget))),
	}
	if s.cold == nil {
		b, err := blob.OpenBucket(ctx, cfg.ColdURL)
		if err != nil {
			return nil, fmt.Errorf("store: open cold tier %q: %w", cfg.ColdURL, err)
		}
		s.cold, s.owned = b, true
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		s.closeCold()
		return nil, fmt.Errorf("store: create flat dir: %w", err)
	}
	if s.flat, err = os.OpenRoot(root); err != nil {
		s.closeCold()
		return nil, fmt.Errorf("store: open flat dir: %w", err)
	}
	if s.lock, err = lockFlat(s.flat, root); err != nil {
		s.flat.Close()
		s.closeCold()
		return nil, err
	}
	if err := s.scan(); err != nil {
		s.lock.Close()
		s.flat.Close()
		s.closeCold()
		return nil, err
	}
	s.mu.Lock()
	s.removeEvicted(s.rec.trim())
	s.mu.Unlock()
	return s, nil
}

// Close closes the cold bucket (unless it came from Config.Cold) and
// unlocks the flat directory. Call it once every other call has returned.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.closeCold()
	if lerr := s.lock.Close(); lerr != nil && err == nil {
		err = fmt.Errorf("store: unlock flat dir: %w", lerr)
	}
	if ferr := s.flat.Close(); ferr != nil && err == nil {
		err = fmt.Errorf("store: close flat dir: %w", ferr)
	}
	return err
}

func (s *Store) closeCold() error {
	if !s.owned {
		return nil
	}
	if err := s.cold.Close(); err != nil {
		return fmt.Errorf("store: close cold tier: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the store's figures.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	blocks, bytes := len(s.rec.m), s.rec.bytes
	s.mu.Unlock()
	return Stats{
		FlatBlocks:   blocks,
		FlatBytes:    bytes,
		FlatBudget:   s.cfg.FlatBudget,
		ColdGets:     s.st.coldGets.Load(),
		Published:    s.st.published.Load(),
		Evicted:      s.st.evicted.Load(),
		EvictedBytes: s.st.evictedBytes.Load(),
		Unverified:   s.st.unverified.Load(),
		Rejected:     s.st.rejected.Load(),
		Irregular:    s.st.irregular.Load(),
		Damaged:      s.st.damaged.Load(),
	}
}

// ContainsFlat reports whether the flat tier holds block h of namespace ns
// as the store published it: indexed, and its file a plain file of the
// size published, checked with one lstat (a file that fails the check is
// dropped, see Stats.Damaged). An invalid namespace holds nothing.
func (s *Store) ContainsFlat(_ context.Context, ns string, h block.Hash) bool {
	n, err := nameOf(ns, h)
	if err != nil || s.closed.Load() {
		return false
	}
	_, ok := s.inFlat(n, 0)
	return ok
}

// InFlight reports whether a cold GET of block h of namespace ns is running
// (for a Materialize or a Get), which concurrent fetches of it would join.
// It is a pre-filter's per-candidate check: with no GET running (the
// common case) it names nothing and allocates nothing.
func (s *Store) InFlight(ns string, h block.Hash) bool {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if len(s.flights) == 0 {
		return false
	}
	n, err := nameOf(ns, h)
	if err != nil {
		return false
	}
	_, ok := s.flights[n.id()]
	return ok
}

// Materialize fetches block h of namespace ns, whose index entry is m,
// from the cold tier into the flat tier, entering it in the recency order
// as Config.Admission says. It returns the payload size and found=true
// once the block is in flat (at once, without a GET, when it already
// was); found=false and a nil error when the cold tier does not hold it;
// or an error whose reason pipeline.FailureReason names (ReasonCorrupt,
// ReasonSize, ReasonUnverified, ReasonTooLarge, ReasonBadName, or the
// context's). When m.PayloadBytes is not zero the object's size must
// equal it, and so must the size of a block already in flat: one of
// another size is dropped and fetched afresh. On any failure nothing is
// published. Concurrent fetches of one block, here or in Get, share one
// GET.
func (s *Store) Materialize(ctx context.Context, ns string, h block.Hash, m block.Meta) (int64, bool, error) {
	n, err := nameOf(ns, h)
	if err != nil {
		return 0, false, err
	}
	if s.closed.Load() {
		return 0, false, ErrClosed
	}
	expect := int64(m.PayloadBytes)
	if size, ok := s.inFlat(n, expect); ok {
		return size, true, nil
	}
	if m.PayloadBytes > uint64(s.maxSize(s.adm.place)) {
		s.st.rejected.Add(1)
		return 0, false, failf(ReasonTooLarge, "store: %s: index says %d bytes, more than the flat tier admits (%d bytes)", n.object(), m.PayloadBytes, s.maxSize(s.adm.place))
	}
	r, err := s.shared(ctx, n, expect, s.adm.place)
	return r.n, r.found, err
}

// PutCold stores payload as the block with key (a [block.Key]) in
// namespace ns in the cold tier only, with its BLAKE3-256 as metadata
// "b3", leaving flat as it is: what another node's write looks like from
// here (tools that seed or backfill a bucket use it).
func (s *Store) PutCold(ctx context.Context, ns, key string, payload []byte) error {
	n, err := parseName(ns, key)
	if err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return s.putCold(ctx, n, payload)
}

func (s *Store) putCold(ctx context.Context, n name, payload []byte) error {
	sum := blake3.Sum256(payload)
	obj := n.object()
	err := s.cold.WriteAll(ctx, obj, payload, &blob.WriterOptions{
		ContentType: "application/octet-stream",
		Metadata:    map[string]string{ChecksumKey: hex.EncodeToString(sum[:])},
	})
	if err != nil {
		return s.coldErr(ctx, "put", obj, err)
	}
	return nil
}

// FreeBytes returns the payload bytes a prefetched block may take in flat
// without evicting anything: the budget less what flat holds and what the
// cold fetches in flight will publish (and, with
// probation admission, no more than the probation segment's room). The
// budget is shared by every namespace; an invalid namespace has none. It
// is what the free-room filter (filter.FreeRoom) asks: a filter.Room.
func (s *Store) FreeBytes(ns string) int64 {
	if block.ValidateNamespace(ns) != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	free := s.rec.budget - s.rec.bytes - s.pending
	if s.adm.place == placeProbation {
		free = min(free, s.rec.probBudget-s.rec.probBytes)
	}
	return max(free, 0)
}

// Put stores payload as the block with key (a [block.Key]) in namespace ns:
// first in the cold tier, with its BLAKE3-256 as metadata "b3", then in
// the flat tier as the most recently used block. A payload larger than
// the flat budget goes to cold only. A nil error means the cold tier holds
// the block.
func (s *Store) Put(ctx context.Context, ns, key string, payload []byte) error {
	n, err := parseName(ns, key)
	if err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.putCold(ctx, n, payload); err != nil {
		return err
	}
	obj, size := n.object(), int64(len(payload))
	if size > s.maxSize(placeFront) {
		return nil
	}
	tmp, err := s.writeTemp(n, func(w io.Writer) error {
		_, err := w.Write(payload)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put %s: in cold, but not in flat: %w", obj, err)
	}
	if err := s.publish(tmp, n, size, placeFront); err != nil {
		return fmt.Errorf("store: put %s: in cold, but not in flat: %w", obj, err)
	}
	return nil
}

// Get returns the payload of the block with key (a [block.Key]) in
// namespace ns: from the flat tier when it holds it as published (indexed,
// a plain file of the size published; marking it most recently used),
// else from the cold tier, verified as Materialize verifies, then
// published to flat. A block flat cannot take (larger than FlatBudget, or
// refused by the flat disk) is read from cold into memory, verified and
// not published: at most Config.MaxObjectBytes, and the memory follows
// the bytes received, not the size the object declares. It returns an
// error wrapping [ErrNotFound] when neither tier holds the block.
func (s *Store) Get(ctx context.Context, ns, key string) ([]byte, error) {
	n, err := parseName(ns, key)
	if err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if data, ok := s.readFlat(n); ok {
		return data, nil
	}
	r, err := s.shared(ctx, n, 0, placeFront)
	switch reason := failureReason(err); {
	case reason == ReasonTooLarge, reason == ReasonFlatWrite:
		return s.direct(ctx, n)
	case err != nil:
		return nil, err
	case !r.found:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, n.object())
	}
	if data, ok := s.readFlat(n); ok {
		return data, nil
	}
	// Published, then evicted before we read it (a tiny budget under load).
	return s.direct(ctx, n)
}

// maxSize is the largest block that may enter flat at p.
func (s *Store) maxSize(p place) int64 {
	if p == placeProbation {
		return s.rec.probBudget
	}
	return s.cfg.FlatBudget
}

// fetched is the result of a shared cold fetch.
type fetched struct {
	n     int64
	found bool
}

// shared fetches block n from cold into flat once for every concurrent
// caller. The first caller leads: the GET runs under its context, and it
// waits for the GET to end (which its context bounds), so no goroutine
// outlives the call that started it. Others join and wait under their own
// contexts; a joiner whose leader's context ended while its own did not
// tries again, leading this time if no one else does.
func (s *Store) shared(ctx context.Context, n name, expect int64, p place) (fetched, error) {
	id := n.id()
	for attempt := 0; ; attempt++ {
		s.fmu.Lock()
		_, joining := s.flights[id]
		if !joining {
			s.flights[id] = struct{}{}
		}
		// Under fmu, flights and sf agree: when no flight is recorded, sf
		// runs no call for id, so this closure is the one that runs.
		ch := s.sf.DoChan(id, func() (any, error) { return s.flight(ctx, n, expect, p) })
		s.fmu.Unlock()
		if joining && s.hooks != nil && s.hooks.onJoin != nil {
			s.hooks.onJoin()
		}
		if !joining {
			r := <-ch
			return r.Val.(fetched), r.Err
		}
		select {
		case r := <-ch:
			if r.Err != nil && ctx.Err() == nil && attempt < 3 &&
				(errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) {
				continue // the leader's context ended, not ours
			}
			return r.Val.(fetched), r.Err
		case <-ctx.Done():
			return fetched{}, fmt.Errorf("store: get %s: %w", n.object(), ctx.Err())
		}
	}
}

// flight is the body of a shared fetch. It never panics (a panic inside
// singleflight's goroutine could not be recovered by the caller) and it
// ends the flight, under fmu, before singleflight hands out its result.
func (s *Store) flight(ctx context.Context, n name, expect int64, p place) (v any, err error) {
	v = fetched{}
	defer func() {
		if r := recover(); r != nil {
			v, err = fetched{}, failf(reasonPanic, "store: fetch %s panicked: %v", n.object(), r)
		}
		s.fmu.Lock()
		delete(s.flights, n.id())
		s.sf.Forget(n.id())
		s.fmu.Unlock()
	}()
	return s.fetch(ctx, n, expect, p)
}

// fetch GETs block n from cold, verifies it into a temporary file and
// publishes it to flat at p.
func (s *Store) fetch(ctx context.Context, n name, expect int64, p place) (fetched, error) {
	r, sum, found, err := s.openCold(ctx, n, expect, s.maxSize(p), "the flat tier admits")
	if err != nil || !found {
		return fetched{}, err
	}
	defer r.Close()
	size := r.Size()
	s.mu.Lock()
	s.pending += size // until published or failed: FreeBytes counts it
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.pending -= size
		s.mu.Unlock()
	}()
	tmp, err := s.writeTemp(n, func(w io.Writer) error {
		return s.copyVerified(ctx, w, r, n.object(), size, sum)
	})
	if err != nil {
		s.countRejected(err)
		return fetched{}, err
	}
	if err := ctx.Err(); err != nil {
		s.flat.Remove(tmp)
		return fetched{}, fmt.Errorf("store: get %s: %w", n.object(), err)
	}
	if err := s.publish(tmp, n, size, p); err != nil {
		return fetched{}, err
	}
	if sum == "" {
		s.st.unverified.Add(1)
	}
	return fetched{n: size, found: true}, nil
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

// openCold opens block n's cold object and checks what it can before the
// body is read: its declared size against expect (when not 0) and max
// (limit names it in the error), and its checksum metadata. found is false
// on a miss; sum is "" when the object has no checksum.
func (s *Store) openCold(ctx context.Context, n name, expect, max int64, limit string) (r *blob.Reader, sum string, found bool, err error) {
	obj := n.object()
	s.st.coldGets.Add(1)
	rd, err := s.cold.NewReader(ctx, obj, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, "", false, nil
		}
		return nil, "", false, s.coldErr(ctx, "get", obj, err)
	}
	defer func() {
		if err != nil {
			rd.Close()
			s.countRejected(err)
		}
	}()
	r = rd
	size := r.Size()
	switch {
	case expect != 0 && size != expect:
		return nil, "", false, failf(ReasonSize, "store: %s: object is %d bytes, index says %d", obj, size, expect)
	case size > max:
		return nil, "", false, failf(ReasonTooLarge, "store: %s: object is %d bytes, more than %s (%d bytes)", obj, size, limit, max)
	}
	sum, ok, err := s.checksum(ctx, r, obj)
	switch {
	case err != nil:
		return nil, "", false, err
	case !ok && s.cfg.RequireChecksum:
		return nil, "", false, failf(ReasonUnverified, "store: %s: object has no %q metadata and the store requires one (RequireChecksum)", obj, ChecksumKey)
	case ok && !isLowerHex(sum, 64): // an empty value too: present, so not unverified
		return nil, "", false, failf(ReasonCorrupt, "store: %s: %q metadata is %q, want 64 lowercase hex digits", obj, ChecksumKey, clip(sum))
	}
	return r, sum, true, nil
}

// checksum returns the "b3" metadata of the object r reads; ok is false
// when it has none. An S3 GET carries the metadata; other drivers need one
// more call.
func (s *Store) checksum(ctx context.Context, r *blob.Reader, obj string) (sum string, ok bool, err error) {
	var out s3.GetObjectOutput
	if r.As(&out) {
		sum, ok = lookupMeta(out.Metadata)
		return sum, ok, nil
	}
	a, err := s.cold.Attributes(ctx, obj)
	if err != nil {
		return "", false, s.coldErr(ctx, "get attributes of", obj, err)
	}
	sum, ok = lookupMeta(a.Metadata)
	return sum, ok, nil
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
