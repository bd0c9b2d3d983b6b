package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/server"
	"github.com/wombatkv/prefetch/stages/snapshot"
	"github.com/wombatkv/prefetch/store"
)

// The tests run real servers and workers: none may outlive its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node is a server on 127.0.0.1 over real tiers, with the hint preset's
// pipeline running for namespace "ns".
type node struct {
	url   string
	st    *store.Store
	idx   *index.Memory
	hints *snapshot.Hints
	srv   *server.Server
	cold  string // the cold tier's directory
}

type nodeOptions struct {
	token      string
	flatBudget int64
	maxBlock   int64
	maxHints   int
}

const testNS = "ns"

// startNode starts a node and stops it at the test's end.
func startNode(t testing.TB, o nodeOptions) *node {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	n := &node{cold: filepath.Join(dir, "cold")}
	st, err := store.Open(ctx, store.Config{
		FlatDir:    filepath.Join(dir, "flat"),
		ColdURL:    "file://" + n.cold + "?create_dir=true",
		FlatBudget: o.flatBudget,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.st, n.idx = st, index.NewMemory(nil)
	n.hints = snapshot.NewHints(snapshot.HintsConfig{Lookup: func(h block.Hash) (block.Meta, bool) {
		m, _ := n.idx.Get(h)
		return m, true
	}})
	spec, err := policy.Preset("hints")
	if err != nil {
		t.Fatal(err)
	}
	log := new(server.CycleLog)
	cfg, err := spec.Build(policy.Env{Index: n.idx, Store: st, Hints: n.hints, Emitters: []pipeline.Emitter{log}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Namespace = testNS
	cfg.Interval = 20 * time.Millisecond
	p, err := pipeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := pipeline.NewWorker(p)
	n.hints.SetNotify(w.Wake)
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(st.Collector())
	n.srv, err = server.New(server.Config{
		Store: st, Index: n.idx,
		Hints:         map[string]*snapshot.Hints{testNS: n.hints},
		Policies:      []server.Policy{{Name: "hints", About: spec.About(), Cycles: log}},
		Token:         []byte(o.token),
		MaxBlockBytes: o.maxBlock,
		MaxHintBlocks: o.maxHints,
		Gatherer:      reg, Registerer: reg,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: n.srv, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	n.url = "http://" + ln.Addr().String()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		w.Stop()
		st.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return n
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// errBody decodes a JSON error answer.
func (a answer) errBody(t testing.TB) (code, field string) {
	t.Helper()
	var e struct{ Code, Message, Field string }
	if err := json.Unmarshal(a.body, &e); err != nil || e.Code == "" || e.Message == "" {
		t.Fatalf("answer %d %q is not a JSON error with a code and a message", a.status, a.body)
	}
	return e.Code, e.Field
}

// do sends a request and reads its answer whole.
func do(t testing.TB, method, url string, body []byte, hdr ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// hashN is the i-th test block's hash.
func hashN(i int) block.Hash {
	var h block.Hash
	copy(h[:], fmt.Sprintf("block-%06d-%s", i, "padding-to-32-bytes!!"))
	return h
}

// payloadN is the i-th test block's payload, of size bytes.
func payloadN(i, size int) []byte {
	p := make([]byte, size)
	for j := range p {
		p[j] = byte(i*31 + j*7 + j>>8)
	}
	return p
}

// blockURL is the URL of block h in namespace ns.
func (n *node) blockURL(ns string, h block.Hash) string {
	return n.url + "/v1/blocks/" + ns + "/" + block.Key(h)
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (a condition that never holds, not a timing target).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 20 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
