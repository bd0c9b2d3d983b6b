package policy

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wombatkv/prefetch/internal/joined"
	"github.com/wombatkv/prefetch/pipeline"
)

// fieldError is a problem with a spec, located: the spec's name (its file),
// the field path within it, and what was wrong.
type fieldError struct {
	file, path string
	err        error
	// glue joins path and err with a dot: err starts with the rest of the
	// path ("limit: want >= 0" at "fetcher.params").
	glue bool
}

func (e *fieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.file)
	if e.path != "" {
		b.WriteString(": ")
		b.WriteString(e.path)
	}
	if e.glue && e.path != "" {
		b.WriteString(".")
	} else {
		b.WriteString(": ")
	}
	b.WriteString(e.err.Error())
	return b.String()
}

func (e *fieldError) Unwrap() error { return e.err }

// locate returns err with each of its lines (see lines) located at path in
// file, but for those already located (a nested stage's).
func locate(file, path string, err error) error {
	var out []error
	for _, e := range joined.Split(err) {
		if fe := (*fieldError)(nil); errors.As(e, &fe) {
			out = append(out, e)
			continue
		}
		out = append(out, &fieldError{file: file, path: path, err: e})
	}
	return errors.Join(out...)
}

// decoder decodes a spec's JSON into typed Go values, field by field, so
// that it can report every problem at once, each with its field path. It
// is as strict as a json.Decoder with DisallowUnknownFields, and stricter:
// keys match exactly (not case-insensitively) and a key given twice is an
// error.
type decoder struct {
	file  string
	reg   *Registry
	errs  []error
	nodes []*node // every stage decoded, nested ones included
}

func (d *decoder) fail(path, format string, args ...any) {
	d.errs = append(d.errs, &fieldError{file: d.file, path: path, err: fmt.Errorf(format, args...)})
}

// refDecoder is implemented by *Ref[S]: a stage named in a spec.
type refDecoder interface {
	decodeRef(d *decoder, raw json.RawMessage, path string)
	stageKind() pipeline.Stage
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	refDecoderType  = reflect.TypeFor[refDecoder]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// value decodes raw into v, which must be settable, reporting problems at
// path. JSON null leaves v as it is, as encoding/json does.
func (d *decoder) value(raw json.RawMessage, v reflect.Value, path string) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return
	}
	t := v.Type()
	switch {
	case reflect.PointerTo(t).Implements(refDecoderType):
		v.Addr().Interface().(refDecoder).decodeRef(d, raw, path)
		return
	case t == durationType:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			d.fail(path, "want %s, got %s", want(t), show(raw))
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.fail(path, "want %s, got %s", want(t), show(raw))
			return
		}
		v.SetInt(int64(dur))
		return
	case t == rawMessageType:
		v.SetBytes(bytes.Clone(raw))
		return
	case reflect.PointerTo(t).Implements(unmarshalerType):
		if err := v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			d.fail(path, "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return
	case reflect.PointerTo(t).Implements(textType):
		var s string
		if json.Unmarshal(raw, &s) != nil {
			d.fail(path, "want a string, got %s", show(raw))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.fail(path, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.value(raw, v.Elem(), path)
	case reflect.Struct:
		d.object(raw, v, path)
	case reflect.Slice, reflect.Array:
		var elems []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
			d.fail(path, "want %s, got %s", want(t), show(raw))
			return
		}
		if t.Kind() == reflect.Array {
			if len(elems) != t.Len() {
				d.fail(path, "want an array of %d, got %d elements", t.Len(), len(elems))
				return
			}
		} else {
			v.Set(reflect.MakeSlice(t, len(elems), len(elems)))
		}
		for i, e := range elems {
			p := fmt.Sprintf("%s[%d]", path, i)
			if r, ok := v.Index(i).Addr().Interface().(refDecoder); ok && string(bytes.TrimSpace(e)) == "null" {
				// null leaves a field out, but a list of stages has no
				// place for "no stage".
				kind := r.stageKind()
				d.fail(p, "want %s, got null", wantStage(kind, d.reg.Names(kind)))
				continue
			}
			d.value(e, v.Index(i), p)
		}
	case reflect.Map:
		ms, ok := members(raw)
		if !ok || t.Key().Kind() != reflect.String {
			d.fail(path, "want %s, got %s", want(t), show(raw))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(t, len(ms)))
		}
		seen := make(map[string]bool, len(ms))
		for _, m := range ms {
			p := join(path, m.key)
			if seen[m.key] {
				d.fail(p, "given twice, want each key once")
				continue
			}
			seen[m.key] = true
			e := reflect.New(t.Elem()).Elem()
			d.value(m.val, e, p)
			v.SetMapIndex(reflect.ValueOf(m.key).Convert(t.Key()), e)
		}
	default:
		if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
			d.fail(path, "want %s, got %s", want(t), show(raw))
		}
	}
}

// object decodes the JSON object raw into the struct v, field by field.
func (d *decoder) object(raw json.RawMessage, v reflect.Value, path string) {
	ms, ok := members(raw)
	if !ok {
		d.fail(path, "want %s, got %s", want(v.Type()), show(raw))
		return
	}
	fields := fieldsOf(v.Type())
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		p := join(path, m.key)
		f, ok := fields[m.key]
		switch {
		case !ok:
			d.fail(p, "unknown field, %s", wantKey(m.key, slices.Sorted(mapKeys(fields))))
		case seen[m.key]:
			d.fail(p, "given twice, want each field once")
		default:
			seen[m.key] = true
			d.value(m.val, fieldByIndex(v, f), p)
		}
	}
}

// wantKey says which keys are allowed in place of key.
func wantKey(key string, known []string) string {
	if len(known) == 0 {
		return "want none here"
	}
	s := "want one of " + strings.Join(known, ", ")
	if near := nearest(key, known); near != "" {
		s += fmt.Sprintf(" (did you mean %q?)", near)
	}
	return s
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// fieldsOf maps the JSON keys of struct type t to its fields' indexes: an
// exported field's json tag name, else its Go name; "-" skips the field;
// an untagged embedded struct's fields are promoted, as in encoding/json.
func fieldsOf(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && indirect(f.Type).Kind() == reflect.Struct {
			continue // promoted: its fields follow
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := out[name]; !dup {
			out[name] = f.Index
		}
	}
	return out
}

func indirect(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

// fieldByIndex is v.FieldByIndex that allocates the nil embedded pointers
// on the way.
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// member is one key of a JSON object and its value.
type member struct {
	key string
	val json.RawMessage
}

// members returns the members of the JSON object raw in order, duplicates
// kept, or false when raw is not an object.
func members(raw json.RawMessage) ([]member, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil, false
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, false
		}
		ms = append(ms, member{key, val})
	}
	return ms, true
}

// join returns the path of key within path. A key that is not a plain
// name is quoted, so that an error about it stays on one line and says
// which key it is.
func join(path, key string) string {
	if !plainKey(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func plainKey(key string) bool {
	if key == "" || len(key) > 64 {
		return false
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// want describes the JSON a Go type takes, for "want X, got Y".
func want(t reflect.Type) string {
	if t == durationType {
		return `a duration like "10m"`
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer >= 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return want(t.Elem())
	}
	return "a " + t.String()
}

// show returns raw for an error message: compacted, and cut short when
// long.
func show(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		b.Reset()
		b.Write(raw)
	}
	const max = 60
	s := b.String()
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// nearest returns the name in known that key was most likely meant to be
// (the same but for case, '-' and '_', or at most two edits away), or "".
func nearest(key string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(s))
	}
	for _, k := range known {
		if norm(k) == norm(key) {
			return k
		}
	}
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(key, k); d < bestD && d < len(k) {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, in bytes, capped
// so that long inputs cost little: beyond 64 bytes it is not computed.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
