package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/wombatkv/prefetch/internal/joined"
	"github.com/wombatkv/prefetch/pipeline"
)

// Ref is a stage named in a spec, of kind S (pipeline.Source, Scorer,
// Selector, Filter, Fetcher or Emitter): either its name alone,
//
//	"heap"
//
// or its name and params,
//
//	{"stage": "parallel", "params": {"limit": 4}}
//
// The spec's own stages are Refs, and a stage that holds others (the
// "weighted" scorer's terms, the "room-gate" source's source) takes them as
// Refs in its params: they are decoded and checked with the spec, against
// the same registry, and built by their holder's constructor with
// [Ref.Build].
type Ref[S any] struct{ n *node }

// Name returns the stage's registered name, or "" when the spec left the
// field out (a params Validate method reports that when it matters).
func (r Ref[S]) Name() string {
	if r.n == nil {
		return ""
	}
	return r.n.name
}

// Build builds the stage against env: its constructor's result, validated
// if it implements [pipeline.Validator], with every error located at the
// stage's field path in the spec. A constructor may return a nil stage
// (and Build then does too).
func (r Ref[S]) Build(env Env) (S, error) {
	var zero S
	if r.n == nil {
		return zero, errors.New("policy: Build of an empty Ref (a params Validate method should report the missing stage: check Ref.Name)")
	}
	v, err := r.n.build(env)
	if err != nil {
		return zero, err
	}
	s, _ := v.(S)
	return s, nil
}

func (r *Ref[S]) stageKind() pipeline.Stage { return kindOf[S]() }

func (r *Ref[S]) decodeRef(d *decoder, raw json.RawMessage, path string) {
	kind := kindOf[S]()
	if kind == "" {
		var s S
		d.fail(path, "policy: a Ref[%T] is not a stage, want Ref of pipeline.Source, Scorer, Selector, Filter, Fetcher or Emitter", s)
		return
	}
	r.n = d.stage(kind, raw, path)
}

// node is one stage of a parsed spec.
type node struct {
	file, path string
	kind       pipeline.Stage
	name       string
	e          entry
	params     any
}

// build calls n's constructor and validates what it returns.
func (n *node) build(env Env) (any, error) {
	s, err := n.e.build(n.params, env)
	if err != nil {
		return nil, locate(n.file, n.path, err)
	}
	if v, ok := s.(pipeline.Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, locate(n.file, n.path, err)
		}
	}
	return s, nil
}

// stage decodes the stage of the given kind at path: a name, or an object
// {"stage": name, "params": {...}}. It returns nil when the stage is not
// usable (an unknown name, bad params); the problems are recorded.
func (d *decoder) stage(kind pipeline.Stage, raw json.RawMessage, path string) *node {
	known := d.reg.Names(kind)
	var name string
	var params json.RawMessage
	namePath := path
	switch raw[0] {
	case '"':
		if json.Unmarshal(raw, &name) != nil {
			d.fail(path, "want %s, got %s", wantStage(kind, known), show(raw))
			return nil
		}
	case '{':
		ms, _ := members(raw)
		seen := map[string]bool{}
		gotName := false
		for _, m := range ms {
			p := join(path, m.key)
			if seen[m.key] {
				d.fail(p, "given twice, want each field once")
				continue
			}
			seen[m.key] = true
			switch m.key {
			case "stage":
				if json.Unmarshal(m.val, &name) != nil {
					d.fail(p, "want the %s's name, one of %s, got %s", kind, orNone(known), show(m.val))
					return nil
				}
				gotName = true
			case "params":
				params = m.val
			default:
				d.fail(p, "unknown field, %s", wantKey(m.key, []string{"params", "stage"}))
			}
		}
		namePath = join(path, "stage")
		if !gotName {
			d.fail(namePath, "missing, want the %s's name, one of %s", kind, orNone(known))
			return nil
		}
	default:
		d.fail(path, "want %s, got %s", wantStage(kind, known), show(raw))
		return nil
	}
	e, ok := d.reg.kinds[kind][name]
	if !ok {
		msg := fmt.Sprintf("unknown %s %q, want one of %s", kind, name, orNone(known))
		if near := nearest(name, known); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		d.fail(namePath, "%s", msg)
		return nil
	}
	before := len(d.errs)
	pv := reflect.New(e.params).Elem()
	paramsPath := join(path, "params")
	params = bytes.TrimSpace(params)
	switch {
	case len(params) == 0 || string(params) == "null":
	case e.params.Kind() == reflect.Struct && e.params.NumField() == 0:
		if ms, ok := members(params); !ok || len(ms) > 0 {
			d.fail(paramsPath, "%s %q takes no params, got %s", kind, name, show(params))
		}
	default:
		d.value(params, pv, paramsPath)
	}
	if len(d.errs) > before {
		return nil
	}
	if v, ok := pv.Addr().Interface().(interface{ Validate() error }); ok {
		for _, err := range joined.Split(v.Validate()) {
			d.errs = append(d.errs, &fieldError{file: d.file, path: paramsPath, err: err, glue: glued(err.Error(), pv.Type())})
		}
		if len(d.errs) > before {
			return nil
		}
	}
	n := &node{file: d.file, path: path, kind: kind, name: name, e: e, params: pv.Interface()}
	d.nodes = append(d.nodes, n)
	return n
}

// glued reports whether a params Validate message starts with one of the
// params' JSON keys ("limit: want >= 0"), so that it is reported glued to
// the params' path with a dot: "fetcher.params.limit: want >= 0".
func glued(msg string, t reflect.Type) bool {
	key := msg
	if i := strings.IndexAny(msg, ":.[ "); i >= 0 {
		key = msg[:i]
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	_, ok := fieldsOf(t)[key]
	return ok
}

func wantStage(kind pipeline.Stage, known []string) string {
	eg := map[pipeline.Stage]string{
		pipeline.StageSource: "index", pipeline.StageScorer: "rfc0008", pipeline.StageSelector: "heap",
		pipeline.StageFilter: "already-flat", pipeline.StageFetcher: "parallel", pipeline.StageEmitter: "myelon",
	}[kind]
	if !slices.Contains(known, eg) {
		eg = "name"
		if len(known) > 0 {
			eg = known[0]
		}
	}
	return fmt.Sprintf(`a %s: one of %s, as "%s" or {"stage": "%s", "params": {...}}`, kind, orNone(known), eg, eg)
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "(none registered)"
	}
	return strings.Join(names, ", ")
}
