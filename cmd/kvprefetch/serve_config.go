package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/server"
	"github.com/wombatkv/prefetch/store"
)

// The serve command's defaults.
const (
	defaultServeListen      = "127.0.0.1:8420"
	defaultSnapshotInterval = 30 * time.Second
	defaultShutdownTimeout  = 10 * time.Second
	defaultBackground       = "warmup"
	defaultHintPolicy       = "hints"
	// snapshotName is the index snapshot's file in the flat directory
	// when --snapshot is not given: '@' is in no namespace, so the store
	// never takes it (or its temporary files) for one of its own.
	snapshotName = "@kvprefetch.index"
)

// serveConfig is what serve runs: the config file's values, then the
// flags given on the command line over them.
type serveConfig struct {
	listen           string
	flat, cold       string
	flatBudget       int64
	admission        string
	namespace        string
	tokenFile        string
	snapshot         string
	snapshotInterval time.Duration
	shutdownTimeout  time.Duration
	maxBlockBytes    int64
	maxHintBlocks    int
	// countHalfLife, above 0, has the index keep decayed access counts
	// (index.Options.CountHalfLife), for a policy ranking by them.
	countHalfLife time.Duration
	// background and hints name each pipeline's policy: a preset name
	// (policy.PresetNames), a spec file, "none", or (from the config
	// file) an inline spec.
	background, hints policyRef
}

// policyRef is where a pipeline's policy comes from.
type policyRef struct {
	name   string          // preset name, file path or "none"
	inline json.RawMessage // an inline spec from the config file
	from   string          // for messages: the flag or the config field
}

// serveFile is the config file: JSON, every field optional, unknown
// fields refused.
type serveFile struct {
	Listen           string          `json:"listen"`
	Flat             string          `json:"flat"`
	Cold             string          `json:"cold"`
	FlatBudget       json.RawMessage `json:"flat_budget"`
	Admission        string          `json:"admission"`
	Namespace        string          `json:"namespace"`
	TokenFile        string          `json:"token_file"`
	Snapshot         string          `json:"snapshot"`
	SnapshotInterval string          `json:"snapshot_interval"`
	ShutdownTimeout  string          `json:"shutdown_timeout"`
	MaxBlockBytes    json.RawMessage `json:"max_block_bytes"`
	MaxHintBlocks    int             `json:"max_hint_blocks"`
	CountHalfLife    string          `json:"count_half_life"`
	Background       json.RawMessage `json:"background"`
	Hints            json.RawMessage `json:"hints"`
}

const serveUsage = `Usage: kvprefetch serve --flat DIR --cold URL [flags]

Runs the prefetcher as a node-local HTTP service (see docs/openapi.json):
blocks PUT/GET/HEAD at /v1/blocks/{namespace}/{key}, hints at /v1/hints,
/v1/status, /metrics, /healthz, /readyz. It binds 127.0.0.1 by default.
SIGTERM or Ctrl-C drains it: it stops accepting, finishes the requests in
flight (within --shutdown-timeout), stops the pipelines, writes the index
snapshot and closes the store.

A config file (--config, JSON) sets the same values; a flag given on the
command line wins over it. Its fields: listen, flat, cold, flat_budget,
admission, namespace, token_file, snapshot, snapshot_interval,
shutdown_timeout, max_block_bytes, max_hint_blocks, and background and
hints: a preset name, a policy spec file, "none", or an inline policy
spec (the format of package policy).

Flags:
`

// parseServeFlags parses serve's flags and its config file.
func parseServeFlags(args []string, stderr io.Writer) (*serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveUsage); fs.PrintDefaults() }
	var (
		configFile = fs.String("config", "", "the config `FILE` (JSON; the flags given win over it)")
		listen     = fs.String("listen", defaultServeListen, "the `ADDR` to listen on (host:port; port 0 picks one)")
		flat       = fs.String("flat", "", "the flat tier's `DIR` (required)")
		cold       = fs.String("cold", "", "the cold tier's `URL`: file:///dir, mem://, s3://bucket?region=... (required)")
		flatBudget = sizeFlag(store.DefaultFlatBudget)
		admission  = fs.String("admission", "", "where prefetched blocks enter flat's order: mru, lru, probation:F, guess:F:TTL (default: the background policy's, else mru)")
		namespace  = fs.String("namespace", pipeline.DefaultNamespace, "the `NAMESPACE` the pipelines prefetch")
		tokenFile  = fs.String("token-file", "", "a `FILE` holding the bearer token the write and hint routes require (default: none required)")
		snapshot   = fs.String("snapshot", "", "the index snapshot `FILE` (default: "+snapshotName+" in the flat directory)")
		snapEvery  = fs.Duration("snapshot-interval", defaultSnapshotInterval, "how often to write the index snapshot")
		shutdown   = fs.Duration("shutdown-timeout", defaultShutdownTimeout, "how long requests in flight may take to finish at shutdown")
		maxBlock   = sizeFlag(server.DefaultMaxBlockBytes)
		maxHints   = fs.Int("max-hint-blocks", server.DefaultMaxHintBlocks, "the most blocks one hint request may name")
		background = fs.String("background", defaultBackground, "the background `POLICY`: a preset ("+strings.Join(policy.PresetNames(), ", ")+"), a spec file, or none")
		hints      = fs.String("hints", defaultHintPolicy, "the hint `POLICY`: a preset, a spec file, or none")
	)
	var countHL time.Duration
	countHalfLifeFlag(fs, &countHL)
	fs.Var(&flatBudget, "flat-budget", "the flat tier's byte budget (e.g. 1GiB)")
	fs.Var(&maxBlock, "max-block-bytes", "the largest block a PUT takes (the flat budget caps it too)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	c := &serveConfig{
		listen: defaultServeListen, flatBudget: store.DefaultFlatBudget, namespace: pipeline.DefaultNamespace,
		snapshotInterval: defaultSnapshotInterval, shutdownTimeout: defaultShutdownTimeout,
		maxBlockBytes: server.DefaultMaxBlockBytes, maxHintBlocks: server.DefaultMaxHintBlocks,
		background: policyRef{name: defaultBackground, from: "--background"},
		hints:      policyRef{name: defaultHintPolicy, from: "--hints"},
	}
	if *configFile != "" {
		if err := c.readFile(*configFile); err != nil {
			return nil, usageError{err}
		}
	}
	set := func(name string, f func()) {
		if given[name] {
			f()
		}
	}
	set("listen", func() { c.listen = *listen })
	set("flat", func() { c.flat = *flat })
	set("cold", func() { c.cold = *cold })
	set("flat-budget", func() { c.flatBudget = int64(flatBudget) })
	set("admission", func() { c.admission = *admission })
	set("namespace", func() { c.namespace = *namespace })
	set("token-file", func() { c.tokenFile = *tokenFile })
	set("snapshot", func() { c.snapshot = *snapshot })
	set("snapshot-interval", func() { c.snapshotInterval = *snapEvery })
	set("shutdown-timeout", func() { c.shutdownTimeout = *shutdown })
	set("max-block-bytes", func() { c.maxBlockBytes = int64(maxBlock) })
	set("max-hint-blocks", func() { c.maxHintBlocks = *maxHints })
	set("background", func() { c.background = policyRef{name: *background, from: "--background"} })
	set("hints", func() { c.hints = policyRef{name: *hints, from: "--hints"} })
	set("count-half-life", func() { c.countHalfLife = countHL })
	if c.snapshot == "" && c.flat != "" {
		c.snapshot = filepath.Join(c.flat, snapshotName)
	}
	if err := c.validate(); err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// readFile reads the config file path into c.
func (c *serveConfig) readFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("serve: --config: %w", err)
	}
	var f serveFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("serve: --config %s: %w (the fields: listen, flat, cold, flat_budget, admission, namespace, token_file, snapshot, snapshot_interval, shutdown_timeout, max_block_bytes, max_hint_blocks, count_half_life, background, hints)", path, err)
	}
	var errs []error
	bad := func(field string, err error) {
		errs = append(errs, fmt.Errorf("serve: --config %s: %s: %w", path, field, err))
	}
	str := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	str(&c.listen, f.Listen)
	str(&c.flat, f.Flat)
	str(&c.cold, f.Cold)
	str(&c.admission, f.Admission)
	str(&c.namespace, f.Namespace)
	str(&c.tokenFile, f.TokenFile)
	str(&c.snapshot, f.Snapshot)
	size := func(field string, dst *int64, raw json.RawMessage) {
		if raw == nil {
			return
		}
		var n int64
		if json.Unmarshal(raw, &n) == nil {
			*dst = n
			return
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			bad(field, fmt.Errorf("%s: want bytes, or a string such as \"1GiB\"", raw))
			return
		}
		n, err := parseSize(s)
		if err != nil {
			bad(field, err)
			return
		}
		*dst = n
	}
	size("flat_budget", &c.flatBudget, f.FlatBudget)
	size("max_block_bytes", &c.maxBlockBytes, f.MaxBlockBytes)
	dur := func(field string, dst *time.Duration, s string) {
		if s == "" {
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			bad(field, fmt.Errorf("%q: want a duration such as \"30s\"", s))
			return
		}
		*dst = d
	}
	dur("snapshot_interval", &c.snapshotInterval, f.SnapshotInterval)
	dur("shutdown_timeout", &c.shutdownTimeout, f.ShutdownTimeout)
	dur("count_half_life", &c.countHalfLife, f.CountHalfLife)
	if f.MaxHintBlocks != 0 {
		c.maxHintBlocks = f.MaxHintBlocks
	}
	pol := func(field string, dst *policyRef, raw json.RawMessage) {
		if raw == nil {
			return
		}
		from := path + ": " + field
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if s != "none" && !slices.Contains(policy.PresetNames(), s) && !filepath.IsAbs(s) {
				s = filepath.Join(filepath.Dir(path), s) // a spec file beside the config
			}
			*dst = policyRef{name: s, from: from}
			return
		}
		if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			*dst = policyRef{inline: raw, from: from}
			return
		}
		bad(field, fmt.Errorf("%s: want a preset name, a spec file, \"none\" or a spec object", raw))
	}
	pol("background", &c.background, f.Background)
	pol("hints", &c.hints, f.Hints)
	return errors.Join(errs...)
}

// validate reports every problem with c at once, naming its flag.
func (c *serveConfig) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("serve: "+format, args...)) }
	if c.flat == "" {
		bad("--flat is missing, want the flat tier's directory")
	}
	if c.cold == "" {
		bad("--cold is missing, want the cold tier's URL (file:///dir, mem://, s3://bucket?region=...)")
	}
	if c.flatBudget <= 0 {
		bad("--flat-budget = %d, want > 0 bytes", c.flatBudget)
	}
	if c.maxBlockBytes <= 0 {
		bad("--max-block-bytes = %d, want > 0 bytes", c.maxBlockBytes)
	}
	if c.maxHintBlocks <= 0 {
		bad("--max-hint-blocks = %d, want >= 1", c.maxHintBlocks)
	}
	if err := block.ValidateNamespace(c.namespace); err != nil {
		bad("--namespace: %v", err)
	}
	if c.snapshotInterval <= 0 {
		bad("--snapshot-interval = %v, want > 0", c.snapshotInterval)
	}
	if c.shutdownTimeout <= 0 {
		bad("--shutdown-timeout = %v, want > 0", c.shutdownTimeout)
	}
	if msg := checkCountHalfLife(c.countHalfLife); msg != "" {
		bad("%s", msg)
	}
	return errors.Join(errs...)
}

// spec returns the policy r names, or nil for "none".
func (r policyRef) spec() (*policy.Spec, error) {
	switch {
	case r.inline != nil:
		s, err := policy.Parse(r.from, r.inline, policy.Builtin())
		if err != nil {
			return nil, usageError{err}
		}
		return s, nil
	case r.name == "none":
		return nil, nil
	case slices.Contains(policy.PresetNames(), r.name):
		return policy.Preset(r.name)
	}
	s, err := policy.Load(r.name, policy.Builtin())
	if err != nil {
		return nil, usageError{fmt.Errorf("serve: %s: %w (want a preset, one of %s, a spec file, or none)", r.from, err, strings.Join(policy.PresetNames(), ", "))}
	}
	return s, nil
}

// readToken reads the bearer token from path: the file's content less
// surrounding white space, which must leave something.
func readToken(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("serve: --token-file: %w", err)
	}
	tok := bytes.TrimSpace(data)
	if len(tok) == 0 {
		return nil, fmt.Errorf("serve: --token-file %s is empty, want the token", path)
	}
	return tok, nil
}
