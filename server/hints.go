package server

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/server/wire"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// HintGroup is one group of a POST /v1/hints batch: blocks of one
// namespace due at one time (the wire format's, shared with the clients).
type HintGroup = wire.HintGroup

// HintBatch is the native body of POST /v1/hints.
type HintBatch struct {
	Hints []HintGroup `json:"hints"`
}

// RouterHint is Dynamo's per-request router hint.
type RouterHint struct {
	// SourceControlEndpoint is where Dynamo's router says the blocks
	// live on a peer: accepted and not used (they come from cold).
	SourceControlEndpoint string `json:"source_control_endpoint,omitempty"`
	// BlockHashes are the blocks, each as [HashOfUint64] maps it.
	BlockHashes []uint64 `json:"block_hashes"`
}

// DynamoHint is the body of POST /v1/hints in Dynamo's shape: its
// router_hint, with the namespace, due time and priority of a
// [HintGroup].
type DynamoHint struct {
	RouterHint *RouterHint `json:"router_hint"`
	Namespace  string      `json:"namespace,omitempty"`
	Due        string      `json:"due,omitempty"`
	LeadMs     *int64      `json:"lead_ms,omitempty"`
	Priority   int         `json:"priority,omitempty"`
}

// HintResult is the answer of POST /v1/hints (202), the wire format's.
type HintResult = wire.HintResult

// The reasons of HintResult.DroppedBy.
const (
	DropNoHintPipeline = "no_hint_pipeline"
	DropIntakeFull     = "intake_full"
)

// HashOfUint64 is the one rule that maps a 64-bit block hash (Dynamo's
// block_hashes) to a block hash: v as 32 bytes big-endian, 24 zero bytes
// then v's 8. Its key's hex digits are fmt.Sprintf("%064x", v).
func HashOfUint64(v uint64) block.Hash {
	var h block.Hash
	binary.BigEndian.PutUint64(h[24:], v)
	return h
}

// hintGroup is a decoded, validated group.
type hintGroup struct {
	ns       string
	hashes   []block.Hash
	due      time.Time
	priority int
}

// hintLimits are what decodeHints needs of the config.
type hintLimits struct {
	now       time.Time
	namespace string
	lead      time.Duration
	maxBlocks int
}

// decodeHints decodes a POST /v1/hints body, in any of its shapes, into
// validated groups ordered by priority (higher first, then as given).
func decodeHints(data []byte, lim hintLimits) ([]hintGroup, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil || keys == nil {
		return nil, jsonError(err, "want a JSON object: {\"hints\": [...]}, one hint group, or {\"router_hint\": {...}}")
	}
	var groups []hintGroup
	count := 0
	add := func(path string, g HintGroup, hashes []block.Hash) error {
		ns := cmp.Or(g.Namespace, lim.namespace)
		if err := block.ValidateNamespace(ns); err != nil {
			return badRequest(CodeBadField, path+"namespace", "%snamespace: %v", path, err)
		}
		due, err := dueOf(path, g.Due, g.LeadMs, lim)
		if err != nil {
			return err
		}
		groups = append(groups, hintGroup{ns: ns, hashes: hashes, due: due, priority: g.Priority})
		return nil
	}
	tooMany := func(n int) error {
		if count += n; count > lim.maxBlocks {
			return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeTooManyHints,
				msg: fmt.Sprintf("more than %d blocks in one request, the most this server takes: split the batch", lim.maxBlocks)}
		}
		return nil
	}
	native := func(path string, g HintGroup) error {
		if g.Blocks == nil {
			return badRequest(CodeBadField, path+"blocks", "%sblocks is missing, want a list of block keys or 64-hex hashes", path)
		}
		if err := tooMany(len(g.Blocks)); err != nil {
			return err
		}
		hashes := make([]block.Hash, len(g.Blocks))
		for i, b := range g.Blocks {
			h, err := parseBlockRef(b)
			if err != nil {
				field := fmt.Sprintf("%sblocks[%d]", path, i)
				return badRequest(CodeBadField, field, "%s: %v (want a block key or its 64 lowercase hex digits)", field, err)
			}
			hashes[i] = h
		}
		return add(path, g, hashes)
	}
	switch {
	case keys["router_hint"] != nil:
		var d DynamoHint
		if err := strict(data, &d); err != nil {
			return nil, err
		}
		if d.RouterHint == nil || d.RouterHint.BlockHashes == nil {
			return nil, badRequest(CodeBadField, "router_hint.block_hashes", "router_hint.block_hashes is missing, want a list of 64-bit integers")
		}
		if err := tooMany(len(d.RouterHint.BlockHashes)); err != nil {
			return nil, err
		}
		hashes := make([]block.Hash, len(d.RouterHint.BlockHashes))
		for i, v := range d.RouterHint.BlockHashes {
			hashes[i] = HashOfUint64(v)
		}
		if err := add("", HintGroup{Namespace: d.Namespace, Due: d.Due, LeadMs: d.LeadMs, Priority: d.Priority}, hashes); err != nil {
			return nil, err
		}
	case keys["hints"] != nil:
		var b HintBatch
		if err := strict(data, &b); err != nil {
			return nil, err
		}
		for i, g := range b.Hints {
			if err := native(fmt.Sprintf("hints[%d].", i), g); err != nil {
				return nil, err
			}
		}
	default:
		var g HintGroup
		if err := strict(data, &g); err != nil {
			return nil, err
		}
		if err := native("", g); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(groups, func(a, b hintGroup) int { return cmp.Compare(b.priority, a.priority) })
	return groups, nil
}

// dueOf returns a group's due time from its due or lead_ms.
func dueOf(path, due string, leadMs *int64, lim hintLimits) (time.Time, error) {
	switch {
	case due != "" && leadMs != nil:
		return time.Time{}, badRequest(CodeBadField, path+"due", "%sdue and %slead_ms both given, want one of them", path, path)
	case due != "":
		t, err := time.Parse(time.RFC3339Nano, due)
		if err != nil {
			return time.Time{}, badRequest(CodeBadField, path+"due", "%sdue = %.80q: want an RFC 3339 time (2026-01-02T15:04:05.5Z)", path, due)
		}
		return t, nil
	case leadMs != nil:
		if *leadMs < 0 || *leadMs > math.MaxInt64/int64(time.Millisecond) {
			return time.Time{}, badRequest(CodeBadField, path+"lead_ms", "%slead_ms = %d, want 0 to %d milliseconds", path, *leadMs, math.MaxInt64/int64(time.Millisecond))
		}
		return lim.now.Add(time.Duration(*leadMs) * time.Millisecond), nil
	}
	return lim.now.Add(lim.lead), nil
}

// strict decodes data into v, refusing unknown fields, values of the
// wrong type and anything after the value.
func strict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, "")
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest(CodeBadJSON, "", "data after the JSON value, want one object")
	}
	return nil
}

// jsonError maps an error of encoding/json to its answer.
func jsonError(err error, want string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return badRequest(CodeBadJSON, "", "%s", want)
	case errors.As(err, &se):
		return badRequest(CodeBadJSON, "", "not JSON at byte %d: %v", se.Offset, err)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return badRequest(CodeBadJSON, "", "a JSON %s, %s", te.Value, want)
		}
		return badRequest(CodeBadField, field, "%s: a JSON %s, want %s", field, te.Value, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest(CodeUnknownField, name, "unknown field %q", name)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest(CodeBadJSON, "", "the body ends before its JSON value does")
	}
	return badRequest(CodeBadJSON, "", "%v", err)
}

func (s *Server) postHints(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength > s.cfg.MaxHintBodyBytes {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge,
			msg: fmt.Sprintf("hint body of %d bytes, more than this server takes (%d): split the batch", r.ContentLength, s.cfg.MaxHintBodyBytes)}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxHintBodyBytes))
	if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge,
			msg: fmt.Sprintf("hint body of more than %d bytes, more than this server takes: split the batch", s.cfg.MaxHintBodyBytes)}
	}
	if err != nil {
		return badRequest(CodeBadLength, "", "reading the body: %v", err)
	}
	groups, err := decodeHints(data, hintLimits{now: s.cfg.Clock(), namespace: s.cfg.DefaultNamespace, lead: s.cfg.DefaultLead, maxBlocks: s.cfg.MaxHintBlocks})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, s.addHints(groups))
	return nil
}

// addHints hands the groups to their intakes.
func (s *Server) addHints(groups []hintGroup) HintResult {
	res := HintResult{DroppedBy: map[string]int{}}
	var buf []snapshot.Hint
	for _, g := range groups {
		in := s.cfg.Hints[g.ns]
		if in == nil {
			res.DroppedBy[DropNoHintPipeline] += len(g.hashes)
			continue
		}
		buf = buf[:0]
		for _, h := range g.hashes {
			buf = append(buf, snapshot.Hint{Hash: h, Due: g.due})
		}
		before := in.Dropped()
		in.Add(buf...)
		res.Accepted += len(buf)
		if d := int(in.Dropped() - before); d > 0 {
			res.DroppedBy[DropIntakeFull] += d
		}
	}
	for _, n := range res.DroppedBy {
		res.Dropped += n
	}
	if len(res.DroppedBy) == 0 {
		res.DroppedBy = nil
	}
	return res
}
