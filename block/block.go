// Package block holds the identity and metadata of a KV-cache block: its
// content hash, the model and layout it belongs to, and the object key it is
// stored under.
//
// Every other package speaks in these types: the [index] stores a [Meta] per
// [Hash], the pipeline scores and ranks them, and the stores address a block
// by [Key]. The package also holds the module's one namespace validator,
// [ValidateNamespace], so that a namespace accepted anywhere is accepted
// everywhere.
package block

import (
	"bytes"
	"encoding/hex"
	"math"
	"time"
)

// Hash is a block's 256-bit content hash (BLAKE3 in the node). Hashes order
// bytewise; the pipeline breaks score ties by the lower hash.
type Hash [32]byte

// String returns the hash as 64 lowercase hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Compare returns -1, 0 or +1 as h is bytewise less than, equal to or greater
// than o.
func (h Hash) Compare(o Hash) int { return bytes.Compare(h[:], o[:]) }

// ModelDigest fingerprints the model whose KV-cache a block holds. The zero
// digest means "unknown".
type ModelDigest [24]byte

// IsZero reports whether d is the zero digest.
func (d ModelDigest) IsZero() bool { return d == ModelDigest{} }

// LayoutTag names the tensor layout of a block's payload (dtype, head
// layout, page size). The prefetcher carries it and never interprets it.
type LayoutTag [16]byte

// Meta is what the metadata index knows about one block.
type Meta struct {
	// Parent is the hash of the previous block in the prompt's chain; the
	// zero hash for a chain head.
	Parent Hash
	// Seq is the block's position in its chain; 0 is the chain head.
	Seq uint32
	// Flags is reserved for the node's own use and carried unchanged.
	Flags uint32
	// PayloadBytes is the payload size in bytes, 0 when unknown (see
	// [Meta.Size] for how unknown sizes are treated).
	PayloadBytes uint64
	// LastAccessNs is the time of the last read or write, in nanoseconds
	// since the Unix epoch.
	LastAccessNs int64
	// Model is the model the block's KV-cache was computed by.
	Model ModelDigest
	// Layout is the payload's tensor layout.
	Layout LayoutTag
}

// Size returns the block's payload size in bytes and whether it is known.
// PayloadBytes 0 means unknown, and a PayloadBytes above math.MaxInt64 is
// no size a tier can hold; both report ok false. This is the module's one
// rule for blocks of unknown size: a check that bounds bytes (a cycle's
// byte budget, the flat tier's free room) cannot vouch for such a block,
// so it never passes one.
func (m Meta) Size() (n int64, ok bool) {
	if m.PayloadBytes == 0 || m.PayloadBytes > math.MaxInt64 {
		return 0, false
	}
	return int64(m.PayloadBytes), true
}

// IsChainHead reports whether the block starts a chain (Seq 0).
func (m Meta) IsChainHead() bool { return m.Seq == 0 }

// Nanos returns t in nanoseconds since the Unix epoch, as
// [Meta.LastAccessNs] and every other instant of the module counts time,
// clamped to the int64 range (from the year 1677 to 2262) beyond which
// time.Time.UnixNano is undefined: math.MinInt64 before it, math.MaxInt64
// after it.
func Nanos(t time.Time) int64 {
	switch {
	case t.Before(minNanos):
		return math.MinInt64
	case t.After(maxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// The instants Nanos clamps to.
var (
	minNanos = time.Unix(0, math.MinInt64)
	maxNanos = time.Unix(0, math.MaxInt64)
)
