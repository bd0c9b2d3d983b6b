package replay

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wombatkv/prefetch/internal/usefulness"
	"github.com/wombatkv/prefetch/pipeline"
)

// Config is one lab run: which policies, under which scenarios and lead
// times, with which model settings. Zero fields mean the defaults, which
// reproduce the reference tables.
type Config struct {
	// Settings are the model's constants and the budget.
	Settings Settings
	// Scenarios are the flat-tier settings (default DefaultScenarios).
	Scenarios []Scenario
	// Policies are the policies to compare, with unique names (default
	// DefaultPolicies, the reference's five): the shipped ones (Builtin,
	// PolicyByName), one's own, policy files (FromSpec). The share of the
	// oracle needs the policies named none and oracle-v3: the lab's run
	// anyway, reported only when listed, unless policies of those names
	// are listed, which then stand in for them.
	Policies []Policy
	// Leads are the lead times to replay the hint policies at (default
	// one: Settings.Lead). Policies that use no hints run once per
	// scenario and are reported at every lead.
	Leads []time.Duration
	// Parallelism bounds the replays run at once (default GOMAXPROCS).
	Parallelism int
	// Progress, when set, is called after each replay with the number
	// done and the total, from one goroutine at a time.
	Progress func(done, total int)

	// runIdle runs every cycle, idle ones too (tests check that skipping
	// them changes no figure).
	runIdle bool
}

// Stall summarizes per-request stalls.
type Stall struct {
	// TotalS is the sum over requests, in seconds.
	TotalS float64 `json:"total_s"`
	// MeanMs is the mean over all requests (zeros included), in ms.
	MeanMs float64 `json:"mean_ms"`
	// P50Ms and P99Ms are nearest-rank percentiles over all requests.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	// TotalNs is the exact total, in nanoseconds.
	TotalNs int64 `json:"total_ns"`
}

// RunSettings are a result's settings, named as in the reference's JSON.
type RunSettings struct {
	K                     int     `json:"k"`
	IntervalMs            float64 `json:"interval_ms"`
	LeadMs                float64 `json:"lead_ms"`
	Admission             string  `json:"admission"`
	GetLatencyMs          float64 `json:"get_latency_ms"`
	GetBandwidthBytesPerS float64 `json:"get_bandwidth_bytes_per_s"`
	BytesPerToken         int64   `json:"bytes_per_token"`
	MaxGetsPerS           float64 `json:"max_gets_per_s"`
	// The budgeted policies' cap on GETs in flight and bucket depth, and
	// the shared link (0: none).
	MaxInFlight      int     `json:"max_in_flight"`
	Burst            int     `json:"burst"`
	Lease            string  `json:"lease,omitempty"`
	LinkBandwidthBPS float64 `json:"link_bandwidth_bytes_per_s,omitempty"`
	// CountHalfLifeS is the index's access-count half-life in seconds
	// (0: the index kept no counts).
	CountHalfLifeS float64 `json:"count_half_life_s,omitempty"`
}

// Result is one replay: a trace under one scenario, lead time and policy.
// Its JSON field names are the reference's.
type Result struct {
	Trace              string         `json:"trace"`
	Scenario           string         `json:"scenario"`
	CapacityBytes      int64          `json:"capacity_bytes"`
	Policy             string         `json:"policy"`
	Requests           int            `json:"requests"`
	BlockRefs          int            `json:"block_refs"`
	ReusedRefs         int            `json:"reused_refs"`
	UniqueBlocks       int            `json:"unique_blocks"`
	UniqueBytes        int64          `json:"unique_bytes"`
	Hits               int            `json:"hits"`
	LatePrefetchHits   int            `json:"late_prefetch_hits"`
	ColdLoads          int            `json:"cold_loads"`
	LateWaitS          float64        `json:"late_wait_s"`
	Stall              Stall          `json:"stall"`
	PrefixStall        Stall          `json:"prefix_stall"`
	Cycles             int            `json:"cycles"`
	SkippedAlreadyFlat int            `json:"skipped_already_flat"`
	SkippedInFlight    int            `json:"skipped_in_flight"`
	Skipped            map[string]int `json:"skipped,omitempty"`
	PrefetchGets       int            `json:"prefetch_gets"`
	PrefetchBytes      int64          `json:"prefetch_bytes"`
	FailedGets         int            `json:"failed_gets"`
	MaxInFlight        int            `json:"max_in_flight"`
	Useful             int            `json:"useful"`
	Wasted             int            `json:"wasted"`
	Precision          float64        `json:"precision"`
	// Prefetch is what became of the blocks prefetch GETs put in flat,
	// counted by the store's own accounting (the same type as
	// store.PrefetchStats): useful, late, wasted (evicted, or removed by
	// a restart), unread at the end, with the lead, wait and unread-age
	// histograms, and the reads of blocks seen before by where they were
	// served. Useful above is Prefetch.Useful + Prefetch.Late; Wasted
	// also counts the GETs that never landed or were redundant.
	Prefetch     PrefetchStats `json:"prefetch"`
	Share        float64       `json:"share_of_oracle_stall_reduction"`
	PrefixShare  float64       `json:"prefix_share_of_oracle_stall_reduction"`
	HintsDropped uint64        `json:"hints_dropped,omitempty"`
	Settings     RunSettings   `json:"settings"`
	// Elapsed is the wall time of the replay.
	Elapsed time.Duration `json:"-"`

	// ran is the cycles the pipeline ran: Cycles less those skipped as
	// idle (tests check the saving).
	ran int
}

// PrefetchStats is the store's accounting of prefetched blocks
// (store.PrefetchStats is the same type), as [Result.Prefetch] reports it.
type PrefetchStats = usefulness.Stats

// job is one replay to run.
type job struct {
	sc     Scenario
	lead   time.Duration
	policy *Policy
	out    *Result
}

// Run replays tr under every scenario, lead and policy of cfg and returns
// the results ordered by scenario, then lead, then policy (as listed),
// with the shares of the oracle filled in. Replays run in parallel, each
// on its own simulated tiers, index and pipeline.
func Run(ctx context.Context, tr *Trace, cfg Config) ([]Result, error) {
	s := cfg.Settings.WithDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	scs := cfg.Scenarios
	if len(scs) == 0 {
		scs = DefaultScenarios()
	}
	var errs []error
	for _, sc := range scs {
		if !(sc.Fraction > 0) || sc.Fraction > 1e6 {
			errs = append(errs, fmt.Errorf("replay: capacity fraction %v, want > 0 (e.g. 0.1 for 10%% of the unique bytes)", sc.Fraction))
		}
	}
	pols := cfg.Policies
	if len(pols) == 0 {
		pols = DefaultPolicies()
	}
	listed := map[string]*Policy{}
	for i := range pols {
		p := &pols[i]
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("replay: Config.Policies[%d] has no Name, want one to report it by", i))
			continue
		}
		if _, ok := listed[p.Name]; ok {
			errs = append(errs, fmt.Errorf("replay: policy %q listed twice in Config.Policies, want unique names (set Policy.Name to tell them apart)", p.Name))
		}
		listed[p.Name] = p
	}
	leads := cfg.Leads
	if len(leads) == 0 {
		leads = []time.Duration{s.Lead}
	}
	for _, l := range leads {
		if l < 0 {
			errs = append(errs, fmt.Errorf("replay: lead %v, want >= 0", l))
		}
	}
	errs = append(errs, checkTimes(tr))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m := prepare(tr, s)
	baseline := func(name string) *Policy {
		if p, ok := listed[name]; ok {
			return p
		}
		p, _ := PolicyByName(name)
		return &p
	}
	none, orc := baseline(PolicyNone), baseline(PolicyOracleV3)

	// One replay per (scenario, policy), and per lead for the policies
	// that use it; the baselines always run.
	type key struct {
		sc   int
		lead time.Duration
		name string
	}
	var jobs []*job
	byKey := map[key]*job{}
	add := func(si int, lead time.Duration, p *Policy) *job {
		if !p.UsesLead {
			lead = leads[0]
		}
		k := key{si, lead, p.Name}
		if j, ok := byKey[k]; ok {
			return j
		}
		j := &job{sc: scs[si], lead: lead, policy: p, out: &Result{}}
		byKey[k] = j
		jobs = append(jobs, j)
		return j
	}
	type row struct {
		j          *job
		lead       time.Duration
		base, best *job
	}
	var rows []row
	for si := range scs {
		base, best := add(si, 0, none), add(si, 0, orc)
		for _, lead := range leads {
			for i := range pols {
				rows = append(rows, row{j: add(si, lead, &pols[i]), lead: lead, base: base, best: best})
			}
		}
	}
	// Longest first: the index-scanning policies.
	slices.SortStableFunc(jobs, func(a, b *job) int { return weight(b.policy) - weight(a.policy) })

	par := cfg.Parallelism
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(par)
	var (
		mu   sync.Mutex
		done int
	)
	for _, j := range jobs {
		if gctx.Err() != nil {
			break // a replay failed, or ctx ended: start no more
		}
		g.Go(func() error {
			if err := replayOne(gctx, m, s, j, cfg.runIdle); err != nil {
				return err
			}
			if cfg.Progress != nil {
				mu.Lock()
				done++
				cfg.Progress(done, len(jobs))
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]Result, len(rows))
	for i, rw := range rows {
		r := *rw.j.out
		r.Settings.LeadMs = ms(rw.lead)
		r.Share = share(rw.base.out.Stall.TotalNs, r.Stall.TotalNs, rw.best.out.Stall.TotalNs)
		r.PrefixShare = share(rw.base.out.PrefixStall.TotalNs, r.PrefixStall.TotalNs, rw.best.out.PrefixStall.TotalNs)
		out[i] = r
	}
	return out, nil
}

// checkTimes reports a trace that ReadTrace would not have returned: a
// timestamp out of 0..MaxTimestamp, one that goes back in time, or more
// block references than the lab numbers (2^31 - 1).
func checkTimes(tr *Trace) error {
	last, refs := int64(0), 0
	for i, rq := range tr.Requests {
		switch {
		case rq.Timestamp < 0 || rq.Timestamp > MaxTimestamp:
			return fmt.Errorf("replay: trace %s, request %d: timestamp = %d ms, want 0..%d (MaxTimestamp)", tr.Name, i, rq.Timestamp, MaxTimestamp)
		case rq.Timestamp < last:
			return fmt.Errorf("replay: trace %s, request %d: timestamp %d ms goes back in time (the previous request was at %d); a trace must be in timestamp order", tr.Name, i, rq.Timestamp, last)
		}
		last = rq.Timestamp
		if refs += len(rq.HashIDs); refs > math.MaxInt32 {
			return fmt.Errorf("replay: trace %s, request %d: more than %d block references, the most the lab replays", tr.Name, i, math.MaxInt32)
		}
	}
	return nil
}

// weight orders the replays, longest first, so that the last to start
// are short: no prefetch is cheapest; the shipped policies that do not
// scan the whole index each cycle are light; any other may scan it.
func weight(p *Policy) int {
	if p.Build == nil {
		return 0
	}
	switch p.Name {
	case PolicyOracleV3, PolicyHintGridV3, PolicyHintV3, PolicyWarmupV3:
		return 1
	}
	return 2
}

// share returns (none - policy) / (none - oracle), 0 when the oracle
// gains nothing.
func share(none, policy, oracle int64) float64 {
	if none == oracle {
		return 0
	}
	return float64(none-policy) / float64(none-oracle)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// replayOne runs one job into j.out (every cycle, idle ones too, with
// runIdle).
func replayOne(ctx context.Context, m *model, s Settings, j *job, runIdle bool) error {
	start := time.Now()
	capacity := j.sc.Capacity(m.uniqueBytes)
	adm := s.Admission
	r := newRun(m, capacity, adm)
	b := &built{} // no prefetch
	if j.policy.Build != nil {
		var err error
		if b, err = j.policy.build(newEnv(r, s)); err != nil {
			return fmt.Errorf("replay: policy %s: %w", j.policy.Name, err)
		}
	}
	if !b.readsIndex {
		r.idx = nil // nothing reads it: serve keeps none
	}
	if b.admission.Mode != "" { // the policy sets its own admission
		adm = b.admission
		r.setAdmission(adm)
	}
	r.timing = b.timing
	if s.LinkBandwidth > 0 {
		r.link = newLink(s.LinkBandwidth, s.GetBandwidth, int64(s.GetLatency))
	}
	if err := r.play(ctx, b, j.lead, j.sc.Restart, runIdle); err != nil {
		return fmt.Errorf("replay: %s, %s, policy %s: %w", m.name, j.sc.Name(), j.policy.Name, err)
	}
	interval := s.Interval
	if b.p != nil {
		interval = b.p.Config().Interval
	}
	// What became of the prefetched blocks is the store's accounting's;
	// the lab's useful counts the late ones too.
	st := r.tally.Stats()
	useful := int(st.Useful + st.Late)
	res := j.out
	*res = Result{
		Trace:              m.name,
		Scenario:           j.sc.Name(),
		CapacityBytes:      capacity,
		Policy:             j.policy.Name,
		Requests:           m.requests(),
		BlockRefs:          len(m.refs),
		ReusedRefs:         m.reusedRefs,
		UniqueBlocks:       len(m.ids),
		UniqueBytes:        m.uniqueBytes,
		Hits:               r.hits,
		LatePrefetchHits:   r.late,
		ColdLoads:          r.cold,
		LateWaitS:          float64(r.lateWait) / 1e9,
		Stall:              summarize(r.stalls),
		PrefixStall:        summarize(r.prefix),
		Cycles:             r.cycles,
		ran:                r.ran,
		SkippedAlreadyFlat: r.skipped[pipeline.SkipAlreadyFlat],
		SkippedInFlight:    r.skipped[pipeline.SkipInFlight],
		PrefetchGets:       r.gets,
		PrefetchBytes:      r.getBytes,
		FailedGets:         r.failed,
		MaxInFlight:        r.maxPend,
		Useful:             useful,
		Prefetch:           st,
		Wasted:             r.gets - useful,
		HintsDropped:       r.hintDropped,
		Settings: RunSettings{
			K:                     s.TopK,
			IntervalMs:            ms(interval),
			Admission:             adm.String(),
			GetLatencyMs:          ms(s.GetLatency),
			GetBandwidthBytesPerS: s.GetBandwidth,
			BytesPerToken:         s.BytesPerToken,
			MaxGetsPerS:           b.maxGetsPerSec,
			MaxInFlight:           s.MaxInFlight,
			Burst:                 s.Burst,
			Lease:                 string(s.Lease),
			LinkBandwidthBPS:      s.LinkBandwidth,
			CountHalfLifeS:        s.CountHalfLife.Seconds(),
		},
		Elapsed: time.Since(start),
	}
	if len(r.skipped) > 0 {
		res.Skipped = r.skipped
	}
	if r.gets > 0 {
		res.Precision = float64(useful) / float64(r.gets)
	}
	return nil
}

// summarize returns the total, mean and nearest-rank p50 and p99 of the
// per-request stalls.
func summarize(ns []int64) Stall {
	var st Stall
	if len(ns) == 0 {
		return st
	}
	for _, v := range ns {
		st.TotalNs += v
	}
	sorted := slices.Clone(ns)
	slices.Sort(sorted)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(sorted)))) - 1
		i = min(max(i, 0), len(sorted)-1)
		return float64(sorted[i]) / 1e6
	}
	st.TotalS = float64(st.TotalNs) / 1e9
	st.MeanMs = float64(st.TotalNs) / float64(len(ns)) / 1e6
	st.P50Ms = rank(0.50)
	st.P99Ms = rank(0.99)
	return st
}
