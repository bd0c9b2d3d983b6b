package snapshot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// leaseLog is a Leaser over a set of blocks in flat that records every
// call.
type leaseLog struct {
	flat  map[block.Hash]bool
	calls []string
}

func (l *leaseLog) Lease(ns string, h block.Hash, until time.Time, pin bool) bool {
	mode := "touch"
	if pin {
		mode = "pin"
	}
	l.calls = append(l.calls, ns+" "+string(rune('0'+h[31]))+" "+mode+" until "+until.Sub(at).String())
	return l.flat[h]
}

// TestHintsLease: each hint leases its block once, at the first cycle that
// sees it, until its Due plus the grace; a hint already due leases
// nothing; Leased counts the leases the tier granted.
func TestHintsLease(t *testing.T) {
	for _, tc := range []struct {
		mode       snapshot.LeaseMode
		want       []string
		wantLeased uint64
	}{
		{snapshot.LeaseTouch, []string{
			"ns 1 touch until 2.5s", "ns 2 touch until 3.5s", // cycle at 0
			"ns 1 touch until 4.5s", // cycle at 1 s: the second hint of 1
		}, 2},
		{snapshot.LeasePin, []string{
			"ns 1 pin until 2.5s", "ns 2 pin until 3.5s",
			"ns 1 pin until 4.5s",
		}, 2},
		{snapshot.LeaseNone, nil, 0},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			l := &leaseLog{flat: map[block.Hash]bool{hh(1): true}}
			h := snapshot.NewHints(snapshot.HintsConfig{Clock: func() time.Time { return at }})
			if err := h.SetLease(tc.mode, l, 500*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			h.Add(snapshot.Hint{Hash: hh(1), Due: at.Add(2 * time.Second)},
				snapshot.Hint{Hash: hh(2), Due: at.Add(3 * time.Second)},
				snapshot.Hint{Hash: hh(3), Due: at}) // due already: not leased
			cy := cycleAt(0)
			cy.Namespace = "ns"
			for range h.Candidates(t.Context(), cy) {
			}
			for range h.Candidates(t.Context(), cy) { // seen: no lease again
			}
			h.Add(snapshot.Hint{Hash: hh(1), Due: at.Add(4 * time.Second)})
			cy = cycleAt(time.Second)
			cy.Namespace = "ns"
			for range h.Candidates(t.Context(), cy) {
			}
			if diff := cmp.Diff(tc.want, l.calls); diff != "" {
				t.Errorf("lease calls mismatch (-want +got):\n%s", diff)
			}
			if got := h.Stats().Leased; got != tc.wantLeased {
				t.Errorf("Leased = %d, want %d", got, tc.wantLeased)
			}
		})
	}
}

func TestSetLeaseErrors(t *testing.T) {
	h := snapshot.NewHints(snapshot.HintsConfig{})
	for _, tc := range []struct {
		mode  snapshot.LeaseMode
		l     snapshot.Leaser
		grace time.Duration
		want  []string
	}{
		{"hold", &leaseLog{}, 0, []string{`snapshot: lease mode "hold", want "none", "touch" or "pin"`}},
		{snapshot.LeasePin, nil, -time.Second, []string{
			`snapshot: lease mode "pin" needs a Leaser (a store with a capacity), got nil`,
			"snapshot: lease grace -1s, want >= 0",
		}},
		{snapshot.LeaseNone, nil, 0, nil},
		{snapshot.LeaseTouch, &leaseLog{}, 0, nil},
	} {
		var got []string
		if err := h.SetLease(tc.mode, tc.l, tc.grace); err != nil {
			got = strings.Split(err.Error(), "\n")
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("SetLease(%q) error mismatch (-want +got):\n%s", tc.mode, diff)
		}
	}
	for _, s := range []string{"none", "touch", "pin"} {
		if m, err := snapshot.ParseLeaseMode(s); err != nil || string(m) != s {
			t.Errorf("ParseLeaseMode(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := snapshot.ParseLeaseMode(""); err == nil {
		t.Errorf(`ParseLeaseMode("") = nil error, want one`)
	}
}
