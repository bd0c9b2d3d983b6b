package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplayUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"timestamp\": 5, \"input_length\": 10, \"hash_ids\": [0]}\n{\"timestamp\": 1, \"input_length\": 10, \"hash_ids\": [0]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, "long.jsonl")
	if err := os.WriteFile(long, []byte("{\"timestamp\": 5, \"input_length\": 10, \"hash_ids\": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"help", []string{"replay", "-h"}, 0, ""},
		{"no trace", []string{"replay"}, 2, "no trace given: pass --trace FILE"},
		{"unknown policy", []string{"replay", "--synthetic", "--policies", "none,lfu"}, 2, `unknown policy "lfu"`},
		{"bad capacity", []string{"replay", "--synthetic", "--sweep-capacity", "0.1,-3"}, 2, `"-3" is not a capacity`},
		{"bad lead", []string{"replay", "--synthetic", "--sweep-lead", "0,soon"}, 2, `"soon" is not a lead time`},
		{"bad admission", []string{"replay", "--synthetic", "--admission", "probation"}, 2, "lacks its fraction"},
		{"bad k", []string{"replay", "--synthetic", "--k", "-2"}, 2, "TopK = -2"},
		{"bad weights", []string{"replay", "--synthetic", "--rfc-weights", "1,0.3"}, 2, "want three numbers"},
		{"bad half-life", []string{"replay", "--synthetic", "--half-life", "-1s"}, 2, "HalfLife = -1s"},
		{"plot not png", []string{"replay", "--synthetic", "--plot", "x.svg"}, 2, "name it FILE.png"},
		{"missing file", []string{"replay", "--trace", filepath.Join(dir, "nope.jsonl")}, 1, "no such file"},
		{"bad line", []string{"replay", "--trace", bad}, 1, "bad.jsonl line 2: timestamp 1 goes back in time"},
		{"bad line names the flag", []string{"replay", "--trace", bad}, 1, "(fix the line, or pass --skip-bad to skip bad requests and count them)"},
		{"line too long", []string{"replay", "--trace", long, "--max-line-bytes", "40"}, 1, "long.jsonl line 1: line is longer than the limit of 40 bytes (fix the line, raise --max-line-bytes, or pass --skip-bad"},
		{"request too large", []string{"replay", "--trace", long, "--max-request-blocks", "9"}, 1, "more than the limit of 9 (fix the line, raise --max-request-blocks, or pass --skip-bad"},
		{"bad max-line-bytes", []string{"replay", "--trace", long, "--max-line-bytes", "-1"}, 2, "--max-line-bytes = -1, want >= 1"},
	} {
		t.Run(tt.name, func(t *testing.T) { checkExit(t, tt.args, tt.wantCode, tt.wantErr) })
	}
}

// The library's errors name its options by their Go fields; the CLI's
// name its flags.
func TestReplayErrorsNameFlags(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"timestamp\": 1, \"input_length\": 10}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr, msg bytes.Buffer
	exitCode(run(context.Background(), []string{"replay", "--trace", bad}, &stdout, &stderr), &msg)
	if strings.Contains(msg.String(), "ReadOptions") || !strings.Contains(msg.String(), "--skip-bad") {
		t.Errorf("message %q names a Go field or lacks the flag", msg.String())
	}
}

// Ctrl-C stops the reading of a trace, not only the replay: with the
// context canceled, a trace whose second line is bad is not read far
// enough to find it.
func TestReplayInterruptStopsReading(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"timestamp\": 5, \"input_length\": 10, \"hash_ids\": [0]}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"replay", "--trace", bad}, &stdout, &stderr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	var msg bytes.Buffer
	if got := exitCode(err, &msg); got != 1 || !strings.Contains(msg.String(), "interrupted") {
		t.Errorf("exit %d, message %q; want 1 and interrupted", got, msg.String())
	}
}

func TestReplayRuns(t *testing.T) {
	dir := t.TempDir()
	jsonPath, pngPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.png")
	trace := filepath.Join(dir, "t.jsonl")
	lines := "{\"timestamp\": 0, \"input_length\": 1024, \"hash_ids\": [0, 1]}\n" +
		"not json\n" +
		"{\"timestamp\": 700, \"input_length\": 512, \"hash_ids\": [2]}\n" +
		"{\"timestamp\": 2000, \"input_length\": 1024, \"hash_ids\": [0, 1]}\n"
	if err := os.WriteFile(trace, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	args := []string{"replay", "--synthetic", "--synthetic-requests", "300", "--trace", trace, "--skip-bad",
		"--policies", "none,hint-v3,oracle-v3", "--sweep-capacity", "10%", "--restart", "0",
		"--sweep-lead", "0,1s", "--json", jsonPath, "--plot", pngPath}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "skipped bad requests: malformed=1") {
		t.Errorf("stderr %q does not report the skipped line", stderr.String())
	}
	if strings.Contains(stderr.String(), "replays") {
		t.Errorf("progress written to a non-terminal stderr: %q", stderr.String())
	}
	for _, want := range []string{"### t.jsonl — 3 requests", "### synthetic(seed=1) — 300 requests", "| 10% (", "| 1s | hint-v3 | 16 |"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2*2*3 {
		t.Errorf("%d JSON records, want 12 (2 traces x 2 leads x 3 policies)", len(recs))
	}
	for _, f := range []string{"trace", "scenario", "capacity_bytes", "policy", "requests", "block_refs", "reused_refs", "hits",
		"late_prefetch_hits", "cold_loads", "stall", "prefix_stall", "cycles", "skipped_already_flat", "skipped_in_flight",
		"prefetch_gets", "prefetch_bytes", "useful", "wasted", "precision", "share_of_oracle_stall_reduction",
		"prefix_share_of_oracle_stall_reduction", "settings"} {
		if _, ok := recs[0][f]; !ok {
			t.Errorf("JSON record lacks %q", f)
		}
	}
	settings, _ := recs[0]["settings"].(map[string]any)
	for _, f := range []string{"k", "interval_ms", "lead_ms", "admission", "get_latency_ms", "get_bandwidth_bytes_per_s", "bytes_per_token", "max_gets_per_s"} {
		if _, ok := settings[f]; !ok {
			t.Errorf("JSON settings lack %q", f)
		}
	}
	png, err := os.ReadFile(pngPath)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("plot: %v, %d bytes, want a PNG", err, len(png))
	}
}
