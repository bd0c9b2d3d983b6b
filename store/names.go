package store

import (
	"path/filepath"

	"github.com/wombatkv/prefetch/block"
)

// name is a validated block address: every path and object name the store
// uses is built from one, and one is built only by nameOf or parseName,
// after validation, before any filesystem or network call.
type name struct {
	ns  string
	hex string // the hash, 64 lowercase hex digits
}

// nameOf validates ns and names block h in it.
func nameOf(ns string, h block.Hash) (name, error) {
	if err := block.ValidateNamespace(ns); err != nil {
		return name{}, failf(ReasonBadName, "store: %w", err)
	}
	return name{ns: ns, hex: h.String()}, nil
}

// parseName validates ns and key (a [block.Key]) and names the block.
func parseName(ns, key string) (name, error) {
	if err := block.ValidateNamespace(ns); err != nil {
		return name{}, failf(ReasonBadName, "store: %w", err)
	}
	h, err := block.ParseKey(key)
	if err != nil {
		return name{}, failf(ReasonBadName, "store: %w", err)
	}
	return name{ns: ns, hex: h.String()}, nil
}

// id is the block's key in the recency index and in flight tracking:
// "<ns>/<64 hex>", also its path below the root minus the fan-out level.
func (n name) id() string { return n.ns + "/" + n.hex }

// rel is the block's flat path relative to the root:
// <ns>/<first 2 hex digits>/<64 hex digits>. The two-digit level fans a
// namespace out over at most 256 directories.
func (n name) rel() string { return filepath.Join(n.ns, n.hex[:2], n.hex) }

// object is the block's cold object name: "<ns>/<block key>".
func (n name) object() string { return n.ns + "/" + block.KeyPrefix + n.hex }

// relOfID returns the flat path relative to the root of the block whose
// index key is id.
func relOfID(id string) string {
	ns, hex := id[:len(id)-65], id[len(id)-64:]
	return filepath.Join(ns, hex[:2], hex)
}
