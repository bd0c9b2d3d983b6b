package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// Stages built from the func adapters alone: the pipeline is tested
// without any stage package.

type entry struct {
	H block.Hash
	M block.Meta
}

func hashN(i int) block.Hash { return block.Hash{0: byte(i >> 8), 1: byte(i)} }

// entries returns n entries whose Seq is their index, so seqScorer ranks
// the highest index first.
func entries(n int) []entry {
	es := make([]entry, n)
	for i := range es {
		es[i] = entry{hashN(i), block.Meta{Seq: uint32(i)}}
	}
	return es
}

func sliceSource(es ...entry) pipeline.SourceFunc {
	return func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
		return func(yield func(block.Hash, block.Meta) bool) {
			for _, e := range es {
				if !yield(e.H, e.M) {
					return
				}
			}
		}
	}
}

var seqScorer = pipeline.ScorerFunc(func(_ time.Time, _ block.Hash, m block.Meta) float64 { return float64(m.Seq) })

var sortSelector = pipeline.SelectorFunc(func(dst []pipeline.Candidate, k int, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
	all := slices.SortedFunc(seq, func(a, b pipeline.Candidate) int { return pipeline.Compare(&a, &b) })
	return append(dst[:0], all[:min(k, len(all))]...)
})

func filterReason(r string) pipeline.FilterFunc {
	return func(context.Context, *pipeline.Cycle, pipeline.Candidate) string { return r }
}

// skipHashes skips the given hashes with reason.
func skipHashes(reason string, hs ...block.Hash) pipeline.FilterFunc {
	return func(_ context.Context, _ *pipeline.Cycle, c pipeline.Candidate) string {
		if slices.Contains(hs, c.Hash) {
			return reason
		}
		return ""
	}
}

// recFetcher records the candidates and cycles it is handed and answers
// with result.
type recFetcher struct {
	mu     sync.Mutex
	calls  [][]block.Hash
	cycles []pipeline.Cycle
	result func(c pipeline.Candidate) pipeline.FetchResult
}

func (f *recFetcher) Fetch(_ context.Context, cy *pipeline.Cycle, cands []pipeline.Candidate) []pipeline.FetchResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hs []block.Hash
	var res []pipeline.FetchResult
	for _, c := range cands {
		hs = append(hs, c.Hash)
		r := pipeline.FetchResult{Hash: c.Hash, Bytes: 100}
		if f.result != nil {
			r = f.result(c)
		}
		res = append(res, r)
	}
	f.calls = append(f.calls, hs)
	f.cycles = append(f.cycles, *cy)
	return res
}

func (f *recFetcher) Calls() [][]block.Hash {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func mustNew(t *testing.T, c pipeline.Config) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func hashesOf(cs []pipeline.Candidate) []block.Hash {
	var hs []block.Hash
	for _, c := range cs {
		hs = append(hs, c.Hash)
	}
	return hs
}

var t0 = time.Unix(1_700_000_000, 0)

func TestRunOutcome(t *testing.T) {
	fetcher := &recFetcher{result: func(c pipeline.Candidate) pipeline.FetchResult {
		switch c.Hash {
		case hashN(6):
			return pipeline.FetchResult{Hash: c.Hash, Reason: pipeline.FailMiss}
		case hashN(5):
			return pipeline.FetchResult{Hash: c.Hash, Reason: pipeline.FailDeadline, Err: context.DeadlineExceeded}
		case hashN(4):
			return pipeline.FetchResult{Hash: c.Hash, Reason: pipeline.FailMiss}
		}
		return pipeline.FetchResult{Hash: c.Hash, Bytes: 1000 + int64(c.Meta.Seq)}
	}}
	var emitted []*pipeline.Outcome
	p := mustNew(t, pipeline.Config{
		TopK:         6,
		Namespace:    "ns-a",
		FetchTimeout: 3 * time.Second,
		Sources:      []pipeline.Source{sliceSource(entries(10)...)},
		Scorer:       seqScorer,
		Selector:     sortSelector,
		Filters: []pipeline.Filter{
			skipHashes(pipeline.SkipAlreadyFlat, hashN(8)),
			skipHashes("custom", hashN(7), hashN(8)), // 8 is taken by the first filter
		},
		Fetcher: fetcher,
		Emitter: pipeline.EmitterFunc(func(_ context.Context, o *pipeline.Outcome) { emitted = append(emitted, o) }),
		Clock:   func() time.Time { return t0 },
	})
	o := p.Run(context.Background())

	if o.Err != nil {
		t.Fatalf("Err = %v", o.Err)
	}
	if o.Seq != 1 || !o.Start.Equal(t0) || o.Namespace != "ns-a" {
		t.Errorf("Seq %d Start %v Namespace %q, want 1, %v, ns-a", o.Seq, o.Start, o.Namespace, t0)
	}
	if o.Scored != 10 {
		t.Errorf("Scored = %d, want 10", o.Scored)
	}
	wantSel := []pipeline.Candidate{}
	for i := 9; i >= 4; i-- {
		wantSel = append(wantSel, pipeline.Candidate{Hash: hashN(i), Meta: block.Meta{Seq: uint32(i)}, Score: float64(i)})
	}
	if diff := cmp.Diff(wantSel, o.Selected); diff != "" {
		t.Errorf("Selected mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{pipeline.SkipAlreadyFlat: 1, "custom": 1}, o.Skipped); diff != "" {
		t.Errorf("Skipped mismatch (-want +got):\n%s", diff)
	}
	if o.SkippedAlreadyFlat() != 1 {
		t.Errorf("SkippedAlreadyFlat = %d, want 1", o.SkippedAlreadyFlat())
	}
	if diff := cmp.Diff([][]block.Hash{{hashN(9), hashN(6), hashN(5), hashN(4)}}, fetcher.Calls()); diff != "" {
		t.Errorf("fetched candidates mismatch (-want +got):\n%s", diff)
	}
	if o.Fetched != 1 || o.Failed != 3 || o.BytesMaterialized != 1009 {
		t.Errorf("Fetched %d Failed %d Bytes %d, want 1, 3, 1009", o.Fetched, o.Failed, o.BytesMaterialized)
	}
	if diff := cmp.Diff(map[string]int{pipeline.FailMiss: 2, pipeline.FailDeadline: 1}, o.FailedBy); diff != "" {
		t.Errorf("FailedBy mismatch (-want +got):\n%s", diff)
	}
	if len(o.Fetches) != 4 || o.Fetches[0].Hash != hashN(9) || o.Fetches[2].Err != context.DeadlineExceeded {
		t.Errorf("Fetches = %+v", o.Fetches)
	}
	cy := fetcher.cycles[0]
	if cy.Seq != 1 || !cy.Now.Equal(t0) || cy.Namespace != "ns-a" || cy.TopK != 6 || cy.FetchTimeout != 3*time.Second {
		t.Errorf("fetcher saw cycle %+v", cy)
	}
	if len(emitted) != 1 || emitted[0] != o {
		t.Errorf("emitter got %d outcomes (first %p), want the returned one %p", len(emitted), first(emitted), o)
	}
	if o.Elapsed <= 0 || o.Elapsed < o.Timings.Scan || o.Elapsed < o.Timings.Fetch {
		t.Errorf("Elapsed %v does not cover Timings %+v", o.Elapsed, o.Timings)
	}

	// Cycles count from 1.
	if o2 := p.Run(context.Background()); o2.Seq != 2 || o2.Scored != 10 {
		t.Errorf("second cycle: Seq %d Scored %d, want 2 and 10", o2.Seq, o2.Scored)
	}
}

func first[T any](s []T) (z T) {
	if len(s) > 0 {
		return s[0]
	}
	return z
}

func TestRunNoFetcherIsDryRun(t *testing.T) {
	p := mustNew(t, pipeline.Config{TopK: 3, Sources: []pipeline.Source{sliceSource(entries(5)...)}, Scorer: seqScorer, Selector: sortSelector})
	o := p.Run(context.Background())
	if len(o.Selected) != 3 || o.Fetched != 0 || o.Failed != 0 || o.Fetches != nil || o.Err != nil {
		t.Errorf("dry run outcome: %+v", o)
	}
}

func TestRunTruncatesAnOverlongSelection(t *testing.T) {
	greedy := pipeline.SelectorFunc(func(dst []pipeline.Candidate, _ int, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
		return slices.AppendSeq(dst[:0], seq)
	})
	f := &recFetcher{}
	p := mustNew(t, pipeline.Config{TopK: 2, Sources: []pipeline.Source{sliceSource(entries(5)...)}, Scorer: seqScorer, Selector: greedy, Fetcher: f})
	o := p.Run(context.Background())
	if len(o.Selected) != 2 || len(f.Calls()[0]) != 2 {
		t.Errorf("a selector returning 5 for TopK 2: Selected %d, fetched %d; want 2 and 2", len(o.Selected), len(f.Calls()[0]))
	}
}

// TestRunPreFiltersChooseAmongSurvivors: a pre-filter runs on every
// candidate before scoring, so the top K is chosen among those it keeps;
// a post-filter runs on the K selected only.
func TestRunPreFiltersChooseAmongSurvivors(t *testing.T) {
	var preSeen, postSeen []block.Hash
	even := pipeline.FilterFunc(func(_ context.Context, _ *pipeline.Cycle, c pipeline.Candidate) string {
		preSeen = append(preSeen, c.Hash)
		if c.Meta.Seq%2 == 0 {
			return "even"
		}
		return ""
	})
	post := pipeline.FilterFunc(func(_ context.Context, _ *pipeline.Cycle, c pipeline.Candidate) string {
		postSeen = append(postSeen, c.Hash)
		if c.Hash == hashN(9) {
			return pipeline.SkipAlreadyFlat
		}
		return ""
	})
	scoredSeqs := map[uint32]bool{}
	scorer := pipeline.ScorerFunc(func(now time.Time, h block.Hash, m block.Meta) float64 {
		scoredSeqs[m.Seq] = true
		return seqScorer(now, h, m)
	})
	f := &recFetcher{}
	p := mustNew(t, pipeline.Config{
		TopK:       3,
		Sources:    []pipeline.Source{sliceSource(entries(10)...)},
		Scorer:     scorer,
		Selector:   sortSelector,
		PreFilters: []pipeline.Filter{even, filterReason("")},
		Filters:    []pipeline.Filter{post},
		Fetcher:    f,
	})
	o := p.Run(context.Background())
	if len(preSeen) != 10 {
		t.Errorf("pre-filter saw %d candidates, want all 10", len(preSeen))
	}
	if o.Scored != 5 || len(scoredSeqs) != 5 {
		t.Errorf("Scored = %d (scorer called on %d), want 5: pre-filtered candidates are not scored", o.Scored, len(scoredSeqs))
	}
	if diff := cmp.Diff([]block.Hash{hashN(9), hashN(7), hashN(5)}, hashesOf(o.Selected)); diff != "" {
		t.Errorf("Selected mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]block.Hash{hashN(9), hashN(7), hashN(5)}, postSeen); diff != "" {
		t.Errorf("post-filter saw (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"even": 5, pipeline.SkipAlreadyFlat: 1}, o.Skipped); diff != "" {
		t.Errorf("Skipped mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]block.Hash{{hashN(7), hashN(5)}}, f.Calls()); diff != "" {
		t.Errorf("fetched mismatch (-want +got):\n%s", diff)
	}
}

func TestRunDedupesAcrossSources(t *testing.T) {
	a := []entry{{hashN(1), block.Meta{Seq: 10}}, {hashN(2), block.Meta{Seq: 20}}}
	b := []entry{{hashN(2), block.Meta{Seq: 99}}, {hashN(3), block.Meta{Seq: 30}}, {hashN(1), block.Meta{Seq: 98}}}
	p := mustNew(t, pipeline.Config{TopK: 10, Sources: []pipeline.Source{sliceSource(a...), sliceSource(b...)}, Scorer: seqScorer, Selector: sortSelector})
	for cycle := 1; cycle <= 2; cycle++ { // the seen-set is reset between cycles
		o := p.Run(context.Background())
		if o.Scored != 3 {
			t.Errorf("cycle %d: Scored = %d, want 3 distinct blocks", cycle, o.Scored)
		}
		want := []pipeline.Candidate{
			{Hash: hashN(3), Meta: block.Meta{Seq: 30}, Score: 30},
			{Hash: hashN(2), Meta: block.Meta{Seq: 20}, Score: 20}, // the first source's meta wins
			{Hash: hashN(1), Meta: block.Meta{Seq: 10}, Score: 10},
		}
		if diff := cmp.Diff(want, o.Selected); diff != "" {
			t.Errorf("cycle %d: Selected mismatch (-want +got):\n%s", cycle, diff)
		}
	}
}

func TestRunSerializesCycles(t *testing.T) {
	var inCycle, maxIn int
	var mu sync.Mutex
	scorer := pipeline.ScorerFunc(func(time.Time, block.Hash, block.Meta) float64 {
		mu.Lock()
		inCycle++
		maxIn = max(maxIn, inCycle)
		mu.Unlock()
		mu.Lock()
		inCycle--
		mu.Unlock()
		return 0
	})
	p := mustNew(t, pipeline.Config{Sources: []pipeline.Source{sliceSource(entries(50)...)}, Scorer: scorer, Selector: sortSelector})
	var wg sync.WaitGroup
	seqs := make([]uint64, 16)
	for i := range seqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqs[i] = p.Run(context.Background()).Seq
		}()
	}
	wg.Wait()
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("cycle Seqs = %v, want 1..16 each once", seqs)
		}
	}
	if maxIn > 1 {
		t.Errorf("%d cycles scored at once, want 1", maxIn)
	}
}

// logBuf is a concurrency-safe buffer for a test logger.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunRecoversPanics makes each stage panic in the first cycle only and
// checks the panic becomes Outcome.Err, a *PanicError naming the stage, is
// logged with its stack, and the second cycle runs cleanly.
func TestRunRecoversPanics(t *testing.T) {
	stages := []string{"source", "scorer", "selector", "prefilter", "filter", "fetcher", "emitter", "observer"}
	for _, stage := range stages {
		t.Run(stage, func(t *testing.T) {
			cycle := 0
			boom := func(s string) {
				if stage == s && cycle == 1 {
					panic("boom in " + s)
				}
			}
			src := pipeline.SourceFunc(func(ctx context.Context, cy *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
				cycle = int(cy.Seq)
				inner := sliceSource(entries(5)...)(ctx, cy)
				return func(yield func(block.Hash, block.Meta) bool) {
					for h, m := range inner {
						if m.Seq == 3 {
							boom("source")
						}
						if !yield(h, m) {
							return
						}
					}
				}
			})
			scorer := pipeline.ScorerFunc(func(now time.Time, h block.Hash, m block.Meta) float64 {
				boom("scorer")
				return seqScorer(now, h, m)
			})
			sel := pipeline.SelectorFunc(func(dst []pipeline.Candidate, k int, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
				out := sortSelector(dst, k, seq)
				boom("selector")
				return out
			})
			pre := pipeline.FilterFunc(func(context.Context, *pipeline.Cycle, pipeline.Candidate) string { boom("prefilter"); return "" })
			post := pipeline.FilterFunc(func(context.Context, *pipeline.Cycle, pipeline.Candidate) string { boom("filter"); return "" })
			f := &recFetcher{}
			fetcher := pipeline.FetcherFunc(func(ctx context.Context, cy *pipeline.Cycle, cs []pipeline.Candidate) []pipeline.FetchResult {
				boom("fetcher")
				return f.Fetch(ctx, cy, cs)
			})
			var emitted, observed []*pipeline.Outcome
			emitter := pipeline.EmitterFunc(func(_ context.Context, o *pipeline.Outcome) { emitted = append(emitted, o); boom("emitter") })
			obs := pipeline.ObserverFunc(func(o *pipeline.Outcome) { observed = append(observed, o); boom("observer") })
			var afterPanicking []*pipeline.Outcome
			obs2 := pipeline.ObserverFunc(func(o *pipeline.Outcome) { afterPanicking = append(afterPanicking, o) })
			logs := &logBuf{}
			p := mustNew(t, pipeline.Config{
				TopK: 2, Sources: []pipeline.Source{src}, Scorer: scorer, Selector: sel,
				PreFilters: []pipeline.Filter{pre}, Filters: []pipeline.Filter{post},
				Fetcher: fetcher, Emitter: emitter, Observers: []pipeline.Observer{obs, obs2},
				Logger: slog.New(slog.NewTextHandler(logs, nil)),
			})

			o := p.Run(context.Background())
			wantStage := pipeline.Stage(stage)
			if stage == "prefilter" {
				wantStage = pipeline.StageFilter
			}
			var pe *pipeline.PanicError
			if !errors.As(o.Err, &pe) {
				t.Fatalf("Err = %v, want a *PanicError", o.Err)
			}
			if pe.Stage != wantStage || pe.Value != "boom in "+stage || len(pe.Stack) == 0 {
				t.Errorf("PanicError{Stage %q, Value %v, %d-byte stack}, want stage %q, value %q and a stack", pe.Stage, pe.Value, len(pe.Stack), wantStage, "boom in "+stage)
			}
			if pipeline.FailureReason(o.Err) != pipeline.FailPanic {
				t.Errorf("FailureReason of a panic = %q", pipeline.FailureReason(o.Err))
			}
			log := logs.String()
			if !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "stage="+string(wantStage)) || !strings.Contains(log, "goroutine") {
				t.Errorf("the panic was not logged with stage and stack:\n%s", log)
			}
			// The cycle still reports: every emitter and observer saw it.
			if len(emitted) != 1 || len(observed) != 1 || len(afterPanicking) != 1 {
				t.Errorf("emitted %d, observed %d and %d times; want 1 each", len(emitted), len(observed), len(afterPanicking))
			}
			switch stage {
			case "source", "scorer", "selector", "prefilter", "filter", "fetcher":
				if len(f.Calls()) != 0 {
					t.Errorf("a cycle whose %s panicked fetched %v", stage, f.Calls())
				}
			case "emitter", "observer":
				if len(f.Calls()) != 1 || o.Fetched != 2 {
					t.Errorf("a panic after the fetch lost it: calls %v, Fetched %d", f.Calls(), o.Fetched)
				}
			}

			o2 := p.Run(context.Background())
			if o2.Err != nil || o2.Seq != 2 || o2.Fetched != 2 || len(o2.Selected) != 2 {
				t.Errorf("the cycle after a %s panic: Err %v Seq %d Fetched %d Selected %d; want a clean cycle", stage, o2.Err, o2.Seq, o2.Fetched, len(o2.Selected))
			}
		})
	}
}

func TestRunCanceledContext(t *testing.T) {
	f := &recFetcher{}
	var emitted, observed int
	var emitErr error
	p := mustNew(t, pipeline.Config{
		Sources: []pipeline.Source{sliceSource(entries(20)...)}, Scorer: seqScorer, Selector: sortSelector,
		Fetcher:   f,
		Emitter:   pipeline.EmitterFunc(func(_ context.Context, o *pipeline.Outcome) { emitted++; emitErr = o.Err }),
		Observers: []pipeline.Observer{pipeline.ObserverFunc(func(*pipeline.Outcome) { observed++ })},
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := p.Run(ctx)
	if !errors.Is(o.Err, context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", o.Err)
	}
	if len(f.Calls()) != 0 {
		t.Errorf("a canceled cycle fetched %v", f.Calls())
	}
	if emitted != 1 || observed != 1 || !errors.Is(emitErr, context.Canceled) {
		t.Errorf("emitted %d (err %v), observed %d; want the canceled cycle reported once", emitted, emitErr, observed)
	}
}

// TestRunCancelStopsALongScan cancels the context while the source is
// streaming a large index: the scan must stop soon after, not drain it.
func TestRunCancelStopsALongScan(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 1_000_000
	pulled := 0
	src := pipeline.SourceFunc(func(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
		return func(yield func(block.Hash, block.Meta) bool) {
			for i := range n {
				pulled++
				if i == 100 {
					cancel()
				}
				if !yield(hashN(i), block.Meta{Seq: uint32(i)}) {
					return
				}
			}
		}
	})
	f := &recFetcher{}
	p := mustNew(t, pipeline.Config{Sources: []pipeline.Source{src}, Scorer: seqScorer, Selector: sortSelector, Fetcher: f})
	o := p.Run(ctx)
	if !errors.Is(o.Err, context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", o.Err)
	}
	if pulled > 10_000 {
		t.Errorf("the scan pulled %d of %d entries after a cancel at 100", pulled, n)
	}
	if o.Scored >= pulled || len(f.Calls()) != 0 {
		t.Errorf("Scored %d of %d pulled, fetch calls %v", o.Scored, pulled, f.Calls())
	}
}

// observingStage is a filter, scorer and fetcher that also observes: it must
// be shown each cycle once, however often it is listed.
type observingStage struct {
	mu    sync.Mutex
	seqs  []uint64
	order *[]string
	name  string
}

func (s *observingStage) Skip(context.Context, *pipeline.Cycle, pipeline.Candidate) string { return "" }
func (s *observingStage) Score(time.Time, block.Hash, block.Meta) float64                  { return 1 }
func (s *observingStage) Fetch(_ context.Context, _ *pipeline.Cycle, cs []pipeline.Candidate) []pipeline.FetchResult {
	return make([]pipeline.FetchResult, len(cs))
}
func (s *observingStage) Emit(context.Context, *pipeline.Outcome) {
	if s.order != nil {
		*s.order = append(*s.order, "emit")
	}
}
func (s *observingStage) Observe(o *pipeline.Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seqs = append(s.seqs, o.Seq)
	if s.order != nil {
		*s.order = append(*s.order, "observe "+s.name)
	}
}

func TestObserverCalledOncePerCyclePerStage(t *testing.T) {
	var order []string
	multi := &observingStage{name: "multi", order: &order} // filter, pre-filter, observer, emitter
	scorer := &observingStage{name: "scorer", order: &order}
	fetcher := &observingStage{name: "fetcher", order: &order}
	extra := &observingStage{name: "extra", order: &order}
	var fnCalls []uint64
	p := mustNew(t, pipeline.Config{
		Sources:    []pipeline.Source{sliceSource(entries(4)...)},
		Scorer:     scorer,
		Selector:   sortSelector,
		PreFilters: []pipeline.Filter{multi, multi},
		Filters:    []pipeline.Filter{multi},
		Fetcher:    fetcher,
		Emitter:    multi,
		Observers: []pipeline.Observer{extra, multi, scorer,
			pipeline.ObserverFunc(func(o *pipeline.Outcome) { fnCalls = append(fnCalls, o.Seq) })},
	})
	for range 3 {
		p.Run(context.Background())
	}
	for _, s := range []*observingStage{multi, scorer, fetcher, extra} {
		if diff := cmp.Diff([]uint64{1, 2, 3}, s.seqs); diff != "" {
			t.Errorf("%s observed cycles (-want +got):\n%s", s.name, diff)
		}
	}
	if diff := cmp.Diff([]uint64{1, 2, 3}, fnCalls); diff != "" {
		t.Errorf("ObserverFunc observed cycles (-want +got):\n%s", diff)
	}
	// Emit first, then the observing stages, then Config.Observers not
	// already shown.
	wantFirst := []string{"emit", "observe scorer", "observe multi", "observe fetcher", "observe extra"}
	if diff := cmp.Diff(wantFirst, order[:5]); diff != "" {
		t.Errorf("first cycle's order (-want +got):\n%s", diff)
	}
}

// wrapFilter is a comparable struct type whose field may hold an
// uncomparable func: comparing two of them by == panics at run time.
type wrapFilter struct{ inner pipeline.Filter }

func (w wrapFilter) Skip(ctx context.Context, cy *pipeline.Cycle, c pipeline.Candidate) string {
	return w.inner.Skip(ctx, cy, c)
}
func (w wrapFilter) Observe(*pipeline.Outcome) {}

// TestNewWithUncomparableObservers lists a value-type observing stage
// holding a func twice; New must not panic comparing them.
func TestNewWithUncomparableObservers(t *testing.T) {
	f := wrapFilter{inner: filterReason("")}
	defer func() {
		if v := recover(); v != nil {
			t.Fatalf("New panicked: %v", v)
		}
	}()
	p := mustNew(t, pipeline.Config{
		Sources: []pipeline.Source{sliceSource(entries(3)...)}, Scorer: seqScorer, Selector: sortSelector,
		Filters: []pipeline.Filter{f, f}, Observers: []pipeline.Observer{f},
	})
	if o := p.Run(context.Background()); o.Err != nil || len(o.Selected) != 3 {
		t.Errorf("cycle: %+v", o)
	}
}

func TestRunNoSelectionSkipsFilterAndFetch(t *testing.T) {
	filtered := 0
	f := &recFetcher{}
	p := mustNew(t, pipeline.Config{
		Sources: []pipeline.Source{sliceSource()}, Scorer: seqScorer, Selector: sortSelector,
		Filters: []pipeline.Filter{pipeline.FilterFunc(func(context.Context, *pipeline.Cycle, pipeline.Candidate) string { filtered++; return "" })},
		Fetcher: f,
	})
	o := p.Run(context.Background())
	if o.Scored != 0 || len(o.Selected) != 0 || filtered != 0 || len(f.Calls()) != 0 || o.Err != nil {
		t.Errorf("empty index: Scored %d Selected %d filtered %d fetch calls %d Err %v", o.Scored, len(o.Selected), filtered, len(f.Calls()), o.Err)
	}
}

// TestRunPanicUnwrapsRuntimeError: a stage that crashes (a nil map write)
// leaves an Outcome.Err that errors.As finds the runtime.Error in.
func TestRunPanicUnwrapsRuntimeError(t *testing.T) {
	var m map[block.Hash]int
	crash := pipeline.ScorerFunc(func(_ time.Time, h block.Hash, _ block.Meta) float64 {
		m[h]++ // assignment to entry in nil map
		return 0
	})
	p := mustNew(t, pipeline.Config{Sources: []pipeline.Source{sliceSource(entries(1)...)}, Scorer: crash, Selector: sortSelector})
	o := p.Run(context.Background())
	var re runtime.Error
	if !errors.As(o.Err, &re) {
		t.Fatalf("Err = %v, want a runtime.Error in its chain", o.Err)
	}
	var pe *pipeline.PanicError
	if !errors.As(o.Err, &pe) || pe.Stage != pipeline.StageScorer {
		t.Errorf("Err = %#v, want a *PanicError of the scorer", o.Err)
	}
}
