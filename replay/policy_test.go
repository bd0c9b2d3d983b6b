package replay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type outcomeRow struct {
	Policy     string
	Lead       float64
	Hits, Cold int
	GETs       int
}

func rowsOf(res []Result) []outcomeRow {
	var out []outcomeRow
	for _, r := range res {
		out = append(out, outcomeRow{r.Policy, r.Settings.LeadMs, r.Hits, r.ColdLoads, r.PrefetchGets})
	}
	return out
}

// A request known 20 ms ahead, off the grid: the event-driven hint policy
// wakes at once and its GET (20 ms) lands just in time; the grid-bound one
// looks at (t, t+H] only at its cycles and misses it.
func TestHintPolicies(t *testing.T) {
	tr := &Trace{Name: "tiny", Requests: []Request{
		req(0, 1), req(100, 2), // a flat of one block: 2 evicts 1
		req(2030, 1),
	}}
	res, err := Run(context.Background(), tr, Config{
		Settings:  tiny,
		Scenarios: []Scenario{{Fraction: 0.5}},
		Policies:  []string{PolicyNone, PolicyHintGridV3, PolicyHintV3},
		Leads:     []time.Duration{0, 20 * time.Millisecond, time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []outcomeRow{
		{PolicyNone, 0, 0, 1, 0},
		{PolicyHintGridV3, 0, 0, 1, 0},
		{PolicyHintV3, 0, 0, 1, 0},
		{PolicyNone, 20, 0, 1, 0}, // policies without hints run once, reported at every lead
		{PolicyHintGridV3, 20, 0, 1, 0},
		{PolicyHintV3, 20, 1, 0, 1},
		{PolicyNone, 1000, 0, 1, 0},
		{PolicyHintGridV3, 1000, 1, 0, 1},
		{PolicyHintV3, 1000, 1, 0, 1},
	}
	if diff := cmp.Diff(want, rowsOf(res)); diff != "" {
		t.Errorf("results mismatch (-want +got):\n%s", diff)
	}
}

// The warm-up fetches nothing while flat is full, and after a restart
// fills the free room with the most recently read blocks.
func TestWarmupPolicy(t *testing.T) {
	tr := &Trace{Name: "tiny", Requests: []Request{
		req(0, 1), req(100, 2), req(200, 3), // a flat of two blocks: 3 evicts 1
		req(4000, 2),
	}}
	res, err := Run(context.Background(), tr, Config{
		Settings:  tiny,
		Scenarios: []Scenario{{Fraction: 2.0 / 3}, {Fraction: 2.0 / 3, Restart: true}},
		Policies:  []string{PolicyNone, PolicyWarmupV3},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []outcomeRow{
		{PolicyNone, 0, 1, 0, 0},
		{PolicyWarmupV3, 0, 1, 0, 0}, // full: 2 is in flat anyway, nothing fetched
		{PolicyNone, 0, 0, 1, 0},     // the restart at 2 s empties flat
		{PolicyWarmupV3, 0, 1, 0, 2}, // at 2 s it fetches 3 and 2 back
	}
	if diff := cmp.Diff(want, rowsOf(res)); diff != "" {
		t.Errorf("results mismatch (-want +got):\n%s", diff)
	}
	if got := res[3].Settings.Admission; got != AdmitLRU {
		t.Errorf("warm-up admission = %q, want %q", got, AdmitLRU)
	}
}

func TestRunErrors(t *testing.T) {
	tr := &Trace{Requests: []Request{req(0, 1)}}
	_, err := Run(context.Background(), tr, Config{Policies: []string{"nope"}, Scenarios: []Scenario{{Fraction: -1}}})
	if err == nil {
		t.Fatal("Run accepted an unknown policy and a negative capacity")
	}
	for _, want := range []string{`unknown policy "nope"`, "capacity fraction -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, tr, Config{}); err == nil {
		t.Error("Run on a canceled context returned no error")
	}
}
