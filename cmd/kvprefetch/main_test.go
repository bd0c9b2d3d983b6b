package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no command", nil, 2, "no command given"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"help", []string{"help"}, 0, ""},
		{"demo help", []string{"demo", "-h"}, 0, ""},
		{"bad flag", []string{"demo", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{"bad preset", []string{"demo", "--preset", "v9"}, 2, `unknown preset "v9", want one of v1, v2, v3, warmup, hints`},
		{"bad top-k", []string{"demo", "--top-k", "-1"}, 2, "--top-k = -1, want >= 1"},
		{"bad interval", []string{"demo", "--interval", "0s"}, 2, "--interval = 0s, want > 0"},
		{"bad cycles", []string{"demo", "--cycles", "0"}, 2, "--cycles = 0, want >= 1"},
		{"stray argument", []string{"demo", "extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkExit(t, tt.args, tt.wantCode, tt.wantErr) })
	}
}

// checkExit runs the CLI with args and checks its exit code and, when
// wantErr is set, that the message printed for its error contains wantErr.
func checkExit(t *testing.T, args []string, wantCode int, wantErr string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	var msg bytes.Buffer
	if got := exitCode(err, &msg); got != wantCode {
		t.Errorf("exit code = %d, want %d (err %v)", got, wantCode, err)
	}
	if wantErr != "" && !strings.Contains(msg.String(), wantErr) {
		t.Errorf("stderr message %q does not contain %q", msg.String(), wantErr)
	}
}

func TestDemoRunsEachPreset(t *testing.T) {
	for _, preset := range []string{"v1", "v2", "v3"} {
		t.Run(preset, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := []string{"demo", "--preset", preset, "--cycles", "3", "--interval", "5ms", "--blocks", "500", "--latency", "0s"}
			if err := run(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
			}
			out := stdout.String()
			fn := map[string]string{"v1": `"fn":"prefetch_cycle"`, "v2": `"fn":"prefetch_cycle_v2"`, "v3": `"fn":"prefetch_cycle_v3"`}[preset]
			if n := strings.Count(out, "[MyelonInstr] "); n < 3 {
				t.Errorf("got %d cycle lines, want >= 3:\n%s", n, out)
			}
			if !strings.Contains(out, fn) {
				t.Errorf("output lacks %s:\n%s", fn, out)
			}
			if !strings.Contains(out, "summary: preset "+preset+", 3 cycles") {
				t.Errorf("output lacks the summary of 3 cycles:\n%s", out)
			}
			fetchedNone := strings.Contains(out, "fetched 0 blocks")
			if preset == "v1" != fetchedNone {
				t.Errorf("preset %s: fetched-none = %v, want %v:\n%s", preset, fetchedNone, preset == "v1", out)
			}
		})
	}
}

func TestDemoInterruptStopsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"demo", "--preset", "v3", "--cycles", "1000", "--blocks", "100"}, &stdout, &stderr)
	if got := exitCode(err, &stderr); got != 1 {
		t.Errorf("exit code = %d, want 1 (err %v)", got, err)
	}
	if !strings.Contains(stdout.String(), "summary: preset v3") {
		t.Errorf("no summary after interrupt:\n%s", stdout.String())
	}
}
