package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/filter"
	topk "github.com/wombatkv/prefetch/stages/select"
)

// MaxFileSize bounds a spec file: a policy is a few hundred bytes, and a
// larger file is likely something else (a trace) given by mistake.
const MaxFileSize = 1 << 20

// Spec is a parsed policy: the stages of a cycle and their settings, each
// stage's params decoded and checked. Build it against an [Env] for each
// pipeline; a Spec is not modified after Parse and is safe for concurrent
// use.
type Spec struct {
	name  string
	f     file
	nodes []*node
}

// file is a spec file's JSON: see the package doc for the format.
type file struct {
	About             string                  `json:"about"`
	Interval          time.Duration           `json:"interval"`
	TopK              int                     `json:"top_k"`
	Namespace         string                  `json:"namespace"`
	FetchTimeout      time.Duration           `json:"fetch_timeout"`
	CycleFetchTimeout time.Duration           `json:"cycle_fetch_timeout"`
	CycleByteBudget   byteSize                `json:"cycle_byte_budget"`
	Admission         *string                 `json:"admission"`
	Sources           []Ref[pipeline.Source]  `json:"sources"`
	Scorer            Ref[pipeline.Scorer]    `json:"scorer"`
	Selector          Ref[pipeline.Selector]  `json:"selector"`
	PreFilters        []Ref[pipeline.Filter]  `json:"pre_filters"`
	Filters           []Ref[pipeline.Filter]  `json:"filters"`
	Fetcher           Ref[pipeline.Fetcher]   `json:"fetcher"`
	Emitters          []Ref[pipeline.Emitter] `json:"emitters"`
}

// Load reads and parses the spec file at path (see [Parse]); errors name
// the file as path.
func Load(path string, r *Registry) (*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes, want a policy file (a JSON object of a few hundred bytes)", path, MaxFileSize)
	}
	return Parse(path, data, r)
}

// Parse parses the spec data, named name in errors (its file name), with
// the stages r knows (nil means [Builtin]). It reports every problem at
// once, joined with errors.Join, each naming the file, the field path and
// what is wanted:
//
//	policy.json: scorer.params.half_life: want a duration like "10m", got 12
//	policy.json: filters[1]: unknown filter "already_flat", want one of already-flat, backoff, budget, free-room, not-in-flight (did you mean "already-flat"?)
//	policy.json: fetcher.params.limt: unknown field, want one of limit (did you mean "limit"?)
func Parse(name string, data []byte, r *Registry) (*Spec, error) {
	if r == nil {
		r = Builtin()
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, syntaxError(name, data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		off := dec.InputOffset()
		return nil, fmt.Errorf("%s:%s: more after the policy's JSON object, want one object alone", name, lineCol(data, off))
	}
	d := &decoder{file: name, reg: r}
	s := &Spec{name: name}
	if raw = bytes.TrimSpace(raw); raw[0] != '{' {
		d.fail("", "want a JSON object (a policy), got %s", show(raw))
	} else {
		d.object(raw, reflect.ValueOf(&s.f).Elem(), "")
		d.check(&s.f)
	}
	if err := errors.Join(d.errs...); err != nil {
		return nil, err
	}
	s.nodes = d.nodes
	return s, nil
}

// check reports what is wrong with f's own settings, as pipeline.Config's
// Validate would, in the spec's terms.
func (d *decoder) check(f *file) {
	if f.Interval < 0 {
		d.fail("interval", "want > 0 (leave it out for the default, %v), got %v", pipeline.DefaultInterval, f.Interval)
	}
	if f.TopK < 0 || f.TopK > pipeline.MaxTopK {
		d.fail("top_k", "want 1 to %d (leave it out for the default, %d), got %d", pipeline.MaxTopK, pipeline.DefaultTopK, f.TopK)
	}
	if f.Namespace != "" {
		if err := block.ValidateNamespace(f.Namespace); err != nil {
			d.fail("namespace", "%w (leave it out for the default, %q)", err, pipeline.DefaultNamespace)
		}
	}
	fetch := f.FetchTimeout
	if fetch < 0 {
		d.fail("fetch_timeout", "want > 0 (leave it out for the default, %v), got %v", pipeline.DefaultFetchTimeout, fetch)
	}
	if fetch <= 0 {
		fetch = pipeline.DefaultFetchTimeout
	}
	if c := f.CycleFetchTimeout; c < 0 || c > 0 && c < fetch {
		d.fail("cycle_fetch_timeout", "want >= fetch_timeout (%v) (leave it out for the default, 2 x fetch_timeout), got %v", fetch, c)
	}
	if f.Admission != nil && strings.TrimSpace(*f.Admission) == "" {
		d.fail("admission", `want where the store admits a prefetched block, e.g. "mru", "lru" or "probation:0.1" (leave it out for the store's default), got %q`, *f.Admission)
	}
	if len(f.Sources) == 0 {
		d.fail("sources", `missing, want at least one source, e.g. ["index"]: one of %s`, orNone(d.reg.Names(pipeline.StageSource)))
	}
	if f.Scorer.n == nil && !d.has("scorer") {
		d.fail("scorer", `missing, want a scorer, e.g. "rfc0008": one of %s`, orNone(d.reg.Names(pipeline.StageScorer)))
	}
}

// has reports whether an error was recorded at path or below it.
func (d *decoder) has(path string) bool {
	for _, err := range d.errs {
		if fe := (*fieldError)(nil); errors.As(err, &fe) && (fe.path == path || strings.HasPrefix(fe.path, path+".")) {
			return true
		}
	}
	return false
}

func syntaxError(name string, data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%s:%s: %s, want a JSON object", name, lineCol(data, se.Offset), strings.TrimPrefix(se.Error(), "json: "))
	case errors.As(err, &te):
		return fmt.Errorf("%s:%s: %s", name, lineCol(data, te.Offset), strings.TrimPrefix(te.Error(), "json: "))
	case err == io.EOF:
		return fmt.Errorf("%s: empty, want a JSON object (a policy)", name)
	case err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%s: ends inside its JSON, want a whole JSON object", name)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// lineCol returns the 1-based line and column of byte offset off in data.
func lineCol(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("%d:%d", line, col)
}

// Name returns the name the spec was parsed under (its file name).
func (s *Spec) Name() string { return s.name }

// About returns the spec's "about" text: a line saying what the policy
// does, for listings.
func (s *Spec) About() string { return s.f.About }

// Admission returns where the store should admit the blocks this policy
// prefetches, as the spec's "admission" gives it ("mru", "lru",
// "probation:0.1", ...), or "" when the spec leaves it to the store's
// default. The policy package carries the string through unparsed: the
// store and the replay lab interpret it.
func (s *Spec) Admission() string {
	if s.f.Admission == nil {
		return ""
	}
	return *s.f.Admission
}

// UsesHints reports whether a stage of the spec reads Env.Hints (the
// "hints" source, the "deadline" scorer, or a stage registered with
// [ReadsHints]). A caller then creates the intake (snapshot.NewHints),
// gives it as Env.Hints, feeds it the blocks of the requests it knows
// about, and wires its notify function to the worker's Wake, as
// [Spec.Worker] does.
func (s *Spec) UsesHints() bool {
	for _, n := range s.nodes {
		if n.e.readsHints {
			return true
		}
	}
	return false
}

// Build returns the pipeline.Config of the spec over env: each stage made
// by its constructor (stateful ones new for this config), the spec's
// settings, and env's Clock and Logger. Fields the spec leaves out stay
// zero, so pipeline.New fills the defaults; a caller that overrides a
// setting from its own flags sets the field before pipeline.New. It
// reports every stage whose needs env does not meet at once, each at its
// field path:
//
//	policy.json: fetcher: sequential needs Env.Store (the tiers it fetches between), which is nil
//
// The spec's emitters come first, then env.Emitters: with several, or
// with env.Emitters, cfg.Emitter is an emit.Multi. A spec without a
// selector gets topk.Heap, the presets' choice; one without a fetcher is a
// dry run.
func (s *Spec) Build(env Env) (pipeline.Config, error) {
	var errs []error
	cfg := pipeline.Config{
		Interval:          s.f.Interval,
		TopK:              s.f.TopK,
		Namespace:         s.f.Namespace,
		FetchTimeout:      s.f.FetchTimeout,
		CycleFetchTimeout: s.f.CycleFetchTimeout,
		CycleByteBudget:   int64(s.f.CycleByteBudget),
		Clock:             env.Clock,
		Logger:            env.Logger,
	}
	required := func(n *node, v any, err error) bool {
		switch {
		case err != nil:
			errs = append(errs, err)
		case v == nil:
			errs = append(errs, &fieldError{file: s.name, path: n.path, err: fmt.Errorf("%s %q built nothing, want a %s", n.kind, n.name, n.kind)})
		default:
			return true
		}
		return false
	}
	for _, r := range s.f.Sources {
		if src, err := r.Build(env); required(r.n, src, err) {
			cfg.Sources = append(cfg.Sources, src)
		}
	}
	if sc, err := s.f.Scorer.Build(env); required(s.f.Scorer.n, sc, err) {
		cfg.Scorer = sc
	}
	cfg.Selector = topk.Heap{}
	if s.f.Selector.n != nil {
		if sel, err := s.f.Selector.Build(env); required(s.f.Selector.n, sel, err) {
			cfg.Selector = sel
		}
	}
	filters := func(refs []Ref[pipeline.Filter]) []pipeline.Filter {
		var out []pipeline.Filter
		for _, r := range refs {
			f, err := r.Build(env)
			if err != nil {
				errs = append(errs, err)
			} else if f != nil {
				out = append(out, f)
			}
		}
		return out
	}
	cfg.PreFilters = filters(s.f.PreFilters)
	cfg.Filters = filters(s.f.Filters)
	if env.Hints != nil && s.UsesHints() {
		// As the hint preset does: the intake learns which hinted blocks
		// were found in flat (served, not expired).
		for _, fs := range [][]pipeline.Filter{cfg.PreFilters, cfg.Filters} {
			for _, f := range fs {
				if af, ok := f.(*filter.AlreadyFlat); ok {
					af.Flat = env.Hints.WatchFlat(af.Flat)
				}
			}
		}
	}
	if s.f.Fetcher.n != nil {
		f, err := s.f.Fetcher.Build(env)
		if err != nil {
			errs = append(errs, err)
		}
		cfg.Fetcher = f
	}
	var emitters []pipeline.Emitter
	for _, r := range s.f.Emitters {
		e, err := r.Build(env)
		if err != nil {
			errs = append(errs, err)
		} else if e != nil {
			emitters = append(emitters, e)
		}
	}
	switch {
	case len(env.Emitters) > 0:
		cfg.Emitter = append(emit.Multi(emitters), env.Emitters...)
	case len(emitters) == 1:
		cfg.Emitter = emitters[0]
	case len(emitters) > 1:
		cfg.Emitter = emit.Multi(emitters)
	}
	if err := errors.Join(errs...); err != nil {
		return pipeline.Config{}, err
	}
	return cfg, nil
}

// Worker returns a stopped worker running the spec's pipeline over env.
// When the spec uses hints and env.Hints is set, the intake's notify
// function is set to the worker's Wake (as presets.Worker does): a
// hint starts a cycle at once, and hints that arrive while a cycle runs
// coalesce into one more. Errors from pipeline.New name the spec.
func (s *Spec) Worker(env Env) (*pipeline.Worker, error) {
	cfg, err := s.Build(env)
	if err != nil {
		return nil, err
	}
	p, err := pipeline.New(cfg)
	if err != nil {
		return nil, locate(s.name, "", err)
	}
	w := pipeline.NewWorker(p)
	if s.UsesHints() && env.Hints != nil {
		env.Hints.SetNotify(w.Wake)
	}
	return w, nil
}

// byteSize is a number of bytes: a JSON integer, or a string with a unit
// ("64MiB", "1.5GB", "4096B").
type byteSize int64

var units = []struct {
	suffix string
	n      float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

const wantSize = `want a size in bytes >= 0: an integer or a string like "64MiB" (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`

func (b *byteSize) UnmarshalJSON(data []byte) error {
	var n int64
	if json.Unmarshal(data, &n) == nil {
		if n < 0 {
			return fmt.Errorf("%s, got %s", wantSize, show(data))
		}
		*b = byteSize(n)
		return nil
	}
	var s string
	if json.Unmarshal(data, &s) != nil {
		return fmt.Errorf("%s, got %s", wantSize, show(data))
	}
	num, mult := strings.TrimSpace(s), 1.0
	for _, u := range units {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.n
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	v := f * mult
	if err != nil || num == "" || strings.ContainsAny(num, "eEnNiI+_xXpP") || !(v >= 0 && v < 1<<63) || v != float64(int64(v)) {
		return fmt.Errorf("%s, got %s", wantSize, show(data))
	}
	*b = byteSize(v)
	return nil
}
