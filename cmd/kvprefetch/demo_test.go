package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/store"
)

// lineWriter collects what is written to it and hands each complete line
// to lines (buffered; a test reads what it waits for).
type lineWriter struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	lines   chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 10000)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		select {
		case w.lines <- string(w.partial[:i]):
		default: // nobody waits for that many lines
		}
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// waitLine returns the first line that has prefix, failing the test when
// none came before done closed.
func waitLine(t *testing.T, w *lineWriter, prefix string, done <-chan struct{}) string {
	t.Helper()
	for {
		select {
		case l := <-w.lines:
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-done:
			t.Fatalf("the demo ended before printing a line starting %q:\n%s", prefix, w.String())
		}
	}
}

var fetchedRe = regexp.MustCompile(`fetched (\d+) blocks \((\d+) bytes`)

// summaryFetched reads the fetched count from the summary.
func summaryFetched(t *testing.T, out string) int {
	t.Helper()
	m := fetchedRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no fetched count in the summary:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

var cutShortRe = regexp.MustCompile(`and (\d+) blocks fetched by a cycle the stop cut short`)

// summaryInFlat reads from the summary how many blocks the run put in
// flat: those its cycles fetched, and those of a cycle the stop cut short.
func summaryInFlat(t *testing.T, out string) int {
	t.Helper()
	n := summaryFetched(t, out)
	if m := cutShortRe.FindStringSubmatch(out); m != nil {
		c, _ := strconv.Atoi(m[1])
		n += c
	}
	return n
}

// payloadOf is block h's payload as the demo seeds it, generated in one
// read of the ChaCha8 stream (payload generates it a MiB at a time).
func payloadOf(h block.Hash, size int64) []byte {
	p := make([]byte, size)
	rand.NewChaCha8(h).Read(p)
	return p
}

// checkFlat opens the flat dir and checks that it holds exactly want
// blocks of the demo's generated node in the default namespace, each byte
// for byte, and no temporary file.
func checkFlat(t *testing.T, flat string, seed uint64, blocks int, size int64, want int) {
	t.Helper()
	checkFlatNS(t, flat, "tp-default", seed, blocks, size, want)
}

// checkFlatNS is checkFlat in namespace ns.
func checkFlatNS(t *testing.T, flat, ns string, seed uint64, blocks int, size int64, want int) {
	t.Helper()
	filepath.WalkDir(flat, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("flat holds a temporary file %s", p)
		}
		return nil
	})
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{FlatDir: flat, ColdURL: "mem://"}) // an empty cold: Get reads flat only
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	node := generateNode(seed, blocks, size, time.Now(), 0)
	found := 0
	for _, h := range node.hashes {
		key := "wombatkv/v1/block/b3=" + h.String()
		got, err := s.Get(ctx, ns, key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("Get %s: %v", key, err)
		}
		found++
		if !bytes.Equal(got, payloadOf(h, size)) {
			t.Errorf("flat block %s differs from the cold payload", h)
		}
	}
	if st := s.Stats(); found != want || st.FlatBlocks != want {
		t.Errorf("flat holds %d blocks of the node (%d in all), want %d", found, st.FlatBlocks, want)
	}
}

// TestDemoDefaultTiers runs the demo with no tier flags: it makes
// temporary tiers, fetches with v3, and removes them.
func TestDemoDefaultTiers(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--cycles", "3", "--interval", "5ms", "--blocks", "300", "--block-size", "4KiB"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	if n := strings.Count(out, `[MyelonInstr] {"scope":"wmbt_kv_timing","fn":"prefetch_cycle_v3"`); n < 3 {
		t.Errorf("%d v3 cycle lines, want >= 3:\n%s", n, out)
	}
	if n := summaryFetched(t, out); n < 1 {
		t.Errorf("the summary says %d blocks fetched, want some:\n%s", n, out)
	}
	for _, want := range []string{"summary: preset v3, 3 cycles", "flat tier: ", "cold tier: 300 blocks seeded (1.2MiB)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "(temporary)") {
		t.Errorf("stderr does not name the temporary tiers:\n%s", stderr.String())
	}
	left, _ := os.ReadDir(tmp)
	if len(left) != 0 {
		t.Errorf("the demo left %d entries in TMPDIR (first %s), want none", len(left), left[0].Name())
	}
}

// TestDemoKeep keeps the temporary tiers and checks what the fetches left
// in flat against the cold payloads.
func TestDemoKeep(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	var stdout bytes.Buffer
	stderr := newLineWriter()
	args := []string{"demo", "--keep", "--preset", "v2", "--cycles", "2", "--interval", "5ms", "--blocks", "200", "--block-size", "3000", "--seed", "7"}
	if err := run(context.Background(), args, &stdout, stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`(?m)^flat tier: (\S+) \(temporary\)$`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("stderr does not name the flat tier:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "kept "+m[1]) {
		t.Errorf("stderr does not say the flat tier was kept:\n%s", stderr.String())
	}
	checkFlat(t, m[1], 7, 200, 3000, summaryInFlat(t, stdout.String()))
}

// s3Server is an S3-compatible server on loopback with one bucket, "cold",
// whose object GETs block while stall is set.
type s3Server struct {
	srv     *httptest.Server
	backend *s3mem.Backend
	mu      sync.Mutex
	stall   bool
	deny    func(*http.Request) bool // answers 403 AccessDenied when it says so
	arrived chan struct{}
}

func startS3(t *testing.T) *s3Server {
	t.Helper()
	s := &s3Server{backend: s3mem.New(), arrived: make(chan struct{}, 1000)}
	if err := s.backend.CreateBucket("cold"); err != nil {
		t.Fatal(err)
	}
	next := gofakes3.New(s.backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		stall, deny := s.stall, s.deny
		s.mu.Unlock()
		if deny != nil && deny(r) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		if stall && r.Method == http.MethodGet && strings.Count(r.URL.Path, "/") > 1 {
			s.arrived <- struct{}{}
			<-r.Context().Done()
			return
		}
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *s3Server) url() string {
	return "s3://cold?" + url.Values{"endpoint": {s.srv.URL}, "use_path_style": {"true"}, "region": {"us-east-1"}, "anonymous": {"true"}}.Encode()
}

func (s *s3Server) objects(t *testing.T) int {
	t.Helper()
	list, err := s.backend.ListBucket("cold", nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Contents)
}

// TestDemoS3 points the demo at an S3 server and a flat dir of the test's:
// it fetches, keeps flat, and removes the blocks it seeded in the bucket.
func TestDemoS3(t *testing.T) {
	s3 := startS3(t)
	flat := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--cold", s3.url(), "--flat", flat, "--cycles", "2", "--interval", "5ms", "--blocks", "150", "--block-size", "5000", "--seed", "3"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	n := summaryFetched(t, stdout.String())
	if n < 1 {
		t.Errorf("fetched %d blocks from S3, want some:\n%s", n, stdout.String())
	}
	if got := s3.objects(t); got != 0 {
		t.Errorf("the bucket holds %d objects after the demo, want its seeded blocks removed", got)
	}
	if !strings.Contains(stderr.String(), "removed the 150 seeded blocks") {
		t.Errorf("stderr does not report the removal:\n%s", stderr.String())
	}
	checkFlat(t, flat, 3, 150, 5000, summaryInFlat(t, stdout.String()))
}

// TestDemoInterruptMidFetch interrupts the demo while every GET is stalled
// at the server: it stops at once, prints its summary, and flat holds
// nothing partial.
func TestDemoInterruptMidFetch(t *testing.T) {
	s3 := startS3(t)
	s3.stall = true
	flat := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	errc := make(chan error, 1)
	go func() {
		args := []string{"demo", "--cold", s3.url(), "--flat", flat, "--cycles", "100", "--interval", "5ms", "--blocks", "100", "--block-size", "2000"}
		errc <- run(ctx, args, &stdout, &stderr)
	}()
	select {
	case <-s3.arrived:
	case err := <-errc:
		t.Fatalf("the demo ended (%v) before a GET reached the server:\n%s", err, stderr.String())
	}
	start := time.Now()
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run after Ctrl-C: err = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the demo took %v to stop", took)
	}
	var msg bytes.Buffer
	if code := exitCode(err, &msg); code != 1 || !strings.Contains(msg.String(), "interrupted") {
		t.Errorf("exit code %d, message %q; want 1 and interrupted", code, msg.String())
	}
	if !strings.Contains(stdout.String(), "summary: preset v3") {
		t.Errorf("no summary after the interrupt:\n%s", stdout.String())
	}
	checkFlat(t, flat, 1, 100, 2000, 0)
}

// TestDemoMetrics scrapes /metrics while the demo runs.
func TestDemoMetrics(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newLineWriter(), newLineWriter()
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		args := []string{"demo", "--metrics-addr", "127.0.0.1:0", "--cycles", "100000", "--interval", "5ms", "--blocks", "100", "--block-size", "1KiB", "--latency", "1ms"}
		runErr = run(ctx, args, stdout, stderr)
	}()
	addr := strings.TrimPrefix(waitLine(t, stderr, "metrics: ", done), "metrics: ")
	waitLine(t, stdout, "[MyelonInstr] ", done)
	waitLine(t, stdout, "[MyelonInstr] ", done) // the first cycle's metrics are in
	resp, err := http.Get(addr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{
		`kvprefetch_cycles_total{kv_namespace="tp-default"}`,
		`kvprefetch_blocks_fetched_total{kv_namespace="tp-default"}`,
		`kvprefetch_cycle_duration_seconds_count{kv_namespace="tp-default"}`,
		`kvprefetch_fetches_in_flight{kv_namespace="tp-default"}`,
		`kvprefetch_fetch_duration_seconds_count{kv_namespace="tp-default",result="fetched"}`,
		`kvprefetch_store_flat_bytes `,
		`kvprefetch_store_cold_gets_total `,
	} {
		if !bytes.Contains(body, []byte(name)) {
			t.Errorf("/metrics lacks %s:\n%s", name, body)
		}
	}
	cancel()
	<-done
	if !errors.Is(runErr, context.Canceled) {
		t.Errorf("run: err = %v, want context.Canceled", runErr)
	}
	if _, err := http.Get(addr); err == nil {
		t.Errorf("/metrics still served after the demo ended")
	}
}

func TestDemoUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"size without a number", []string{"--block-size", "KiB"}, []string{`invalid value "KiB" for flag -block-size: size "KiB": want bytes, or a number with a unit`}},
		{"size with a bad unit", []string{"--block-size", "12XB"}, []string{`size "12XB"`}},
		{"negative size", []string{"--block-size", "-1"}, []string{`size "-1"`}},
		{"zero block size", []string{"--block-size", "0"}, []string{"--block-size = 0, want >= 1 byte"}},
		{"cold without a scheme", []string{"--cold", "/data/cold"}, []string{`--cold = "/data/cold", want a URL with a scheme`}},
		{"unknown cold scheme", []string{"--cold", "gopher://x", "--blocks", "1"}, []string{`open the cold tier "gopher://x"`, "check --cold"}},
		{"bad admission", []string{"--admission", "fifo"}, []string{`--admission = "fifo", want "mru", "lru", "probation:F"`}},
		{"bad namespace", []string{"--namespace", "../x"}, []string{`--namespace: block: bad namespace "../x"`}},
		{"bad limit", []string{"--limit", "0"}, []string{"--limit = 0, want >= 1"}},
		{"negative count half-life", []string{"--count-half-life", "-1s"}, []string{"--count-half-life = -1s, want >= 0 (0: the index keeps no access counts)"}},
		{"several at once", []string{"--top-k", "0", "--cycles", "0"}, []string{"--top-k = 0, want >= 1", "--cycles = 0, want >= 1"}},
		{"bad metrics address", []string{"--metrics-addr", "nowhere", "--blocks", "1"}, []string{`--metrics-addr "nowhere"`, "want HOST:PORT"}},
		// The next ones would run (at a cost, before the checks) were they
		// not refused: one block, one cycle.
		{"block size over the maximum", []string{"--block-size", "300MiB", "--blocks", "1", "--cycles", "1", "--interval", "1ms"}, []string{"--block-size = 300MiB (314572800 bytes), want at most 256MiB"}},
		{"block larger than the flat budget", []string{"--block-size", "2MiB", "--flat-budget", "1MiB", "--blocks", "1", "--cycles", "1", "--interval", "1ms"}, []string{"--block-size = 2MiB, more than --flat-budget (1MiB): no block would fit in flat"}},
		{"block larger than the probation segment", []string{"--block-size", "2MiB", "--flat-budget", "10MiB", "--admission", "probation:0.1", "--blocks", "1", "--cycles", "1", "--interval", "1ms"}, []string{"--block-size = 2MiB, more than the 1MiB probation segment (0.1 of --flat-budget 10MiB): no block would fit in flat"}},
		// probation:1 is the store's (and the lab's): a segment of the whole budget.
		{"block larger than a whole-budget probation segment", []string{"--block-size", "2MiB", "--flat-budget", "1MiB", "--admission", "probation:1", "--blocks", "1", "--cycles", "1", "--interval", "1ms"}, []string{"--block-size = 2MiB, more than the 1MiB probation segment (1 of --flat-budget 1MiB): no block would fit in flat"}},
		{"top-k over the maximum", []string{"--top-k", "2000000", "--blocks", "1", "--cycles", "1", "--interval", "1ms"}, []string{"--top-k = 2000000, want at most 1048576"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"demo"}, tc.args...), &stdout, &stderr)
			var msg bytes.Buffer
			code := exitCode(err, &msg)
			wantCode := 2
			if tc.name == "unknown cold scheme" {
				wantCode = 1 // a valid URL the drivers do not know: found at open
			}
			if code != wantCode {
				t.Errorf("exit code = %d, want %d (err %v)", code, wantCode, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg.String(), w) {
					t.Errorf("message %q lacks %q", msg.String(), w)
				}
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false},
		{"65536", 65536, false},
		{"64KiB", 64 << 10, false},
		{"64kib", 64 << 10, false},
		{"64K", 64 << 10, false},
		{"1.5MiB", 3 << 19, false},
		{"2MB", 2e6, false},
		{"1kB", 1000, false},
		{"3 GiB", 3 << 30, false},
		{"7B", 7, false},
		{"1TiB", 1 << 40, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"+5", 0, true},
		{"1e3", 0, true},
		{"0x10", 0, true},
		{"NaN", 0, true},
		{"Inf", 0, true},
		{"12XB", 0, true},
		{"9223372036854775807", math.MaxInt64, false},
		{"9223372036854775807KiB", 0, true},
		{"99999999999TiB", 0, true},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	for _, tc := range []struct {
		n    int64
		want string
	}{{100, "100B"}, {64 << 10, "64KiB"}, {3 << 19, "1.5MiB"}, {1 << 30, "1GiB"}} {
		if got := sizeFlag(tc.n).String(); got != tc.want {
			t.Errorf("sizeFlag(%d).String() = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "64KiB", "1.5MiB", "2MB", "-1", "1e3", "9223372036854775807", "18446744073709551615", " 3 gib ", "0.0000001KiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("parseSize(%q) = %d, want >= 0", s, n)
		}
		if back, err := parseSize(strconv.FormatInt(n, 10)); err != nil || back != n {
			t.Fatalf("parseSize(%d) = %d, %v; want it back", n, back, err)
		}
		if n > 1<<62 {
			return // String rounds to one decimal, which may pass MaxInt64
		}
		str := sizeFlag(n).String()
		back, err := parseSize(str)
		if err != nil || math.Abs(float64(back-n)) > 0.05*float64(n)+1 {
			t.Fatalf("sizeFlag(%d).String() = %q parses to %d, %v; want about %d", n, str, back, err, n)
		}
	})
}

// stoppedNode fills dir as a stopped node leaves its flat tier: n blocks
// of size bytes, written through the store. It returns their keys.
func stoppedNode(t *testing.T, dir string, n int, size int64) []string {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{FlatDir: dir, ColdURL: "mem://", FlatBudget: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var keys []string
	for i := range n {
		var h block.Hash
		h[0], h[1] = 0xee, byte(i)
		key := block.Key(h)
		if err := s.Put(ctx, "tp-default", key, payloadOf(h, size)); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	return keys
}

// flatKeeps checks that the flat dir still holds every block of keys.
func flatKeeps(t *testing.T, dir string, keys []string) {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{FlatDir: dir, ColdURL: "mem://", FlatBudget: 1 << 40}) // an empty cold: Get reads flat only
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, key := range keys {
		if _, err := s.Get(ctx, "tp-default", key); err != nil {
			t.Errorf("the node's block %s is gone from flat: %v", key, err)
		}
	}
}

// TestDemoExistingFlat points --flat at a stopped node's cache of 3 MiB:
// the demo refuses to run when the budget has no room for it and for the
// run's blocks, and never evicts one of its blocks.
func TestDemoExistingFlat(t *testing.T) {
	run10 := []string{"--blocks", "10", "--block-size", "256KiB", "--cycles", "2", "--interval", "5ms"} // may fetch 2.5MiB
	tests := []struct {
		name string
		args []string
		want []string // in the error; none means the run succeeds
	}{
		{"over the budget", append([]string{"--flat-budget", "2MiB"}, run10...),
			[]string{"already holds 3MiB (3145728 bytes), more than the flat budget of 2MiB", "opening it would evict", "pass --flat-budget 3MiB or more"}},
		{"over the default budget", []string{"--blocks", "10", "--cycles", "1"}, nil}, // 3MiB is well under 1GiB
		{"no room for the run", append([]string{"--flat-budget", "3.5MiB"}, run10...),
			[]string{"already holds 3MiB (3145728 bytes), and this run may fetch 2.5MiB more (10 blocks of 256KiB), past the flat budget of 3.5MiB", "pass --flat-budget 5.5MiB or more", "--preset warmup"}},
		{"room for the run", append([]string{"--flat-budget", "5.5MiB"}, run10...), nil},
		{"warmup fetches only into free room", append([]string{"--flat-budget", "3.5MiB", "--preset", "warmup"}, run10...), nil},
		{"the dry run fetches nothing", append([]string{"--flat-budget", "3MiB", "--preset", "v1"}, run10...), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flat := t.TempDir()
			keys := stoppedNode(t, flat, 3, 1<<20)
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"demo", "--flat", flat}, tc.args...), &stdout, &stderr)
			var msg bytes.Buffer
			code := exitCode(err, &msg)
			if tc.want == nil && code != 0 {
				t.Fatalf("exit code %d, want 0: %s\nstderr:\n%s", code, msg.String(), stderr.String())
			}
			if tc.want != nil && code != 1 {
				t.Errorf("exit code %d, want 1 (err %v)", code, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg.String(), w) {
					t.Errorf("message %q lacks %q", msg.String(), w)
				}
			}
			flatKeeps(t, flat, keys)
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("the demo left %d entries in TMPDIR (first %s), want none", len(left), left[0].Name())
			}
		})
	}
}

// TestDemoEmptyFlatSmallBudget runs on an empty --flat directory with a
// budget smaller than the run: nothing there is another's, so it runs.
func TestDemoEmptyFlatSmallBudget(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	flat := filepath.Join(t.TempDir(), "new") // does not exist yet
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--flat", flat, "--flat-budget", "1MiB", "--blocks", "40", "--block-size", "256KiB", "--cycles", "2", "--interval", "5ms"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
}

func TestDirBytes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for name, size := range map[string]int{"a": 100, "sub/b": 20, "sub/deeper/c": 3, "empty": 0} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "big")
	os.WriteFile(outside, make([]byte, 1000), 0o644)
	os.Symlink(outside, filepath.Join(dir, "link")) // not followed, as the store does not
	link := filepath.Join(t.TempDir(), "flat")
	os.Symlink(dir, link) // followed: the store opens the directory it names
	for _, tc := range []struct {
		dir  string
		want int64
	}{{dir, 123}, {link, 123}, {filepath.Join(dir, "missing"), 0}, {outside, 0}} {
		got, err := dirBytes(ctx, tc.dir)
		if err != nil || got != tc.want {
			t.Errorf("dirBytes(%s) = %d, %v; want %d", tc.dir, got, err, tc.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := dirBytes(cancelled, dir); !errors.Is(err, context.Canceled) {
		t.Errorf("dirBytes with an ended context: err = %v, want context.Canceled", err)
	}
}

// TestDemoInterruptSeeding interrupts the demo while it seeds a cold
// tier it would take minutes to fill: it stops at once (the wait below is
// a bound for a hang, not a measure), prints its summary and removes its
// temporary tiers.
func TestDemoInterruptSeeding(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newLineWriter(), newLineWriter()
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		args := []string{"demo", "--blocks", "30000", "--block-size", "1MiB", "--cycles", "1"} // 29GiB
		runErr = run(ctx, args, stdout, stderr)
	}()
	waitLine(t, stderr, "seeding the cold tier: 30000 blocks of 1MiB", done)
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo still runs 30s after Ctrl-C during seeding:\n%s", stderr.String())
	}
	if !errors.Is(runErr, context.Canceled) {
		t.Errorf("run after Ctrl-C: err = %v, want context.Canceled", runErr)
	}
	if !strings.Contains(stdout.String(), "summary: preset v3, 0 cycles") {
		t.Errorf("no summary after the interrupt:\n%s", stdout.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the demo left %d entries in TMPDIR (first %s), want none", len(left), left[0].Name())
	}
}

func TestSeedWorkers(t *testing.T) {
	for _, tc := range []struct {
		size int64
		want int
	}{{1, 16}, {64 << 10, 16}, {4 << 20, 16}, {5 << 20, 12}, {16 << 20, 4}, {64 << 20, 1}, {maxBlockSize, 1}} {
		if got := seedWorkers(tc.size); got != tc.want {
			t.Errorf("seedWorkers(%s) = %d, want %d", sizeFlag(tc.size), got, tc.want)
		}
	}
	for size := int64(1); size <= maxBlockSize; size = size*3/2 + 1 {
		if n := seedWorkers(size); n < 1 || int64(n)*size > max(seedMemory, size) {
			t.Errorf("seedWorkers(%d) = %d: %d bytes of payloads at once, want 1 or more and at most %d", size, n, int64(n)*size, max(seedMemory, size))
		}
	}
}

func TestPayload(t *testing.T) {
	var h block.Hash
	h[0] = 9
	size := int64(5<<19 + 7) // 2.5MiB and a bit: chunks of a MiB and a short one
	got, err := payload(context.Background(), h, size)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payloadOf(h, size)) {
		t.Errorf("payload generated a MiB at a time differs from the stream read at once")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := payload(ctx, h, size); !errors.Is(err, context.Canceled) {
		t.Errorf("payload with an ended context: err = %v, want context.Canceled", err)
	}
}

// TestDemoColdDenied runs the demo against an S3 server that denies every
// request, as one does to wrong or missing credentials: the error names
// the real cause first, with what to check, and no failed clean-up of
// blocks never written comes before it.
func TestDemoColdDenied(t *testing.T) {
	s3 := startS3(t)
	s3.deny = func(*http.Request) bool { return true }
	t.Setenv("TMPDIR", t.TempDir())
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--cold", s3.url(), "--blocks", "100", "--block-size", "1KiB"}
	err := run(context.Background(), args, &stdout, &stderr)
	var msg bytes.Buffer
	if code := exitCode(err, &msg); code != 1 {
		t.Errorf("exit code %d, want 1 (err %v)", code, err)
	}
	if strings.Contains(stderr.String(), "remove") || strings.Contains(msg.String(), "remove") {
		t.Errorf("the demo reports removing blocks it never wrote:\nstderr:\n%s\nmessage:\n%s", stderr.String(), msg.String())
	}
	if !strings.HasPrefix(msg.String(), "kvprefetch: demo: seed the cold tier s3://cold?") {
		t.Errorf("message does not start with the seeding failure: %q", msg.String())
	}
	for _, w := range []string{"AccessDenied", "anonymous=true", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if !strings.Contains(msg.String(), w) {
			t.Errorf("message %q lacks %q", msg.String(), w)
		}
	}
}

// TestDemoColdDeniedMidway lets 20 writes through, then denies every
// request: seeding fails, the clean-up cannot remove what was written,
// and the error says both, the cause first.
func TestDemoColdDeniedMidway(t *testing.T) {
	s3 := startS3(t)
	var puts atomic.Int64
	s3.deny = func(r *http.Request) bool {
		return r.Method != http.MethodPut || puts.Add(1) > 20
	}
	t.Setenv("TMPDIR", t.TempDir())
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--cold", s3.url(), "--blocks", "300", "--block-size", "1KiB"}
	err := run(context.Background(), args, &stdout, &stderr)
	var msg bytes.Buffer
	if code := exitCode(err, &msg); code != 1 {
		t.Errorf("exit code %d, want 1 (err %v)", code, err)
	}
	n := s3.objects(t)
	if n != 20 {
		t.Fatalf("the bucket holds %d objects, want the 20 written before the server denied", n)
	}
	m := msg.String()
	cause, cleanup := strings.Index(m, "seed the cold tier"), strings.Index(m, "remove the seeded blocks")
	if cause < 0 || cleanup < cause || !strings.Contains(m, fmt.Sprintf("(after %d of 300 blocks)", n)) || !strings.Contains(m, fmt.Sprintf("%d of %d left there", n, n)) {
		t.Errorf("message does not give the seeding failure (after %d of 300 blocks), then the %d blocks left:\n%s", n, n, m)
	}
	if strings.Contains(m, "AWS_ACCESS_KEY_ID") {
		t.Errorf("message blames the credentials though %d blocks were written:\n%s", n, m)
	}
}

// TestDemoFailuresLeaveNoTempDirs fails the demo in each way it can after
// creating its temporary tiers, and checks that it removed them.
func TestDemoFailuresLeaveNoTempDirs(t *testing.T) {
	blocked := t.TempDir() // a cold bucket where no block can be written
	os.WriteFile(filepath.Join(blocked, "tp-default"), nil, 0o644)
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o644)
	full := t.TempDir()
	stoppedNode(t, full, 2, 1<<20)
	interrupted, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		args []string
		want string
	}{
		{"unknown cold scheme", nil, []string{"--cold", "gopher://x"}, "check --cold"},
		{"cold tier missing", nil, []string{"--cold", "file:///nonexistent-kvprefetch"}, "check --cold"},
		{"flat not a directory", nil, []string{"--flat", notDir}, "not a directory"},
		{"flat with no room", nil, []string{"--flat", full, "--flat-budget", "1MiB"}, "already holds 2MiB"},
		{"seeding fails", nil, []string{"--cold", "file://" + filepath.ToSlash(blocked)}, "seed the cold tier"},
		{"interrupted before seeding", interrupted, nil, "interrupted"},
		{"bad metrics address", nil, []string{"--metrics-addr", "nowhere"}, "want HOST:PORT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			var stdout, stderr bytes.Buffer
			err := run(ctx, append([]string{"demo", "--blocks", "50", "--block-size", "1KiB"}, tc.args...), &stdout, &stderr)
			var msg bytes.Buffer
			if code := exitCode(err, &msg); code == 0 || !strings.Contains(msg.String(), tc.want) {
				t.Errorf("exit code %d, message %q; want a failure saying %q", code, msg.String(), tc.want)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("the demo left %d entries in TMPDIR (first %s), want none", len(left), left[0].Name())
			}
		})
	}
}

func TestExitCodeInterruptedCleanup(t *testing.T) {
	err := errors.Join(context.Canceled, errors.New("demo: remove the seeded blocks from s3://b: 3 of 3 left there: boom"))
	var msg bytes.Buffer
	if code := exitCode(err, &msg); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	want := "kvprefetch: interrupted\nkvprefetch: demo: remove the seeded blocks from s3://b: 3 of 3 left there: boom\n"
	if diff := cmp.Diff(want, msg.String()); diff != "" {
		t.Errorf("message mismatch (-want +got):\n%s", diff)
	}
}

func TestCeilSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0B"}, {1000, "1000B"}, {1 << 10, "1KiB"}, {1<<10 + 1, "1.1KiB"},
		{3 << 20, "3MiB"}, {3<<20 + 1, "3.1MiB"}, {5<<19 + 1, "2.6MiB"}, {1299 << 20, "1.3GiB"},
	} {
		if got := ceilSize(tc.n).String(); got != tc.want {
			t.Errorf("ceilSize(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
	for n := int64(1); n < 1<<50; n = n*7/3 + 13 {
		s := ceilSize(n)
		back, err := parseSize(s.String())
		if err != nil || back < n || float64(back) > 1.1*float64(n)+1 {
			t.Errorf("ceilSize(%d) = %s reads back as %d, %v; want at least %d and at most 10%% more", n, s, back, err, n)
		}
	}
}
