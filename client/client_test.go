package client_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/client"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/server"
	"github.com/wombatkv/prefetch/stages/snapshot"
	"github.com/wombatkv/prefetch/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve starts a server on 127.0.0.1 over real tiers in dir, with the
// hint preset running on namespace "ns", and returns its URL and store.
// stop ends it.
func serve(dir, token string) (url string, st *store.Store, stop func(), err error) {
	ctx := context.Background()
	st, err = store.Open(ctx, store.Config{FlatDir: filepath.Join(dir, "flat"), ColdURL: "file://" + filepath.Join(dir, "cold") + "?create_dir=true"})
	if err != nil {
		return "", nil, nil, err
	}
	idx := index.NewMemory(nil)
	hints := snapshot.NewHints(snapshot.HintsConfig{})
	w, err := presets.Worker(presets.NameHints, presets.Options{Store: st, Hints: hints, Namespace: "ns", Interval: 20 * time.Millisecond})
	if err != nil {
		st.Close()
		return "", nil, nil, err
	}
	srv, err := server.New(server.Config{Store: st, Index: idx, Hints: map[string]*snapshot.Hints{"ns": hints}, Token: []byte(token)})
	if err != nil {
		st.Close()
		return "", nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return "", nil, nil, err
	}
	w.Start(ctx)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { hs.Serve(ln); close(done) }()
	return "http://" + ln.Addr().String(), st, func() {
		hs.Close()
		<-done
		w.Stop()
		st.Close()
		http.DefaultClient.CloseIdleConnections()
	}, nil
}

func start(t *testing.T, token string) (string, *store.Store) {
	t.Helper()
	url, st, stop, err := serve(t.TempDir(), token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url, st
}

func TestClientRoundTrip(t *testing.T) {
	url, _ := start(t, "")
	ctx := context.Background()
	c, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := block.Hash{1, 2, 3}
	payload := bytes.Repeat([]byte("kv"), 50000)
	m := block.Meta{Parent: block.Hash{9}, Seq: 4, Flags: 2, Model: block.ModelDigest{7}, Layout: block.LayoutTag{5}}
	if err := c.Put(ctx, "ns", h, payload, m); err != nil {
		t.Fatal(err)
	}
	b, err := c.Get(ctx, "ns", h)
	if err != nil {
		t.Fatal(err)
	}
	want := m
	want.PayloadBytes = uint64(len(payload))
	if !bytes.Equal(b.Payload, payload) || b.Tier != "flat" {
		t.Errorf("Get: %d bytes from %q, want the %d put, from flat", len(b.Payload), b.Tier, len(payload))
	}
	if diff := cmp.Diff(want, b.Meta); diff != "" {
		t.Errorf("Get metadata mismatch (-want +got):\n%s", diff)
	}
	hd, err := c.Head(ctx, "ns", h)
	if err != nil || hd.Meta != want || hd.Payload != nil {
		t.Errorf("Head = %+v, %v; want the metadata and no payload", hd, err)
	}
	_, err = c.Get(ctx, "ns", block.Hash{4})
	var ce *client.Error
	if !errors.Is(err, client.ErrNotFound) || !errors.As(err, &ce) || ce.Code != "not_found" {
		t.Errorf("Get of a missing block = %v, want ErrNotFound with code not_found", err)
	}
	if _, err := c.Head(ctx, "ns", block.Hash{4}); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Head of a missing block = %v, want ErrNotFound", err)
	}
	err = c.Put(ctx, "bad/ns", h, payload, block.Meta{})
	if !errors.As(err, &ce) || ce.StatusCode != 400 || ce.Code != "bad_namespace" {
		t.Errorf("Put to a bad namespace = %v, want 400 bad_namespace", err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Errorf("Ready = %v", err)
	}
}

func TestClientHints(t *testing.T) {
	url, st := start(t, "tok")
	ctx := context.Background()
	c, _ := client.New(url, client.Options{Token: "tok"})
	a, b := block.Hash{0xaa}, server.HashOfUint64(77)
	for _, h := range []block.Hash{a, b} {
		if err := st.PutCold(ctx, "ns", block.Key(h), []byte("cold payload")); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Hint(ctx, client.HintGroup{Namespace: "ns", Blocks: []block.Hash{a}, Lead: time.Minute},
		client.HintGroup{Namespace: "elsewhere", Blocks: []block.Hash{a}, Due: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(client.HintResult{Accepted: 1, Dropped: 1, DroppedBy: map[string]int{"no_hint_pipeline": 1}}, res); diff != "" {
		t.Errorf("Hint mismatch (-want +got):\n%s", diff)
	}
	if res, err := c.HintDynamo(ctx, "ns", []uint64{77}, time.Minute); err != nil || res.Accepted != 1 {
		t.Errorf("HintDynamo = %+v, %v; want 1 accepted", res, err)
	}
	for deadline := time.Now().Add(20 * time.Second); !st.ContainsFlat(ctx, "ns", a) || !st.ContainsFlat(ctx, "ns", b); {
		if time.Now().After(deadline) {
			t.Fatal("the hinted blocks are not in flat after 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s, err := c.Status(ctx)
	if err != nil || s.Hints["ns"].Added != 2 || !s.Ready {
		t.Errorf("Status = %+v, %v; want ready and 2 hints added", s, err)
	}
	noToken, _ := client.New(url, client.Options{})
	var ce *client.Error
	if _, err := noToken.Hint(ctx, client.HintGroup{Blocks: []block.Hash{a}}); !errors.As(err, &ce) || ce.StatusCode != 401 {
		t.Errorf("Hint without the token = %v, want 401", err)
	}
}

func TestNewBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8420", "ftp://x", "http://"} {
		if _, err := client.New(u, client.Options{}); err == nil {
			t.Errorf("New(%q) = nil error, want one", u)
		}
	}
}
