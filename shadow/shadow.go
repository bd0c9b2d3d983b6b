package shadow

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/internal/slru"
	"github.com/wombatkv/prefetch/internal/usefulness"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// Config configures [New]. Zero fields mean the defaults; Name, Build and
// FlatBudget are required.
type Config struct {
	// Name names the candidate: its metrics' policy label and its row in
	// a comparison (a preset's name, a spec file's).
	Name string
	// Build returns the candidate's pipeline over t, the shadow's
	// simulated tiers, which its filters and sources must be given as
	// their store (presets.Options.Store, policy.Env.Store): that is how
	// the candidate sees its own flat tier. Build is called once, by New.
	// Whatever fetcher and emitter it sets are replaced (see the package
	// doc); its own stages that learn from outcomes still see the
	// shadow's.
	Build func(t *Tiers) (pipeline.Config, error)
	// FlatBudget and Admission are the simulated flat tier's: the node's
	// store.Config.FlatBudget and Admission ("" means "mru"), or the
	// admission the candidate's spec sets, to try it.
	FlatBudget int64
	Admission  string
	// GetCost is the time a would-be GET takes until a live one has been
	// observed ([Shadow.Observe]); then the mean of those observed is
	// used. Default 0: until then, would-be GETs land at once and save
	// nothing.
	GetCost time.Duration
	// Hints is the candidate's own hint intake, when its pipeline reads
	// hints (never the live pipeline's): its notify function is set to
	// the shadow worker's Wake. Nil for a candidate that reads none.
	Hints *snapshot.Hints
	// Clock is the shadow's time source, for its pipeline (unless Build
	// sets one) and its simulated tier (default time.Now).
	Clock func() time.Time
}

// Shadow is one candidate policy run in shadow (see the package doc).
// Its methods are safe for concurrent use.
type Shadow struct {
	name   string
	tiers  *Tiers
	p      *pipeline.Pipeline
	w      *pipeline.Worker
	cycles atomic.Uint64
}

// New builds the candidate cfg describes. It starts nothing: call
// [Shadow.Start]. It fails, naming the candidate, when a field is
// missing or invalid or Build or pipeline.New fails.
func New(cfg Config) (*Shadow, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("shadow %q: "+format, append([]any{cfg.Name}, args...)...))
	}
	if cfg.Name == "" {
		bad("Name is empty, want the candidate's name (its metrics' policy label)")
	}
	if cfg.Build == nil {
		bad("Build is nil, want the function that builds the candidate's pipeline over the shadow's tiers")
	}
	if cfg.FlatBudget <= 0 {
		bad("FlatBudget = %d, want > 0 bytes (the node's flat budget)", cfg.FlatBudget)
	}
	if cfg.GetCost < 0 {
		bad("GetCost = %v, want >= 0", cfg.GetCost)
	}
	admission := cfg.Admission
	if admission == "" {
		admission = slru.ModeMRU
	}
	adm, err := slru.ParseAdmission(admission)
	if err != nil {
		bad("Admission = %q: %v", cfg.Admission, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	s := &Shadow{name: cfg.Name}
	// The namespace is known once the pipeline is built; the tiers are
	// built first, so that Build can hand them to its stages.
	s.tiers = newTiers("", cfg.FlatBudget, adm, cfg.GetCost, clock)
	pc, err := cfg.Build(s.tiers)
	if err != nil {
		return nil, fmt.Errorf("shadow %q: build: %w", cfg.Name, err)
	}
	if pc.Clock == nil {
		pc.Clock = clock
	}
	pc.Fetcher = recorder{s.tiers}
	pc.Emitter = pipeline.EmitterFunc(func(context.Context, *pipeline.Outcome) { s.cycles.Add(1) })
	if s.p, err = pipeline.New(pc); err != nil {
		return nil, fmt.Errorf("shadow %q: %w", cfg.Name, err)
	}
	s.tiers.ns = s.p.Config().Namespace
	s.w = pipeline.NewWorker(s.p)
	if cfg.Hints != nil {
		cfg.Hints.SetNotify(s.w.Wake)
	}
	return s, nil
}

// recorder is the shadow's fetcher: one would-be GET per candidate,
// recorded in the simulated tiers, never a fetch.
type recorder struct{ t *Tiers }

func (r recorder) Fetch(ctx context.Context, cy *pipeline.Cycle, cands []pipeline.Candidate) []pipeline.FetchResult {
	res := make([]pipeline.FetchResult, len(cands))
	for i, c := range cands {
		n, found, err := r.t.Materialize(ctx, cy.Namespace, c.Hash, c.Meta)
		res[i] = pipeline.FetchResult{Hash: c.Hash, Bytes: n}
		switch {
		case err != nil:
			res[i].Bytes, res[i].Reason, res[i].Err = 0, pipeline.FailureReason(err), err
		case !found:
			res[i].Bytes, res[i].Reason = 0, pipeline.FailMiss
		}
	}
	return res
}

// Name returns the candidate's name.
func (s *Shadow) Name() string { return s.name }

// Namespace returns the namespace the candidate fetches in, which its
// simulated tier simulates.
func (s *Shadow) Namespace() string { return s.tiers.ns }

// Start starts the candidate's cycles on their own goroutine, every
// interval of its pipeline, until ctx ends or Stop is called. It fails
// when the shadow runs already.
func (s *Shadow) Start(ctx context.Context) error {
	if err := s.w.Start(ctx); err != nil {
		return fmt.Errorf("shadow %q: %w", s.name, err)
	}
	return nil
}

// Stop stops the cycles and waits for the one running to end.
func (s *Shadow) Stop() { s.w.Stop() }

// Cycle runs one of the candidate's cycles on the calling goroutine and
// returns its outcome, whose fetches are its would-be GETs: for a caller
// that paces the shadow itself (a test, a replay on a virtual clock).
// Never call it while Start runs the cycles.
func (s *Shadow) Cycle(ctx context.Context) *pipeline.Outcome { return s.p.Run(ctx) }

// Read tells the shadow that the node read block h of namespace ns, of
// size payload bytes, now: call it after each of the node's reads (each
// store.Get that succeeded). It is constant work on the shadow's own
// mutex, plus the admission of the would-be GETs that have landed by now.
func (s *Shadow) Read(ns string, h block.Hash, size int64) {
	if ns != s.tiers.ns {
		return
	}
	s.tiers.read(h, size, s.tiers.clock())
}

// Observe implements [pipeline.Observer] for the live pipeline (give the
// shadow to it as an emitter or observer): the durations of the live
// cycle's fetches are the GET time the shadow's would-be GETs take.
func (s *Shadow) Observe(o *pipeline.Outcome) {
	for _, r := range o.Fetches {
		if r.Fetched() && r.Bytes > 0 {
			s.tiers.observe(r.Duration)
		}
	}
}

// PrefetchStats are a candidate's figures in the store's words (see
// store.PrefetchStats; one definition, internal/usefulness): its
// would-be prefetches that landed (Prefetched), which were Useful, Late
// or wasted, and the node's reads split as the candidate would have
// served them.
type PrefetchStats = usefulness.Stats

// Stats are a candidate's figures so far.
type Stats struct {
	// Name is the candidate's.
	Name string
	// Cycles counts its cycles.
	Cycles uint64
	// WouldFetch counts its would-be GETs, landed or not.
	WouldFetch uint64
	// Prefetch is what became of them, as the store counts its own.
	Prefetch PrefetchStats
	// StallSaved is the stall its would-be prefetches would have saved
	// the node's reads, at the GET time observed by now, by the rule of
	// the package's StallSaved: the rule a live store's figures are put
	// beside it with.
	StallSaved time.Duration
	// GetCost is that GET time: the mean of the live GETs observed, or
	// Config.GetCost before any.
	GetCost time.Duration
}

// Stats returns the candidate's figures so far.
func (s *Shadow) Stats() Stats {
	t := s.tiers
	t.mu.Lock()
	defer t.mu.Unlock()
	st, cost := t.tally.Stats(), t.getCost()
	return Stats{
		Name:       s.name,
		Cycles:     s.cycles.Load(),
		WouldFetch: t.wouldFetch,
		Prefetch:   st,
		StallSaved: StallSaved(st, cost),
		GetCost:    cost,
	}
}

// StallSaved estimates the stall prefetches saved the node's reads, from
// their accounting st (a live store's Stats.Prefetch, or a shadow's) and
// the GET time cost: a GET time for each useful or late block, less the
// waits of the late ones (never below 0). Shadows and the live store are
// compared by this one rule.
func StallSaved(st PrefetchStats, cost time.Duration) time.Duration {
	wait := time.Duration(st.Wait.Sum * float64(time.Second))
	saved := time.Duration(st.Useful+st.Late)*cost - wait
	return max(saved, 0)
}
