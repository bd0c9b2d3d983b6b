// Package wire is the wire format of `kvprefetch serve` that the server
// (package server) and its clients (package client) share: the headers
// that carry a block's metadata, their codec, the JSON of a hint group
// and of the answer to hints, and the parts of GET /v1/status a client
// reads. It imports nothing of the module but block,
// so a client that uses it builds no store and no pipeline.
package wire

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/wombatkv/prefetch/block"
)

// The metadata headers of a block, on a PUT and on the answers of GET and
// HEAD. Every one is optional.
const (
	// HeaderParent is the parent's hash, 64 lowercase hex digits.
	HeaderParent = "X-Kv-Parent"
	// HeaderPosition is the block's position in its chain (block.Meta.Seq),
	// a decimal uint32.
	HeaderPosition = "X-Kv-Position"
	// HeaderModel is the model digest, 48 lowercase hex digits.
	HeaderModel = "X-Kv-Model"
	// HeaderLayout is the layout tag, 32 lowercase hex digits.
	HeaderLayout = "X-Kv-Layout"
	// HeaderFlags is block.Meta.Flags, a decimal uint32.
	HeaderFlags = "X-Kv-Flags"
	// HeaderTier says where a GET or HEAD found the block: "flat" or
	// "cold". A PUT's answer says "flat" when the block went to both
	// tiers, "cold" when flat could not take it.
	HeaderTier = "X-Kv-Tier"
)

// HeaderError is a metadata header that does not parse: its name and
// what is wrong with it.
type HeaderError struct {
	Header string // the header's name
	Msg    string // what is wrong and what is wanted
}

func (e *HeaderError) Error() string { return e.Msg }

// SetMeta writes m's Parent, Seq, Model, Layout and Flags as headers
// (the position always, the others when set). The size travels as the
// body's Content-Length, and LastAccessNs not at all.
func SetMeta(hdr http.Header, m block.Meta) {
	if m.Parent != (block.Hash{}) {
		hdr.Set(HeaderParent, m.Parent.String())
	}
	hdr.Set(HeaderPosition, strconv.FormatUint(uint64(m.Seq), 10))
	if !m.Model.IsZero() {
		hdr.Set(HeaderModel, hex.EncodeToString(m.Model[:]))
	}
	if m.Layout != (block.LayoutTag{}) {
		hdr.Set(HeaderLayout, hex.EncodeToString(m.Layout[:]))
	}
	if m.Flags != 0 {
		hdr.Set(HeaderFlags, strconv.FormatUint(uint64(m.Flags), 10))
	}
}

// ParseMeta reads the metadata headers SetMeta writes. It reports every
// header that does not parse, each a *HeaderError, joined (errors.Join) in
// the order Parent, Position, Model, Layout, Flags.
func ParseMeta(hdr http.Header) (block.Meta, error) {
	var m block.Meta
	fixed := func(name string, dst []byte) error {
		v := hdr.Get(name)
		if v == "" {
			return nil
		}
		if len(v) != 2*len(dst) {
			return &HeaderError{name, fmt.Sprintf("%s: %d characters, want %d lowercase hex digits", name, len(v), 2*len(dst))}
		}
		if _, err := hex.Decode(dst, []byte(v)); err != nil || hex.EncodeToString(dst) != v {
			return &HeaderError{name, fmt.Sprintf("%s = %.80q: want %d lowercase hex digits", name, v, 2*len(dst))}
		}
		return nil
	}
	u32 := func(name string, dst *uint32) error {
		v := hdr.Get(name)
		if v == "" {
			return nil
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return &HeaderError{name, fmt.Sprintf("%s = %.80q: want a decimal integer from 0 to %d", name, v, uint32(1<<32-1))}
		}
		*dst = uint32(n)
		return nil
	}
	return m, errors.Join(
		fixed(HeaderParent, m.Parent[:]),
		u32(HeaderPosition, &m.Seq),
		fixed(HeaderModel, m.Model[:]),
		fixed(HeaderLayout, m.Layout[:]),
		u32(HeaderFlags, &m.Flags),
	)
}

// HintGroup is one group of a POST /v1/hints batch: blocks of one
// namespace due at one time.
type HintGroup struct {
	// Namespace is the blocks' namespace (empty: the server's default).
	Namespace string `json:"namespace,omitempty"`
	// Blocks are block keys, or their 64 lowercase hex digits alone.
	Blocks []string `json:"blocks"`
	// Due is when a request will read the blocks, RFC 3339; or LeadMs,
	// in how many milliseconds from now. At most one of them; with
	// neither, the server's default lead from now.
	Due    string `json:"due,omitempty"`
	LeadMs *int64 `json:"lead_ms,omitempty"`
	// Priority orders the groups of one request: higher first.
	Priority int `json:"priority,omitempty"`
}

// HintResult is the answer of POST /v1/hints (202).
type HintResult struct {
	// Accepted counts the hints added to an intake.
	Accepted int `json:"accepted"`
	// Dropped counts the hints lost: those of a namespace without a hint
	// pipeline, and the pending hints the intakes dropped during this
	// call to stay within their capacity (the oldest first, so not
	// necessarily this request's).
	Dropped int `json:"dropped"`
	// DroppedBy splits Dropped by reason: "no_hint_pipeline",
	// "intake_full".
	DroppedBy map[string]int `json:"dropped_by,omitempty"`
}

// FlatStatus is the flat tier's usage, in GET /v1/status.
type FlatStatus struct {
	Blocks      int   `json:"blocks"`
	Bytes       int64 `json:"bytes"`
	BudgetBytes int64 `json:"budget_bytes"`
}

// IndexStatus is the index's size, in GET /v1/status.
type IndexStatus struct {
	Entries int `json:"entries"`
}

// HintStatus is one intake's figures in GET /v1/status:
// snapshot.HintStats without its histograms.
type HintStatus struct {
	Added       uint64 `json:"added"`
	Dropped     uint64 `json:"dropped"`
	Expired     uint64 `json:"expired"`
	Fetched     uint64 `json:"fetched"`
	AlreadyFlat uint64 `json:"already_flat"`
	Pending     int    `json:"pending"`
}
