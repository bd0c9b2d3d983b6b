package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadTrace(t *testing.T) {
	in := `{"timestamp": 0, "input_length": 1000, "output_length": 10, "hash_ids": [0, 1]}

{"timestamp": 5, "input_length": 600, "output_length": 0, "hash_ids": [0, 2]}
`
	tr, err := ReadTrace(context.Background(), strings.NewReader(in), ReadOptions{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	want := &Trace{Name: "t", Requests: []Request{
		{Timestamp: 0, InputLength: 1000, OutputLength: 10, HashIDs: []uint64{0, 1}},
		{Timestamp: 5, InputLength: 600, HashIDs: []uint64{0, 2}},
	}}
	if diff := cmp.Diff(want, tr); diff != "" {
		t.Errorf("trace mismatch (-want +got):\n%s", diff)
	}
}

func TestReadTraceBadLines(t *testing.T) {
	good := `{"timestamp": 10, "input_length": 1000, "hash_ids": [0, 1]}` + "\n"
	for _, tc := range []struct {
		name, line, reason, msg string
	}{
		{"malformed", `{"timestamp": 11, "input_length": 5, "hash_ids": [0,`, BadJSON, "malformed JSON"},
		{"trailing value", `{"timestamp": 11, "input_length": 5, "hash_ids": [0]} {}`, BadJSON, "more than one value"},
		{"missing ids", `{"timestamp": 11, "input_length": 5}`, BadJSON, `missing "hash_ids"`},
		{"fractional id", `{"timestamp": 11, "input_length": 5, "hash_ids": [0.5]}`, BadJSON, "want an integer"},
		{"backwards", `{"timestamp": 9, "input_length": 5, "hash_ids": [0]}`, BadBackwards, "goes back in time"},
		{"negative length", `{"timestamp": 11, "input_length": -5, "hash_ids": [0]}`, BadNegative, "input_length = -5"},
		{"negative output", `{"timestamp": 11, "input_length": 5, "output_length": -1, "hash_ids": [0]}`, BadNegative, "output_length = -1"},
		{"negative id", `{"timestamp": 11, "input_length": 5, "hash_ids": [-3]}`, BadNegative, "hash_ids[0] = -3"},
		{"other position", `{"timestamp": 11, "input_length": 5, "hash_ids": [7, 0]}`, BadID, "first seen at position 0"},
		{"other parent", `{"timestamp": 11, "input_length": 5, "hash_ids": [7, 1]}`, BadID, "after id 7, but was first seen at position 1 after id 0"},
		{"repeated in the request", `{"timestamp": 11, "input_length": 5, "hash_ids": [8, 9, 8]}`, BadID, "hash_ids[2] = 8"},
		{"timestamp too large", `{"timestamp": 4611686018428, "input_length": 5, "hash_ids": [7]}`, BadTooLarge, "timestamp = 4611686018428 ms, want at most 4611686018427"},
		{"timestamp wraps as ns", `{"timestamp": 9300000000000, "input_length": 5, "hash_ids": [7]}`, BadTooLarge, "want at most 4611686018427"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := good + tc.line + "\n" + `{"timestamp": 12, "input_length": 100, "hash_ids": [0]}` + "\n"
			_, err := ReadTrace(context.Background(), strings.NewReader(in), ReadOptions{Name: "bad.jsonl"})
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LineError", err)
			}
			if le.Line != 2 || le.Reason != tc.reason || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "bad.jsonl line 2") {
				t.Errorf("err = %q (line %d, reason %q), want line 2, reason %q, mentioning %q", err, le.Line, le.Reason, tc.reason, tc.msg)
			}
			tr, err := ReadTrace(context.Background(), strings.NewReader(in), ReadOptions{SkipBad: true})
			if err != nil {
				t.Fatalf("with SkipBad: %v", err)
			}
			if len(tr.Requests) != 2 || tr.Skipped[tc.reason] != 1 {
				t.Errorf("with SkipBad: %d requests, skipped %v; want 2 and %s=1", len(tr.Requests), tr.Skipped, tc.reason)
			}
		})
	}
}

func FuzzReadTrace(f *testing.F) {
	f.Add([]byte(`{"timestamp": 0, "input_length": 1000, "hash_ids": [0, 1]}` + "\n" + `{"timestamp": 1, "input_length": 10, "hash_ids": [0, 2]}`))
	f.Add([]byte(`{"timestamp": 0, "input_length": 1, "hash_ids": [5, 5]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		tr, err := ReadTrace(context.Background(), bytes.NewReader(in), ReadOptions{})
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Fatalf("error without its line: %v", err)
			}
			return
		}
		// An accepted trace is in order, with consistent ids, and
		// replays.
		places := map[uint64][2]int64{}
		for i, rq := range tr.Requests {
			if i > 0 && rq.Timestamp < tr.Requests[i-1].Timestamp {
				t.Fatalf("request %d goes back in time", i)
			}
			for j, id := range rq.HashIDs {
				p := int64(-1)
				if j > 0 {
					p = int64(rq.HashIDs[j-1])
				}
				if w, ok := places[id]; ok && w != [2]int64{p, int64(j)} {
					t.Fatalf("id %d moved", id)
				}
				places[id] = [2]int64{p, int64(j)}
			}
		}
		m := prepare(tr, tiny)
		r := newRun(m, 1<<20, Admission{Mode: AdmitMRU})
		serveAll(r, 0, m.requests())
		if r.hits+r.cold != m.reusedRefs {
			t.Fatalf("hits %d + cold %d != reused %d", r.hits, r.cold, m.reusedRefs)
		}
	})
}

func TestSynthetic(t *testing.T) {
	a, err := Synthetic(SyntheticConfig{Seed: 7, Requests: 300})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Synthetic(SyntheticConfig{Seed: 7, Requests: 300})
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different traces (-first +second):\n%s", diff)
	}
	c, _ := Synthetic(SyntheticConfig{Seed: 8, Requests: 300})
	if cmp.Equal(a, c) {
		t.Error("seeds 7 and 8 gave the same trace")
	}
	// It passes the trace checks, and its prompts are re-used.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, rq := range a.Requests {
		if err := enc.Encode(rq); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := ReadTrace(context.Background(), &buf, ReadOptions{})
	if err != nil {
		t.Fatalf("the synthetic trace fails its own checks: %v", err)
	}
	m := prepare(tr, Settings{}.WithDefaults())
	if len(tr.Requests) != 300 || m.reusedRefs*2 < len(m.refs) {
		t.Errorf("%d requests, %d of %d refs re-used; want 300 and most re-used", len(tr.Requests), m.reusedRefs, len(m.refs))
	}
	if _, err := Synthetic(SyntheticConfig{Rate: -1, ZipfS: 0.5}); err == nil || !strings.Contains(err.Error(), "Rate = -1") || !strings.Contains(err.Error(), "ZipfS = 0.5") {
		t.Errorf("bad config: err = %v, want both problems named", err)
	}
}

func TestParseAdmission(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Admission
		err  string
	}{
		{"mru", Admission{Mode: AdmitMRU}, ""},
		{"lru", Admission{Mode: AdmitLRU}, ""},
		{"probation:0.1", Admission{Mode: AdmitProbation, Fraction: 0.1}, ""},
		{"probation", Admission{}, "lacks its fraction"},
		{"probation:1", Admission{Mode: AdmitProbation, Fraction: 1}, ""}, // as the store takes it
		{"probation:2", Admission{}, "fraction 2 is out of range"},
		{"probation:x", Admission{}, "not a number"},
		{"lru:0.5", Admission{}, "only probation takes a fraction"},
		{"fifo", Admission{}, `replay: admission "fifo": want "mru", "lru", "probation:F" with 0 < F <= 1`},
	} {
		got, err := ParseAdmission(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseAdmission(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || got.String() != tc.in {
			t.Errorf("ParseAdmission(%q) = %+v (%q), %v; want %+v", tc.in, got, got.String(), err, tc.want)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	err := Settings{TopK: -1, Interval: -1, GetBandwidth: -2, Admission: Admission{Mode: "x"}}.WithDefaults().Validate()
	for _, want := range []string{"replay: TopK = -1, want >= 1 (0 means the default, 8)", "Interval = -1ns", "GetBandwidth = -2", `admission "x"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	if err := (Settings{}).WithDefaults().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestScenarioName(t *testing.T) {
	for sc, want := range map[Scenario]string{
		{Fraction: 0.05}:               "5%",
		{Fraction: 0.2, Restart: true}: "20%+restart",
		{Fraction: 0.07}:               "7%",
		{Fraction: 0.125}:              "12.5%",
	} {
		if got := sc.Name(); got != want {
			t.Errorf("%+v.Name() = %q, want %q", sc, got, want)
		}
	}
	if got := (Scenario{Fraction: 0.05}).Capacity(2797334298624); got != 139866714931 {
		t.Errorf("5%% of the synthetic trace = %d B, want 139866714931", got)
	}
}

// chain returns a request line at ms reading ids, one block each.
func chainLine(ms int64, ids ...uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"timestamp": %d, "input_length": %d, "hash_ids": [`, ms, len(ids))
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(id, 10))
	}
	b.WriteString("]}\n")
	return b.String()
}

func seqIDs(from, n uint64) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = from + uint64(i)
	}
	return ids
}

// A request of 300000 ids is read and checked as a short one is: its ids
// are recorded, a later request re-reads its prefix, an id repeated far
// down a long request is caught, and a request skipped as bad leaves no
// trace of its ids behind. BenchmarkReadTraceLongLine shows the cost is
// linear in the ids (RESULTS.md, section 6).
func TestReadTraceLongLine(t *testing.T) {
	const n = 300000
	long := seqIDs(0, n)
	bad := append(seqIDs(n, n), 5) // 5 again, at position n after id 2n-1
	in := chainLine(0, long...) +
		chainLine(1, 0, 1, 2, 2*n+10) +
		chainLine(2, bad...) +
		chainLine(3, n+1, n+2) // with SkipBad: a chain head, as the bad request never counted
	_, err := ReadTrace(context.Background(), strings.NewReader(in), ReadOptions{Name: "long"})
	var le *LineError
	if !errors.As(err, &le) || le.Line != 3 || le.Reason != BadID ||
		!strings.Contains(err.Error(), fmt.Sprintf("hash_ids[%d] = 5 stands at position %d after id %d, but was first seen at position 5 after id 4", n, n, 2*n-1)) {
		t.Fatalf("err = %v, want line 3 naming hash_ids[%d] = 5", err, n)
	}
	tr, err := ReadTrace(context.Background(), strings.NewReader(in), ReadOptions{Name: "long", SkipBad: true})
	if err != nil {
		t.Fatalf("with SkipBad: %v", err)
	}
	if len(tr.Requests) != 3 || tr.Skipped[BadID] != 1 {
		t.Fatalf("with SkipBad: %d requests, skipped %v; want 3 and %s=1", len(tr.Requests), tr.Skipped, BadID)
	}
	if diff := cmp.Diff(long, tr.Requests[0].HashIDs); diff != "" {
		t.Errorf("the long request's ids mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{n + 1, n + 2}, tr.Requests[2].HashIDs); diff != "" {
		t.Errorf("last request mismatch (-want +got):\n%s", diff)
	}
}

// A line or a request over its limit, or a timestamp too large to replay,
// is a LineError naming the line and the limit; SkipBad skips it and reads
// on (the rest of a long line is discarded, not read as lines).
func TestReadTraceLimits(t *testing.T) {
	good := chainLine(10, 0, 1)
	for _, tc := range []struct {
		name      string
		o         ReadOptions
		line      string
		limit     string
		msg, hint string
	}{
		{"line too long", ReadOptions{MaxLineBytes: 80}, chainLine(11, seqIDs(100, 30)...), "MaxLineBytes",
			"line is longer than the limit of 80 bytes", "raise ReadOptions.MaxLineBytes"},
		{"too many ids", ReadOptions{MaxRequestBlocks: 3}, chainLine(11, 7, 8, 9, 10), "MaxRequestBlocks",
			"the request has 4 hash ids, more than the limit of 3", "raise ReadOptions.MaxRequestBlocks"},
		{"timestamp too large", ReadOptions{}, chainLine(MaxTimestamp+1, 7), "",
			fmt.Sprintf("timestamp = %d ms, want at most %d", MaxTimestamp+1, MaxTimestamp), "fix the line, or set ReadOptions.SkipBad"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := good + tc.line + chainLine(MaxTimestamp, 0) // the largest timestamp is fine
			o := tc.o
			o.Name = "big.jsonl"
			_, err := ReadTrace(context.Background(), strings.NewReader(in), o)
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LineError", err)
			}
			if le.Line != 2 || le.Reason != BadTooLarge || le.Limit != tc.limit ||
				!strings.Contains(err.Error(), "big.jsonl line 2: "+tc.msg) || !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("err = %q (line %d, reason %q, limit %q), want line 2, %q, limit %q, mentioning %q and %q", err, le.Line, le.Reason, le.Limit, BadTooLarge, tc.limit, tc.msg, tc.hint)
			}
			o.SkipBad = true
			tr, err := ReadTrace(context.Background(), strings.NewReader(in), o)
			if err != nil {
				t.Fatalf("with SkipBad: %v", err)
			}
			if len(tr.Requests) != 2 || tr.Skipped[BadTooLarge] != 1 || tr.Requests[1].Timestamp != MaxTimestamp {
				t.Errorf("with SkipBad: %d requests, skipped %v; want 2 (the last at %d) and %s=1", len(tr.Requests), tr.Skipped, MaxTimestamp, BadTooLarge)
			}
		})
	}
	if _, err := ReadTrace(context.Background(), strings.NewReader(good), ReadOptions{MaxLineBytes: -1}); err == nil || !strings.Contains(err.Error(), "MaxLineBytes = -1") {
		t.Errorf("negative MaxLineBytes: err = %v, want it named", err)
	}
}

// cancelAtEOF is a reader that cancels a context when it has nothing more
// to give: what follows is the processing of the lines it returned.
type cancelAtEOF struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (c *cancelAtEOF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.cancel()
	}
	return n, err
}

// oneLinePerRead returns one line per Read and calls after(lines read)
// after each.
type oneLinePerRead struct {
	lines []string
	after func(n int)
	n     int
}

func (l *oneLinePerRead) Read(p []byte) (int, error) {
	if l.n == len(l.lines) {
		return 0, io.EOF
	}
	n := copy(p, l.lines[l.n])
	l.n++
	l.after(l.n)
	return n, nil
}

// Reading stops when its context is done: between lines, and inside a
// long line's ids.
func TestReadTraceCanceled(t *testing.T) {
	t.Run("between lines", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		lr := &oneLinePerRead{lines: []string{chainLine(0, 0), chainLine(1, 1), chainLine(2, 2)}, after: func(n int) {
			if n == 2 {
				cancel()
			}
		}}
		tr, err := ReadTrace(ctx, lr, ReadOptions{Name: "t"})
		if !errors.Is(err, context.Canceled) || tr != nil {
			t.Fatalf("ReadTrace returned a trace: %v, err = %v; want none and context.Canceled", tr != nil, err)
		}
		if !strings.Contains(err.Error(), "reading t stopped before line 3") {
			t.Errorf("err = %q, want it to say it stopped before line 3", err)
		}
	})
	t.Run("inside a long line", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// One line, the last, without a newline: it is read to the end of
		// the input, and only a check inside it can see the cancel.
		line := strings.TrimSuffix(chainLine(0, seqIDs(0, 200000)...), "\n")
		r := &cancelAtEOF{r: strings.NewReader(line), cancel: cancel}
		tr, err := ReadTrace(ctx, r, ReadOptions{Name: "t"})
		if !errors.Is(err, context.Canceled) || tr != nil {
			t.Fatalf("ReadTrace returned a trace: %v, err = %v; want none and context.Canceled", tr != nil, err)
		}
		if !strings.Contains(err.Error(), "reading t stopped at line 1") {
			t.Errorf("err = %q, want it to say it stopped at line 1", err)
		}
	})
}

// A trace built by hand, not read, is checked as ReadTrace checks one's
// times: nothing wraps when converted to nanoseconds.
func TestRunRejectsBadTimes(t *testing.T) {
	for _, tc := range []struct {
		name string
		ts   []int64
		want string
	}{
		{"too large", []int64{0, MaxTimestamp + 1}, "request 1: timestamp = 4611686018428 ms, want 0..4611686018427"},
		{"wraps as ns", []int64{0, 9_300_000_000_000}, "request 1: timestamp = 9300000000000 ms"},
		{"negative", []int64{-5, 0}, "request 0: timestamp = -5 ms"},
		{"backwards", []int64{10, 5}, "request 1: timestamp 5 ms goes back in time (the previous request was at 10)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &Trace{Name: "hand"}
			for i, ts := range tc.ts {
				tr.Requests = append(tr.Requests, req(ts, uint64(i)))
			}
			_, err := Run(context.Background(), tr, Config{Policies: byName(PolicyNone, PolicyOracleV3)})
			if err == nil || !strings.Contains(err.Error(), "replay: trace hand, "+tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
