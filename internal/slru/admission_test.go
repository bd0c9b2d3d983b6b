package slru

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseAdmission(t *testing.T) {
	tests := []struct {
		in   string
		want Admission
		err  string // a substring of the error; "" for none
	}{
		{"mru", Admission{Mode: ModeMRU}, ""},
		{"lru", Admission{Mode: ModeLRU}, ""},
		{"probation:0.25", Admission{Mode: ModeProbation, Fraction: 0.25}, ""},
		// The store refused it and the lab took it; both take it now.
		{"probation:1", Admission{Mode: ModeProbation, Fraction: 1}, ""},
		{"probation:1e-3", Admission{Mode: ModeProbation, Fraction: 0.001}, ""},
		{"probation:0", Admission{}, "fraction 0 is out of range"},
		{"probation:1.5", Admission{}, "fraction 1.5 is out of range"},
		{"probation:-0.5", Admission{}, "fraction -0.5 is out of range"},
		{"probation:NaN", Admission{}, "fraction NaN is out of range"},
		{"probation:Inf", Admission{}, "fraction +Inf is out of range"},
		{"probation:1e400", Admission{}, "fraction 1e400 is out of range"},
		{"probation:x", Admission{}, `fraction "x" is not a number`},
		{"probation:", Admission{}, `fraction "" is not a number`},
		{"probation", Admission{}, "probation lacks its fraction"},
		{"lru:0.5", Admission{}, "only probation takes a fraction"},
		{"guess:0.1:5s", Admission{Mode: ModeGuess, Fraction: 0.1, TTL: 5 * time.Second}, ""},
		{"guess:1:1m0s", Admission{Mode: ModeGuess, Fraction: 1, TTL: time.Minute}, ""},
		{"guess:0.1", Admission{}, `guess lacks its fraction or its TTL, want "guess:F:TTL" with 0 < F <= 1 and a TTL > 0, e.g. "guess:0.1:5s"`},
		{"guess:0:5s", Admission{}, "fraction 0 is out of range"},
		{"guess:x:5s", Admission{}, `fraction "x" is not a number`},
		{"guess:1e400:5s", Admission{}, "fraction +Inf is out of range"},
		{"guess:0.1:soon", Admission{}, `TTL "soon" is not a duration`},
		{"guess:0.1:0s", Admission{}, "TTL 0s is out of range"},
		{"guess:0.1:-1s", Admission{}, "TTL -1s is out of range"},
		{"fifo", Admission{}, `want "mru", "lru", "probation:F" with 0 < F <= 1`},
		{"", Admission{}, `want "mru", "lru", "probation:F" with 0 < F <= 1`},
		{"MRU", Admission{}, `want "mru"`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAdmission(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseAdmission(%q) err = %v, want one containing %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAdmission(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseAdmission(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
			if got.String() != tc.in && tc.in != "probation:1e-3" {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

func TestAdmissionPlace(t *testing.T) {
	for _, tc := range []struct {
		a    Admission
		want Place
	}{
		{Admission{Mode: ModeMRU}, PlaceFront},
		{Admission{Mode: ModeLRU}, PlaceBack},
		{Admission{Mode: ModeProbation, Fraction: 0.5}, PlaceProbation},
		{Admission{Mode: ModeGuess, Fraction: 0.5, TTL: time.Second}, PlaceGuess},
	} {
		if got := tc.a.Place(); got != tc.want {
			t.Errorf("%v.Place() = %d, want %d", tc.a, got, tc.want)
		}
	}
}

func TestProbationBudget(t *testing.T) {
	for _, tc := range []struct {
		a      Admission
		budget int64
		want   int64
	}{
		{Admission{Mode: ModeProbation, Fraction: 0.25}, 1000, 250},
		{Admission{Mode: ModeProbation, Fraction: 0.34}, 3000, 1020},
		{Admission{Mode: ModeProbation, Fraction: 1.0 / 3}, 1000, 333}, // floor
		{Admission{Mode: ModeProbation, Fraction: 1}, 1000, 1000},
		// float64(MaxInt64) is 2^63: F = 1 must not wrap past the budget.
		{Admission{Mode: ModeProbation, Fraction: 1}, math.MaxInt64, math.MaxInt64},
		{Admission{Mode: ModeProbation, Fraction: 0.5}, math.MaxInt64, 1 << 62},
		{Admission{Mode: ModeMRU}, 1000, 0},
		{Admission{Mode: ModeLRU}, 1000, 0},
		{Admission{Mode: ModeGuess, Fraction: 0.25, TTL: time.Second}, 1000, 0},
	} {
		if got := tc.a.ProbationBudget(tc.budget); got != tc.want {
			t.Errorf("%v.ProbationBudget(%d) = %d, want %d", tc.a, tc.budget, got, tc.want)
		}
	}
	for _, tc := range []struct {
		a      Admission
		budget int64
		want   int64
	}{
		{Admission{Mode: ModeGuess, Fraction: 0.25, TTL: time.Second}, 1000, 250},
		{Admission{Mode: ModeGuess, Fraction: 1, TTL: time.Second}, math.MaxInt64, math.MaxInt64},
		{Admission{Mode: ModeProbation, Fraction: 0.25}, 1000, 0},
	} {
		if got := tc.a.GuessBudget(tc.budget); got != tc.want {
			t.Errorf("%v.GuessBudget(%d) = %d, want %d", tc.a, tc.budget, got, tc.want)
		}
	}
}

// FuzzParseAdmission: whatever parses is valid, and reads back as itself
// through String.
func FuzzParseAdmission(f *testing.F) {
	for _, s := range []string{"mru", "lru", "probation:0.25", "probation:1", "probation:0x1p-2", "probation:NaN", "lru:1", ":", "probation:1e-320", "guess:0.1:5s", "guess:1:1ns", "guess:0.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAdmission(s)
		if err != nil {
			if a != (Admission{}) {
				t.Errorf("ParseAdmission(%q) = %+v with error %v, want the zero Admission", s, a, err)
			}
			return
		}
		if err := a.Validate(); err != nil {
			t.Errorf("ParseAdmission(%q) = %+v, which does not validate: %v", s, a, err)
		}
		back, err := ParseAdmission(a.String())
		if err != nil || back != a {
			t.Errorf("ParseAdmission(%q) = %+v; its String %q reads back as %+v, %v", s, a, a.String(), back, err)
		}
		if p := a.ProbationBudget(1 << 40); p < 0 || p > 1<<40 || a.Mode != ModeProbation && p != 0 {
			t.Errorf("%+v.ProbationBudget(2^40) = %d, want in 0..2^40, and 0 outside probation", a, p)
		}
	})
}
