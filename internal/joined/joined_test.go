package joined

import (
	"errors"
	"fmt"
	"testing"
)

func TestSplit(t *testing.T) {
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	multi := fmt.Errorf("x: %w, %w", a, b)
	for _, tc := range []struct {
		name string
		err  error
		want []error
	}{
		{"nil", nil, nil},
		{"plain", a, []error{a}},
		{"join", errors.Join(a, b), []error{a, b}},
		{"nested join", errors.Join(a, errors.Join(b, c)), []error{a, b, c}},
		{"join skips nil", errors.Join(nil, a), []error{a}},
		{"several %w is one message", multi, []error{multi}},
		{"a wrapped join is one message", fmt.Errorf("ctx: %w", errors.Join(a, b)), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Split(tc.err)
			if tc.want == nil && tc.err != nil {
				tc.want = []error{tc.err}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Split = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("Split[%d] = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}
