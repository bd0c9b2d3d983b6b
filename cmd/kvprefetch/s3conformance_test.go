package main

import (
	"bytes"
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
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/store"
)

// TestS3ConformanceDemo runs the demo in full against the real
// S3-compatible server KVPREFETCH_S3_URL names (see the store package's
// S3 conformance suite; .ci/seaweedfs starts SeaweedFS and sets it), in a
// namespace of its own, so a fresh prefix of the bucket: it seeds, fetches
// over a few cycles, keeps flat and removes what it seeded.
func TestS3ConformanceDemo(t *testing.T) {
	const env = "KVPREFETCH_S3_URL"
	raw := os.Getenv(env)
	if raw == "" {
		t.Skipf("%s is not set: set it to an s3:// bucket URL of an S3-compatible server, "+
			"e.g. s3://bucket?endpoint=http://127.0.0.1:8333&use_path_style=true&region=us-east-1, "+
			"to run the demo against it (.ci/seaweedfs go test ./cmd/kvprefetch/ -run S3Conformance starts one and sets it)", env)
	}
	cold := behindProxy(t, raw)
	const (
		seed   = 5
		blocks = 300
		size   = 16 << 10
	)
	ns := "s3conf-" + rand.Text()[:12]
	flat := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--cold", cold, "--flat", flat, "--namespace", ns, "--cycles", "3", "--interval", "5ms",
		"--blocks", fmt.Sprint(blocks), "--block-size", fmt.Sprint(size), "--seed", fmt.Sprint(seed)}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	if i := strings.Index(out, "\nsummary:"); i >= 0 {
		t.Logf("the demo's%s", out[i:])
	}
	n := summaryFetched(t, out)
	if n < 1 || !strings.Contains(out, ", failed 0\n") {
		t.Errorf("fetched %d blocks, want some and no failure:\n%s", n, out)
	}
	if want := fmt.Sprintf("removed the %d seeded blocks", blocks); !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}

	ctx := context.Background()
	b, err := blob.OpenBucket(ctx, cold)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	left, err := b.List(&blob.ListOptions{Prefix: ns + "/"}).Next(ctx)
	if !errors.Is(err, io.EOF) {
		t.Errorf("after the demo the bucket lists %v (err %v) under %s/, want nothing", left, err, ns)
	}

	// Flat holds n blocks of the node, each byte for byte: read through a
	// store whose cold tier is empty, so Get reads flat alone.
	s, err := store.Open(ctx, store.Config{FlatDir: flat, ColdURL: "mem://"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	found := 0
	for _, h := range generateNode(seed, blocks, size, time.Now(), 0).hashes {
		got, err := s.Get(ctx, ns, block.Key(h))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			t.Errorf("Get %s from flat: %v", h, err)
		case !bytes.Equal(got, payloadOf(h, size)):
			t.Errorf("flat block %s differs from the payload seeded", h)
		default:
			found++
		}
	}
	if st := s.Stats(); found != n || st.FlatBlocks != n {
		t.Errorf("flat holds %d blocks of the node (%d in all), want the %d fetched", found, st.FlatBlocks, n)
	}
}

// behindProxy returns raw with its endpoint moved to a loopback TCP proxy
// in front of it, which the test's cleanup closes with every connection
// through it: the SDK's idle connections end there, and goleak sees no
// goroutine of theirs.
func behindProxy(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" {
		t.Fatalf("KVPREFETCH_S3_URL = %q, want an s3://bucket?endpoint=... URL (%v)", raw, err)
	}
	q := u.Query()
	ep, err := url.Parse(q.Get("endpoint"))
	if err != nil || ep.Port() == "" {
		t.Fatalf("KVPREFETCH_S3_URL = %q, want s3://bucket?endpoint=http://host:port&... (the test puts a proxy in front of the endpoint)", raw)
	}
	target := ep.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		done  bool
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if done {
			c.Close()
		} else {
			conns[c] = true
		}
		return !done
	}
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil || !track(client) {
				return
			}
			wg.Go(func() {
				defer client.Close()
				server, err := net.Dial("tcp", target)
				if err != nil || !track(server) {
					return
				}
				defer server.Close()
				var pair sync.WaitGroup
				pair.Go(func() { io.Copy(server, client); server.Close() })
				pair.Go(func() { io.Copy(client, server); client.Close() })
				pair.Wait()
			})
		}
	})
	t.Cleanup(func() {
		mu.Lock()
		done = true
		ln.Close()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	ep.Host = ln.Addr().String()
	q.Set("endpoint", ep.String())
	u.RawQuery = q.Encode()
	return u.String()
}
