package store

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"gocloud.dev/blob/s3blob"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/store/gocloud"
)

// s3Store opens a store whose cold tier is the fake S3 server f, seeded
// with blocks through the store's own Put path on a scratch flat dir.
func s3Store(t *testing.T, f *fakeS3, cfg Config, seed ...testBlock) (*Store, string) {
	t.Helper()
	if len(seed) > 0 {
		w := open(t, Config{ColdURL: f.url()})
		for _, b := range seed {
			if err := w.Put(context.Background(), testNS, b.key(), b.payload); err != nil {
				t.Fatalf("seed Put: %v", err)
			}
		}
	}
	cfg.FlatDir = t.TempDir()
	if cfg.Cold == nil {
		cfg.ColdURL = f.url()
	}
	return open(t, cfg), cfg.FlatDir
}

// s3BucketNoRetry opens the fake server's bucket through s3blob with a
// client of its own that makes one attempt per request: Config.Cold's use.
func s3BucketNoRetry(t *testing.T, f *fakeS3) *gocloud.Bucket {
	t.Helper()
	client := s3.New(s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(f.srv.URL),
		UsePathStyle:     true,
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
	})
	b, err := s3blob.OpenBucket(context.Background(), client, "cold", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return gocloud.New(b)
}

// TestS3Faults fetches through the fetch stage from an S3 server that
// misbehaves, and checks the reason counted and that flat holds exactly
// the blocks that were fetched, byte for byte, and nothing partial.
func TestS3Faults(t *testing.T) {
	type fault = func(w http.ResponseWriter, r *http.Request, next http.Handler) bool
	serverError := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`))
	}
	tests := []struct {
		name string
		// noRetry opens the bucket with an S3 client that makes one
		// attempt per request (by default the SDK makes 3, backing off
		// up to seconds between them).
		noRetry    bool
		fault      func() fault
		timeout    time.Duration
		wantReason string
		wantGets   int64
	}{
		{
			name: "first GET answers 500, the SDK retries",
			fault: func() fault {
				var once sync.Once
				return func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
					failed := false
					if isGet(r) {
						once.Do(func() { serverError(w); failed = true })
					}
					return failed
				}
			},
			wantGets: 2,
		},
		{
			name:    "every GET answers 500",
			noRetry: true,
			fault: func() fault {
				return func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
					if isGet(r) {
						serverError(w)
						return true
					}
					return false
				}
			},
			wantReason: pipeline.FailError,
			wantGets:   1,
		},
		{
			name: "server never answers: the deadline cancels the GET",
			fault: func() fault {
				return func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
					if isGet(r) {
						<-r.Context().Done()
						return true
					}
					return false
				}
			},
			timeout:    200 * time.Millisecond,
			wantReason: pipeline.FailDeadline,
			wantGets:   1,
		},
		{
			name: "server stalls mid-body: the deadline cancels the GET",
			fault: func() fault {
				return func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
					if !isGet(r) {
						return false
					}
					rec := recorded(next, r)
					copyHeader(w, rec)
					w.WriteHeader(rec.Code)
					w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
					w.(http.Flusher).Flush()
					<-r.Context().Done()
					return true
				}
			},
			timeout:    300 * time.Millisecond,
			wantReason: pipeline.FailDeadline,
			wantGets:   1,
		},
		{
			name: "truncated body",
			fault: func() fault {
				return func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
					if !isGet(r) {
						return false
					}
					rec := recorded(next, r)
					copyHeader(w, rec)
					w.WriteHeader(rec.Code)
					w.Write(rec.Body.Bytes()[:rec.Body.Len()-100])
					return true // the server closes the connection short of Content-Length
				}
			},
			wantReason: ReasonSize,
			wantGets:   1,
		},
		{
			name: "corrupted body",
			fault: func() fault {
				return func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
					if !isGet(r) {
						return false
					}
					rec := recorded(next, r)
					copyHeader(w, rec)
					w.WriteHeader(rec.Code)
					body := rec.Body.Bytes()
					body[len(body)/3] ^= 0x40
					w.Write(body)
					return true
				}
			},
			wantReason: ReasonCorrupt,
			wantGets:   1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startS3(t)
			b := newBlock(t, 200_000)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			for _, fe := range fetchers(nil) {
				t.Run(fe.name, func(t *testing.T) {
					cfg := Config{}
					if tc.noRetry {
						cfg.Cold = s3BucketNoRetry(t, f)
					}
					s, flat := s3Store(t, f, cfg, b)
					f.gets.Store(0)
					f.setFault(tc.fault())
					defer f.setFault(nil)
					start := time.Now()
					res := fe.with(s).Fetch(context.Background(), &pipeline.Cycle{Namespace: testNS, FetchTimeout: timeout}, []pipeline.Candidate{b.cand()})
					if len(res) != 1 {
						t.Fatalf("Fetch returned %d results, want 1", len(res))
					}
					if res[0].Reason != tc.wantReason {
						t.Errorf("reason = %q (err %v), want %q", res[0].Reason, res[0].Err, tc.wantReason)
					}
					if tc.timeout != 0 && time.Since(start) > 10*tc.timeout {
						t.Errorf("fetch took %v, want it cut near its %v deadline", time.Since(start), tc.timeout)
					}
					want := map[block.Hash][]byte{}
					if tc.wantReason == "" {
						want = wantFlat(b)
					}
					if diff := cmp.Diff(want, flatBlocks(t, flat)); diff != "" {
						t.Errorf("flat mismatch (-want +got):\n%s", diff)
					}
					if gets := f.gets.Load(); gets != tc.wantGets {
						t.Errorf("server saw %d GETs, want %d", gets, tc.wantGets)
					}
				})
			}
		})
	}
}

// TestS3GetThroughFaults reads through Get while the server corrupts or
// truncates bodies: the node gets an error, never wrong bytes, and flat
// stays empty; once the server heals, Get returns the payload.
func TestS3GetThroughFaults(t *testing.T) {
	ctx := context.Background()
	f := startS3(t)
	b := newBlock(t, 100_000)
	s, flat := s3Store(t, f, Config{}, b)
	for _, mangle := range []struct {
		reason string
		body   func([]byte) []byte
	}{
		{ReasonCorrupt, func(p []byte) []byte { p[0] ^= 1; return p }},
		{ReasonSize, func(p []byte) []byte { return p[:len(p)-1] }},
	} {
		f.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
			if !isGet(r) {
				return false
			}
			rec := recorded(next, r)
			copyHeader(w, rec)
			w.WriteHeader(rec.Code)
			w.Write(mangle.body(rec.Body.Bytes()))
			return true
		})
		got, err := s.Get(ctx, testNS, b.key())
		if reasonOf(err) != mangle.reason || got != nil {
			t.Errorf("Get = %d bytes, %v; want nil and a %q error", len(got), err, mangle.reason)
		}
		if files := flatFiles(t, flat); len(files) != 0 {
			t.Errorf("flat after a %s body holds %v, want nothing", mangle.reason, keys(files))
		}
	}
	f.setFault(nil)
	got, err := s.Get(ctx, testNS, b.key())
	if err != nil {
		t.Fatalf("Get after the server healed: %v", err)
	}
	mustEqual(t, "Get", b.payload, got)
	if diff := cmp.Diff(wantFlat(b), flatBlocks(t, flat)); diff != "" {
		t.Errorf("flat mismatch (-want +got):\n%s", diff)
	}
	if st := s.Stats(); st.Rejected != 2 {
		t.Errorf("Stats.Rejected = %d, want 2", st.Rejected)
	}
}

// blockGets makes the server hold every GET until release is closed (or
// the client gives up), signalling arrived for each.
func blockGets(f *fakeS3) (arrived chan struct{}, release chan struct{}) {
	arrived, release = make(chan struct{}, 100), make(chan struct{})
	f.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if !isGet(r) {
			return false
		}
		arrived <- struct{}{}
		select {
		case <-release:
			return false
		case <-r.Context().Done():
			return true
		}
	})
	return arrived, release
}

// TestS3SharedGET shows that concurrent fetches of one block, prefetch and
// request path alike, send one GET, and that InFlight sees it.
func TestS3SharedGET(t *testing.T) {
	ctx := context.Background()
	f := startS3(t)
	b := newBlock(t, 50_000)
	s, flat := s3Store(t, f, Config{}, b)
	f.gets.Store(0)
	joined := make(chan struct{}, 100)
	s.hooks = &testHooks{onJoin: func() { joined <- struct{}{} }}
	arrived, release := blockGets(f)

	const joiners = 8
	type result struct {
		n    int64
		data []byte
		err  error
	}
	results := make([]result, joiners+1)
	var wg sync.WaitGroup
	wg.Go(func() {
		n, _, err := s.Materialize(ctx, testNS, b.hash, b.meta())
		results[0] = result{n: n, err: err}
	})
	<-arrived
	if !s.InFlight(testNS, b.hash) {
		t.Errorf("InFlight during the GET = false, want true")
	}
	for i := 1; i <= joiners; i++ {
		wg.Go(func() {
			if i%2 == 0 {
				n, _, err := s.Materialize(ctx, testNS, b.hash, b.meta())
				results[i] = result{n: n, err: err}
				return
			}
			data, err := s.Get(ctx, testNS, b.key())
			results[i] = result{n: int64(len(data)), data: data, err: err}
		})
	}
	for range joiners {
		<-joined
	}
	close(release)
	wg.Wait()
	for i, r := range results {
		if r.err != nil || r.n != int64(len(b.payload)) {
			t.Errorf("caller %d: %d bytes, %v; want %d, nil", i, r.n, r.err, len(b.payload))
		}
		if r.data != nil {
			mustEqual(t, "Get", b.payload, r.data)
		}
	}
	if gets := f.gets.Load(); gets != 1 {
		t.Errorf("server saw %d GETs for %d concurrent fetches, want 1", gets, joiners+1)
	}
	if s.InFlight(testNS, b.hash) {
		t.Errorf("InFlight after the GET = true, want false")
	}
	if diff := cmp.Diff(wantFlat(b), flatBlocks(t, flat)); diff != "" {
		t.Errorf("flat mismatch (-want +got):\n%s", diff)
	}
}

// TestS3SharedGETContexts checks that each caller of a shared GET keeps
// its own deadline: a joiner whose deadline passes leaves while the leader
// goes on, and a joiner outliving a leader whose deadline passed fetches
// the block itself.
func TestS3SharedGETContexts(t *testing.T) {
	t.Run("joiner leaves, leader goes on", func(t *testing.T) {
		f := startS3(t)
		b := newBlock(t, 10_000)
		s, flat := s3Store(t, f, Config{}, b)
		joined := make(chan struct{}, 1)
		s.hooks = &testHooks{onJoin: func() { joined <- struct{}{} }}
		arrived, release := blockGets(f)
		var leaderErr error
		var wg sync.WaitGroup
		wg.Go(func() { _, _, leaderErr = s.Materialize(context.Background(), testNS, b.hash, b.meta()) })
		<-arrived
		jctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, _, err := s.Materialize(jctx, testNS, b.hash, b.meta())
		<-joined
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("joiner past its deadline: err = %v, want DeadlineExceeded", err)
		}
		close(release)
		wg.Wait()
		if leaderErr != nil {
			t.Errorf("leader: %v", leaderErr)
		}
		if diff := cmp.Diff(wantFlat(b), flatBlocks(t, flat)); diff != "" {
			t.Errorf("flat mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("leader times out, joiner fetches", func(t *testing.T) {
		f := startS3(t)
		b := newBlock(t, 10_000)
		s, flat := s3Store(t, f, Config{}, b)
		f.gets.Store(0)
		joined := make(chan struct{}, 1)
		s.hooks = &testHooks{onJoin: func() { joined <- struct{}{} }}
		first := make(chan struct{})
		var once sync.Once
		f.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
			if !isGet(r) {
				return false
			}
			stall := false
			once.Do(func() { stall = true; close(first) })
			if stall {
				<-r.Context().Done()
			}
			return stall
		})
		lctx, cancel := context.WithCancel(context.Background())
		var leaderErr error
		var wg sync.WaitGroup
		wg.Go(func() { _, _, leaderErr = s.Materialize(lctx, testNS, b.hash, b.meta()) })
		<-first
		var data []byte
		var getErr error
		wg.Go(func() { data, getErr = s.Get(context.Background(), testNS, b.key()) })
		<-joined
		cancel() // the leader's cycle stops
		wg.Wait()
		if !errors.Is(leaderErr, context.Canceled) {
			t.Errorf("leader: err = %v, want Canceled", leaderErr)
		}
		if getErr != nil {
			t.Fatalf("joiner Get: %v", getErr)
		}
		mustEqual(t, "Get", b.payload, data)
		if gets := f.gets.Load(); gets != 2 {
			t.Errorf("server saw %d GETs, want 2 (the leader's, then the joiner's)", gets)
		}
		if diff := cmp.Diff(wantFlat(b), flatBlocks(t, flat)); diff != "" {
			t.Errorf("flat mismatch (-want +got):\n%s", diff)
		}
	})
}

// TestS3CancelMidFetch stops a parallel fetch of many blocks while the
// server stalls them (as Ctrl-C stops the worker): every fetch ends as
// canceled and flat holds nothing partial.
func TestS3CancelMidFetch(t *testing.T) {
	f := startS3(t)
	var blocks []testBlock
	var cands []pipeline.Candidate
	for range 6 {
		b := newBlock(t, 20_000)
		blocks = append(blocks, b)
		cands = append(cands, b.cand())
	}
	s, flat := s3Store(t, f, Config{}, blocks...)
	arrived, _ := blockGets(f)
	ctx, cancel := context.WithCancel(context.Background())
	var res []pipeline.FetchResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		res = fetchers(s)[1].f.Fetch(ctx, &pipeline.Cycle{Namespace: testNS, FetchTimeout: time.Minute}, cands)
	}()
	for range 4 { // the parallel strategy's limit
		<-arrived
	}
	cancel()
	<-done
	for i, r := range res {
		if r.Reason != pipeline.FailCanceled {
			t.Errorf("block %d: reason = %q (err %v), want %q", i, r.Reason, r.Err, pipeline.FailCanceled)
		}
	}
	if files := flatFiles(t, flat); len(files) != 0 {
		t.Errorf("flat after cancel holds %v, want nothing", keys(files))
	}
}
