package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/semaphore"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/snapshot"
	"github.com/wombatkv/prefetch/store"
)

// Defaults of [Config]'s limits.
const (
	// DefaultMaxBlockBytes is the largest block PUT accepts when
	// Config.MaxBlockBytes is zero (and the flat budget is larger).
	DefaultMaxBlockBytes int64 = 256 << 20
	// DefaultMaxBufferedBytes bounds the bytes of the PUT bodies held in
	// memory at once when Config.MaxBufferedBytes is zero.
	DefaultMaxBufferedBytes int64 = 1 << 30
	// DefaultMaxHintBlocks is the most blocks one POST /v1/hints may
	// name when Config.MaxHintBlocks is zero.
	DefaultMaxHintBlocks = snapshot.DefaultHintCapacity
	// DefaultMaxHintBodyBytes bounds a POST /v1/hints body when
	// Config.MaxHintBodyBytes is zero: room for DefaultMaxHintBlocks
	// block keys and their JSON.
	DefaultMaxHintBodyBytes int64 = 1 << 20
	// DefaultLead is how far ahead a hint that gives neither due nor
	// lead_ms is due, when Config.DefaultLead is zero.
	DefaultLead = time.Second
)

// Config configures [New]. Store and Index are required; zero fields
// mean the defaults.
type Config struct {
	// Store is the node's flat and cold tiers.
	Store *store.Store
	// Index is the node's metadata index: a PUT inserts the block, a GET
	// touches it (a HEAD reads its metadata only).
	Index *index.Memory
	// Hints are the hint intakes by namespace: a hinted block goes to the
	// intake of its namespace, which wakes its pipeline. A hint for a
	// namespace without one is dropped and counted ("no_hint_pipeline").
	Hints map[string]*snapshot.Hints
	// Policies are the pipelines the node runs, as /v1/status reports
	// them; give each a [CycleLog] among its emitters.
	Policies []Policy
	// Token, when not empty, is the bearer token every write and hint
	// route requires (Authorization: Bearer <token>), compared in
	// constant time. Read routes need none.
	Token []byte
	// MaxBlockBytes is the largest block PUT accepts (default
	// DefaultMaxBlockBytes); the flat budget caps it too. A larger one is
	// refused (413) before its body is read.
	MaxBlockBytes int64
	// MaxBufferedBytes bounds the PUT bodies held in memory at once
	// (default DefaultMaxBufferedBytes, at least MaxBlockBytes): a PUT
	// waits for room before it reads its body.
	MaxBufferedBytes int64
	// MaxHintBlocks is the most blocks one POST /v1/hints may name
	// (default DefaultMaxHintBlocks); more is refused (413).
	MaxHintBlocks int
	// MaxHintBodyBytes bounds a POST /v1/hints body (default
	// DefaultMaxHintBodyBytes).
	MaxHintBodyBytes int64
	// DefaultNamespace is the namespace of a hint group that names none
	// (default pipeline.DefaultNamespace, "tp-default").
	DefaultNamespace string
	// DefaultLead is how far ahead a hint group that gives neither due
	// nor lead_ms is due (default DefaultLead, 1s).
	DefaultLead time.Duration
	// Gatherer serves /metrics (nil: /metrics answers 404, code
	// "no_metrics").
	Gatherer prometheus.Gatherer
	// Registerer receives the handler's own metrics: requests by route,
	// method and status, and their durations (nil: none).
	Registerer prometheus.Registerer
	// Clock is the time hints' lead is counted from (nil: time.Now).
	Clock func() time.Time
	// Logger receives the errors answered with a 5xx (nil: discard).
	Logger *slog.Logger
}

// Policy is one pipeline the node runs, as /v1/status reports it.
type Policy struct {
	// Name is the pipeline's name in the node ("background", "hints").
	Name string
	// About is what it does (policy.Spec.About).
	About string
	// Cycles records its cycles: add it to the pipeline's emitters.
	Cycles *CycleLog
}

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.MaxBlockBytes == 0 {
		c.MaxBlockBytes = DefaultMaxBlockBytes
	}
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = max(DefaultMaxBufferedBytes, c.MaxBlockBytes)
	}
	if c.MaxHintBlocks == 0 {
		c.MaxHintBlocks = DefaultMaxHintBlocks
	}
	if c.MaxHintBodyBytes == 0 {
		c.MaxHintBodyBytes = DefaultMaxHintBodyBytes
	}
	if c.DefaultNamespace == "" {
		c.DefaultNamespace = pipeline.DefaultNamespace
	}
	if c.DefaultLead == 0 {
		c.DefaultLead = DefaultLead
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with c at once, each naming the field.
// Call it on c.WithDefaults().
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("server: "+format, args...)) }
	if c.Store == nil {
		bad("Config.Store is nil, want the node's store (store.Open)")
	}
	if c.Index == nil {
		bad("Config.Index is nil, want the node's index (index.NewMemory)")
	}
	for ns, h := range c.Hints {
		if err := block.ValidateNamespace(ns); err != nil {
			bad("Config.Hints[%q]: %v", ns, err)
		}
		if h == nil {
			bad("Config.Hints[%q] is nil, want an intake (snapshot.NewHints)", ns)
		}
	}
	for i, p := range c.Policies {
		if p.Name == "" {
			bad("Config.Policies[%d].Name is empty, want the pipeline's name", i)
		}
	}
	if c.MaxBlockBytes < 0 {
		bad("Config.MaxBlockBytes = %d, want > 0 (0 means the default, %d)", c.MaxBlockBytes, DefaultMaxBlockBytes)
	}
	if c.MaxBufferedBytes < c.MaxBlockBytes {
		bad("Config.MaxBufferedBytes = %d, want >= MaxBlockBytes (%d) (0 means the default, %d)", c.MaxBufferedBytes, c.MaxBlockBytes, DefaultMaxBufferedBytes)
	}
	if c.MaxHintBlocks < 0 {
		bad("Config.MaxHintBlocks = %d, want > 0 (0 means the default, %d)", c.MaxHintBlocks, DefaultMaxHintBlocks)
	}
	if c.MaxHintBodyBytes < 0 {
		bad("Config.MaxHintBodyBytes = %d, want > 0 (0 means the default, %d)", c.MaxHintBodyBytes, DefaultMaxHintBodyBytes)
	}
	if err := block.ValidateNamespace(c.DefaultNamespace); err != nil {
		bad("Config.DefaultNamespace: %v", err)
	}
	if c.DefaultLead < 0 {
		bad("Config.DefaultLead = %v, want >= 0 (0 means the default, %v)", c.DefaultLead, DefaultLead)
	}
	return errors.Join(errs...)
}

// Server is the service's [http.Handler]. It starts no goroutines; it is
// safe for concurrent use.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	token    [sha256.Size]byte // SHA-256 of Config.Token, when auth is on
	auth     bool
	buffered *semaphore.Weighted
	draining atomic.Bool
	metrics  *httpMetrics
}

// New returns the handler over cfg's store, index and intakes, or every
// problem with cfg at once. It registers its metrics with
// cfg.Registerer, if any.
func New(cfg Config) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		mux:      http.NewServeMux(),
		auth:     len(cfg.Token) > 0,
		buffered: semaphore.NewWeighted(cfg.MaxBufferedBytes),
	}
	if s.auth {
		s.token = sha256.Sum256(cfg.Token)
	}
	if cfg.Registerer != nil {
		m, err := newHTTPMetrics(cfg.Registerer)
		if err != nil {
			return nil, err
		}
		s.metrics = m
	}
	for _, rt := range Routes() {
		s.mux.Handle(rt.Pattern, s.instrument(rt.Pattern, s.handlerOf(rt)))
	}
	s.mux.Handle("/", s.instrument("other", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, code: CodeNoRoute, msg: fmt.Sprintf("no route %s %s; see docs/openapi.json for the routes", r.Method, r.URL.Path)})
	})))
	return s, nil
}

// Route is one route of the handler: a path pattern (as [http.ServeMux]
// reads it) and the methods it answers. Any other method on the path
// answers 405 with code "method_not_allowed".
type Route struct {
	Pattern string
	Methods []string
	// Auth are the methods among Methods that need Config.Token (when
	// it is set): the write and hint routes.
	Auth []string
}

// Routes lists the handler's routes, in the order of the package doc.
func Routes() []Route {
	return []Route{
		{Pattern: "/v1/blocks/{namespace}/{key...}", Methods: []string{http.MethodPut, http.MethodGet, http.MethodHead}, Auth: []string{http.MethodPut}},
		{Pattern: "/v1/hints", Methods: []string{http.MethodPost}, Auth: []string{http.MethodPost}},
		{Pattern: "/v1/status", Methods: []string{http.MethodGet}},
		{Pattern: "/metrics", Methods: []string{http.MethodGet}},
		{Pattern: "/healthz", Methods: []string{http.MethodGet}},
		{Pattern: "/readyz", Methods: []string{http.MethodGet}},
	}
}

// handlerOf returns the handler of route rt, which dispatches on the
// method itself so that a wrong one gets a JSON 405.
func (s *Server) handlerOf(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		if slices.Contains(rt.Auth, r.Method) {
			if err = s.authorize(r); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		switch rt.Pattern + " " + r.Method {
		case "/v1/blocks/{namespace}/{key...} PUT":
			err = s.putBlock(w, r)
		case "/v1/blocks/{namespace}/{key...} GET":
			err = s.getBlock(w, r)
		case "/v1/blocks/{namespace}/{key...} HEAD":
			err = s.headBlock(w, r)
		case "/v1/hints POST":
			err = s.postHints(w, r)
		case "/v1/status GET":
			writeJSON(w, http.StatusOK, s.Status())
		case "/metrics GET":
			if s.cfg.Gatherer == nil {
				err = &apiError{status: http.StatusNotFound, code: CodeNoMetrics, msg: "this server exports no metrics (Config.Gatherer is nil)"}
				break
			}
			promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP(w, r)
		case "/healthz GET":
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		case "/readyz GET":
			if s.draining.Load() {
				err = &apiError{status: http.StatusServiceUnavailable, code: CodeDraining, msg: "the server is shutting down"}
				break
			}
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		default:
			w.Header().Set("Allow", strings.Join(rt.Methods, ", "))
			err = &apiError{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed, msg: fmt.Sprintf("%s %s: method not allowed, want %s", r.Method, r.URL.Path, strings.Join(rt.Methods, " or "))}
		}
		if err != nil {
			s.fail(w, r, err)
		}
	})
}

// ServeHTTP serves the routes of [Routes].
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Drain marks the server as shutting down: /readyz answers 503 from now
// on, so that a load balancer sends no more requests, while the routes
// keep serving what arrives (http.Server.Shutdown then stops accepting).
func (s *Server) Drain() { s.draining.Store(true) }

// authorize checks the bearer token of a write or hint request.
func (s *Server) authorize(r *http.Request) error {
	if !s.auth {
		return nil
	}
	given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	sum := sha256.Sum256([]byte(given))
	// Both sides hashed: the comparison takes the same time whatever
	// the lengths.
	if subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 || !ok {
		return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, msg: "this route needs the server's token: Authorization: Bearer <token>"}
	}
	return nil
}

// fail answers err as JSON, logging what is the server's fault.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusInternalServerError, code: CodeInternal, msg: err.Error()}
	}
	if ae.status >= 500 {
		s.cfg.Logger.Error("server: request failed", "method", r.Method, "path", r.URL.Path, "status", ae.status, "code", ae.code, "err", ae.msg)
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kvprefetch"`)
	}
	writeError(w, ae)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) // the client gone: nothing to do
}
