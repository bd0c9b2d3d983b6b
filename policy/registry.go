package policy

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/wombatkv/prefetch/pipeline"
)

// Registry maps stage names to their constructors, one namespace per kind
// of stage (sources, scorers, selectors, filters, fetchers, emitters): a
// spec can name only the stages its registry knows. [Builtin] returns one
// that knows the module's stages; the zero Registry knows none. Register a
// team's own stage under a name of its own, then parse specs with the
// registry:
//
//	r := policy.Builtin()
//	err := r.RegisterScorer("acme/freq", policy.Typed(newFreq))
//
// Register before parsing: a Registry is not safe for registration
// concurrent with its use. A parsed [Spec] keeps the constructors it was
// parsed with.
type Registry struct {
	kinds map[pipeline.Stage]map[string]entry
}

// entry is one registered stage.
type entry struct {
	params     reflect.Type
	build      func(params any, env Env) (any, error)
	readsHints bool
}

// Constructor makes one kind of stage from its decoded params and the
// [Env] the spec is built against. Make one with [Typed].
type Constructor[S any] struct {
	params reflect.Type
	build  func(params any, env Env) (S, error)
}

// Typed returns the constructor of a stage whose params decode into a P,
// a struct whose JSON keys are its fields' json tags (a time.Duration
// takes a string like "10m"; a [Ref] names a nested stage; a type with
// its own UnmarshalJSON decodes itself). A spec's params are decoded when
// it is parsed, as strictly as a json.Decoder with DisallowUnknownFields
// and more so: an unknown key, a key given twice (keys match exactly, not
// case-insensitively) or a value of the wrong type is an error naming its
// field path, and all are reported, not the first. A stage that takes no
// params uses struct{}; one that decodes its own uses json.RawMessage. A param a spec leaves out keeps P's zero
// value, so a zero field should mean its default (use a pointer where zero
// is a value of its own, as a weight is).
//
// If *P has a method Validate() error, it is called once P is decoded,
// also when the spec is parsed; each error it returns (errors.Join them)
// should read "key: what is wrong, what is wanted", naming the field by
// its JSON key, and is reported at the field's path:
//
//	team.json: scorer.params.per_hit: want > 0, got 0
//
// build is called by [Spec.Build], once per build: a stage with state (a
// backoff, a budget) is new in each pipeline built. It must not modify p.
// It may return a nil filter or emitter to leave it out (as the module's
// "myelon" emitter does when Env.InstrLog is nil); the stage it returns
// is validated if it implements [pipeline.Validator], and its problems
// reported at its path.
func Typed[P, S any](build func(p P, env Env) (S, error)) Constructor[S] {
	return Constructor[S]{
		params: reflect.TypeFor[P](),
		build:  func(p any, env Env) (S, error) { return build(p.(P), env) },
	}
}

// Option changes how a stage is registered.
type Option struct{ readsHints bool }

// ReadsHints marks a stage that reads Env.Hints, so that
// [Spec.UsesHints] reports a spec that names it: its caller then creates
// the intake, feeds it and wires it to the worker.
func ReadsHints() Option { return Option{readsHints: true} }

// RegisterSource registers a source under name (see [Registry.RegisterScorer]).
func (r *Registry) RegisterSource(name string, c Constructor[pipeline.Source], opts ...Option) error {
	return register(r, pipeline.StageSource, name, c, opts)
}

// RegisterScorer registers a scorer under name. A name is made of letters,
// digits and the characters - _ . / : (a team's own stages can be
// "acme/freq"), unique among the registry's scorers. It fails when the name
// is taken or malformed, or c is the zero Constructor.
func (r *Registry) RegisterScorer(name string, c Constructor[pipeline.Scorer], opts ...Option) error {
	return register(r, pipeline.StageScorer, name, c, opts)
}

// RegisterSelector registers a selector under name (see [Registry.RegisterScorer]).
func (r *Registry) RegisterSelector(name string, c Constructor[pipeline.Selector], opts ...Option) error {
	return register(r, pipeline.StageSelector, name, c, opts)
}

// RegisterFilter registers a filter under name (see
// [Registry.RegisterScorer]); a spec lists it in pre_filters or filters.
func (r *Registry) RegisterFilter(name string, c Constructor[pipeline.Filter], opts ...Option) error {
	return register(r, pipeline.StageFilter, name, c, opts)
}

// RegisterFetcher registers a fetcher under name (see [Registry.RegisterScorer]).
func (r *Registry) RegisterFetcher(name string, c Constructor[pipeline.Fetcher], opts ...Option) error {
	return register(r, pipeline.StageFetcher, name, c, opts)
}

// RegisterEmitter registers an emitter under name (see [Registry.RegisterScorer]).
func (r *Registry) RegisterEmitter(name string, c Constructor[pipeline.Emitter], opts ...Option) error {
	return register(r, pipeline.StageEmitter, name, c, opts)
}

func register[S any](r *Registry, kind pipeline.Stage, name string, c Constructor[S], opts []Option) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("policy: %s name %q: %w", kind, name, err)
	}
	if c.build == nil {
		return fmt.Errorf("policy: %s %q: the Constructor is zero, want one from policy.Typed", kind, name)
	}
	if _, ok := r.kinds[kind][name]; ok {
		return fmt.Errorf("policy: %s %q is already registered, want a name of its own", kind, name)
	}
	e := entry{
		params: c.params,
		build: func(p any, env Env) (any, error) {
			s, err := c.build(p, env)
			return s, err // a nil S (an interface) is a nil any
		},
	}
	for _, o := range opts {
		e.readsHints = e.readsHints || o.readsHints
	}
	if r.kinds == nil {
		r.kinds = map[pipeline.Stage]map[string]entry{}
	}
	if r.kinds[kind] == nil {
		r.kinds[kind] = map[string]entry{}
	}
	r.kinds[kind][name] = e
	return nil
}

func checkName(name string) error {
	if name == "" {
		return errors.New("empty, want a name such as \"acme/freq\"")
	}
	if len(name) > 128 {
		return errors.New("longer than 128 bytes")
	}
	for _, c := range name {
		if c > unicode.MaxASCII || !(unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune("-_./:", c)) {
			return fmt.Errorf("has %q, want letters, digits and - _ . / : only", c)
		}
	}
	return nil
}

// Names returns the names of the stages of the given kind that r knows
// (pipeline.StageSource, StageScorer, StageSelector, StageFilter,
// StageFetcher or StageEmitter), sorted.
func (r *Registry) Names(kind pipeline.Stage) []string {
	return slices.Sorted(maps.Keys(r.kinds[kind]))
}

// kindOf returns the kind of stage S is, or "" when S is not one of the
// six stage interfaces.
func kindOf[S any]() pipeline.Stage {
	switch any((*S)(nil)).(type) {
	case *pipeline.Source:
		return pipeline.StageSource
	case *pipeline.Scorer:
		return pipeline.StageScorer
	case *pipeline.Selector:
		return pipeline.StageSelector
	case *pipeline.Filter:
		return pipeline.StageFilter
	case *pipeline.Fetcher:
		return pipeline.StageFetcher
	case *pipeline.Emitter:
		return pipeline.StageEmitter
	}
	return ""
}
