package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	prefetchRe = regexp.MustCompile(`(?m)^  prefetch: (\d+) blocks published: (\d+) useful, (\d+) late, (\d+) wasted \((\d+) evicted, (\d+) removed\), (\d+) unread; precision (\S+)$`)
	readsRe    = regexp.MustCompile(`(?m)^  reads: (\d+) \(flat (\d+), prefetched (\d+), joined (\d+), cold (\d+)\); the prefetcher served (\S+) of them`)
)

// atois converts a regexp match's groups to numbers.
func atois(t *testing.T, groups []string) []int {
	t.Helper()
	out := make([]int, len(groups))
	for i, g := range groups {
		n, err := strconv.Atoi(g)
		if err != nil {
			t.Fatalf("%q in the summary is not a number", g)
		}
		out[i] = n
	}
	return out
}

// TestDemoPrefetchSummary runs the demo with reading traffic: the summary
// tells what became of the prefetched blocks and where the reads were
// served, and its figures add up.
func TestDemoPrefetchSummary(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--cycles", "10", "--interval", "10ms", "--blocks", "200", "--block-size", "4KiB", "--read-traffic", "--flat-budget", "400KiB"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	m := prefetchRe.FindStringSubmatch(out)
	r := readsRe.FindStringSubmatch(out)
	if m == nil || r == nil {
		t.Fatalf("the summary lacks the prefetch or the reads line:\n%s", out)
	}
	p := atois(t, m[1:8])
	published, useful, late, wasted, evicted, removed, unread := p[0], p[1], p[2], p[3], p[4], p[5], p[6]
	if useful+late+wasted+unread != published || evicted+removed != wasted {
		t.Errorf("the prefetch line does not add up: %s", m[0])
	}
	if inFlat := summaryInFlat(t, out); published > inFlat {
		t.Errorf("%d blocks published by prefetch, more than the %d the cycles fetched", published, inFlat)
	}
	rd := atois(t, r[1:6])
	if rd[0] < 1 || rd[1]+rd[2]+rd[3]+rd[4] != rd[0] {
		t.Errorf("the reads line does not add up, or has no reads: %s", r[0])
	}
	if rd[2] != useful {
		t.Errorf("reads from prefetched blocks %d, want the %d useful blocks", rd[2], useful)
	}
	if !strings.Contains(stderr.String(), "after 10 cycles:\n  prefetch: ") {
		t.Errorf("stderr lacks the periodic summary after 10 cycles:\n%s", stderr.String())
	}
}

// TestDemoSummaryNoReads: without reading traffic, the summary says there
// were no reads and how to have some.
func TestDemoSummaryNoReads(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--cycles", "2", "--interval", "5ms", "--blocks", "50", "--block-size", "1KiB"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	if want := "  reads: none (the traffic reads blocks with --read-traffic"; !strings.Contains(stdout.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, stdout.String())
	}
}

// TestDemoShadows runs two candidates in shadow beside v3: the summary
// ends with a table of the live policy and each candidate, and a shadow
// fetches nothing (the cold tier sees the live GETs alone: every GET the
// store counts is one of its prefetches or of the reads).
func TestDemoShadows(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--cycles", "8", "--interval", "10ms", "--blocks", "200", "--block-size", "4KiB", "--read-traffic",
		"--shadow", "v2", "--shadow", "../../policy/presets/warmup.json"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	_, table, ok := strings.Cut(out, "\npolicies, live and in shadow (stall saved at the mean live GET time, ")
	if !ok {
		t.Fatalf("no comparison table:\n%s", out)
	}
	rowRe := regexp.MustCompile(`(?m)^  (.+?)\s+(live|shadow)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)$`)
	rows := rowRe.FindAllStringSubmatch(table, -1)
	var got [][2]string
	for _, r := range rows {
		got = append(got, [2]string{r[1], r[2]})
		n := atois(t, r[3:9])
		if prefetched, useful, late, wasted, unread := n[1], n[2], n[3], n[4], n[5]; useful+late+wasted+unread != prefetched {
			t.Errorf("row %q does not add up", r[0])
		}
		if r[2] == "shadow" && n[0] < 1 {
			t.Errorf("shadow %s ran no cycle: %q", r[1], r[0])
		}
	}
	want := [][2]string{{"preset v3", "live"}, {"v2", "shadow"}, {"../../policy/presets/warmup.json", "shadow"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("table rows mismatch (-want +got):\n%s\n%s", diff, table)
	}
	m := prefetchRe.FindStringSubmatch(out)
	r := readsRe.FindStringSubmatch(out)
	if m == nil || r == nil {
		t.Fatalf("the summary lacks the prefetch or the reads line:\n%s", out)
	}
	coldGets := regexp.MustCompile(`, (\d+) GETs\n`).FindStringSubmatch(out)
	if coldGets == nil {
		t.Fatalf("no GET count in the summary:\n%s", out)
	}
	// Every cold GET is a live prefetch's or a read's, or one the stop cut
	// short (at most v3's 8 fetches and a read): the shadows, whose
	// candidates would fetch dozens, sent none.
	gets, published, coldReads := atois(t, coldGets[1:2])[0], atois(t, m[1:2])[0], atois(t, r[5:6])[0]
	if gets < published+coldReads || gets > published+coldReads+9 {
		t.Errorf("the cold tier saw %d GETs, want the %d live prefetches plus the %d cold reads (and at most 9 cut short)", gets, published, coldReads)
	}
}

func TestDemoShadowErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown", []string{"--shadow", "nosuch"}, "demo: --shadow nosuch: neither a preset (v1, v2, v3, warmup, hints) nor a policy spec file, want one of those"},
		{"twice", []string{"--shadow", "v2", "--shadow", "v2"}, `invalid value "v2" for flag -shadow: "v2" given twice, want each candidate once`},
		{"with another error", []string{"--shadow", "nosuch", "--cycles", "0"}, "--cycles = 0, want >= 1\ndemo: --shadow nosuch: neither a preset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"demo"}, tc.args...), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
