package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/store"
)

// The codes of the service's JSON errors: stable, for clients to branch
// on (the message is for people and may change).
const (
	// CodeBadNamespace: the {namespace} path element is not a valid
	// namespace (block.ValidateNamespace). 400.
	CodeBadNamespace = "bad_namespace"
	// CodeBadKey: the {key} path element is neither a block key nor 64
	// lowercase hex digits (block.ParseKey). 400.
	CodeBadKey = "bad_key"
	// CodeBadHeader: a metadata header (X-Kv-*) is malformed; field names
	// it. 400.
	CodeBadHeader = "bad_header"
	// CodeBadJSON: the body is not JSON of the expected shape. 400.
	CodeBadJSON = "bad_json"
	// CodeUnknownField: the body has a field the route does not know;
	// field names it. 400.
	CodeUnknownField = "unknown_field"
	// CodeBadField: a field has a bad value (bad hex, a negative lead,
	// due and lead_ms both given); field names it. 400.
	CodeBadField = "bad_field"
	// CodeBadLength: the body's length differs from its Content-Length.
	// 400.
	CodeBadLength = "bad_length"
	// CodeUnauthorized: a write or hint route without the server's
	// bearer token. 401.
	CodeUnauthorized = "unauthorized"
	// CodeNotFound: neither tier holds the block. 404.
	CodeNotFound = "not_found"
	// CodeNoRoute: no route has this path. 404.
	CodeNoRoute = "no_route"
	// CodeNoMetrics: the server exports no metrics. 404.
	CodeNoMetrics = "no_metrics"
	// CodeMethodNotAllowed: the route does not answer this method (the
	// Allow header lists those it does). 405.
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeTooLarge: a block larger than the server accepts (the flat
	// budget, Config.MaxBlockBytes), refused before its body is read, or
	// a hint body over Config.MaxHintBodyBytes. 413.
	CodeTooLarge = "too_large"
	// CodeTooManyHints: a hint request naming more than
	// Config.MaxHintBlocks blocks. 413.
	CodeTooManyHints = "too_many_hints"
	// CodeColdCorrupt: the cold tier's object failed verification (its
	// checksum or size): it is not served. 502.
	CodeColdCorrupt = "cold_corrupt"
	// CodeColdFailed: the cold tier failed (an error, or the store's
	// per-call deadline). 502.
	CodeColdFailed = "cold_failed"
	// CodeDraining: the server is shutting down. 503.
	CodeDraining = "draining"
	// CodeUnavailable: the store is closed. 503.
	CodeUnavailable = "unavailable"
	// CodeInternal: anything else; the message says what. 500.
	CodeInternal = "internal"
)

// apiError is an error answered as JSON.
type apiError struct {
	status int
	code   string
	msg    string
	field  string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

// errorBody is the JSON of an error answer.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, errorBody{Code: e.code, Message: e.msg, Field: e.field})
}

func badRequest(code, field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, field: field, msg: fmt.Sprintf(format, args...)}
}

// storeError maps an error of the store to its answer.
func storeError(err error) *apiError {
	e := func(status int, code string) *apiError {
		return &apiError{status: status, code: code, msg: err.Error()}
	}
	switch reason := pipeline.FailureReason(err); {
	case errors.Is(err, store.ErrNotFound):
		return e(http.StatusNotFound, CodeNotFound)
	case errors.Is(err, store.ErrClosed):
		return e(http.StatusServiceUnavailable, CodeUnavailable)
	case errors.Is(err, context.Canceled):
		// The client went away: whatever is answered, nobody reads it.
		return e(http.StatusServiceUnavailable, CodeUnavailable)
	case reason == store.ReasonBadName:
		return e(http.StatusBadRequest, CodeBadKey)
	case reason == store.ReasonCorrupt, reason == store.ReasonSize, reason == store.ReasonUnverified:
		return e(http.StatusBadGateway, CodeColdCorrupt)
	case reason == store.ReasonTooLarge:
		return e(http.StatusRequestEntityTooLarge, CodeTooLarge)
	}
	return e(http.StatusBadGateway, CodeColdFailed)
}
