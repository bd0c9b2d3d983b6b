package replay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Request is one request of a trace: the Mooncake JSONL record.
type Request struct {
	// Timestamp is the arrival time in milliseconds from the trace start.
	Timestamp int64 `json:"timestamp"`
	// InputLength is the prompt length in tokens.
	InputLength int64 `json:"input_length"`
	// OutputLength is the generated length in tokens (carried, unused).
	OutputLength int64 `json:"output_length"`
	// HashIDs names the prompt's blocks, one per BlockTokens tokens,
	// prefix-chained: an id always stands at the same position after the
	// same parent id.
	HashIDs []uint64 `json:"hash_ids"`
}

// Trace is a request trace, in timestamp order.
type Trace struct {
	// Name labels the trace in results (the file's base name).
	Name string
	// Requests are the requests in timestamp order.
	Requests []Request
	// Skipped counts the lines skipped by ReadOptions.SkipBad, by reason
	// (the Reason of their [LineError]); nil when none was.
	Skipped map[string]int
}

// Reasons a trace line is rejected, as in [LineError].Reason and
// Trace.Skipped.
const (
	BadJSON      = "malformed"
	BadBackwards = "backwards"
	BadNegative  = "negative"
	BadID        = "inconsistent_id"
)

// LineError is a bad trace line: which line, why (one of the Bad*
// reasons) and the details.
type LineError struct {
	// Name is the trace's name (ReadOptions.Name).
	Name string
	// Line is the 1-based line number.
	Line int
	// Reason is one of BadJSON, BadBackwards, BadNegative, BadID.
	Reason string
	// Err says what is wrong with the line.
	Err error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("replay: %s line %d: %v (fix the line, or pass --skip-bad to skip bad requests and count them)", e.Name, e.Line, e.Err)
}

// Unwrap returns e.Err.
func (e *LineError) Unwrap() error { return e.Err }

// ReadOptions configure [ReadTrace].
type ReadOptions struct {
	// Name labels the trace (default "trace").
	Name string
	// SkipBad skips a bad request (malformed JSON, time going backwards,
	// negative lengths, an id that reappears with another parent or
	// position) and counts it in Trace.Skipped, instead of failing.
	SkipBad bool
}

// idPlace is where an id was first seen: its parent (noParent for a chain
// head) and position.
type idPlace struct {
	parent uint64
	pos    int
}

const noParent = ^uint64(0)

// ReadTrace reads a Mooncake JSONL trace from r, one request a line, and
// checks it: timestamps never go back, lengths are not negative, and an id
// that reappears stands after the same parent at the same position. The
// first bad line is an error naming it (a [*LineError]), unless
// o.SkipBad. Blank lines are ignored.
func ReadTrace(r io.Reader, o ReadOptions) (*Trace, error) {
	if o.Name == "" {
		o.Name = "trace"
	}
	tr := &Trace{Name: o.Name}
	br := bufio.NewReaderSize(r, 1<<16)
	places := make(map[uint64]idPlace)
	last := int64(-1 << 63)
	fail := func(line int, reason string, err error) error {
		le := &LineError{Name: o.Name, Line: line, Reason: reason, Err: err}
		if !o.SkipBad {
			return le
		}
		if tr.Skipped == nil {
			tr.Skipped = map[string]int{}
		}
		tr.Skipped[reason]++
		return nil
	}
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("replay: reading %s line %d: %w", o.Name, line, err)
		}
		eof := err != nil
		b = bytes.TrimSpace(b)
		if len(b) > 0 {
			var rq Request
			if e := checkLine(b, &rq, last, places); e != nil {
				var le *LineError
				errors.As(e, &le)
				if ferr := fail(line, le.Reason, le.Err); ferr != nil {
					return nil, ferr
				}
			} else {
				for i, id := range rq.HashIDs {
					if _, ok := places[id]; !ok {
						p := noParent
						if i > 0 {
							p = rq.HashIDs[i-1]
						}
						places[id] = idPlace{parent: p, pos: i}
					}
				}
				last = rq.Timestamp
				tr.Requests = append(tr.Requests, rq)
			}
		}
		if eof {
			return tr, nil
		}
	}
}

// checkLine decodes and checks one line; a problem comes back as a
// *LineError without its line number.
func checkLine(b []byte, rq *Request, last int64, places map[uint64]idPlace) error {
	bad := func(reason, format string, args ...any) error {
		return &LineError{Reason: reason, Err: fmt.Errorf(format, args...)}
	}
	var raw struct {
		Timestamp    *json.Number  `json:"timestamp"`
		InputLength  *json.Number  `json:"input_length"`
		OutputLength *json.Number  `json:"output_length"`
		HashIDs      []json.Number `json:"hash_ids"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return bad(BadJSON, "malformed JSON: %v", err)
	}
	if dec.More() {
		return bad(BadJSON, "malformed JSON: more than one value on the line")
	}
	num := func(name string, n *json.Number) (int64, error) {
		if n == nil {
			return 0, bad(BadJSON, "missing %q", name)
		}
		v, err := n.Int64()
		if err != nil {
			return 0, bad(BadJSON, "%s = %s, want an integer", name, n)
		}
		return v, nil
	}
	var err error
	if rq.Timestamp, err = num("timestamp", raw.Timestamp); err != nil {
		return err
	}
	if rq.InputLength, err = num("input_length", raw.InputLength); err != nil {
		return err
	}
	if raw.OutputLength != nil {
		if rq.OutputLength, err = num("output_length", raw.OutputLength); err != nil {
			return err
		}
	}
	if raw.HashIDs == nil {
		return bad(BadJSON, "missing \"hash_ids\"")
	}
	rq.HashIDs = make([]uint64, len(raw.HashIDs))
	for i, n := range raw.HashIDs {
		v, err := n.Int64()
		if err != nil {
			return bad(BadJSON, "hash_ids[%d] = %s, want an integer", i, n)
		}
		if v < 0 {
			return bad(BadNegative, "hash_ids[%d] = %d, want >= 0", i, v)
		}
		rq.HashIDs[i] = uint64(v)
	}
	switch {
	case rq.Timestamp < last:
		return bad(BadBackwards, "timestamp %d goes back in time (the previous request was at %d); a trace must be in timestamp order", rq.Timestamp, last)
	case rq.Timestamp < 0:
		return bad(BadNegative, "timestamp = %d, want >= 0", rq.Timestamp)
	case rq.InputLength < 0:
		return bad(BadNegative, "input_length = %d, want >= 0", rq.InputLength)
	case rq.OutputLength < 0:
		return bad(BadNegative, "output_length = %d, want >= 0", rq.OutputLength)
	}
	for i, id := range rq.HashIDs {
		p := noParent
		if i > 0 {
			p = rq.HashIDs[i-1]
		}
		want, ok := places[id]
		if !ok {
			// An id repeated inside this request, not yet recorded.
			for j := range i {
				if rq.HashIDs[j] == id {
					want, ok = idPlace{parent: noParent, pos: j}, true
					if j > 0 {
						want.parent = rq.HashIDs[j-1]
					}
					break
				}
			}
		}
		if ok && (want.pos != i || want.parent != p) {
			return bad(BadID, "hash_ids[%d] = %d stands at position %d after %s, but was first seen at position %d after %s (an id names its whole prefix)",
				i, id, i, parentString(p), want.pos, parentString(want.parent))
		}
	}
	return nil
}

func parentString(p uint64) string {
	if p == noParent {
		return "no parent"
	}
	return fmt.Sprintf("id %d", p)
}

// ReadTraceFile reads the trace at path (see [ReadTrace]), named by its
// base name.
func ReadTraceFile(path string, skipBad bool) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	return ReadTrace(f, ReadOptions{Name: filepath.Base(path), SkipBad: skipBad})
}

// SkippedString renders t.Skipped as "reason=n, ..." in reason order, or
// "" when nothing was skipped.
func (t *Trace) SkippedString() string {
	if len(t.Skipped) == 0 {
		return ""
	}
	keys := make([]string, 0, len(t.Skipped))
	for k := range t.Skipped {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, t.Skipped[k])
	}
	return strings.Join(parts, ", ")
}
