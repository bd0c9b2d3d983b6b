package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/policy"
)

// writeSpec writes a policy spec file called name in dir, and returns its
// path.
func writeSpec(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// recencySpec is a team's own policy: the most recent blocks, two fetches
// at a time, into a namespace of its own.
const recencySpec = `{
  "about": "the most recent blocks, two fetches at a time",
  "top_k": 4,
  "namespace": "tenant-9",
  "admission": "lru",
  "sources": ["index"],
  "scorer": {"stage": "recency", "params": {"half_life": "5m"}},
  "filters": ["already-flat", "not-in-flight"],
  "fetcher": {"stage": "parallel", "params": {"limit": 2}},
  "emitters": [{"stage": "myelon", "params": {"format": "v3"}}]
}`

// TestDemoPolicy runs a spec file: its stages, its settings (unless a
// flag given overrides them) and its namespace, in which the cold tier is
// seeded and the blocks land in flat.
func TestDemoPolicy(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		wantSelected int
	}{
		{"the spec's settings", nil, 3 * 4},
		{"--top-k overrides the spec's", []string{"--top-k", "2"}, 3 * 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			dir := t.TempDir()
			spec := writeSpec(t, dir, "recency.json", recencySpec)
			flat := filepath.Join(dir, "flat")
			args := append([]string{"demo", "--policy", spec, "--flat", flat, "--cycles", "3", "--interval", "5ms", "--blocks", "100", "--block-size", "1KiB"}, tc.args...)
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
			}
			out := stdout.String()
			if n := strings.Count(out, `[MyelonInstr] {"scope":"wmbt_kv_timing","fn":"prefetch_cycle_v3"`); n < 3 {
				t.Errorf("%d v3 cycle lines (the spec's emitter), want >= 3:\n%s", n, out)
			}
			for _, want := range []string{"summary: policy " + spec + ", 3 cycles", "selected " + strconv.Itoa(tc.wantSelected) + ","} {
				if !strings.Contains(out, want) {
					t.Errorf("summary lacks %q:\n%s", want, out)
				}
			}
			n := summaryFetched(t, out)
			if n < 1 {
				t.Errorf("the summary says %d blocks fetched, want some:\n%s", n, out)
			}
			checkFlatNS(t, flat, "tenant-9", 1, 100, 1024, summaryInFlat(t, out))
		})
	}
}

func TestDemoPolicyErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeSpec(t, dir, "good.json", recencySpec)
	typo := writeSpec(t, dir, "typo.json", strings.Replace(recencySpec, `"half_life"`, `"half_lif"`, 1))
	admission := writeSpec(t, dir, "admission.json", strings.Replace(recencySpec, `"lru"`, `"fifo"`, 1))
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"a field misspelt", []string{"--policy", typo}, []string{typo + `: scorer.params.half_lif: unknown field, want one of half_life (did you mean "half_life"?)`}},
		{"a bad admission", []string{"--policy", admission}, []string{`the admission of --policy ` + admission + ` = "fifo", want "mru", "lru", "probation:F"`}},
		{"no such file", []string{"--policy", filepath.Join(dir, "none.json")}, []string{"--policy " + filepath.Join(dir, "none.json") + ": no such file, want a policy spec file"}},
		{"an empty name", []string{"--policy", ""}, []string{"--policy is empty, want the name of a policy spec file"}},
		{"a preset too", []string{"--policy", good, "--preset", "v2"}, []string{"--preset and --policy both given, want one"}},
		{"--limit", []string{"--policy", good, "--limit", "3"}, []string{"--limit sets a preset's fetches in flight, and " + good + " sets its own"}},
		{"--lead without hints", []string{"--preset", "v3", "--lead", "2s"}, []string{"--lead: preset v3 reads no hints"}},
		{"--lead of a policy without hints", []string{"--policy", good, "--lead", "2s"}, []string{"--lead: policy " + good + " reads no hints"}},
		{"--lead zero", []string{"--preset", "hints", "--lead", "0s"}, []string{"--lead = 0s, want > 0"}},
		{"a frequency policy without counts", []string{"--policy", "../../docs/policies/warmup-frequency.json"}, []string{"scorer: frequency: score: Frequency.Counts keeps no access counts", "--count-half-life"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"demo"}, tc.args...), &stdout, &stderr)
			var msg bytes.Buffer
			if code := exitCode(err, &msg); code != 2 {
				t.Errorf("exit code = %d, want 2 (err %v)", code, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg.String(), w) {
					t.Errorf("message %q lacks %q", msg.String(), w)
				}
			}
			if left, _ := os.ReadDir(os.Getenv("TMPDIR")); len(left) != 0 {
				t.Errorf("a refused run created %s, want nothing", left[0].Name())
			}
		})
	}
}

var hintedRe = regexp.MustCompile(`hinted traffic: (\d+) requests announced 300ms ahead; of their (\d+) block reads, (\d+) from flat \((\d+) prefetched\), (\d+) from cold, failed 0`)

// TestDemoHints runs the hint preset, and the same as a spec file: the
// traffic announces its requests 300 ms ahead, the pipeline fetches their
// blocks, and the requests then read them from flat.
func TestDemoHints(t *testing.T) {
	spec, err := policy.PresetFile("hints")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
	}{
		{"preset", []string{"--preset", "hints"}},
		{"policy", []string{"--policy", writeSpec(t, dir, "hints.json", string(spec))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			var stdout, stderr bytes.Buffer
			args := append([]string{"demo", "--cycles", "3", "--lead", "300ms", "--blocks", "200", "--block-size", "1KiB"}, tc.args...)
			start := time.Now()
			if err := run(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
			}
			out := stdout.String()
			if d := time.Since(start); d < 300*time.Millisecond {
				t.Errorf("the run took %v, less than the lead: the requests announced were not read", d)
			}
			m := hintedRe.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("the summary has no hinted traffic line:\n%s", out)
			}
			n := make([]int, len(m))
			for i := 1; i < len(m); i++ {
				n[i], _ = strconv.Atoi(m[i])
			}
			requests, reads, fromFlat, prefetched, fromCold := n[1], n[2], n[3], n[4], n[5]
			if requests < 1 || reads < requests {
				t.Errorf("%d requests announced, %d blocks read; want some, each reading a block at least", requests, reads)
			}
			if fromFlat+fromCold != reads {
				t.Errorf("%d reads from flat and %d from cold, want %d in all", fromFlat, fromCold, reads)
			}
			if prefetched < 1 {
				t.Errorf("no read found a block the pipeline fetched in flat:\n%s", out)
			}
			if f := summaryFetched(t, out); f < 1 {
				t.Errorf("the summary says %d blocks fetched, want some:\n%s", f, out)
			}
		})
	}
}

// TestDemoHintsInterrupt interrupts the hint preset while its requests
// are announced and read: it stops at once, prints its summary with the
// hinted traffic's line, and removes its temporary tiers.
func TestDemoHintsInterrupt(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := newLineWriter()
	var stderr bytes.Buffer
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		args := []string{"demo", "--preset", "hints", "--cycles", "1000000", "--lead", "50ms", "--blocks", "100", "--block-size", "1KiB"}
		errc <- run(ctx, args, stdout, &stderr)
	}()
	for range 5 { // a few cycles: requests announced, some read
		waitLine(t, stdout, "[MyelonInstr]", done)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("run after Ctrl-C: err = %v, want context.Canceled\nstderr:\n%s", err, stderr.String())
	}
	if !hintedAnyRe.MatchString(stdout.String()) {
		t.Errorf("the summary has no hinted traffic line:\n%s", stdout.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the demo left %d entries in TMPDIR (first %s), want none", len(left), left[0].Name())
	}
}

var hintedAnyRe = regexp.MustCompile(`(?m)^  hinted traffic: \d+ requests announced 50ms ahead`)

// TestDemoNodeChain: a request reads a block and the chain before it, the
// head first.
func TestDemoNodeChain(t *testing.T) {
	node := generateNode(3, 300, 1, time.Now(), 0)
	for _, h := range node.hashes {
		c := node.chain(h)
		if len(c) == 0 || c[len(c)-1] != h {
			t.Fatalf("chain(%s) = %v, want it to end at the block", h, c)
		}
		for i, b := range c {
			m, _ := node.index.Get(b)
			if int(m.Seq) != i {
				t.Errorf("chain(%s)[%d] has Seq %d, want %d (the head first)", h, i, m.Seq, i)
			}
			if i > 0 && m.Parent != c[i-1] {
				t.Errorf("chain(%s)[%d]'s parent is not the block before it", h, i)
			}
		}
	}
}
