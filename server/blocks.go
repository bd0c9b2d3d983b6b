package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/server/wire"
	"github.com/wombatkv/prefetch/store"
)

// The metadata headers of a block (see the package doc and package wire,
// where they are defined with their codec).
const (
	HeaderParent   = wire.HeaderParent
	HeaderPosition = wire.HeaderPosition
	HeaderModel    = wire.HeaderModel
	HeaderLayout   = wire.HeaderLayout
	HeaderFlags    = wire.HeaderFlags
	// HeaderTier says where a GET or HEAD found the block: "flat" or
	// "cold". A PUT's answer says "flat" when the block went to both
	// tiers, "cold" when flat could not take it.
	HeaderTier = wire.HeaderTier
)

// blockName parses and validates the {namespace} and {key} of r's path
// with the module's validator, before any I/O.
func blockName(r *http.Request) (ns string, h block.Hash, err error) {
	ns = r.PathValue("namespace")
	if verr := block.ValidateNamespace(ns); verr != nil {
		return "", h, badRequest(CodeBadNamespace, "namespace", "%v", verr)
	}
	h, err = parseBlockRef(r.PathValue("key"))
	if err != nil {
		return "", h, badRequest(CodeBadKey, "key", "%v (want a block key %s<64 hex> or its 64 lowercase hex digits)", err, block.KeyPrefix)
	}
	return ns, h, nil
}

// parseBlockRef parses a block key, or its 64 hex digits alone (as the
// key without its prefix), with block.ParseKey.
func parseBlockRef(s string) (block.Hash, error) {
	if len(s) == 2*len(block.Hash{}) {
		s = block.KeyPrefix + s
	}
	return block.ParseKey(s)
}

// parseMeta reads a block's metadata from its headers (wire.ParseMeta),
// each bad header a bad_header error naming it, joined.
func parseMeta(hdr http.Header) (block.Meta, error) {
	m, err := wire.ParseMeta(hdr)
	if err == nil {
		return m, nil
	}
	var errs []error
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		he := e.(*wire.HeaderError)
		errs = append(errs, badRequest(CodeBadHeader, he.Header, "%s", he.Msg))
	}
	return m, errors.Join(errs...)
}

// firstAPIError returns the first *apiError joined in err (parseMeta's
// problems are joined; the first is answered).
func firstAPIError(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			return e
		}
	}
	return err
}

// PutResult is the JSON answer of a PUT.
type PutResult struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	Bytes     int64  `json:"bytes"`
	// Tier is "flat" when both tiers hold the block, "cold" when the
	// flat tier could not take it (the cold tier holds it either way).
	Tier string `json:"tier"`
}

// maxBlock is the largest block a PUT accepts.
func (s *Server) maxBlock() int64 {
	return min(s.cfg.MaxBlockBytes, s.cfg.Store.Stats().FlatBudget)
}

func (s *Server) putBlock(w http.ResponseWriter, r *http.Request) error {
	ns, h, err := blockName(r)
	if err != nil {
		return err
	}
	m, err := parseMeta(r.Header)
	if err != nil {
		return firstAPIError(err)
	}
	limit := s.maxBlock()
	size := r.ContentLength
	if size > limit {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge,
			msg: fmt.Sprintf("block of %d bytes, more than this server accepts (%d bytes: the flat budget or its maximum block size)", size, limit)}
	}
	reserve := size
	if size < 0 { // chunked: bounded by the limit as it is read
		reserve = limit
	}
	if err := s.buffered.Acquire(r.Context(), reserve); err != nil {
		return storeError(err)
	}
	defer s.buffered.Release(reserve)
	payload, err := readBody(w, r, size, limit)
	if err != nil {
		return err
	}
	key := block.Key(h)
	tier := "flat"
	if err := s.cfg.Store.Put(r.Context(), ns, key, payload); err != nil {
		if pipeline.FailureReason(err) != store.ReasonFlatWrite {
			return storeError(err)
		}
		// In cold, not in flat: the block is stored.
		tier = "cold"
		s.cfg.Logger.Warn("server: put: flat refused the block, which cold holds", "namespace", ns, "key", key, "err", err)
	}
	m.PayloadBytes = uint64(len(payload))
	s.cfg.Index.Insert(h, m)
	w.Header().Set(HeaderTier, tier)
	writeJSON(w, http.StatusCreated, PutResult{Namespace: ns, Key: key, Bytes: int64(len(payload)), Tier: tier})
	return nil
}

// readBody reads r's body whole: exactly size bytes when size >= 0, else
// at most limit.
func readBody(w http.ResponseWriter, r *http.Request, size, limit int64) ([]byte, error) {
	if size >= 0 {
		buf := make([]byte, size)
		n, err := io.ReadFull(r.Body, buf)
		if err != nil {
			return nil, badRequest(CodeBadLength, "", "body ended after %d of its %d bytes (Content-Length): %v", n, size, err)
		}
		return buf, nil
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	buf, err := io.ReadAll(body)
	if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge,
			msg: fmt.Sprintf("block of more than %d bytes, more than this server accepts (the flat budget or its maximum block size)", limit)}
	}
	if err != nil {
		return nil, badRequest(CodeBadLength, "", "reading the body: %v", err)
	}
	return buf, nil
}

func (s *Server) getBlock(w http.ResponseWriter, r *http.Request) error {
	ns, h, err := blockName(r)
	if err != nil {
		return err
	}
	br, err := s.cfg.Store.NewReader(r.Context(), ns, block.Key(h))
	if err != nil {
		return storeError(err)
	}
	defer br.Close()
	tier := "cold"
	if br.InFlat() {
		tier = "flat"
	}
	// A read touches the index; a block it does not know (written
	// before a lost snapshot, or by another node) enters it with its
	// size, so that the background policies see it.
	if !s.cfg.Index.Touch(h) {
		s.cfg.Index.Insert(h, block.Meta{PayloadBytes: uint64(br.Size())})
	}
	hdr := w.Header()
	if m, ok := s.cfg.Index.Get(h); ok {
		wire.SetMeta(hdr, m)
	}
	setBlockHeaders(hdr, tier, br.Size())
	w.WriteHeader(http.StatusOK)
	// Streamed from the flat file (sendfile on a TCP connection). A
	// failed read or a client gone mid-body: the answer is cut short,
	// which the client sees against Content-Length.
	if _, err := io.Copy(w, br); err != nil {
		s.cfg.Logger.Debug("server: get: body cut short", "namespace", ns, "key", block.Key(h), "err", err)
	}
	return nil
}

// headBlock answers a HEAD: the block's size, tier and metadata, read
// from flat or from the cold object's declared size (store.Stat), with
// nothing fetched and the block's recency unchanged.
func (s *Server) headBlock(w http.ResponseWriter, r *http.Request) error {
	ns, h, err := blockName(r)
	if err != nil {
		return err
	}
	size, inFlat, err := s.cfg.Store.Stat(r.Context(), ns, block.Key(h))
	if err != nil {
		return storeError(err)
	}
	hdr := w.Header()
	if m, ok := s.cfg.Index.Get(h); ok {
		wire.SetMeta(hdr, m)
	}
	tier := "cold"
	if inFlat {
		tier = "flat"
	}
	setBlockHeaders(hdr, tier, size)
	w.WriteHeader(http.StatusOK)
	return nil
}

// setBlockHeaders sets the headers of a block's GET or HEAD answer.
func setBlockHeaders(hdr http.Header, tier string, size int64) {
	hdr.Set(HeaderTier, tier)
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Length", strconv.FormatInt(size, 10))
}
