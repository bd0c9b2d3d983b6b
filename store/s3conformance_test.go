package store

// The S3 conformance suite: the store against a real S3-compatible server,
// where the rest of the package's S3 tests use the in-process gofakes3.
// It runs only when KVPREFETCH_S3_URL names a bucket on such a server (a
// gocloud s3:// URL with its endpoint; credentials come from the usual AWS
// environment), and is skipped otherwise. .ci/seaweedfs starts SeaweedFS
// on loopback and sets it:
//
//	.ci/seaweedfs go test ./store/ -run S3Conformance -count=1 -v
//
// Every request goes through a loopback TCP proxy the test owns, so that a
// case can freeze the server, and so that closing the proxy at the end
// closes the SDK's idle connections (goleak would see their goroutines).
// Each test writes under a namespace of its own and deletes what it wrote.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// s3URLEnv names the environment variable that points the S3 conformance
// suite at a real server.
const s3URLEnv = "KVPREFETCH_S3_URL"

// realS3 is the server of KVPREFETCH_S3_URL behind a proxy of the test's.
type realS3 struct {
	url    string // KVPREFETCH_S3_URL with its endpoint on the proxy
	proxy  *freezeProxy
	bucket *blob.Bucket // the bucket at url, to seed and inspect objects
	ns     string       // this test's namespace
}

// conformanceURL returns KVPREFETCH_S3_URL, or skips the test when it is
// not set.
func conformanceURL(t *testing.T) string {
	t.Helper()
	raw := os.Getenv(s3URLEnv)
	if raw == "" {
		t.Skipf("%s is not set: set it to an s3:// bucket URL of an S3-compatible server, "+
			"e.g. s3://bucket?endpoint=http://127.0.0.1:8333&use_path_style=true&region=us-east-1, "+
			"to run the S3 conformance suite (.ci/seaweedfs go test ./store/ -run S3Conformance starts one and sets it)", s3URLEnv)
	}
	return raw
}

// conformanceServer returns the server of raw (KVPREFETCH_S3_URL) behind
// a fresh proxy, with a fresh namespace.
func conformanceServer(t *testing.T, raw string) *realS3 {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		t.Fatalf("%s = %q, want an s3://bucket?endpoint=... URL (%v)", s3URLEnv, raw, err)
	}
	q := u.Query()
	ep, err := url.Parse(q.Get("endpoint"))
	if err != nil || ep.Host == "" {
		t.Fatalf("%s = %q has endpoint %q, want the server's http://host:port (the suite puts a proxy in front of it)", s3URLEnv, raw, q.Get("endpoint"))
	}
	port := ep.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[ep.Scheme]
	}
	p := newFreezeProxy(t, net.JoinHostPort(ep.Hostname(), port))
	ep.Host = p.addr()
	q.Set("endpoint", ep.String())
	u.RawQuery = q.Encode()
	s := &realS3{url: u.String(), proxy: p, ns: "s3conf-" + rand.Text()[:12]}
	s.bucket = openBucket(t, s.url)
	t.Cleanup(func() { s.deleteAll(t) })
	return s
}

// deleteAll deletes every object under the test's namespace.
func (s *realS3) deleteAll(t *testing.T) {
	ctx := context.Background()
	it := s.bucket.List(&blob.ListOptions{Prefix: s.ns + "/"})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Errorf("list %s/ to clean up: %v", s.ns, err)
			return
		}
		if err := s.bucket.Delete(ctx, obj.Key); err != nil {
			t.Errorf("clean up %s: %v", obj.Key, err)
		}
	}
}

// open opens a store on the server with a fresh, empty flat directory.
func (s *realS3) open(t *testing.T) (*Store, string) {
	t.Helper()
	flat := t.TempDir()
	return open(t, Config{FlatDir: flat, ColdURL: s.url}), flat
}

// object is block b's object key.
func (s *realS3) object(b testBlock) string { return s.ns + "/" + b.key() }

// cycle is a cycle of the test's namespace, each fetch under timeout.
func (s *realS3) cycle(timeout time.Duration) *pipeline.Cycle {
	return &pipeline.Cycle{Namespace: s.ns, FetchTimeout: timeout}
}

func TestS3Conformance(t *testing.T) {
	raw := conformanceURL(t)
	t.Run("round trip", func(t *testing.T) {
		// Put sends one PutObject below the upload manager's 16 MiB
		// multipart threshold and 8 MiB parts from it (gocloud's s3blob
		// over aws-sdk-go-v2's transfermanager): 16 MiB is two full parts,
		// 17 MiB two and a short one. 5 MiB + 1 is one PUT past S3's
		// smallest part.
		s := conformanceServer(t, raw)
		for _, size := range []int{0, 1, 4 << 10, 5<<20 + 1, 16 << 20, 17 << 20} {
			t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
				ctx := context.Background()
				b := newBlock(t, size)
				w, _ := s.open(t)
				if err := w.Put(ctx, s.ns, b.key(), b.payload); err != nil {
					t.Fatalf("Put: %v", err)
				}
				a, err := s.bucket.Attributes(ctx, s.object(b))
				if err != nil {
					t.Fatalf("Attributes: %v", err)
				}
				if a.Size != int64(size) || metaValue(a.Metadata) != sumOf(b.payload) {
					t.Errorf("object is %d bytes with %q = %q, want %d bytes with the payload's BLAKE3-256 %s", a.Size, ChecksumKey, metaValue(a.Metadata), size, sumOf(b.payload))
				}
				t.Logf("ETag %s (a multipart upload's ends in -parts)", a.ETag)
				r, flat := s.open(t)
				got, err := r.Get(ctx, s.ns, b.key())
				if err != nil {
					t.Fatalf("Get from a store with an empty flat: %v", err)
				}
				mustEqual(t, "Get", b.payload, got)
				flatHolds(t, "flat after Get", flat, b)
				st := r.Stats()
				if st.ColdGets != 1 || st.Unverified != 0 || st.Rejected != 0 {
					t.Errorf("Stats: %d cold GETs, %d unverified, %d rejected; want 1, 0, 0", st.ColdGets, st.Unverified, st.Rejected)
				}
			})
		}
	})

	t.Run("bit flip is corrupt", func(t *testing.T) {
		ctx := context.Background()
		s := conformanceServer(t, raw)
		b := newBlock(t, 1<<20)
		flipped := clone(b.payload)
		flipped[len(flipped)/2] ^= 0x10
		// The server stores the flipped bytes as they are (its own
		// checksums match them); only the "b3" of the original tells.
		if err := s.bucket.WriteAll(ctx, s.object(b), flipped, &blob.WriterOptions{
			Metadata: map[string]string{ChecksumKey: sumOf(b.payload)},
		}); err != nil {
			t.Fatalf("write the flipped object: %v", err)
		}
		for _, fe := range fetchers(nil) {
			t.Run(fe.name, func(t *testing.T) {
				st, flat := s.open(t)
				res := fe.with(st).Fetch(ctx, s.cycle(30*time.Second), []pipeline.Candidate{b.cand()})
				if len(res) != 1 || res[0].Reason != ReasonCorrupt {
					t.Fatalf("Fetch = %+v, want one result with reason %q", res, ReasonCorrupt)
				}
				got, err := st.Get(ctx, s.ns, b.key())
				if reasonOf(err) != ReasonCorrupt || got != nil {
					t.Errorf("Get = %d bytes, %v; want nil and a %q error", len(got), err, ReasonCorrupt)
				} else {
					t.Logf("Get: %v", err)
				}
				if files := flatFiles(t, flat); len(files) != 0 {
					t.Errorf("flat holds %v, want nothing", keys(files))
				}
				if n := st.Stats().Rejected; n != 2 {
					t.Errorf("Stats.Rejected = %d, want 2 (the fetch and the Get)", n)
				}
			})
		}
	})

	t.Run("missing key is a miss", func(t *testing.T) {
		ctx := context.Background()
		s := conformanceServer(t, raw)
		b := newBlock(t, 4096)
		st, flat := s.open(t)
		res := fetchers(st)[0].f.Fetch(ctx, s.cycle(30*time.Second), []pipeline.Candidate{b.cand()})
		if len(res) != 1 || res[0].Reason != pipeline.FailMiss || res[0].Err != nil {
			t.Errorf("Fetch = %+v, want one result with reason %q and no error", res, pipeline.FailMiss)
		}
		if _, err := st.Get(ctx, s.ns, b.key()); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get: err = %v, want ErrNotFound", err)
		}
		if files := flatFiles(t, flat); len(files) != 0 {
			t.Errorf("flat holds %v, want nothing", keys(files))
		}
	})

	t.Run("wrong credentials are a clear error", func(t *testing.T) {
		ctx := context.Background()
		s := conformanceServer(t, raw)
		if u, _ := url.Parse(raw); u.Query().Get("anonymous") == "true" {
			t.Skipf("%s asks for anonymous access: no credentials to get wrong", s3URLEnv)
		}
		b := newBlock(t, 4096)
		w, _ := s.open(t)
		if err := w.Put(ctx, s.ns, b.key(), b.payload); err != nil {
			t.Fatalf("Put with the right credentials: %v", err)
		}
		// Env credentials come first in the SDK's default chain, and Open
		// reads them.
		t.Setenv("AWS_ACCESS_KEY_ID", "WRONGKEY"+strings.ToUpper(rand.Text()[:12]))
		t.Setenv("AWS_SECRET_ACCESS_KEY", rand.Text())
		t.Setenv("AWS_SESSION_TOKEN", "")
		st, flat := s.open(t)

		// The server's refusal, by any of the names S3 servers give it.
		refused := []string{"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"}
		check := func(op string, err error) {
			t.Helper()
			switch {
			case err == nil:
				t.Errorf("%s with wrong credentials succeeded, want an error", op)
			case errors.Is(err, ErrNotFound) || reasonOf(err) == pipeline.FailMiss:
				t.Errorf("%s with wrong credentials: %v; want an error, not a miss", op, err)
			case !strings.Contains(err.Error(), s.object(b)) || !containsAny(err.Error(), refused):
				t.Errorf("%s with wrong credentials: %v; want the object %s and the server's refusal (one of %v) named", op, err, s.object(b), refused)
			default:
				t.Logf("%s with wrong credentials: %v", op, err)
			}
		}
		res := fetchers(st)[0].f.Fetch(ctx, s.cycle(30*time.Second), []pipeline.Candidate{b.cand()})
		if len(res) != 1 || res[0].Reason != pipeline.FailError {
			t.Errorf("Fetch = %+v, want one result with reason %q", res, pipeline.FailError)
		} else {
			check("Fetch", res[0].Err)
		}
		got, err := st.Get(ctx, s.ns, b.key())
		check("Get", err)
		if got != nil {
			t.Errorf("Get with wrong credentials returned %d bytes, want none", len(got))
		}
		check("Put", st.Put(ctx, s.ns, b.key(), b.payload))
		if files := flatFiles(t, flat); len(files) != 0 {
			t.Errorf("flat holds %v, want nothing", keys(files))
		}
	})

	t.Run("frozen server is cut by the deadline", func(t *testing.T) {
		const (
			deadline = time.Second
			slack    = 20 * time.Second // a loaded machine; a hang would never return
		)
		for _, tc := range []struct {
			name string
			// after is how many bytes of the response the server sends
			// before it freezes: 0 freezes it before the GET.
			after int64
		}{
			{"before the GET", 0},
			{"mid-body", 1 << 20},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				s := conformanceServer(t, raw)
				b := newBlock(t, 4<<20)
				w, _ := s.open(t)
				if err := w.Put(ctx, s.ns, b.key(), b.payload); err != nil {
					t.Fatalf("Put: %v", err)
				}
				st, flat := s.open(t)
				s.proxy.freezeAfter(tc.after)
				done := make(chan []pipeline.FetchResult, 1)
				go func() {
					done <- fetchers(st)[0].f.Fetch(ctx, s.cycle(deadline), []pipeline.Candidate{b.cand()})
				}()
				var res []pipeline.FetchResult
				select {
				case res = <-done:
				case <-time.After(deadline + slack):
					s.proxy.Close() // let the fetch end, so the test can
					<-done
					t.Fatalf("the fetch was still running %v after its %v deadline", slack, deadline)
				}
				if len(res) != 1 || res[0].Reason != pipeline.FailDeadline {
					t.Fatalf("Fetch = %+v, want one result with reason %q", res, pipeline.FailDeadline)
				}
				t.Logf("cut after %v: %v", res[0].Duration, res[0].Err)
				if files := flatFiles(t, flat); len(files) != 0 {
					t.Errorf("flat after the deadline holds %v, want nothing", keys(files))
				}
				if tc.after > 0 && s.proxy.sent() < tc.after {
					t.Errorf("the server sent %d bytes before it froze, want at least %d", s.proxy.sent(), tc.after)
				}

				s.proxy.thaw()
				res = fetchers(st)[0].f.Fetch(ctx, s.cycle(30*time.Second), []pipeline.Candidate{b.cand()})
				if len(res) != 1 || res[0].Err != nil {
					t.Fatalf("Fetch once the server thawed = %+v, want success", res)
				}
				flatHolds(t, "flat after the thawed fetch", flat, b)
			})
		}
	})
}

// flatHolds checks that the flat directory holds block b, byte for byte,
// and nothing else. (cmp.Diff would compare the payloads a byte at a time
// through reflection: seconds for 16 MiB.)
func flatHolds(t *testing.T, what, flat string, b testBlock) {
	t.Helper()
	got := flatBlocks(t, flat)
	data, ok := got[b.hash]
	if !ok || len(got) != 1 {
		var held []string
		for h := range got {
			held = append(held, block.Key(h))
		}
		t.Errorf("%s holds %v, want only %s", what, held, b.key())
		return
	}
	mustEqual(t, what, b.payload, data)
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// freezeProxy forwards loopback TCP connections to a server. Frozen, it
// forwards nothing more either way, on the connections it has and on new
// ones, as a server that hangs: what it reads it drops.
type freezeProxy struct {
	ln     net.Listener
	target string

	frozen atomic.Bool
	left   atomic.Int64 // with limited: response bytes still to forward before freezing
	limit  atomic.Bool
	down   atomic.Int64 // response bytes forwarded since the last freezeAfter

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// newFreezeProxy starts a proxy to target on a loopback port; the test's
// cleanup closes it.
func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Go(p.serve)
	t.Cleanup(p.Close)
	return p
}

func (p *freezeProxy) addr() string { return p.ln.Addr().String() }

// freezeAfter freezes the proxy once n more bytes of responses have been
// forwarded (at once when n is 0).
func (p *freezeProxy) freezeAfter(n int64) {
	p.down.Store(0)
	if n == 0 {
		p.frozen.Store(true)
		return
	}
	p.left.Store(n)
	p.limit.Store(true)
}

// thaw forwards again.
func (p *freezeProxy) thaw() {
	p.limit.Store(false)
	p.frozen.Store(false)
}

// sent is how many response bytes were forwarded since freezeAfter.
func (p *freezeProxy) sent() int64 { return p.down.Load() }

// Close stops the proxy, closes every connection and waits for its
// goroutines.
func (p *freezeProxy) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.ln.Close()
		for c := range p.conns {
			c.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track records c for Close; it reports false (and closes c) once closed.
func (p *freezeProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *freezeProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *freezeProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(client) {
			return
		}
		p.wg.Go(func() {
			server, err := net.Dial("tcp", p.target)
			if err != nil || !p.track(server) {
				p.untrack(client)
				return
			}
			var pair sync.WaitGroup
			pair.Go(func() { p.pipe(server, client, false); p.untrack(client, server) })
			pair.Go(func() { p.pipe(client, server, true); p.untrack(client, server) })
			pair.Wait()
		})
	}
}

// pipe copies src to dst until either fails, dropping what it reads while
// the proxy is frozen. response marks the server-to-client direction,
// which freezeAfter counts.
func (p *freezeProxy) pipe(dst, src net.Conn, response bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			if response {
				p.down.Add(int64(n))
				if p.limit.Load() && p.left.Add(-int64(n)) <= 0 {
					p.frozen.Store(true)
				}
			}
		}
		if err != nil {
			return
		}
	}
}
