package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadTrace(t *testing.T) {
	in := `{"timestamp": 0, "input_length": 1000, "output_length": 10, "hash_ids": [0, 1]}

{"timestamp": 5, "input_length": 600, "output_length": 0, "hash_ids": [0, 2]}
`
	tr, err := ReadTrace(strings.NewReader(in), ReadOptions{Name: "t"})
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := good + tc.line + "\n" + `{"timestamp": 12, "input_length": 100, "hash_ids": [0]}` + "\n"
			_, err := ReadTrace(strings.NewReader(in), ReadOptions{Name: "bad.jsonl"})
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LineError", err)
			}
			if le.Line != 2 || le.Reason != tc.reason || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "bad.jsonl line 2") {
				t.Errorf("err = %q (line %d, reason %q), want line 2, reason %q, mentioning %q", err, le.Line, le.Reason, tc.reason, tc.msg)
			}
			tr, err := ReadTrace(strings.NewReader(in), ReadOptions{SkipBad: true})
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
		tr, err := ReadTrace(bytes.NewReader(in), ReadOptions{})
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
	tr, err := ReadTrace(&buf, ReadOptions{})
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
		{"probation:2", Admission{}, "want a fraction in (0, 1]"},
		{"probation:x", Admission{}, "not a number"},
		{"lru:0.5", Admission{}, "only probation takes a fraction"},
		{"fifo", Admission{}, `admission "fifo", want mru, lru or probation:F`},
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
