package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wombatkv/prefetch/replay"
)

func writeTestFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReplayUsage(t *testing.T) {
	dir := t.TempDir()
	bad := writeTestFile(t, filepath.Join(dir, "bad.jsonl"), "{\"timestamp\": 5, \"input_length\": 10, \"hash_ids\": [0]}\n{\"timestamp\": 1, \"input_length\": 10, \"hash_ids\": [0]}\n")
	long := writeTestFile(t, filepath.Join(dir, "long.jsonl"), "{\"timestamp\": 5, \"input_length\": 10, \"hash_ids\": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}\n")
	empty := writeTestFile(t, filepath.Join(dir, "empty.jsonl"), "\n")
	allBad := writeTestFile(t, filepath.Join(dir, "allbad.jsonl"), "not json\n")
	nodir := filepath.Join(dir, "no", "such", "dir")
	pngDir := filepath.Join(dir, "d.png")
	if err := os.Mkdir(pngDir, 0o755); err != nil {
		t.Fatal(err)
	}
	syn := []string{"replay", "--synthetic", "--synthetic-requests", "50"}
	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"help", []string{"replay", "-h"}, 0, ""},
		{"no trace", []string{"replay"}, 2, "no trace given: pass --trace FILE"},
		{"unknown policy", append(syn, "--policies", "none,lfu"), 2, `unknown policy "lfu"`},
		{"policy twice", append(syn, "--policies", "none,none"), 2, "--policies lists none twice"},
		{"no policy", append(syn, "--policies", ","), 2, "--policies is empty"},
		{"bad capacity", append(syn, "--sweep-capacity", "0.1,-3"), 2, `"-3" is not a capacity`},
		{"bad lead", append(syn, "--sweep-lead", "0,soon"), 2, `"soon" is not a lead time`},
		{"bad admission", append(syn, "--admission", "probation"), 2, `--admission "probation"`},
		{"bad k", append(syn, "--k", "-2"), 2, "--k = -2, want >= 1 (default 8)"},
		{"bad weights", append(syn, "--rfc-weights", "1,0.3"), 2, "want three numbers"},
		{"bad half-life", append(syn, "--half-life", "-1s"), 2, "--half-life = -1s, want > 0"},
		{"plot not png", append(syn, "--plot", "x.svg"), 2, "name it FILE.png"},
		{"missing file", []string{"replay", "--trace", filepath.Join(dir, "nope.jsonl")}, 1, "no such file"},
		{"bad line", []string{"replay", "--trace", bad}, 1, "bad.jsonl line 2: timestamp 1 goes back in time"},
		{"bad line names the flag", []string{"replay", "--trace", bad}, 1, "(fix the line, or pass --skip-bad to skip bad requests and count them)"},
		{"line too long", []string{"replay", "--trace", long, "--max-line-bytes", "40"}, 1, "long.jsonl line 1: line is longer than the limit of 40 bytes (fix the line, raise --max-line-bytes, or pass --skip-bad"},
		{"request too large", []string{"replay", "--trace", long, "--max-request-blocks", "9"}, 1, "more than the limit of 9 (fix the line, raise --max-request-blocks, or pass --skip-bad"},
		{"bad max-line-bytes", []string{"replay", "--trace", long, "--max-line-bytes", "-1"}, 2, "--max-line-bytes = -1, want >= 1"},

		// A 0 the library would read as its default is refused.
		{"zero k", append(syn, "--k", "0"), 2, "--k = 0, want >= 1 (default 8)"},
		{"zero limit", append(syn, "--limit", "0"), 2, "--limit = 0, want >= 1"},
		{"zero burst", append(syn, "--burst", "0"), 2, "--burst = 0, want >= 1"},
		{"zero block-tokens", append(syn, "--block-tokens", "0"), 2, "--block-tokens = 0, want >= 1"},
		{"zero bytes-per-token", append(syn, "--bytes-per-token", "0"), 2, "--bytes-per-token = 0, want 1..2^34"},
		{"zero interval", append(syn, "--interval", "0s"), 2, "--interval = 0s, want > 0 (default 500ms)"},
		{"zero get-latency", append(syn, "--get-latency", "0s"), 2, "--get-latency = 0s, want > 0"},
		{"zero get-bandwidth", append(syn, "--get-bandwidth", "0"), 2, "--get-bandwidth = 0, want a finite number > 0"},
		{"zero gets-per-second", append(syn, "--gets-per-second", "0"), 2, "--gets-per-second = 0, want a finite number > 0"},
		{"zero half-life", append(syn, "--half-life", "0s"), 2, "--half-life = 0s, want > 0"},
		{"negative count half-life", append(syn, "--count-half-life", "-1s"), 2, "--count-half-life = -1s, want >= 0 (0: the index keeps no access counts)"},
		{"zero weights", append(syn, "--rfc-weights", "0,0,0"), 2, "want at least one weight other than 0"},
		{"zero seed", append(syn, "--seed", "0"), 2, "--seed = 0, want >= 1 (default 1)"},
		{"zero synthetic-requests", []string{"replay", "--synthetic", "--synthetic-requests", "0"}, 2, "--synthetic-requests = 0, want >= 1 (default 4000)"},
		{"zero max-request-blocks", append(syn, "--max-request-blocks", "0"), 2, "--max-request-blocks = 0, want >= 1"},
		{"zero max-in-flight", append(syn, "--max-in-flight", "0"), 2, "--max-in-flight = 0, want >= 1 (default 8)"},
		{"negative link-bandwidth", append(syn, "--link-bandwidth", "-1"), 2, "--link-bandwidth = -1, want bytes per second, a finite number > 0 (0: no shared link)"},
		{"bad lease", append(syn, "--lease", "hold"), 2, `--lease "hold", want none, touch or pin (empty: the preset's default)`},
		{"every problem at once", append(syn, "--k", "0", "--burst", "0"), 2, "--burst = 0"},

		{"empty trace", []string{"replay", "--trace", empty}, 1, "--trace " + empty + " holds no request"},
		{"every line skipped", []string{"replay", "--trace", allBad, "--skip-bad"}, 1, "holds no request (every line was bad and skipped: malformed=1)"},
		{"unwritable json", append(syn, "--json", filepath.Join(nodir, "r.json")), 2, "--json " + filepath.Join(nodir, "r.json") + " cannot be written (no such file or directory)"},
		{"unwritable csv", append(syn, "--csv", filepath.Join(nodir, "r.csv")), 2, "--csv " + filepath.Join(nodir, "r.csv") + " cannot be written"},
		{"unwritable plot", append(syn, "--plot", filepath.Join(nodir, "r.png")), 2, "--plot " + filepath.Join(nodir, "r.png") + " cannot be written"},
		{"plot is a directory", append(syn, "--plot", pngDir), 2, "--plot " + pngDir + " is a directory"},
		{"json is a directory", append(syn, "--json", dir), 2, "--json " + dir + " is a directory"},
		{"both to stdout", append(syn, "--json", "-", "--csv", "-"), 2, "only one can go to standard output"},
		{"plot to stdout", append(syn, "--plot", "-"), 2, "name it FILE.png"},

		{"bad shard", append(syn, "--shard", "3/2"), 2, `--shard "3/2", want I/N`},
		{"shard not a fraction", append(syn, "--shard", "2"), 2, `--shard "2", want I/N`},
		{"too many shards", append(syn, "--sweep-capacity", "0.1", "--restart", "0", "--sweep-lead", "0,1s", "--shard", "1/3"), 2, "--shard 1/3: the run cuts into at most 2 shards, one per scenario and lead (1 scenarios x 2 leads)"},
	} {
		t.Run(tt.name, func(t *testing.T) { checkExit(t, tt.args, tt.wantCode, tt.wantErr) })
	}
}

// The library's errors name its options by their Go fields; the CLI's
// name its flags.
func TestReplayErrorsNameFlags(t *testing.T) {
	dir := t.TempDir()
	bad := writeTestFile(t, filepath.Join(dir, "bad.jsonl"), "{\"timestamp\": 1, \"input_length\": 10}\n")
	for _, args := range [][]string{
		{"replay", "--trace", bad},
		{"replay", "--synthetic", "--k", "0", "--limit", "-1", "--interval", "0s", "--burst", "0", "--gets-per-second", "-1", "--half-life", "0s",
			"--get-bandwidth", "0", "--get-latency", "0s", "--bytes-per-token", "0", "--block-tokens", "0", "--synthetic-requests", "0", "--seed", "0"},
	} {
		var stdout, stderr, msg bytes.Buffer
		exitCode(run(context.Background(), args, &stdout, &stderr), &msg)
		if m := regexp.MustCompile(`ReadOptions|TopK|Limit |Interval|Burst|GetsPerSecond|HalfLife|GetBandwidth|GetLatency|BytesPerToken|BlockTokens|Requests =|Seed`).FindString(msg.String()); m != "" {
			t.Errorf("message names the Go field %q:\n%s", m, msg.String())
		}
		if !strings.Contains(msg.String(), "--") {
			t.Errorf("message %q names no flag", msg.String())
		}
	}
}

// A run that fails after its files were opened leaves none of them (nor
// their temporary files) behind, and an earlier file in place.
func TestReplayFailureLeavesNoFiles(t *testing.T) {
	dir := t.TempDir()
	bad := writeTestFile(t, filepath.Join(dir, "bad.jsonl"), "{\"timestamp\": 5, \"input_length\": 10, \"hash_ids\": [0]}\nnot json\n")
	old := writeTestFile(t, filepath.Join(dir, "old.json"), "earlier results")
	args := []string{"replay", "--trace", bad, "--json", old, "--csv", filepath.Join(dir, "r.csv"), "--plot", filepath.Join(dir, "r.png")}
	checkExit(t, args, 1, "bad.jsonl line 2")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"bad.jsonl", "old.json"}, names); diff != "" {
		t.Errorf("files after a failed run: mismatch (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(old); string(b) != "earlier results" {
		t.Errorf("the earlier --json file was changed: %q", b)
	}
}

// Ctrl-C stops the reading of a trace, not only the replay: with the
// context canceled, a trace whose second line is bad is not read far
// enough to find it.
func TestReplayInterruptStopsReading(t *testing.T) {
	dir := t.TempDir()
	bad := writeTestFile(t, filepath.Join(dir, "bad.jsonl"), "{\"timestamp\": 5, \"input_length\": 10, \"hash_ids\": [0]}\nnot json\n")
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
	jsonPath, csvPath, pngPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.csv"), filepath.Join(dir, "r.png")
	lines := "{\"timestamp\": 0, \"input_length\": 1024, \"hash_ids\": [0, 1]}\n" +
		"not json\n" +
		"{\"timestamp\": 700, \"input_length\": 512, \"hash_ids\": [2]}\n" +
		"{\"timestamp\": 2000, \"input_length\": 1024, \"hash_ids\": [0, 1]}\n"
	trace := writeTestFile(t, filepath.Join(dir, "t.jsonl"), lines)
	var stdout, stderr bytes.Buffer
	args := []string{"replay", "--synthetic", "--synthetic-requests", "300", "--trace", trace, "--skip-bad",
		"--policies", "none,hint-v3,oracle-v3", "--sweep-capacity", "10%", "--restart", "0",
		"--sweep-lead", "0,1s", "--json", jsonPath, "--csv", csvPath, "--plot", pngPath, "--progress-every", "0"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "skipped bad requests: malformed=1") {
		t.Errorf("stderr %q does not report the skipped line", stderr.String())
	}
	if strings.Contains(stderr.String(), "replays") {
		t.Errorf("progress written with --progress-every 0: %q", stderr.String())
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
	var rec struct {
		Version  string           `json:"version"`
		Command  []string         `json:"command"`
		Traces   []map[string]any `json:"traces"`
		Settings map[string]any   `json:"settings"`
		Results  []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Version == "" {
		t.Error("JSON lacks the version")
	}
	if diff := cmp.Diff(append([]string{"kvprefetch"}, args...), rec.Command); diff != "" {
		t.Errorf("JSON command: mismatch (-want +got):\n%s", diff)
	}
	sum := sha256.Sum256([]byte(lines))
	wantTrace := map[string]any{"name": "t.jsonl", "bytes": float64(len(lines)), "sha256": hex.EncodeToString(sum[:]),
		"requests": float64(3), "skipped": map[string]any{"malformed": float64(1)}}
	if len(rec.Traces) != 2 {
		t.Fatalf("JSON has %d traces, want 2", len(rec.Traces))
	}
	if diff := cmp.Diff(wantTrace, rec.Traces[0]); diff != "" {
		t.Errorf("JSON trace: mismatch (-want +got):\n%s", diff)
	}
	if rec.Traces[1]["name"] != "synthetic(seed=1)" || len(rec.Traces[1]["sha256"].(string)) != 64 {
		t.Errorf("JSON synthetic trace %v, want its name and a SHA-256", rec.Traces[1])
	}
	for _, f := range []string{"k", "interval_ms", "limit", "admission", "get_latency_ms", "get_bandwidth_bytes_per_s", "bytes_per_token",
		"gets_per_second", "burst", "rfc_weights", "half_life_s", "scenarios", "leads_ms", "policies", "skip_bad"} {
		if _, ok := rec.Settings[f]; !ok {
			t.Errorf("JSON settings lack %q", f)
		}
	}
	if len(rec.Results) != 2*2*3 {
		t.Errorf("%d JSON results, want 12 (2 traces x 2 leads x 3 policies)", len(rec.Results))
	}
	for _, f := range []string{"trace", "scenario", "capacity_bytes", "policy", "requests", "block_refs", "reused_refs", "hits",
		"late_prefetch_hits", "cold_loads", "stall", "prefix_stall", "cycles", "skipped_already_flat", "skipped_in_flight",
		"prefetch_gets", "prefetch_bytes", "useful", "wasted", "precision", "share_of_oracle_stall_reduction",
		"prefix_share_of_oracle_stall_reduction", "settings"} {
		if _, ok := rec.Results[0][f]; !ok {
			t.Errorf("JSON result lacks %q", f)
		}
	}

	c, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	csvLines := strings.Split(strings.TrimSpace(string(c)), "\n")
	var comments, rows []string
	for _, l := range csvLines {
		if strings.HasPrefix(l, "# ") {
			comments = append(comments, l)
		} else {
			rows = append(rows, l)
		}
	}
	if len(rows) != 1+12 || !strings.HasPrefix(rows[0], "trace,scenario,capacity_bytes,lead_ms,policy,") {
		t.Errorf("CSV: %d rows, header %q; want a header and 12 rows", len(rows), rows[0])
	}
	for _, want := range []string{"# command: kvprefetch replay --synthetic", fmt.Sprintf("# trace: t.jsonl, %d bytes, 3 requests, ", len(lines)), "sha256 " + hex.EncodeToString(sum[:]), "# settings: {"} {
		if !strings.Contains(strings.Join(comments, "\n"), want) {
			t.Errorf("CSV provenance lacks %q:\n%s", want, strings.Join(comments, "\n"))
		}
	}

	png, err := os.ReadFile(pngPath)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("plot: %v, %d bytes, want a PNG", err, len(png))
	}
}

// --json - puts the JSON on stdout, alone.
func TestReplayJSONToStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"replay", "--synthetic", "--synthetic-requests", "100", "--policies", "none,oracle-v3", "--sweep-capacity", "0.1", "--restart", "0", "--json", "-"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	var rec replayRecord
	if err := json.Unmarshal(stdout.Bytes(), &rec); err != nil {
		t.Fatalf("stdout is not the JSON alone: %v\n%s", err, stdout.String())
	}
	if len(rec.Results) != 2 {
		t.Errorf("%d results, want 2", len(rec.Results))
	}
}

// Two shards, merged, are the unsharded run: the same results, the same
// table. Merge refuses the shards of another run.
func TestReplayShardsMerge(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	base := []string{"replay", "--synthetic", "--synthetic-requests", "300", "--policies", "none,rfc0008-v3,hint-v3,oracle-v3",
		"--sweep-capacity", "0.1,0.2", "--restart", "0.2", "--sweep-lead", "0,1s", "--progress-every", "0"}
	replayTo := func(extra ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), append(append([]string{}, base...), extra...), &stdout, &stderr); err != nil {
			t.Fatalf("run %v: %v\nstderr: %s", extra, err, stderr.String())
		}
		return stdout.String()
	}
	wholeTable := replayTo("--json", path("whole.json"))
	replayTo("--shard", "1/2", "--json", path("a.json"))
	replayTo("--shard", "2/2", "--json", path("b.json"))
	replayTo("--shard", "1/2", "--json", path("k4.json"), "--k", "4")
	replayTo("--shard", "1/3", "--json", path("third.json"))

	var stdout, stderr bytes.Buffer
	// In either order, flags after the files too.
	err := run(context.Background(), []string{"replay", "merge", path("b.json"), path("a.json"), "--json", path("m.json"), "--plot", path("m.png")}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("merge: %v\nstderr: %s", err, stderr.String())
	}
	if diff := cmp.Diff(wholeTable, stdout.String()); diff != "" {
		t.Errorf("merged table differs from the run's (-want +got):\n%s", diff)
	}
	whole, err := readRecord(path("whole.json"))
	if err != nil {
		t.Fatal(err)
	}
	merged, err := readRecord(path("m.json"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(whole.Results, merged.Results, cmpopts.IgnoreUnexported(replay.Result{})); diff != "" {
		t.Errorf("merged results differ from the run's (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(whole.Settings, merged.Settings); diff != "" {
		t.Errorf("merged settings differ from the run's (-want +got):\n%s", diff)
	}
	if len(merged.MergedFrom) != 2 || merged.MergedFrom[0].Shard != "1/2" || merged.MergedFrom[1].Shard != "2/2" {
		t.Errorf("merged_from = %+v, want the two shards in order", merged.MergedFrom)
	}

	// A missing shard is named; the rest is merged.
	stdout.Reset()
	stderr.Reset()
	if err := run(context.Background(), []string{"replay", "merge", path("b.json")}, &stdout, &stderr); err != nil {
		t.Fatalf("merge of one shard: %v", err)
	}
	if !strings.Contains(stderr.String(), "1 of 2 shards; missing 1/2") {
		t.Errorf("stderr %q does not name the missing shard", stderr.String())
	}

	other := writeTestFile(t, path("other.jsonl"), "{\"timestamp\": 0, \"input_length\": 512, \"hash_ids\": [0]}\n")
	var os1, es1 bytes.Buffer
	args := []string{"replay", "--trace", other, "--policies", "none,rfc0008-v3,hint-v3,oracle-v3",
		"--sweep-capacity", "0.1,0.2", "--restart", "0.2", "--sweep-lead", "0,1s", "--shard", "2/2", "--json", path("othertrace.json")}
	if err := run(context.Background(), args, &os1, &es1); err != nil {
		t.Fatalf("run: %v\n%s", err, es1.String())
	}
	for _, tt := range []struct {
		name    string
		files   []string
		wantErr string
	}{
		{"other settings", []string{path("a.json"), path("k4.json")}, "k4.json was run with other settings than " + path("a.json") + " (k: 4 against 8)"},
		{"other traces", []string{path("a.json"), path("othertrace.json")}, "othertrace.json replays other traces than " + path("a.json") + ": other.jsonl (sha256"},
		{"shard twice", []string{path("a.json"), path("a.json")}, "both hold shard 1/2"},
		{"other cut", []string{path("a.json"), path("third.json")}, "is shard 1/2 and " + path("third.json") + " shard 1/3"},
		{"not a record", []string{other}, "want a file written by kvprefetch replay --json"},
		{"no file", nil, "replay merge: no file given"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code := 1
			if tt.files == nil {
				code = 2
			}
			checkExit(t, append([]string{"replay", "merge"}, tt.files...), code, tt.wantErr)
		})
	}
}

// A progress line comes every interval on a stderr that is not a
// terminal, with the count, the elapsed time and the time left; a bar on
// one that is. The clock is fake: no sleeping.
func TestReplayProgress(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	clock := func() time.Time { return now }
	at := func(d time.Duration) { now = start.Add(d) }

	var log bytes.Buffer
	p := newProgress(&log, false, 5*time.Second, clock, []int{6, 6}) // two parts of 6 rows
	at(time.Second)
	p.part(0)(1, 4) // no line yet: 1 s < 5 s
	at(6 * time.Second)
	p.part(0)(2, 4) // a line; the second part's total estimated
	at(8 * time.Second)
	p.part(0)(4, 4) // too soon after the last line
	at(11 * time.Second)
	p.tick() // a line from the ticker, though no replay finished
	at(12 * time.Second)
	p.part(1)(1, 3)
	at(20 * time.Second)
	p.part(1)(3, 3)
	p.finish()
	want := "replay: 2/~8 replays, 6s elapsed, about 18s left\n" +
		"replay: 4/~8 replays, 11s elapsed, about 11s left\n" +
		"replay: 7/7 replays, 20s elapsed\n" +
		"replay: 7/7 replays in 20s\n"
	if diff := cmp.Diff(want, log.String()); diff != "" {
		t.Errorf("log progress: mismatch (-want +got):\n%s", diff)
	}

	var quiet bytes.Buffer
	p = newProgress(&quiet, false, 0, clock, []int{1})
	p.part(0)(1, 1)
	p.finish()
	if quiet.Len() != 0 {
		t.Errorf("progress with interval 0 wrote %q", quiet.String())
	}

	var tty bytes.Buffer
	at(0)
	p = newProgress(&tty, true, 5*time.Second, clock, []int{4})
	at(2 * time.Second)
	p.part(0)(1, 4)
	at(4 * time.Second)
	p.part(0)(4, 4)
	p.finish()
	want = "\rreplay: [######------------------] 1/4 replays, 2s, about 6s left" +
		"\rreplay: [########################] 4/4 replays, 4s" + strings.Repeat(" ", len(", about 6s left")) + "\n"
	if diff := cmp.Diff(want, tty.String()); diff != "" {
		t.Errorf("terminal progress: mismatch (-want +got):\n%s", diff)
	}
}

// With a short interval, a run on a non-terminal stderr logs progress
// lines and a last one.
func TestReplayProgressLines(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"replay", "--synthetic", "--synthetic-requests", "100", "--policies", "none,oracle-v3", "--sweep-capacity", "0.1,0.2", "--restart", "0",
		"--progress-every", "1ns"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	if !regexp.MustCompile(`(?m)^replay: \d+/~?\d+ replays, \d+s elapsed`).MatchString(stderr.String()) ||
		!regexp.MustCompile(`(?m)^replay: 4/4 replays in \d+s$`).MatchString(stderr.String()) {
		t.Errorf("stderr lacks progress lines and the last one:\n%s", stderr.String())
	}
}

// The plot's categories: capacities in increasing order, the restarts
// after them; the baselines are reference lines, not policies.
func TestReplayPlotFigure(t *testing.T) {
	var results []replay.Result
	for _, sc := range []struct {
		name string
		cap  int64
	}{{"20%+restart", 20}, {"10%", 10}, {"5%", 5}} {
		for _, p := range []string{"none", "warmup-v3", "oracle-v3"} {
			results = append(results, replay.Result{Trace: "t", Scenario: sc.name, CapacityBytes: sc.cap, UniqueBytes: 100, Policy: p})
		}
	}
	f, err := newFigure(results)
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Cats, Groups, Policies []string
		Restarts               int
	}{f.cats, f.groups, f.policies, f.restarts}
	want := struct {
		Cats, Groups, Policies []string
		Restarts               int
	}{[]string{"5%", "10%", "20%+restart"}, []string{"0"}, []string{"warmup-v3"}, 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("figure: mismatch (-want +got):\n%s", diff)
	}
	if err := writePlot(&bytes.Buffer{}, nil); err == nil {
		t.Error("plot of no results: no error")
	}
}

// --policy FILE replays a policy spec beside the shipped policies, named
// by its file; the hint preset's own spec gives hint-v3's figures, and the
// record names the file by its SHA-256.
func TestReplayPolicyFile(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join("..", "..", "policy", "presets", "hints.json")
	var stdout, stderr bytes.Buffer
	args := []string{"replay", "--synthetic", "--synthetic-requests", "300", "--policies", "none,hint-v3,oracle-v3", "--policy", spec,
		"--sweep-capacity", "0.1", "--restart", "0", "--sweep-lead", "1s", "--json", filepath.Join(dir, "r.json"), "--progress-every", "0"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	rec, err := readRecord(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	shares := map[string]float64{}
	for _, r := range rec.Results {
		shares[r.Policy] = r.Share
	}
	if _, ok := shares["hints"]; !ok || shares["hints"] != shares["hint-v3"] || shares["hints"] <= 0 {
		t.Errorf("shares %v: want the file's policy, hints, at hint-v3's share (> 0)", shares)
	}
	b, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	want := []fileRecord{{Name: "hints", File: "hints.json", SHA256: hex.EncodeToString(sum[:])}}
	if diff := cmp.Diff(want, rec.Settings.PolicyFiles); diff != "" {
		t.Errorf("policy_files: mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"none", "hint-v3", "oracle-v3", "hints"}, rec.Settings.Policies); diff != "" {
		t.Errorf("policies: mismatch (-want +got):\n%s", diff)
	}

	shipped := writeTestFile(t, filepath.Join(dir, "hint-v3.json"), string(b))
	if err := os.Mkdir(filepath.Join(dir, "again"), 0o755); err != nil {
		t.Fatal(err)
	}
	again := writeTestFile(t, filepath.Join(dir, "again", "hints.json"), string(b))
	broken := writeTestFile(t, filepath.Join(dir, "broken.json"), "{not json")
	syn := []string{"replay", "--synthetic", "--synthetic-requests", "50"}
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"missing", append(syn, "--policy", filepath.Join(dir, "nope.json")), "--policy " + filepath.Join(dir, "nope.json") + ": no such file"},
		{"named as a shipped policy", append(syn, "--policy", shipped), "is named hint-v3, after its file, as a shipped policy is"},
		{"named twice", append(syn, "--policy", spec, "--policy", again), "is named hints, after its file, as an earlier --policy is"},
		{"broken", append(syn, "--policy", broken), "replay: --policy: "},
	} {
		t.Run(tt.name, func(t *testing.T) { checkExit(t, tt.args, 2, tt.wantErr) })
	}
}
