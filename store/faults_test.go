package store

// The fault suite (issue 6, item 5): a v3 worker (presets.New(NameV3) run
// by a pipeline.Worker) against a real Store whose cold tier is the
// in-process S3 server of helpers_test.go, with one fault injected per row
// into the GETs of some blocks (the victims) while the others are served
// as usual. After the faulty cycle each row checks the outcome's counts
// block by block, the GETs the server saw, the store's figures, that the
// flat directory holds exactly the healthy blocks byte for byte and
// nothing partial, and that nothing is left in flight. Then the fault is
// lifted, the clock moved past the backoff, and a second cycle must fetch
// the victims: a fault leaves nothing behind that blocks a later fetch.
// Last, goleak checks that the scenario left no goroutine behind.
//
// The store's S3 client makes one attempt per request (s3BucketNoRetry),
// so the GETs are exact and no 500 waits for the SDK's random backoff;
// the rows about retries use a client whose wait is fixed and announced.
// The worker sees the store through notifying, which tells a scenario
// when a fetch has returned and changes nothing else.
//
// The flat disk refusing writes is the fan-out directory of each victim
// replaced by a regular file, so creating the temporary file fails with
// ENOTDIR. Tests run as root, so a read-only mode would not stop writes;
// a flat budget smaller than the block is a row of its own but never
// reaches the disk (the store refuses it before the GET). A write refused
// midway through the file (a full disk) is TestFaultsDiskFull, Linux only.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/zeebo/blake3"
	"go.uber.org/goleak"
	"gocloud.dev/blob/s3blob"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/store/gocloud"
)

// faultBlocks is how many blocks each scenario indexes; the cycle selects
// them all (TopK = faultBlocks).
const faultBlocks = 6

// faultFn serves a victim's GET. attempt counts that block's GETs from 1.
// It returns false to let the server answer normally.
type faultFn func(w http.ResponseWriter, r *http.Request, next http.Handler, attempt int) bool

// faultCase is one scenario: blocks[:victims] are faulty, the rest healthy.
type faultCase struct {
	name    string
	victims int
	// victimSize is a victim's payload size (0: like the others, 16 to
	// 21 kB).
	victimSize int
	// cfg configures the store; its Cold is set by the harness.
	cfg Config
	// retry gives the store an S3 client that makes three attempts per
	// request, waiting retryWait before each retry, instead of one
	// attempt.
	retry     bool
	retryWait time.Duration
	// unseeded leaves the victims out of cold (a miss); the heal puts them.
	unseeded bool
	// fault serves the victims' GETs (nil: served normally).
	fault faultFn
	// setup runs once the store is open, before the worker starts; heal
	// undoes it before the second cycle.
	setup, heal func(t *testing.T, e *faultEnv)
	// fetchTimeout and limit set presets.Options (0: the defaults).
	fetchTimeout time.Duration
	limit        int
	// stopAfter > 0 stops the worker once every healthy block has been
	// fetched and that many victims have reached stopAt.
	stopAfter int
	stopAt    stopPoint
	// stallAt is the size of a victim's temporary file at stopAtPartial
	// (larger than any healthy block).
	stallAt int64
	// noHeal skips the second cycle (a fault no heal lifts).
	noHeal bool

	// reason is every victim's failure reason ("": fetched after all).
	reason string
	// errLike, when set, is in every victim's error (for reasons as broad
	// as pipeline.FailError).
	errLike string
	// rejected: Stats.Rejected counts each victim.
	rejected bool
	// gets is the object GETs the server sees during the faulty cycle.
	gets int64
}

// stopPoint is where a victim's fetch is when a scenario stops the worker.
type stopPoint int

const (
	stopAtGET       stopPoint = iota // its GET has reached the server
	stopAtPartial                    // its temporary file holds faultCase.stallAt bytes
	stopAtRetryWait                  // the S3 client waits to retry its GET
)

// faultEnv is a running scenario.
type faultEnv struct {
	s3       *fakeS3
	store    *Store
	backoff  *filter.Backoff
	flat     string
	blocks   []testBlock
	victims  []testBlock
	healthy  []testBlock
	blockers []string // flat paths (relative, slash-separated) a fault placed there
}

func TestFaults(t *testing.T) {
	const fast = 200 * time.Millisecond // the per-fetch deadline of the deadline rows
	for _, tc := range []faultCase{
		{
			name:    "500 on every GET",
			victims: 2,
			fault:   fail500,
			reason:  pipeline.FailError,
			errLike: "StatusCode: 500",
			gets:    faultBlocks,
		},
		{
			name:    "500 on the first GET, the SDK retries",
			victims: 2,
			retry:   true,
			fault: func(w http.ResponseWriter, _ *http.Request, _ http.Handler, attempt int) bool {
				if attempt > 1 {
					return false
				}
				answer500(w)
				return true
			},
			reason: "",
			gets:   faultBlocks + 2,
		},
		{
			name:     "objects missing from cold",
			victims:  2,
			unseeded: true,
			reason:   pipeline.FailMiss,
			gets:     faultBlocks,
		},
		{
			name:    "slow GETs within the deadline",
			victims: 2,
			fault:   trickle(2_000, 5*time.Millisecond), // ~50 ms a body
			reason:  "",
			gets:    faultBlocks,
		},
		{
			name:         "slow GETs past the deadline",
			victims:      2,
			fetchTimeout: fast,
			fault:        trickle(1_000, 25*time.Millisecond), // ~400 ms a body
			reason:       pipeline.FailDeadline,
			gets:         faultBlocks,
		},
		{
			name:         "hung GETs",
			victims:      2,
			fetchTimeout: fast,
			fault:        hang,
			reason:       pipeline.FailDeadline,
			gets:         faultBlocks,
		},
		{
			name:    "truncated bodies",
			victims: 2,
			fault: mangle(func(body []byte) []byte {
				return body[:len(body)-100] // the connection closes short of Content-Length
			}),
			reason:   ReasonSize,
			rejected: true,
			gets:     faultBlocks,
		},
		{
			name:    "corrupted bodies",
			victims: 2,
			fault: mangle(func(body []byte) []byte {
				body[len(body)/3] ^= 0x40
				return body
			}),
			reason:   ReasonCorrupt,
			rejected: true,
			gets:     faultBlocks,
		},
		{
			name:    "flat refuses writes: fan-out directory is a file",
			victims: 2,
			setup: func(t *testing.T, e *faultEnv) {
				if err := os.MkdirAll(filepath.Join(e.flat, testNS), 0o755); err != nil {
					t.Fatal(err)
				}
				for _, b := range e.victims {
					rel := testNS + "/" + b.hash.String()[:2]
					if err := os.WriteFile(filepath.Join(e.flat, filepath.FromSlash(rel)), []byte("not a directory"), 0o644); err != nil {
						t.Fatal(err)
					}
					e.blockers = append(e.blockers, rel)
				}
			},
			heal: func(t *testing.T, e *faultEnv) {
				for _, rel := range e.blockers {
					if err := os.Remove(filepath.Join(e.flat, filepath.FromSlash(rel))); err != nil {
						t.Fatal(err)
					}
				}
				e.blockers = nil
			},
			reason:  ReasonFlatWrite,
			errLike: "not a directory",
			gets:    faultBlocks,
		},
		{
			name:       "flat budget smaller than the block",
			victims:    2,
			victimSize: 200_000,
			cfg:        Config{FlatBudget: 100_000}, // the 4 healthy blocks take 78 kB
			noHeal:     true,
			reason:     ReasonTooLarge,
			rejected:   true,
			gets:       faultBlocks - 2, // refused before the GET
		},
		{
			name:         "stop mid-fetch, half the body written",
			victims:      2,
			victimSize:   100_000,
			fetchTimeout: time.Minute, // no deadline (nor the cycle's, 10 s) before the stop
			fault:        stall(50_000),
			stopAfter:    2,
			stopAt:       stopAtPartial,
			stallAt:      50_000,
			reason:       pipeline.FailCanceled,
			gets:         faultBlocks,
		},
		{
			name:         "stop with fetches not yet started",
			victims:      faultBlocks,
			limit:        4,
			fetchTimeout: time.Minute,
			fault:        hang,
			stopAfter:    4,
			reason:       pipeline.FailCanceled,
			gets:         4, // the last two were never started
		},
		{
			name:         "stop while the S3 client waits to retry a 500",
			victims:      2,
			retry:        true,
			retryWait:    time.Minute, // no deadline (nor the cycle's, 10 s) before the stop
			fetchTimeout: time.Minute,
			fault:        fail500,
			stopAfter:    2,
			stopAt:       stopAtRetryWait,
			reason:       pipeline.FailCanceled,
			gets:         faultBlocks, // the first attempts
		},
	} {
		t.Run(tc.name, func(t *testing.T) { runFault(t, tc) })
	}
}

// TestFaultsFetchTimeoutOverCycleDeadline: a per-fetch deadline longer
// than 10 s is not cut short by the cycle's fetch deadline, which defaults
// to two per-fetch deadlines (it was a fixed 10 s, so a lone hung GET
// failed at 10 s as "cycle_deadline" instead of at its own deadline).
func TestFaultsFetchTimeoutOverCycleDeadline(t *testing.T) {
	s := open(t, Config{})
	for _, timeout := range []time.Duration{5 * time.Second, 30 * time.Second, time.Minute} {
		p, err := presets.New(presets.NameV3, presets.Options{Index: index.NewMemory(nil), Store: s, FetchTimeout: timeout, InstrLog: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if c := p.Config(); c.CycleFetchTimeout < c.FetchTimeout {
			t.Errorf("FetchTimeout = %v: CycleFetchTimeout = %v, want at least FetchTimeout (by default two per-fetch deadlines)", c.FetchTimeout, c.CycleFetchTimeout)
		}
	}
}

// runFault runs scenario tc: the faulty cycle, its checks, the healing
// cycle, and the goroutine check.
func runFault(t *testing.T, tc faultCase) {
	leaks := goleak.IgnoreCurrent()
	// Registered first, so it runs last: after the worker, the store and
	// the server have been shut down by their own cleanups.
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	ctx := context.Background()

	f := startS3(t)
	e := &faultEnv{s3: f, blocks: make([]testBlock, faultBlocks)}
	for i := range e.blocks {
		size := 16_000 + 1_000*i
		if i < tc.victims && tc.victimSize != 0 {
			size = tc.victimSize
		}
		e.blocks[i] = newBlock(t, size)
		e.blocks[i].hash[0] = byte(i) // each block a fan-out directory of its own
	}
	e.victims, e.healthy = e.blocks[:tc.victims], e.blocks[tc.victims:]
	seed := e.blocks
	if tc.unseeded {
		seed = e.healthy
	}
	cfg := tc.cfg
	waiting := make(chan struct{}, 64) // the S3 client is about to wait to retry
	if tc.retry {
		cfg.Cold = s3BucketRetry(t, f, tc.retryWait, waiting)
	} else {
		cfg.Cold = s3BucketNoRetry(t, f)
	}
	e.store, e.flat = s3Store(t, f, cfg, seed...)

	// Faults apply to the victims' GETs only; every victim GET is
	// announced on arrived.
	victimOf := make(map[string]block.Hash)
	for _, b := range e.victims {
		victimOf["/"+testNS+"/"+b.key()] = b.hash
	}
	arrived := make(chan block.Hash, 64)
	var mu sync.Mutex
	attempts := make(map[block.Hash]int)
	f.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if !isGet(r) {
			return false
		}
		h, ok := victimOf[strings.TrimPrefix(r.URL.Path, "/cold")]
		if !ok {
			return false
		}
		mu.Lock()
		attempts[h]++
		attempt := attempts[h]
		mu.Unlock()
		select {
		case arrived <- h:
		case <-r.Context().Done():
			return true
		}
		return tc.fault != nil && tc.fault(w, r, next, attempt)
	})
	partial := make(chan struct{}, faultBlocks)
	if tc.stallAt > 0 {
		e.store.hooks = &testHooks{afterChunk: func(written int64) {
			if written == tc.stallAt {
				partial <- struct{}{}
			}
		}}
	}
	if tc.setup != nil {
		tc.setup(t, e)
	}
	f.gets.Store(0)

	// The v3 worker, on a clock of our own (the backoff and the scorer read
	// it), with an interval long enough that each Start runs one cycle.
	var nowNs atomic.Int64
	nowNs.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, nowNs.Load()) }
	idx := index.NewMemory(clock)
	for _, b := range e.blocks {
		idx.Insert(b.hash, block.Meta{PayloadBytes: uint64(len(b.payload))})
	}
	e.backoff = filter.NewBackoff(0, 0)
	outs := make(chan *pipeline.Outcome, 4)
	materialized := make(chan block.Hash, 4*faultBlocks)
	p, err := presets.New(presets.NameV3, presets.Options{
		Index:        idx,
		Store:        notifying{e.store, materialized},
		Namespace:    testNS,
		TopK:         faultBlocks,
		Interval:     time.Hour,
		FetchTimeout: tc.fetchTimeout,
		Limit:        tc.limit,
		Backoff:      e.backoff,
		InstrLog:     io.Discard,
		Emitters:     []pipeline.Emitter{pipeline.EmitterFunc(func(_ context.Context, o *pipeline.Outcome) { outs <- cloneOutcome(o) })},
		Clock:        clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	w := pipeline.NewWorker(p)
	// Should Stop fail to end the loop, the context still does, so a
	// failing scenario cannot hang the cleanups.
	wctx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() { cancel(); w.Stop() })

	// The faulty cycle.
	if err := w.Start(wctx); err != nil {
		t.Fatal(err)
	}
	if tc.stopAfter > 0 {
		for range tc.stopAfter {
			switch tc.stopAt {
			case stopAtGET:
				recv(t, arrived, "a victim's GET")
			case stopAtPartial:
				recv(t, partial, "a victim's partial temporary file")
			case stopAtRetryWait:
				recv(t, waiting, "a victim's retry wait")
			}
		}
		for range e.healthy {
			recv(t, materialized, "a healthy block's fetch")
		}
		took := stopWithin(t, w, 5*time.Second)
		t.Logf("Stop returned after %v with %d fetches in flight", took, tc.stopAfter)
	}
	o := recv(t, outs, "the faulty cycle's outcome")
	stopWithin(t, w, 5*time.Second)

	if len(o.Selected) != faultBlocks {
		t.Fatalf("cycle selected %d blocks, want all %d", len(o.Selected), faultBlocks)
	}
	want := cycleWant{
		outcome: outcomeCounts{Reasons: map[string]string{}},
		stopped: tc.stopAfter > 0,
		gets:    tc.gets,
		flat:    e.healthy,
	}
	if tc.reason == "" {
		want.flat = e.blocks
	}
	for _, b := range e.blocks {
		reason := ""
		if e.isVictim(b.hash) {
			reason = tc.reason
		}
		want.outcome.Reasons[e.label(b.hash)] = reason
		if reason == "" {
			want.outcome.Fetched++
			want.outcome.BytesMaterialized += int64(len(b.payload))
		} else {
			want.outcome.Failed++
		}
	}
	if want.outcome.Failed > 0 {
		want.outcome.FailedBy = map[string]int{tc.reason: want.outcome.Failed}
	}
	if tc.rejected {
		want.rejected = len(e.victims)
	}
	if tc.reason != "" && tc.reason != pipeline.FailCanceled {
		want.backoff = len(e.victims) // a canceled fetch says nothing of its block
	}
	e.check(t, "faulty cycle", o, want)
	for _, r := range o.Fetches {
		if tc.errLike != "" && e.isVictim(r.Hash) && (r.Err == nil || !strings.Contains(r.Err.Error(), tc.errLike)) {
			t.Errorf("faulty cycle: %s: err = %v, want one that says %q", e.label(r.Hash), r.Err, tc.errLike)
		}
	}
	if t.Failed() || tc.noHeal {
		return
	}

	// The fault lifted, the clock past the victims' backoff: the next cycle
	// fetches them and finds the others already in flat.
	f.setFault(nil)
	if tc.unseeded {
		for _, b := range e.victims {
			if err := e.store.PutCold(ctx, testNS, b.key(), b.payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	if tc.heal != nil {
		tc.heal(t, e)
	}
	nowNs.Add(int64(time.Hour))
	f.gets.Store(0)
	if err := w.Start(wctx); err != nil {
		t.Fatal(err)
	}
	o = recv(t, outs, "the healing cycle's outcome")
	stopWithin(t, w, 5*time.Second)

	healed := cycleWant{
		outcome:  outcomeCounts{Reasons: map[string]string{}},
		flat:     e.blocks,
		rejected: want.rejected,
	}
	if tc.reason != "" {
		for _, b := range e.victims {
			healed.outcome.Reasons[e.label(b.hash)] = ""
			healed.outcome.Fetched++
			healed.outcome.BytesMaterialized += int64(len(b.payload))
		}
	}
	healed.gets = int64(healed.outcome.Fetched)
	if n := faultBlocks - healed.outcome.Fetched; n > 0 {
		healed.outcome.Skipped = map[string]int{pipeline.SkipAlreadyFlat: n}
	}
	e.check(t, "healing cycle", o, healed)
}

// cycleWant is what a cycle must leave behind.
type cycleWant struct {
	outcome outcomeCounts
	// stopped: Outcome.Err is context.Canceled (else nil: fetch failures
	// are data, not a failed cycle).
	stopped bool
	// gets is the object GETs the server saw.
	gets int64
	// flat is the blocks flat holds, and nothing else.
	flat []testBlock
	// rejected is Stats.Rejected.
	rejected int
	// backoff is the blocks the backoff filter remembers.
	backoff int
}

// check checks a cycle's outcome o, the server, the store and the flat
// directory against want.
func (e *faultEnv) check(t *testing.T, phase string, o *pipeline.Outcome, want cycleWant) {
	t.Helper()
	if diff := cmp.Diff(want.outcome, e.counts(o), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s: outcome mismatch (-want +got):\n%s", phase, diff)
	}
	switch {
	case want.stopped && !errors.Is(o.Err, context.Canceled):
		t.Errorf("%s: Outcome.Err = %v, want context.Canceled (the worker stopped)", phase, o.Err)
	case !want.stopped && o.Err != nil:
		t.Errorf("%s: Outcome.Err = %v, want nil (fetch failures are data)", phase, o.Err)
	}
	if gets := e.s3.gets.Load(); gets != want.gets {
		t.Errorf("%s: server saw %d GETs, want %d", phase, gets, want.gets)
	}
	wantStats := flatStats(want.flat)
	wantStats.Rejected = uint64(want.rejected)
	if diff := cmp.Diff(wantStats, e.stats()); diff != "" {
		t.Errorf("%s: Stats mismatch (-want +got):\n%s", phase, diff)
	}
	e.checkFlat(t, phase, want.flat)
	for _, b := range e.blocks {
		if e.store.InFlight(testNS, b.hash) {
			t.Errorf("%s: %s still in flight", phase, e.label(b.hash))
		}
	}
	if n := e.backoff.Len(); n != want.backoff {
		t.Errorf("%s: backoff remembers %d blocks, want %d", phase, n, want.backoff)
	}
}

// outcomeCounts is what a scenario asserts of an Outcome.
type outcomeCounts struct {
	Fetched, Failed   int
	FailedBy          map[string]int
	Skipped           map[string]int
	BytesMaterialized int64
	// Reasons is each fetch's reason ("": fetched) by block name.
	Reasons map[string]string
}

func (e *faultEnv) counts(o *pipeline.Outcome) outcomeCounts {
	c := outcomeCounts{
		Fetched:           o.Fetched,
		Failed:            o.Failed,
		FailedBy:          o.FailedBy,
		Skipped:           o.Skipped,
		BytesMaterialized: o.BytesMaterialized,
		Reasons:           make(map[string]string),
	}
	for _, r := range o.Fetches {
		label := e.label(r.Hash)
		if _, dup := c.Reasons[label]; dup {
			label += " (again)"
		}
		c.Reasons[label] = r.Reason
		if r.Fetched() != (r.Bytes > 0) {
			c.Reasons[label] += fmt.Sprintf(" with %d bytes", r.Bytes)
		}
	}
	return c
}

// label names block h for a diff: "victim 0", "healthy 3", or its hash.
func (e *faultEnv) label(h block.Hash) string {
	for i, b := range e.blocks {
		if b.hash == h {
			if i < len(e.victims) {
				return fmt.Sprintf("victim %d", i)
			}
			return fmt.Sprintf("healthy %d", i)
		}
	}
	return h.String()
}

func (e *faultEnv) isVictim(h block.Hash) bool {
	return slices.ContainsFunc(e.victims, func(b testBlock) bool { return b.hash == h })
}

// storeStats is the part of Stats a scenario asserts.
type storeStats struct {
	FlatBlocks int
	FlatBytes  int64
	Published  uint64
	Rejected   uint64
}

func (e *faultEnv) stats() storeStats {
	st := e.store.Stats()
	return storeStats{FlatBlocks: st.FlatBlocks, FlatBytes: st.FlatBytes, Published: st.Published, Rejected: st.Rejected}
}

// flatStats is the Stats of a store that published exactly blocks.
func flatStats(blocks []testBlock) storeStats {
	st := storeStats{FlatBlocks: len(blocks), Published: uint64(len(blocks))}
	for _, b := range blocks {
		st.FlatBytes += int64(len(b.payload))
	}
	return st
}

// checkFlat walks the flat directory: it must hold exactly want's blocks,
// each byte for byte under its own name, and no other file (no temporary
// file, nothing partial), the fault's own blockers aside.
func (e *faultEnv) checkFlat(t *testing.T, phase string, want []testBlock) {
	t.Helper()
	digest := func(p []byte) string {
		sum := blake3.Sum256(p)
		return fmt.Sprintf("%d bytes, b3 %s", len(p), hex.EncodeToString(sum[:8]))
	}
	wantFiles := make(map[string]string)
	for _, b := range want {
		wantFiles[filepath.ToSlash(name{ns: testNS, hex: b.hash.String()}.rel())] = e.label(b.hash) + ": " + digest(b.payload)
	}
	gotFiles := make(map[string]string)
	for rel, data := range flatFiles(t, e.flat) {
		if slices.Contains(e.blockers, rel) {
			continue
		}
		var h block.Hash
		if n, err := hex.Decode(h[:], []byte(filepath.Base(rel))); err == nil && n == len(h) {
			gotFiles[rel] = e.label(h) + ": " + digest(data)
		} else {
			gotFiles[rel] = digest(data)
		}
	}
	if diff := cmp.Diff(wantFiles, gotFiles); diff != "" {
		t.Errorf("%s: flat mismatch (-want +got):\n%s", phase, diff)
	}
}

// notifying is the store as the worker sees it, sending each block's hash
// on done when a Materialize of it returns (so a scenario knows when the
// healthy blocks are in). Its other methods, InFlight included, are the
// store's.
type notifying struct {
	*Store
	done chan<- block.Hash
}

func (n notifying) Materialize(ctx context.Context, ns string, h block.Hash, meta block.Meta) (int64, bool, error) {
	size, found, err := n.Store.Materialize(ctx, ns, h, meta)
	n.done <- h
	return size, found, err
}

// cloneOutcome copies what a scenario reads of o, which the pipeline
// lends its emitters only for the call.
func cloneOutcome(o *pipeline.Outcome) *pipeline.Outcome {
	c := *o
	c.Selected = slices.Clone(o.Selected)
	c.Skipped = maps.Clone(o.Skipped)
	c.FailedBy = maps.Clone(o.FailedBy)
	c.Fetches = slices.Clone(o.Fetches)
	return &c
}

// recv waits for a value on ch, failing the test after 30 s.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s within 30 s", what)
		panic("unreachable")
	}
}

// stopWithin stops w, failing the test if Stop has not returned within d,
// and returns how long it took.
func stopWithin(t *testing.T, w *pipeline.Worker, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	stopped := make(chan struct{})
	go func() {
		w.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		return time.Since(start)
	case <-time.After(d):
		t.Fatalf("Stop has not returned after %v", d)
		panic("unreachable")
	}
}

// hang answers nothing until the client gives up.
func hang(_ http.ResponseWriter, r *http.Request, _ http.Handler, _ int) bool {
	<-r.Context().Done()
	return true
}

// fail500 answers 500 Internal Error.
func fail500(w http.ResponseWriter, _ *http.Request, _ http.Handler, _ int) bool {
	answer500(w)
	return true
}

// answer500 answers as S3 does when it fails internally.
func answer500(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusInternalServerError)
	w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`))
}

// mangle serves the object with its body passed through fn, headers
// (Content-Length included) unchanged.
func mangle(fn func(body []byte) []byte) faultFn {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler, _ int) bool {
		rec := recorded(next, r)
		copyHeader(w, rec)
		w.WriteHeader(rec.Code)
		w.Write(fn(rec.Body.Bytes()))
		return true
	}
}

// stall serves the first at bytes of the object, then nothing until the
// client gives up.
func stall(at int) faultFn {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler, _ int) bool {
		rec := recorded(next, r)
		copyHeader(w, rec)
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes()[:at])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return true
	}
}

// trickle serves the object chunk bytes at a time, one chunk every every,
// until the body is sent or the client gives up.
func trickle(chunk int, every time.Duration) faultFn {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler, _ int) bool {
		rec := recorded(next, r)
		copyHeader(w, rec)
		w.WriteHeader(rec.Code)
		body := rec.Body.Bytes()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for len(body) > 0 {
			n := min(chunk, len(body))
			if _, err := w.Write(body[:n]); err != nil {
				return true
			}
			w.(http.Flusher).Flush()
			body = body[n:]
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return true
			}
		}
		return true
	}
}

// s3BucketRetry opens the fake server's bucket through s3blob with a
// client that makes up to three attempts per request, as the SDK's
// standard retryer does, but waits exactly wait before a retry instead of
// its random backoff (up to seconds), signalling on waiting as it starts.
func s3BucketRetry(t *testing.T, f *fakeS3, wait time.Duration, waiting chan<- struct{}) *gocloud.Bucket {
	t.Helper()
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.srv.URL),
		UsePathStyle: true,
		Credentials:  aws.AnonymousCredentials{},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) {
				waiting <- struct{}{}
				return wait, nil
			})
			o.RateLimiter = ratelimit.None
		}),
	})
	b, err := s3blob.OpenBucket(context.Background(), client, "cold", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return gocloud.New(b)
}
