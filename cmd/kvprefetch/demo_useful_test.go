package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
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
