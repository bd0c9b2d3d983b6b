package index

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/wombatkv/prefetch/block"
)

// A snapshot is an index written to a file, so that a node restarts with
// the index it had: [SaveSnapshot] writes one atomically and
// [LoadSnapshot] refuses one that is not whole.
//
// The format, all integers little-endian, is version 1 for an index
// without access counts:
//
//	header   16 bytes: magic "KVPFIDX\n", version uint32 (1), record size uint32 (128)
//	records  128 bytes each, in no particular order:
//	           hash [32], parent [32], seq uint32, flags uint32,
//	           payload_bytes uint64, last_access_ns int64, model [24], layout [16]
//	trailer  40 bytes: record count uint64, SHA-256 of every byte before it [32]
//
// and version 2 for an index that keeps them ([Options].CountHalfLife):
// version 2, record size 132, each record version 1's followed by the
// entry's access count as of its last access, a float32 (IEEE 754 bits,
// uint32). The count sits in the trailer because a snapshot streams the
// index while the request path writes it: the number of entries is known
// at the end. A file whose size is not header + count records + trailer,
// or whose checksum differs, is truncated or corrupt.

// SnapshotVersion is the newest version of the snapshot format, the one
// [SaveSnapshot] writes for an index that keeps access counts; it writes
// version 1, which every version of the module reads, for any other.
// [LoadSnapshot] reads both.
const SnapshotVersion = 2

// ErrBadSnapshot is wrapped by the errors of [LoadSnapshot] for a file
// that is not a whole snapshot of a version it reads: not a snapshot at
// all, another version, truncated, or corrupt.
var ErrBadSnapshot = errors.New("index: bad snapshot")

const (
	snapMagic   = "KVPFIDX\n"
	headerLen   = 16
	recordLen   = 128 // version 1's
	countedLen  = recordLen + 4
	trailerLen  = 8 + sha256.Size
	snapChunk   = 512 // records per read or write
	minSnapshot = headerLen + trailerLen
)

// WriteSnapshot writes every entry of r to w in the snapshot format (see
// [SaveSnapshot]) and returns how many it wrote. Entries inserted or
// touched while it runs are written as [Reader.All] sees them. It writes
// version 2, with each entry's access count, when r is a [*Memory] that
// keeps counts, and version 1 otherwise.
func WriteSnapshot(w io.Writer, r Reader) (int, error) {
	x, _ := r.(*Memory)
	counted := x != nil && x.halfLife > 0
	version, rl := uint32(1), recordLen
	if counted {
		version, rl = 2, countedLen
	}
	sum := sha256.New()
	mw := io.MultiWriter(w, sum)
	var hdr [headerLen]byte
	copy(hdr[:], snapMagic)
	binary.LittleEndian.PutUint32(hdr[8:], version)
	binary.LittleEndian.PutUint32(hdr[12:], uint32(rl))
	if _, err := mw.Write(hdr[:]); err != nil {
		return 0, fmt.Errorf("index: write snapshot: %w", err)
	}
	buf := make([]byte, 0, snapChunk*rl)
	n := 0
	var err error
	added := func() bool { // counts a record written to buf, and writes a full buf
		n++
		if len(buf) == cap(buf) {
			if _, err = mw.Write(buf); err != nil {
				return false
			}
			buf = buf[:0]
		}
		return true
	}
	if counted {
		x.copies(true, func(b *allBuf) bool {
			for j := range b.hashes {
				buf = appendRecord(buf, &b.hashes[j], &b.metas[j])
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(b.counts[j]))
				if !added() {
					return false
				}
			}
			return true
		})
	} else {
		for h, m := range r.All() {
			buf = appendRecord(buf, &h, &m)
			if !added() {
				break
			}
		}
	}
	if err != nil {
		return 0, fmt.Errorf("index: write snapshot: %w", err)
	}
	buf = binary.LittleEndian.AppendUint64(buf, uint64(n))
	if _, err := mw.Write(buf); err != nil {
		return 0, fmt.Errorf("index: write snapshot: %w", err)
	}
	if _, err := w.Write(sum.Sum(nil)); err != nil {
		return 0, fmt.Errorf("index: write snapshot: %w", err)
	}
	return n, nil
}

func appendRecord(b []byte, h *block.Hash, m *block.Meta) []byte {
	b = append(b, h[:]...)
	b = append(b, m.Parent[:]...)
	b = binary.LittleEndian.AppendUint32(b, m.Seq)
	b = binary.LittleEndian.AppendUint32(b, m.Flags)
	b = binary.LittleEndian.AppendUint64(b, m.PayloadBytes)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.LastAccessNs))
	b = append(b, m.Model[:]...)
	return append(b, m.Layout[:]...)
}

func decodeRecord(b []byte) (h block.Hash, m block.Meta) {
	copy(h[:], b[0:32])
	copy(m.Parent[:], b[32:64])
	m.Seq = binary.LittleEndian.Uint32(b[64:])
	m.Flags = binary.LittleEndian.Uint32(b[68:])
	m.PayloadBytes = binary.LittleEndian.Uint64(b[72:])
	m.LastAccessNs = int64(binary.LittleEndian.Uint64(b[80:]))
	copy(m.Model[:], b[88:112])
	copy(m.Layout[:], b[112:128])
	return h, m
}

// decodeCount returns the access count of a version 2 record: one below 1
// (the least a count can be) or not a number, which no index writes, as
// 1, and an infinite one as the largest float32.
func decodeCount(b []byte) float32 {
	c := math.Float32frombits(binary.LittleEndian.Uint32(b[recordLen:]))
	switch {
	case !(c >= 1):
		return 1
	case c > math.MaxFloat32:
		return math.MaxFloat32
	}
	return c
}

// SaveSnapshot writes every entry of r to the file path, atomically: to a
// temporary file in path's directory, flushed to disk (fsync), then
// renamed over path, and the directory synced. A reader of path, or a
// node that crashes at any moment, sees the previous snapshot or the new
// one whole, never part of one; a crash leaves at most the temporary file
// (named ".<base>.tmp-*"), which the next SaveSnapshot into that
// directory does not reuse and the caller may remove. It returns the
// number of entries written.
func SaveSnapshot(path string, r Reader) (n int, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("index: save snapshot %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if n, err = WriteSnapshot(bw, r); err != nil {
		return 0, fmt.Errorf("index: save snapshot %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return 0, fmt.Errorf("index: save snapshot %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return 0, fmt.Errorf("index: save snapshot %s: fsync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return 0, fmt.Errorf("index: save snapshot %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("index: save snapshot %s: %w", path, err)
	}
	// The rename is durable once the directory is: without this a crash
	// could bring back the old snapshot (never a partial one).
	if d, derr := os.Open(dir); derr == nil {
		derr = d.Sync()
		d.Close()
		if derr != nil {
			return n, fmt.Errorf("index: save snapshot %s: fsync directory: %w", path, derr)
		}
	}
	return n, nil
}

// LoadSnapshot reads the snapshot at path into x, keeping each entry's
// last access (as [Memory.BulkLoad] does), and returns the number of
// entries loaded. It first reads the whole file to check its size and
// checksum, and loads nothing from a file that is not a whole snapshot of
// a version it reads (1 or [SnapshotVersion]): it returns an error
// wrapping [ErrBadSnapshot] that says what is wrong (not a snapshot,
// another version, truncated, corrupt). A missing file is an error
// wrapping fs.ErrNotExist. Memory stays bounded whatever the file's size:
// the file is read twice, a chunk at a time.
//
// In an index x that keeps access counts, an entry of a version 2
// snapshot (written by an index that kept them) gets the count it had,
// as of its last access, whatever half-life counted it; an entry of a
// version 1 snapshot is an access, as in a BulkLoad (a new entry's count
// starts at 1). Into an index without counts, a version 2 snapshot's
// counts are dropped.
func LoadSnapshot(path string, x *Memory) (int, error) {
	// A snapshot is a plain file: anything else (a fifo, whose open would
	// block, a device, a directory) is refused before it is opened, and
	// the file opened must be the one checked.
	li, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("index: load snapshot: %w", err)
	}
	if !li.Mode().IsRegular() {
		return 0, fmt.Errorf("%w %s: a %v, not a plain file", ErrBadSnapshot, path, li.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("index: load snapshot: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("index: load snapshot: %w", err)
	}
	if !os.SameFile(li, fi) {
		return 0, fmt.Errorf("%w %s: replaced while it was opened", ErrBadSnapshot, path)
	}
	count, rl, err := checkSnapshot(f, fi.Size(), path)
	if err != nil {
		return 0, err
	}
	// The file checked out: load it. A read error now (the disk failing
	// between the two passes) leaves x with part of the snapshot, and is
	// reported.
	br := bufio.NewReaderSize(io.NewSectionReader(f, headerLen, count*int64(rl)), snapChunk*rl)
	rec := make([]byte, rl)
	for range count {
		if _, err := io.ReadFull(br, rec); err != nil {
			return 0, fmt.Errorf("index: load snapshot %s: %w", path, err)
		}
		h, m := decodeRecord(rec)
		var c float32 // 0: an access, as in a BulkLoad
		if rl == countedLen {
			c = decodeCount(rec)
		}
		x.put(&h, &m, c)
	}
	return int(count), nil
}

// checkSnapshot checks the header, the size and the checksum of the
// snapshot in r, of size bytes, and returns its record count and record
// size.
func checkSnapshot(r io.ReaderAt, size int64, path string) (int64, int, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: %s", ErrBadSnapshot, path, fmt.Sprintf(format, args...))
	}
	var hdr [headerLen]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, 0, bad("%d bytes, shorter than a snapshot's header and trailer (%d bytes): truncated or not a snapshot", size, minSnapshot)
		}
		return 0, 0, fmt.Errorf("index: load snapshot %s: %w", path, err)
	}
	if !bytes.Equal(hdr[:8], []byte(snapMagic)) {
		return 0, 0, bad("magic %q, want %q: not an index snapshot", hdr[:8], snapMagic)
	}
	var rl int
	switch v := binary.LittleEndian.Uint32(hdr[8:]); v {
	case 1:
		rl = recordLen
	case 2:
		rl = countedLen
	default:
		return 0, 0, bad("format version %d, want 1 or %d (written by another version of the module)", v, SnapshotVersion)
	}
	if got := binary.LittleEndian.Uint32(hdr[12:]); got != uint32(rl) {
		return 0, 0, bad("record size %d, want %d (format version %d)", got, rl, binary.LittleEndian.Uint32(hdr[8:]))
	}
	if size < minSnapshot || (size-minSnapshot)%int64(rl) != 0 {
		return 0, 0, bad("%d bytes, not a %d-byte header, whole %d-byte records and a %d-byte trailer: truncated", size, headerLen, rl, trailerLen)
	}
	records := (size - minSnapshot) / int64(rl)
	sum := sha256.New()
	if err := hashRange(sum, r, size-sha256.Size); err != nil {
		return 0, 0, fmt.Errorf("index: load snapshot %s: %w", path, err)
	}
	var tr [trailerLen]byte
	if _, err := r.ReadAt(tr[:], size-trailerLen); err != nil {
		return 0, 0, fmt.Errorf("index: load snapshot %s: %w", path, err)
	}
	if count := binary.LittleEndian.Uint64(tr[:8]); count != uint64(records) {
		return 0, 0, bad("trailer counts %d records, the file holds %d: truncated or corrupt", count, records)
	}
	if !bytes.Equal(sum.Sum(nil), tr[8:]) {
		return 0, 0, bad("SHA-256 differs from the trailer's: corrupt")
	}
	return records, rl, nil
}

// hashRange writes the first n bytes of r to h.
func hashRange(h hash.Hash, r io.ReaderAt, n int64) error {
	_, err := io.CopyBuffer(h, io.NewSectionReader(r, 0, n), make([]byte, snapChunk*recordLen))
	return err
}
