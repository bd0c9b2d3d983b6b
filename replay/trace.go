package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Request is one request of a trace: the Mooncake JSONL record.
type Request struct {
	// Timestamp is the arrival time in milliseconds from the trace start,
	// 0..MaxTimestamp.
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
	// BadTooLarge is a line longer than ReadOptions.MaxLineBytes, a
	// request of more than ReadOptions.MaxRequestBlocks ids, or a
	// timestamp above MaxTimestamp.
	BadTooLarge = "too_large"
)

// MaxTimestamp is the largest timestamp a trace may hold, in ms: 2^62 ns,
// about 146 years (Unix-epoch milliseconds are fine until 2116). The lab
// replays in nanoseconds, in an int64; the bound leaves room to add
// intervals and GET times to any instant without overflow.
const MaxTimestamp = int64(1<<62) / int64(time.Millisecond)

// Defaults of ReadOptions.MaxLineBytes and MaxRequestBlocks: they bound
// the memory one line takes while it is read and checked.
const (
	// DefaultMaxRequestBlocks is 2^20 ids: a prompt of 512 Mi tokens at
	// 512 tokens per block, far beyond any model's context.
	DefaultMaxRequestBlocks = 1 << 20
	// DefaultMaxLineBytes is 32 MiB: room for a request of
	// DefaultMaxRequestBlocks ids of any size (20 digits and a separator
	// each).
	DefaultMaxLineBytes = 32 << 20
)

// LineError is a bad trace line: which line, why (one of the Bad*
// reasons) and the details.
type LineError struct {
	// Name is the trace's name (ReadOptions.Name).
	Name string
	// Line is the 1-based line number.
	Line int
	// Reason is one of BadJSON, BadBackwards, BadNegative, BadID,
	// BadTooLarge.
	Reason string
	// Limit names the ReadOptions field whose bound the line exceeds
	// ("MaxLineBytes" or "MaxRequestBlocks"), or is empty.
	Limit string
	// Err says what is wrong with the line.
	Err error
}

// Error names the line and the problem, then the ways out, by their
// ReadOptions fields: a command-line client describes them by its own
// flags instead (from Limit and Reason).
func (e *LineError) Error() string {
	raise := ""
	if e.Limit != "" {
		raise = ", raise ReadOptions." + e.Limit
	}
	return fmt.Sprintf("replay: %s line %d: %v (fix the line%s, or set ReadOptions.SkipBad to skip bad requests and count them)", e.Name, e.Line, e.Err, raise)
}

// Unwrap returns e.Err.
func (e *LineError) Unwrap() error { return e.Err }

// ReadOptions configure [ReadTrace]. Zero fields mean the defaults.
type ReadOptions struct {
	// Name labels the trace (default "trace").
	Name string
	// SkipBad skips a bad request (malformed JSON, time going backwards,
	// negative lengths, an id that reappears with another parent or
	// position, a line or a request over its limit) and counts it in
	// Trace.Skipped, instead of failing.
	SkipBad bool
	// MaxLineBytes bounds a line's length, its newline aside (default
	// DefaultMaxLineBytes). A longer line is not held in memory: it is
	// bad (BadTooLarge), and skipped whole with SkipBad.
	MaxLineBytes int
	// MaxRequestBlocks bounds the hash ids of one request (default
	// DefaultMaxRequestBlocks); a request with more is bad (BadTooLarge).
	MaxRequestBlocks int
}

// withDefaults returns o with its zero fields set to the defaults, or an
// error naming a negative limit.
func (o ReadOptions) withDefaults() (ReadOptions, error) {
	var errs []error
	if o.MaxLineBytes < 0 {
		errs = append(errs, fmt.Errorf("replay: MaxLineBytes = %d, want >= 1 (0 means the default, %d)", o.MaxLineBytes, DefaultMaxLineBytes))
	}
	if o.MaxRequestBlocks < 0 {
		errs = append(errs, fmt.Errorf("replay: MaxRequestBlocks = %d, want >= 1 (0 means the default, %d)", o.MaxRequestBlocks, DefaultMaxRequestBlocks))
	}
	if o.Name == "" {
		o.Name = "trace"
	}
	if o.MaxLineBytes == 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.MaxRequestBlocks == 0 {
		o.MaxRequestBlocks = DefaultMaxRequestBlocks
	}
	return o, errors.Join(errs...)
}

// idPlace is where an id was first seen: its parent (noParent for a chain
// head) and position.
type idPlace struct {
	parent uint64
	pos    int
}

const noParent = ^uint64(0)

// ctxCheckIDs is how many hash ids of one line are checked between two
// looks at the context, so that a long line can be interrupted too.
const ctxCheckIDs = 1 << 16

// ReadTrace reads a Mooncake JSONL trace from r, one request a line, and
// checks it: timestamps never go back and stay within MaxTimestamp,
// lengths are not negative, an id that reappears stands after the same
// parent at the same position, and no line or request exceeds its limit
// (see [ReadOptions]). The first bad line is an error naming it (a
// [*LineError]), unless o.SkipBad. Blank lines are ignored.
//
// The work is linear in the input. Reading stops with ctx's error when
// ctx is done, checked before each line and every 65536 ids within one;
// a Read that blocks is not interrupted.
func ReadTrace(ctx context.Context, r io.Reader, o ReadOptions) (*Trace, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	tr := &Trace{Name: o.Name}
	lr := lineReader{br: bufio.NewReaderSize(r, 1<<16), max: o.MaxLineBytes}
	ck := checker{ctx: ctx, places: make(map[uint64]idPlace), last: -1 << 63, maxIDs: o.MaxRequestBlocks}
	for line := 1; ; line++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("replay: reading %s stopped before line %d: %w", o.Name, line, err)
		}
		b, tooLong, err := lr.next()
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("replay: reading %s line %d: %w", o.Name, line, err)
		}
		eof := err != nil
		var bad *LineError
		if tooLong {
			bad = &LineError{Reason: BadTooLarge, Limit: "MaxLineBytes",
				Err: fmt.Errorf("line is longer than the limit of %d bytes", o.MaxLineBytes)}
		} else if b = bytes.TrimSpace(b); len(b) > 0 {
			var rq Request
			switch err := ck.check(b, &rq); {
			case errors.As(err, &bad):
			case err != nil: // the context
				return nil, fmt.Errorf("replay: reading %s stopped at line %d: %w", o.Name, line, err)
			default:
				tr.Requests = append(tr.Requests, rq)
			}
		}
		if bad != nil {
			bad.Name, bad.Line = o.Name, line
			if !o.SkipBad {
				return nil, bad
			}
			if tr.Skipped == nil {
				tr.Skipped = map[string]int{}
			}
			tr.Skipped[bad.Reason]++
		}
		if eof {
			return tr, nil
		}
	}
}

// lineReader reads lines of at most max bytes (the newline aside) into
// one reused buffer; a longer line is read through and dropped, never held
// whole.
type lineReader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

// next returns the next line, which is valid until the following call, or
// tooLong when it exceeds the limit. At the end of the input it returns
// the last line (possibly empty) and io.EOF.
func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	l.buf = l.buf[:0]
	for {
		frag, err := l.br.ReadSlice('\n')
		n := len(l.buf) + len(frag)
		if err == nil {
			n-- // the newline
		}
		if !tooLong && n > l.max {
			tooLong, l.buf = true, l.buf[:0]
		}
		if !tooLong {
			l.buf = append(l.buf, frag...)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return l.buf, tooLong, err
		}
	}
}

// checker checks the lines of one trace in order, and records the place
// of every id of the requests it accepts.
type checker struct {
	ctx    context.Context
	places map[uint64]idPlace
	last   int64 // the last accepted timestamp
	maxIDs int
	added  []uint64 // ids the request being checked added to places
}

// check decodes and checks one line into rq. A bad line comes back as a
// *LineError without its name and line number, having changed nothing;
// any other error is the context's.
func (ck *checker) check(b []byte, rq *Request) error {
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
	if len(raw.HashIDs) > ck.maxIDs {
		le := bad(BadTooLarge, "the request has %d hash ids, more than the limit of %d", len(raw.HashIDs), ck.maxIDs).(*LineError)
		le.Limit = "MaxRequestBlocks"
		return le
	}
	rq.HashIDs = make([]uint64, len(raw.HashIDs))
	for i, n := range raw.HashIDs {
		if i%ctxCheckIDs == ctxCheckIDs-1 {
			if err := ck.ctx.Err(); err != nil {
				return err
			}
		}
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
	case rq.Timestamp < 0:
		return bad(BadNegative, "timestamp = %d, want >= 0", rq.Timestamp)
	case rq.Timestamp > MaxTimestamp:
		return bad(BadTooLarge, "timestamp = %d ms, want at most %d (MaxTimestamp, about 146 years: the replay counts time in int64 nanoseconds)", rq.Timestamp, MaxTimestamp)
	case rq.Timestamp < ck.last:
		return bad(BadBackwards, "timestamp %d goes back in time (the previous request was at %d); a trace must be in timestamp order", rq.Timestamp, ck.last)
	case rq.InputLength < 0:
		return bad(BadNegative, "input_length = %d, want >= 0", rq.InputLength)
	case rq.OutputLength < 0:
		return bad(BadNegative, "output_length = %d, want >= 0", rq.OutputLength)
	}
	if err := ck.place(rq.HashIDs); err != nil {
		return err
	}
	ck.last = rq.Timestamp
	return nil
}

// place checks that every id stands where it was first seen, in an
// earlier request or earlier in this one, and records the new ones; on a
// bad id (or a done context) it forgets them again, leaving places as it
// was. One map lookup per id: linear in the request.
func (ck *checker) place(ids []uint64) error {
	ck.added = ck.added[:0]
	undo := func() {
		for _, id := range ck.added {
			delete(ck.places, id)
		}
	}
	for i, id := range ids {
		if i%ctxCheckIDs == ctxCheckIDs-1 {
			if err := ck.ctx.Err(); err != nil {
				undo()
				return err
			}
		}
		p := noParent
		if i > 0 {
			p = ids[i-1]
		}
		want, ok := ck.places[id]
		if !ok {
			ck.places[id] = idPlace{parent: p, pos: i}
			ck.added = append(ck.added, id)
			continue
		}
		if want.pos != i || want.parent != p {
			undo()
			return &LineError{Reason: BadID, Err: fmt.Errorf("hash_ids[%d] = %d stands at position %d after %s, but was first seen at position %d after %s (an id names its whole prefix)",
				i, id, i, parentString(p), want.pos, parentString(want.parent))}
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
// base name, with the default limits. It cannot be stopped: a program
// that must stop on a signal calls [ReadTraceFileContext].
func ReadTraceFile(path string, skipBad bool) (*Trace, error) {
	return ReadTraceFileContext(context.Background(), path, ReadOptions{SkipBad: skipBad})
}

// ReadTraceFileContext reads the trace at path (see [ReadTrace]), named by
// its base name unless o.Name is set, until ctx is done.
func ReadTraceFileContext(ctx context.Context, path string, o ReadOptions) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	if o.Name == "" {
		o.Name = filepath.Base(path)
	}
	return ReadTrace(ctx, f, o)
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
