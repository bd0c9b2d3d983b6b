package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/store/gocloud"
)

const testNS = "tp-test"

// testBlock is a block with a random hash and payload.
type testBlock struct {
	hash    block.Hash
	payload []byte
}

func newBlock(t testing.TB, size int) testBlock {
	t.Helper()
	var b testBlock
	rand.Read(b.hash[:])
	b.payload = make([]byte, size)
	rand.Read(b.payload)
	return b
}

func (b testBlock) key() string { return block.Key(b.hash) }

// meta is the block's index entry: its size, as the index knows it.
func (b testBlock) meta() block.Meta { return block.Meta{PayloadBytes: uint64(len(b.payload))} }

// cand is the block as the fetch stage's candidate.
func (b testBlock) cand() pipeline.Candidate { return pipeline.Candidate{Hash: b.hash, Meta: b.meta()} }

// open opens a store on a fresh flat dir, failing the test on error, and
// closes it at cleanup.
func open(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.FlatDir == "" {
		cfg.FlatDir = t.TempDir()
	}
	if cfg.ColdURL == "" && cfg.Cold == nil {
		cfg.ColdURL = "mem://"
	}
	if cfg.Cold == nil && strings.HasPrefix(cfg.ColdURL, "s3://") {
		// The store opens no S3 tier itself: store/gocloud does.
		c, err := gocloud.Open(context.Background(), cfg.ColdURL)
		if err != nil {
			t.Fatalf("gocloud.Open: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		cfg.Cold = c
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// flatFiles lists every file under dir (relative, slash-separated), the
// lock file excepted, with its content.
func flatFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == lockName {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return files
}

// flatBlocks returns the payloads in flat by hash, failing the test if any
// other file (a temporary one, say) is there.
func flatBlocks(t testing.TB, dir string) map[block.Hash][]byte {
	t.Helper()
	got := make(map[block.Hash][]byte)
	for rel, data := range flatFiles(t, dir) {
		parts := strings.Split(rel, "/")
		h, err := block.ParseKey(block.KeyPrefix + parts[len(parts)-1])
		if len(parts) != 3 || err != nil || parts[1] != parts[2][:2] {
			t.Errorf("flat holds %s, want only <ns>/<2 hex>/<64 hex> block files", rel)
			continue
		}
		got[h] = data
	}
	return got
}

func wantFlat(blocks ...testBlock) map[block.Hash][]byte {
	m := make(map[block.Hash][]byte)
	for _, b := range blocks {
		m[b.hash] = b.payload
	}
	return m
}

// fakeS3 is an S3-compatible server (gofakes3) on loopback with fault
// injection, holding one bucket, "cold".
type fakeS3 struct {
	srv     *httptest.Server
	backend *s3mem.Backend
	gets    atomic.Int64 // GETs of objects
	reqs    atomic.Int64 // every request

	mu    sync.Mutex
	fault func(w http.ResponseWriter, r *http.Request, next http.Handler) bool
}

func startS3(t testing.TB) *fakeS3 {
	t.Helper()
	f := &fakeS3{backend: s3mem.New()}
	if err := f.backend.CreateBucket("cold"); err != nil {
		t.Fatal(err)
	}
	next := gofakes3.New(f.backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.reqs.Add(1)
		if r.Method == http.MethodGet && strings.Count(r.URL.Path, "/") > 1 {
			f.gets.Add(1)
		}
		f.mu.Lock()
		fault := f.fault
		f.mu.Unlock()
		if fault != nil && fault(w, r, next) {
			return
		}
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// url is the s3:// URL of the bucket, path-style at the loopback endpoint.
func (f *fakeS3) url() string {
	return "s3://cold?" + url.Values{
		"endpoint":       {f.srv.URL},
		"use_path_style": {"true"},
		"region":         {"us-east-1"},
		"anonymous":      {"true"},
	}.Encode()
}

// setFault installs fn, which handles a request itself when it returns
// true; nil removes it.
func (f *fakeS3) setFault(fn func(w http.ResponseWriter, r *http.Request, next http.Handler) bool) {
	f.mu.Lock()
	f.fault = fn
	f.mu.Unlock()
}

// isGet reports whether r GETs an object's body.
func isGet(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Count(r.URL.Path, "/") > 1
}

// recorded runs next on r and returns what it wrote.
func recorded(next http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	return rec
}

// copyHeader copies the recorded headers to w.
func copyHeader(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
}

// tmpFiles lists the temporary files under dir.
func tmpFiles(t testing.TB, dir string) []string {
	t.Helper()
	var tmps []string
	for rel := range flatFiles(t, dir) {
		if strings.HasPrefix(filepath.Base(rel), tmpPrefix) {
			tmps = append(tmps, rel)
		}
	}
	sort.Strings(tmps)
	return tmps
}

func mustEqual(t testing.TB, what string, want, got []byte) {
	t.Helper()
	if !bytes.Equal(want, got) {
		t.Errorf("%s: got %d bytes, want %d bytes (equal: false)", what, len(got), len(want))
	}
}

func reasonOf(err error) string { return pipeline.FailureReason(err) }

// fetcher is one of the fetch stage's strategies.
type fetcher struct {
	name string
	f    pipeline.Fetcher                            // over the Materializer given to fetchers
	with func(m fetch.Materializer) pipeline.Fetcher // over another
}

// fetchers are the fetch stage's strategies over m.
func fetchers(m fetch.Materializer) []fetcher {
	seq := func(m fetch.Materializer) pipeline.Fetcher { return fetch.NewSequential(m) }
	par := func(m fetch.Materializer) pipeline.Fetcher { return fetch.NewParallel(m, 4) }
	return []fetcher{
		{"sequential", seq(m), seq},
		{"parallel", par(m), par},
	}
}

// ignorePrefetch leaves the prefetch accounting out of a comparison of
// Stats: the tests of useful_test.go check it.
var ignorePrefetch = cmpopts.IgnoreFields(Stats{}, "Prefetch", "PrefetchByNamespace")
