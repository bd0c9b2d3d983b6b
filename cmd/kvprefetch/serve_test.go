package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/server"
)

// serveBlock is the i-th test block: its hash, payload and metadata.
func serveBlock(i, size int) (block.Hash, []byte) {
	var h block.Hash
	copy(h[:], fmt.Sprintf("serve-block-%08d..................", i))
	p := make([]byte, size)
	for j := range p {
		p[j] = byte(i*131 + j*7 + j>>9)
	}
	return h, p
}

// serveClient talks to one server and checks its answers.
type serveClient struct {
	t    testing.TB
	url  string
	http *http.Client
}

func newServeClient(t testing.TB, url string) *serveClient {
	c := &serveClient{t: t, url: url, http: &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}}
	t.Cleanup(c.http.CloseIdleConnections)
	return c
}

func (c *serveClient) do(method, path string, body io.Reader, hdr ...string) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// put stores block i with its parent and position in headers.
func (c *serveClient) put(i, size int) {
	c.t.Helper()
	h, p := serveBlock(i, size)
	parent, _ := serveBlock(i-1, 0)
	code, _, body := c.do(http.MethodPut, "/v1/blocks/tp-default/"+h.String(), bytes.NewReader(p),
		server.HeaderParent, parent.String(), server.HeaderPosition, strconv.Itoa(i))
	if code != http.StatusCreated {
		c.t.Fatalf("PUT block %d: %d %s", i, code, body)
	}
}

// check GETs block i and compares it byte for byte; withMeta also wants
// the metadata its PUT gave, from the index.
func (c *serveClient) check(i, size int, withMeta bool) {
	c.t.Helper()
	h, p := serveBlock(i, size)
	code, hdr, body := c.do(http.MethodGet, "/v1/blocks/tp-default/"+h.String(), nil)
	if code != http.StatusOK || !bytes.Equal(body, p) {
		c.t.Errorf("GET block %d: %d, %d bytes; want 200 and its %d bytes", i, code, len(body), size)
		return
	}
	parent, _ := serveBlock(i-1, 0)
	if withMeta && (hdr.Get(server.HeaderParent) != parent.String() || hdr.Get(server.HeaderPosition) != strconv.Itoa(i)) {
		c.t.Errorf("GET block %d: parent %q position %q, want the index's %s and %d", i, hdr.Get(server.HeaderParent), hdr.Get(server.HeaderPosition), parent, i)
	}
}

func (c *serveClient) status() server.Status {
	c.t.Helper()
	code, _, body := c.do(http.MethodGet, "/v1/status", nil)
	var st server.Status
	if code != http.StatusOK || json.Unmarshal(body, &st) != nil {
		c.t.Fatalf("status: %d %s", code, body)
	}
	return st
}

// addrWriter is the stdout of an in-process serve: it hands over the
// address serve says it listens on.
type addrWriter struct {
	once sync.Once
	addr chan string
	mu   sync.Mutex
	buf  bytes.Buffer
}

func newAddrWriter() *addrWriter { return &addrWriter{addr: make(chan string, 1)} }

func (w *addrWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if _, rest, ok := strings.Cut(w.buf.String(), "listening on "); ok {
		if url, _, ok := strings.Cut(rest, " "); ok {
			w.once.Do(func() { w.addr <- url })
		}
	}
	return len(p), nil
}

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of a
// server's logs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// serving is an in-process `kvprefetch serve`.
type serving struct {
	url    string
	cancel context.CancelFunc
	done   chan error
	stderr *lockedBuffer
}

// startServe runs serve with args in this process until stop.
func startServe(t *testing.T, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := newAddrWriter()
	s := &serving{cancel: cancel, done: make(chan error, 1), stderr: new(lockedBuffer)}
	go func() {
		s.done <- run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), out, s.stderr)
	}()
	select {
	case s.url = <-out.addr:
	case err := <-s.done:
		cancel()
		t.Fatalf("serve ended before listening: %v\n%s", err, s.stderr)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not listen within 30 s:\n%s", s.stderr)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop signals serve as SIGTERM would and returns what run returned.
func (s *serving) stop(t *testing.T) error {
	t.Helper()
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not stop within 60 s:\n%s", s.stderr)
	}
	return nil
}

func TestServeUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := func(body string) string {
		p := filepath.Join(dir, fmt.Sprintf("c%d.json", len(body)))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := filepath.Join(dir, "empty-token")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	cold := "file://" + dir + "/cold?create_dir=true"
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no flat", []string{"serve", "--cold", cold}, "--flat is missing"},
		{"no cold", []string{"serve", "--flat", dir + "/f"}, "--cold is missing"},
		{"bad namespace", []string{"serve", "--flat", dir + "/f", "--cold", cold, "--namespace", "a/b"}, "--namespace"},
		{"bad budget", []string{"serve", "--flat", dir + "/f", "--cold", cold, "--flat-budget", "0"}, "--flat-budget = 0"},
		{"bad policy", []string{"serve", "--flat", dir + "/f", "--cold", cold, "--background", "nosuch"}, "--background"},
		{"config unknown field", []string{"serve", "--config", cfg(`{"flat":"x","colt":"y"}`)}, `unknown field "colt"`},
		{"config bad size", []string{"serve", "--config", cfg(`{"flat":"x","cold":"mem://","flat_budget":"lots"}`)}, "flat_budget"},
		{"config bad inline policy", []string{"serve", "--config", cfg(`{"flat":"x","cold":"mem://","hints":{"sources":["hints"],"scorer":"deadlin"}}`)}, "deadlin"},
		{"bad count half-life", []string{"serve", "--flat", dir + "/f", "--cold", cold, "--count-half-life", "-1s"}, "--count-half-life = -1s, want >= 0"},
		{"config bad count half-life", []string{"serve", "--config", cfg(`{"flat":"x","cold":"mem://","count_half_life":"soon"}`)}, `count_half_life: "soon": want a duration`},
		{"a frequency policy without counts", []string{"serve", "--flat", dir + "/f", "--cold", cold, "--background", "../../docs/policies/warmup-frequency.json"}, "frequency: score: Frequency.Counts keeps no access counts"},
		{"empty token file", []string{"serve", "--flat", dir + "/f", "--cold", cold, "--token-file", empty}, "is empty"},
		{"stray argument", []string{"serve", "--flat", dir + "/f", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkExit(t, tt.args, 2, tt.wantErr) })
	}
	checkExit(t, []string{"serve", "-h"}, 0, "")
}

// TestServeGracefulShutdown: a PUT in flight when SIGTERM comes
// finishes; then the listener is closed, the snapshot written, the store
// closed, and serve returns nil (exit 0). A restart restores the index.
func TestServeGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--flat", dir + "/flat", "--cold", "file://" + dir + "/cold?create_dir=true", "--snapshot-interval", "1h"}
	s := startServe(t, args...)
	c := newServeClient(t, s.url)
	for i := range 10 {
		c.put(i, 3000)
	}
	// A PUT whose body is half sent when the signal comes.
	h, p := serveBlock(100, 1<<20)
	pr, pw := io.Pipe()
	putDone := make(chan int, 1)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // not an idle connection Shutdown may close first
	go func() {
		req, _ := http.NewRequest(http.MethodPut, s.url+"/v1/blocks/tp-default/"+h.String(), pr)
		req.ContentLength = int64(len(p))
		req.Header.Set(server.HeaderPosition, "100")
		parent, _ := serveBlock(99, 0)
		req.Header.Set(server.HeaderParent, parent.String())
		resp, err := fresh.Do(req)
		if err != nil {
			putDone <- 0
			return
		}
		resp.Body.Close()
		putDone <- resp.StatusCode
	}()
	if _, err := pw.Write(p[:len(p)/2]); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "the PUT's handler to run", func() bool {
		_, _, m := c.do(http.MethodGet, "/metrics", nil)
		return strings.Contains(string(m), `kvprefetch_http_requests_in_flight{route="/v1/blocks/{namespace}/{key...}"} 1`)
	})
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop(t) }()
	// Draining: /readyz fails, or the listener is already closed.
	waitCond(t, "the drain to begin", func() bool { return strings.Contains(s.stderr.String(), "draining") })
	if _, err := pw.Write(p[len(p)/2:]); err != nil {
		t.Fatalf("sending the rest of the PUT in flight: %v (the PUT answered %d)\n%s", err, <-putDone, s.stderr)
	}
	pw.Close()
	if code := <-putDone; code != http.StatusCreated {
		t.Errorf("the PUT in flight at SIGTERM: status %d, want 201", code)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("serve after SIGTERM: %v, want nil (exit 0)\n%s", err, s.stderr)
	}
	if !strings.Contains(s.stderr.String(), "index snapshot written") {
		t.Errorf("no snapshot at shutdown:\n%s", s.stderr)
	}
	if _, err := http.Get(s.url + "/healthz"); err == nil {
		t.Error("the server still answers after shutdown")
	}

	// The restart restores the index: the metadata of every block PUT.
	s2 := startServe(t, args...)
	if !strings.Contains(s2.stderr.String(), "entries=11") {
		t.Errorf("restart log does not say the 11 entries were restored:\n%s", s2.stderr)
	}
	c2 := newServeClient(t, s2.url)
	if got := c2.status().Index.Entries; got != 11 {
		t.Errorf("index after restart: %d entries, want 11", got)
	}
	for i := range 10 {
		c2.check(i, 3000, true)
	}
	c2.check(100, 1<<20, true)
}

// TestServeCorruptSnapshot: a damaged snapshot is refused, said so, and
// the node serves the flat tier's blocks with an empty index.
func TestServeCorruptSnapshot(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--flat", dir + "/flat", "--cold", "file://" + dir + "/cold?create_dir=true"}
	s := startServe(t, args...)
	c := newServeClient(t, s.url)
	for i := range 3 {
		c.put(i, 1000)
	}
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "flat", snapshotName)
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(snap, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := startServe(t, args...)
	if !strings.Contains(s2.stderr.String(), "index snapshot refused") || !strings.Contains(s2.stderr.String(), "corrupt") {
		t.Errorf("the restart does not say the snapshot was refused as corrupt:\n%s", s2.stderr)
	}
	c2 := newServeClient(t, s2.url)
	if got := c2.status().Index.Entries; got != 0 {
		t.Errorf("index after a refused snapshot: %d entries, want 0", got)
	}
	for i := range 3 {
		c2.check(i, 1000, false)
	}
	if got := c2.status().Index.Entries; got != 3 {
		t.Errorf("index after reading the 3 blocks: %d entries, want 3", got)
	}
}

// TestServeConfigFile: one config file sets the tiers, the limits and an
// inline hint policy; a token file guards the write routes.
func TestServeConfigFile(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("tkn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "serve.json")
	body := fmt.Sprintf(`{
	  "flat": %q, "cold": %q, "flat_budget": "8MiB", "max_block_bytes": 4096,
	  "token_file": %q, "background": "none",
	  "hints": {"about": "mine", "interval": "50ms", "sources": ["hints"], "scorer": "deadline",
	            "pre_filters": ["already-flat"], "fetcher": "sequential"}
	}`, dir+"/flat", "file://"+dir+"/cold?create_dir=true", tok)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--config", conf)
	c := newServeClient(t, s.url)
	st := c.status()
	if len(st.Policies) != 1 || st.Policies[0].Name != "hints" || st.Policies[0].About != "mine" || st.Flat.BudgetBytes != 8<<20 {
		t.Errorf("status = %+v, want the config's one hint policy and budget", st)
	}
	h, p := serveBlock(1, 5000)
	if code, _, _ := c.do(http.MethodPut, "/v1/blocks/tp-default/"+h.String(), bytes.NewReader(p), "Authorization", "Bearer tkn"); code != http.StatusRequestEntityTooLarge {
		t.Errorf("PUT over max_block_bytes: %d, want 413", code)
	}
	if code, _, _ := c.do(http.MethodPut, "/v1/blocks/tp-default/"+h.String(), bytes.NewReader(p[:100])); code != http.StatusUnauthorized {
		t.Errorf("PUT without the token: %d, want 401", code)
	}
	if code, _, _ := c.do(http.MethodPut, "/v1/blocks/tp-default/"+h.String(), bytes.NewReader(p[:100]), "Authorization", "Bearer tkn"); code != http.StatusCreated {
		t.Errorf("PUT with the token: %d, want 201", code)
	}
}

// TestServeAccessCounts: with --count-half-life the index keeps access
// counts, and a background policy that ranks by them runs.
func TestServeAccessCounts(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, "--flat", dir+"/flat", "--cold", "file://"+dir+"/cold?create_dir=true",
		"--count-half-life", "5m", "--background", "../../docs/policies/warmup-frequency.json")
	c := newServeClient(t, s.url)
	st := c.status()
	if len(st.Policies) == 0 || !strings.Contains(st.Policies[0].About, "decayed access count") {
		t.Errorf("status policies = %+v, want the frequency warm-up first", st.Policies)
	}
	c.put(1, 1000)
	c.check(1, 1000, false)
	if err := s.stop(t); err != nil {
		t.Errorf("serve: %v", err)
	}
}

// waitCond polls cond until it holds, failing after a generous deadline
// (a condition that never holds, not a timing target).
func waitCond(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
