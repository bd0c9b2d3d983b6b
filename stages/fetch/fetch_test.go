package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/fetch"
)

// Parallel starts goroutines: none may outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	_ pipeline.Fetcher   = fetch.DryRun{}
	_ pipeline.Fetcher   = (*fetch.Sequential)(nil)
	_ pipeline.Fetcher   = (*fetch.Parallel)(nil)
	_ fetch.Materializer = fetch.MaterializerFunc(nil)
)

// behaviour is what the fake store does for one block.
type behaviour int

const (
	hit         behaviour = iota // 100 + the block's Seq bytes
	miss                         // found = false
	fail                         // a plain error
	corrupt                      // an error naming its own reason
	panics                       // panic
	hang                         // block until ctx ends, return ctx.Err()
	hangBare                     // block until ctx ends, return a bare error
	hangCorrupt                  // block until ctx ends, return an error with its own reason
	slow                         // take 1 s (honoring ctx), then hit
	slowerHit                    // take 3 s (honoring ctx), then hit
)

type corruptErr struct{}

func (corruptErr) Error() string  { return "store: corrupt body" }
func (corruptErr) Reason() string { return "corrupt" }

// fakeStore is a Materializer whose answer for each block is set by its
// behaviour, and which records its calls and peak concurrency.
type fakeStore struct {
	do map[block.Hash]behaviour

	mu        sync.Mutex
	calls     []block.Hash
	ns        []string
	deadlines []time.Duration // deadline left at the start of each call

	inFlight, peak atomic.Int32
}

func (s *fakeStore) Materialize(ctx context.Context, ns string, h block.Hash, meta block.Meta) (int64, bool, error) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	s.mu.Lock()
	s.calls = append(s.calls, h)
	s.ns = append(s.ns, ns)
	if d, ok := ctx.Deadline(); ok {
		s.deadlines = append(s.deadlines, time.Until(d))
	} else {
		s.deadlines = append(s.deadlines, -1)
	}
	s.mu.Unlock()

	wait := func(d time.Duration) error {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	switch s.do[h] {
	case miss:
		return 0, false, nil
	case fail:
		return 0, false, errors.New("store: connection reset")
	case corrupt:
		return 0, false, fmt.Errorf("get %s: %w", block.Key(h)[:24], corruptErr{})
	case panics:
		panic("store bug")
	case hang:
		<-ctx.Done()
		return 0, false, ctx.Err()
	case hangBare:
		<-ctx.Done()
		return 0, false, errors.New("store: request aborted")
	case hangCorrupt:
		<-ctx.Done()
		return 0, false, corruptErr{}
	case slow:
		if err := wait(time.Second); err != nil {
			return 0, false, err
		}
	case slowerHit:
		if err := wait(3 * time.Second); err != nil {
			return 0, false, err
		}
	}
	return 100 + int64(meta.Seq), true, nil
}

func (s *fakeStore) Calls() []block.Hash {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]block.Hash(nil), s.calls...)
}

func cand(i int) pipeline.Candidate {
	return pipeline.Candidate{Hash: block.Hash{byte(i + 1)}, Meta: block.Meta{Seq: uint32(i)}, Score: float64(100 - i)}
}

// storeFor returns candidates 0..len(bs)-1 and a store doing bs[i] for
// candidate i.
func storeFor(bs ...behaviour) ([]pipeline.Candidate, *fakeStore) {
	s := &fakeStore{do: map[block.Hash]behaviour{}}
	var cs []pipeline.Candidate
	for i, b := range bs {
		c := cand(i)
		cs = append(cs, c)
		s.do[c.Hash] = b
	}
	return cs, s
}

var strategies = []struct {
	name string
	new  func(fetch.Materializer) pipeline.Fetcher
}{
	{"Sequential", func(m fetch.Materializer) pipeline.Fetcher { return fetch.NewSequential(m) }},
	{"Parallel", func(m fetch.Materializer) pipeline.Fetcher { return fetch.NewParallel(m, 3) }},
	{"Parallel/limit=1", func(m fetch.Materializer) pipeline.Fetcher { return fetch.NewParallel(m, 1) }},
	{"Parallel/default", func(m fetch.Materializer) pipeline.Fetcher { return &fetch.Parallel{Materializer: m} }},
	// A strategy of its own, built on Attempt alone, behaves as the others.
	{"Attempt loop", func(m fetch.Materializer) pipeline.Fetcher {
		return pipeline.FetcherFunc(func(ctx context.Context, cy *pipeline.Cycle, cands []pipeline.Candidate) []pipeline.FetchResult {
			res := make([]pipeline.FetchResult, len(cands))
			for i, c := range cands {
				res[i] = fetch.Attempt(ctx, cy, m, c)
			}
			return res
		})
	}},
}

// short summarizes results as "hash:reason:bytes".
func short(rs []pipeline.FetchResult) []string {
	var out []string
	for _, r := range rs {
		reason := r.Reason
		if reason == "" {
			reason = "ok"
		}
		out = append(out, fmt.Sprintf("%d:%s:%d", r.Hash[0], reason, r.Bytes))
	}
	return out
}

func cycle() *pipeline.Cycle {
	return &pipeline.Cycle{Seq: 1, Namespace: "ns-a", TopK: 8, FetchTimeout: 2 * time.Second}
}

// TestOneFailureNeverStopsTheCycle: every kind of failure is a result, the
// fetches after it still run, and results keep the candidates' order.
func TestOneFailureNeverStopsTheCycle(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cs, s := storeFor(hit, miss, fail, corrupt, panics, hang, hangBare, hit)
				start := time.Now()
				res := st.new(s).Fetch(context.Background(), cycle(), cs)
				want := []string{"1:ok:100", "2:miss:0", "3:error:0", "4:corrupt:0", "5:panic:0", "6:deadline:0", "7:deadline:0", "8:ok:107"}
				if diff := cmp.Diff(want, short(res)); diff != "" {
					t.Errorf("results mismatch (-want +got):\n%s", diff)
				}
				if len(s.Calls()) != len(cs) {
					t.Errorf("%d Materialize calls, want %d: a failure stopped the cycle", len(s.Calls()), len(cs))
				}
				for i, r := range res {
					if r.Hash != cs[i].Hash {
						t.Errorf("result %d is for %x, want %x (input order)", i, r.Hash[:1], cs[i].Hash[:1])
					}
					if (r.Reason == "" || r.Reason == pipeline.FailMiss) != (r.Err == nil) {
						t.Errorf("result %d: reason %q with Err %v", i, r.Reason, r.Err)
					}
				}
				var pe *pipeline.PanicError
				if !errors.As(res[4].Err, &pe) || pe.Stage != "fetcher" || pe.Value != "store bug" || len(pe.Stack) == 0 {
					t.Errorf("panic result Err = %#v, want a *PanicError of stage fetcher with a stack", res[4].Err)
				}
				if !errors.Is(res[5].Err, context.DeadlineExceeded) || !errors.Is(res[6].Err, context.DeadlineExceeded) {
					t.Errorf("deadline results' Err = %v / %v, want context.DeadlineExceeded in the chain", res[5].Err, res[6].Err)
				}
				if !strings.Contains(res[6].Err.Error(), "store: request aborted") {
					t.Errorf("a bare store error lost its text: %v", res[6].Err)
				}
				if res[5].Duration != 2*time.Second {
					t.Errorf("the hung fetch took %v, want the 2s FetchTimeout", res[5].Duration)
				}
				// Sequential pays both deadlines one after the other; parallel
				// strategies with room for both overlap them.
				wantElapsed := 4 * time.Second
				if st.name == "Parallel" || st.name == "Parallel/default" {
					wantElapsed = 2 * time.Second
				}
				if got := time.Since(start); got != wantElapsed {
					t.Errorf("Fetch took %v, want %v", got, wantElapsed)
				}
			})
		})
	}
}

// TestPerFetchDeadline: each fetch gets the cycle's FetchTimeout as its own
// deadline; an overrun fails with reason deadline and the next block still
// gets a full deadline of its own (the seed abandoned the rest of the cycle).
func TestPerFetchDeadline(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cs, s := storeFor(slowerHit, slow, slowerHit, hit)
				cy := cycle() // 2 s per fetch
				res := st.new(s).Fetch(context.Background(), cy, cs)
				want := []string{"1:deadline:0", "2:ok:101", "3:deadline:0", "4:ok:103"}
				if diff := cmp.Diff(want, short(res)); diff != "" {
					t.Errorf("results mismatch (-want +got):\n%s", diff)
				}
				for i, left := range s.deadlines {
					if left != 2*time.Second {
						t.Errorf("call %d started with %v of deadline left, want the full 2s", i, left)
					}
				}
				if res[1].Duration != time.Second || res[3].Duration != 0 {
					t.Errorf("durations %v and %v, want 1s and 0", res[1].Duration, res[3].Duration)
				}
			})
		})
	}
}

// TestCanceledContext: a cycle canceled mid-fetch (the worker stopping)
// ends the fetch in flight as canceled, whatever the store answers then,
// and starts no more.
func TestCanceledContext(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cs, s := storeFor(hit, hangCorrupt, hangBare, hang, hang, hang, hang, hang, hang, hang, hang, hang)
				ctx, cancel := context.WithCancel(context.Background())
				cy := cycle()
				cy.FetchTimeout = time.Hour
				var res []pipeline.FetchResult
				done := make(chan struct{})
				go func() {
					defer close(done)
					res = st.new(s).Fetch(ctx, cy, cs)
				}()
				time.Sleep(time.Minute)
				synctest.Wait()
				started := len(s.Calls())
				cancel()
				<-done
				if res[0].Reason != "" {
					t.Errorf("the fetch done before the cancel: %q", res[0].Reason)
				}
				for i, r := range res[1:] {
					if r.Reason != pipeline.FailCanceled {
						t.Errorf("result %d after the cancel: reason %q, Err %v; want canceled", i+1, r.Reason, r.Err)
					}
					if i > 0 && !errors.Is(r.Err, context.Canceled) {
						t.Errorf("result %d: Err %v, want context.Canceled in the chain", i+1, r.Err)
					}
					if r.Hash != cs[i+1].Hash {
						t.Errorf("result %d is for %x, want %x", i+1, r.Hash[:1], cs[i+1].Hash[:1])
					}
				}
				if got := len(s.Calls()); got != started {
					t.Errorf("%d fetches started after the cancel", got-started)
				}
				if len(res) != len(cs) {
					t.Errorf("%d results for %d candidates", len(res), len(cs))
				}
			})
		})
	}
}

func TestCanceledBeforeStart(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			cs, s := storeFor(hit, hit, hit)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			res := st.new(s).Fetch(ctx, cycle(), cs)
			if diff := cmp.Diff([]string{"1:canceled:0", "2:canceled:0", "3:canceled:0"}, short(res)); diff != "" {
				t.Errorf("results mismatch (-want +got):\n%s", diff)
			}
			if len(s.Calls()) != 0 {
				t.Errorf("%d Materialize calls on a canceled context", len(s.Calls()))
			}
		})
	}
}

func TestNamespaceAndContextReachTheStore(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			cs, s := storeFor(hit, hit)
			type key struct{}
			var got []any
			var mu sync.Mutex
			m := fetch.MaterializerFunc(func(ctx context.Context, ns string, h block.Hash, meta block.Meta) (int64, bool, error) {
				mu.Lock()
				got = append(got, ctx.Value(key{}))
				mu.Unlock()
				return s.Materialize(ctx, ns, h, meta)
			})
			ctx := context.WithValue(context.Background(), key{}, "v")
			st.new(m).Fetch(ctx, cycle(), cs)
			if diff := cmp.Diff([]string{"ns-a", "ns-a"}, s.ns); diff != "" {
				t.Errorf("namespaces mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]any{"v", "v"}, got); diff != "" {
				t.Errorf("the store's context does not derive from the cycle's (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEmptyInput(t *testing.T) {
	for _, st := range strategies {
		_, s := storeFor()
		if res := st.new(s).Fetch(context.Background(), cycle(), nil); len(res) != 0 {
			t.Errorf("%s: %d results for no candidates", st.name, len(res))
		}
	}
}

// TestParallelLimit: never more than Limit fetches in flight, and the
// window stays full (a sliding window, not batches).
func TestParallelLimit(t *testing.T) {
	for _, tt := range []struct {
		limit, n, want int
		elapsed        time.Duration
	}{
		{limit: 3, n: 10, want: 3, elapsed: 4 * time.Second},
		{limit: 1, n: 4, want: 1, elapsed: 4 * time.Second},
		{limit: 0, n: 20, want: fetch.DefaultLimit, elapsed: 3 * time.Second}, // 0 means 8
		{limit: 16, n: 5, want: 5, elapsed: time.Second},
	} {
		t.Run(fmt.Sprintf("limit=%d/n=%d", tt.limit, tt.n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bs := make([]behaviour, tt.n)
				for i := range bs {
					bs[i] = slow
				}
				cs, s := storeFor(bs...)
				start := time.Now()
				res := fetch.NewParallel(s, tt.limit).Fetch(context.Background(), cycle(), cs)
				if got := int(s.peak.Load()); got != tt.want {
					t.Errorf("peak in flight = %d, want %d", got, tt.want)
				}
				if got := time.Since(start); got != tt.elapsed {
					t.Errorf("took %v, want %v", got, tt.elapsed)
				}
				for i, r := range res {
					if !r.Fetched() || r.Hash != cs[i].Hash {
						t.Errorf("result %d: %+v", i, r)
					}
				}
			})
		})
	}
	if fetch.DefaultLimit != 8 {
		t.Errorf("DefaultLimit = %d, want 8", fetch.DefaultLimit)
	}
}

// TestParallelKeepsInputOrder: results follow the candidates even when
// later fetches finish first.
func TestParallelKeepsInputOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs, s := storeFor(slowerHit, slow, hit, slowerHit, hit, miss)
		res := fetch.NewParallel(s, 8).Fetch(context.Background(), &pipeline.Cycle{Namespace: "ns", FetchTimeout: time.Minute}, cs)
		want := []string{"1:ok:100", "2:ok:101", "3:ok:102", "4:ok:103", "5:ok:104", "6:miss:0"}
		if diff := cmp.Diff(want, short(res)); diff != "" {
			t.Errorf("results mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestSequentialIsSequential(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs, s := storeFor(slow, slow, slow)
		fetch.NewSequential(s).Fetch(context.Background(), cycle(), cs)
		if s.peak.Load() != 1 {
			t.Errorf("peak in flight = %d, want 1", s.peak.Load())
		}
		if diff := cmp.Diff([]block.Hash{cs[0].Hash, cs[1].Hash, cs[2].Hash}, s.Calls()); diff != "" {
			t.Errorf("call order mismatch (-want +got):\n%s", diff)
		}
	})
}

// TestValidate: a negative Limit or a missing store is reported by
// pipeline.New, the same for a stage from its constructor as for a struct
// literal; the constructor itself never panics.
func TestValidate(t *testing.T) {
	st := &fakeStore{}
	limit := "pipeline: Fetcher: fetch: Parallel.Limit = -1, want >= 0 (0 means the default, 8)"
	noStore := "pipeline: Fetcher: fetch: Parallel.Materializer is nil, want the Materializer (a store)"
	for _, tt := range []struct {
		name string
		f    pipeline.Fetcher
		want string
	}{
		{"NewParallel(-1)", fetch.NewParallel(st, -1), limit},
		{"Parallel{Limit: -1}", &fetch.Parallel{Materializer: st, Limit: -1}, limit},
		{"Parallel{}", &fetch.Parallel{Limit: -1}, noStore + "\n" + limit},
		{"NewSequential(nil)", fetch.NewSequential(nil), "pipeline: Fetcher: fetch: Sequential.Materializer is nil, want the Materializer (a store)"},
		{"nil *Parallel", (*fetch.Parallel)(nil), "pipeline: Fetcher: fetch: Parallel is nil"},
		{"NewParallel(0)", fetch.NewParallel(st, 0), ""},
		{"NewSequential", fetch.NewSequential(st), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pipeline.New(pipeline.Config{
				Sources:  []pipeline.Source{pipeline.SourceFunc(func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] { return nil })},
				Scorer:   pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 { return 0 }),
				Selector: pipeline.SelectorFunc(func(dst []pipeline.Candidate, _ int, _ iter.Seq[pipeline.Candidate]) []pipeline.Candidate { return dst }),
				Fetcher:  tt.f,
			})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("New error:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
	// Used on its own, a negative Limit counts as 0: the default fan-out.
	synctest.Test(t, func(t *testing.T) {
		cs, s := storeFor(slow, slow, slow, slow, slow, slow, slow, slow, slow, slow)
		fetch.NewParallel(s, -1).Fetch(context.Background(), cycle(), cs)
		if got := int(s.peak.Load()); got != fetch.DefaultLimit {
			t.Errorf("peak in flight with Limit -1 = %d, want DefaultLimit (%d)", got, fetch.DefaultLimit)
		}
	})
}

func TestDryRun(t *testing.T) {
	cs, s := storeFor(hit, hit)
	if res := (fetch.DryRun{}).Fetch(context.Background(), cycle(), cs); res != nil {
		t.Errorf("DryRun returned %v", res)
	}
	if len(s.Calls()) != 0 {
		t.Error("DryRun called the store")
	}
}

func TestChain(t *testing.T) {
	var trace []string
	mw := func(name string) fetch.Middleware {
		return func(next fetch.Materializer) fetch.Materializer {
			return fetch.MaterializerFunc(func(ctx context.Context, ns string, h block.Hash, meta block.Meta) (int64, bool, error) {
				trace = append(trace, name+">")
				n, ok, err := next.Materialize(ctx, ns, h, meta)
				trace = append(trace, "<"+name)
				return n + 1, ok, err
			})
		}
	}
	base := fetch.MaterializerFunc(func(context.Context, string, block.Hash, block.Meta) (int64, bool, error) {
		trace = append(trace, "store")
		return 10, true, nil
	})
	n, ok, err := fetch.Chain(mw("a"), mw("b"), mw("c"))(base).Materialize(context.Background(), "ns", cand(0).Hash, cand(0).Meta)
	if n != 13 || !ok || err != nil {
		t.Errorf("chained Materialize = %d, %v, %v; want 13, true, nil", n, ok, err)
	}
	if diff := cmp.Diff([]string{"a>", "b>", "c>", "store", "<c", "<b", "<a"}, trace); diff != "" {
		t.Errorf("order mismatch (-want +got):\n%s", diff)
	}
	trace = nil
	fetch.Chain(mw("only"))(base).Materialize(context.Background(), "ns", cand(0).Hash, cand(0).Meta)
	if diff := cmp.Diff([]string{"only>", "store", "<only"}, trace); diff != "" {
		t.Errorf("single middleware mismatch (-want +got):\n%s", diff)
	}
}
