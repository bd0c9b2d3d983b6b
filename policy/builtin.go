package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/score"
	topk "github.com/wombatkv/prefetch/stages/select"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// Builtin returns a new registry that knows the module's stages (see the
// package doc for their names and params). Each call returns a registry
// of its own, to which a caller may add its stages.
func Builtin() *Registry {
	r := &Registry{}
	must := func(err error) {
		if err != nil {
			panic(err) // a bug in this file: the names below are fixed
		}
	}
	hints := ReadsHints()

	must(r.RegisterSource("index", Typed(func(_ struct{}, env Env) (pipeline.Source, error) {
		if env.Index == nil {
			return nil, errors.New("index needs Env.Index (the metadata index to rank), which is nil")
		}
		return snapshot.NewIndex(env.Index), nil
	})))
	must(r.RegisterSource("hints", Typed(func(p hintsParams, env Env) (pipeline.Source, error) {
		if env.Hints == nil {
			return nil, errors.New("hints needs Env.Hints (the intake the node feeds, snapshot.NewHints), which is nil")
		}
		mode := snapshot.LeaseNone
		leaser, ok := env.Store.(snapshot.Leaser)
		if ok && p.Lease.m != "" {
			mode = p.Lease.m
		}
		grace := p.LeaseGrace
		if grace == 0 {
			grace = snapshot.DefaultLeaseGrace
		}
		if err := env.Hints.SetLease(mode, leaser, grace); err != nil {
			return nil, err
		}
		return env.Hints, nil
	}), hints))
	must(r.RegisterSource("room-gate", Typed(func(p roomGateParams, env Env) (pipeline.Source, error) {
		room, err := roomOf("room-gate", env)
		src, serr := p.Source.Build(env)
		if err := errors.Join(err, serr); err != nil {
			return nil, err
		}
		return snapshot.NewRoomGate(src, room), nil
	})))

	must(r.RegisterScorer("rfc0008", Typed(func(p rfc0008Params, env Env) (pipeline.Scorer, error) {
		s := score.NewRFC0008(env.Model)
		set := func(dst *float64, v *float64) {
			if v != nil {
				*dst = *v
			}
		}
		set(&s.Recency, p.Weights.Recency)
		set(&s.Chain, p.Weights.Chain)
		set(&s.Model, p.Weights.Model)
		if p.HalfLife != 0 {
			s.HalfLife = p.HalfLife
		}
		return s, nil
	})))
	must(r.RegisterScorer("recency", Typed(func(p recencyParams, _ Env) (pipeline.Scorer, error) {
		return score.NewRecency(p.HalfLife), nil
	})))
	must(r.RegisterScorer("weighted", Typed(func(p weightedParams, env Env) (pipeline.Scorer, error) {
		w := make(score.Weighted, len(p.Terms))
		var errs []error
		for i, t := range p.Terms {
			s, err := t.Scorer.Build(env)
			errs = append(errs, err)
			w[i] = score.Term{Weight: 1, Scorer: s}
			if t.Weight != nil {
				w[i].Weight = *t.Weight
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		return w, nil
	})))
	must(r.RegisterScorer("deadline", Typed(func(p deadlineParams, env Env) (pipeline.Scorer, error) {
		if env.Hints == nil {
			return nil, errors.New("deadline needs Env.Hints (the intake whose deadlines it ranks by), which is nil")
		}
		getTime := env.GetTime
		if p.GetLatency != 0 || p.GetBandwidth != 0 {
			getTime = p.getTime
		}
		return score.NewDeadline(env.Hints, getTime), nil
	}), hints))

	must(r.RegisterScorer("frequency", Typed(func(_ struct{}, env Env) (pipeline.Scorer, error) {
		if env.Index == nil {
			return nil, errors.New("frequency needs Env.Index (the index whose access counts it ranks by), which is nil")
		}
		counts, ok := env.Index.(score.AccessCounter)
		if !ok {
			return nil, fmt.Errorf("frequency needs an Env.Index that keeps access counts (an *index.Memory built with index.Options.CountHalfLife > 0), and %T does not", env.Index)
		}
		s := score.NewFrequency(counts)
		if err := s.Validate(); err != nil { // an index that keeps none: say how to ask for them
			return nil, fmt.Errorf("frequency: %w (kvprefetch replay, serve and demo: --count-half-life; the lab: Settings.CountHalfLife)", err)
		}
		return s, nil
	})))

	must(r.RegisterSelector("heap", Typed(func(struct{}, Env) (pipeline.Selector, error) { return topk.Heap{}, nil })))
	must(r.RegisterSelector("quickselect", Typed(func(struct{}, Env) (pipeline.Selector, error) { return topk.Quickselect{}, nil })))
	must(r.RegisterSelector("fullsort", Typed(func(struct{}, Env) (pipeline.Selector, error) { return topk.FullSort{}, nil })))

	must(r.RegisterFilter("already-flat", Typed(func(_ struct{}, env Env) (pipeline.Filter, error) {
		if env.Store == nil {
			return nil, errors.New("already-flat needs Env.Store (the flat tier it asks), which is nil")
		}
		return filter.NewAlreadyFlat(env.Store), nil
	})))
	must(r.RegisterFilter("not-in-flight", Typed(func(p notInFlightParams, env Env) (pipeline.Filter, error) {
		inf, ok := env.Store.(filter.InFlight)
		switch {
		case env.Store == nil:
			return nil, errors.New("not-in-flight needs Env.Store (the store that tracks its fetches), which is nil")
		case !ok && p.Required:
			return nil, fmt.Errorf("not-in-flight is required, and Env.Store (%T) does not track its fetches in flight (filter.InFlight)", env.Store)
		case !ok:
			return nil, nil // nothing is ever in flight that the store knows of: left out, as the presets do
		}
		return filter.NewNotInFlight(inf), nil
	})))
	must(r.RegisterFilter("backoff", Typed(func(p backoffParams, _ Env) (pipeline.Filter, error) {
		b := filter.NewBackoff(p.Base, p.Max)
		b.MaxEntries = p.MaxEntries
		return b, nil
	})))
	must(r.RegisterFilter("budget", Typed(func(p budgetParams, env Env) (pipeline.Filter, error) {
		b := filter.NewBudget(p.PerCycle, p.Rate, p.Burst)
		if pend, ok := env.Store.(filter.Pending); ok && p.MaxInFlight > 0 {
			b.MaxInFlight, b.Pending = p.MaxInFlight, pend
		}
		if b.PerCycle == 0 && b.Rate == 0 && b.MaxInFlight == 0 {
			return nil, nil // no limit left (a cap over a store that does not count): left out, as the presets do
		}
		return b, nil
	})))
	must(r.RegisterFilter("free-room", Typed(func(_ struct{}, env Env) (pipeline.Filter, error) {
		room, err := roomOf("free-room", env)
		if err != nil {
			return nil, err
		}
		return filter.NewFreeRoom(room), nil
	})))

	must(r.RegisterFetcher("dry-run", Typed(func(struct{}, Env) (pipeline.Fetcher, error) { return fetch.DryRun{}, nil })))
	must(r.RegisterFetcher("sequential", Typed(func(_ struct{}, env Env) (pipeline.Fetcher, error) {
		if env.Store == nil {
			return nil, errors.New("sequential needs Env.Store (the tiers it fetches between), which is nil")
		}
		return fetch.NewSequential(env.Store), nil
	})))
	must(r.RegisterFetcher("parallel", Typed(func(p parallelParams, env Env) (pipeline.Fetcher, error) {
		if env.Store == nil {
			return nil, errors.New("parallel needs Env.Store (the tiers it fetches between), which is nil")
		}
		return fetch.NewParallel(env.Store, p.Limit), nil
	})))

	must(r.RegisterEmitter("myelon", Typed(func(p myelonParams, env Env) (pipeline.Emitter, error) {
		if env.InstrLog == nil {
			return nil, nil // no log to write to: left out, as the presets do
		}
		return emit.NewMyelonInstr(env.InstrLog, p.Format.f), nil
	})))
	must(r.RegisterEmitter("slog", Typed(func(p slogParams, env Env) (pipeline.Emitter, error) {
		if env.Logger == nil {
			return nil, errors.New("slog needs Env.Logger (the logger it writes to), which is nil")
		}
		return emit.NewSlog(env.Logger, slog.Level(p.Level)), nil
	})))
	return r
}

// roomOf returns env.Store as a filter.Room, or says why it is not one.
func roomOf(stage string, env Env) (filter.Room, error) {
	if env.Store == nil {
		return nil, fmt.Errorf("%s needs Env.Store (the flat tier whose free room it reads), which is nil", stage)
	}
	room, ok := env.Store.(filter.Room)
	if !ok {
		return nil, fmt.Errorf("%s needs Env.Store to report its free room (filter.Room), and %T does not", stage, env.Store)
	}
	return room, nil
}

type roomGateParams struct {
	Source Ref[pipeline.Source] `json:"source"`
}

func (p *roomGateParams) Validate() error {
	if p.Source.Name() == "" {
		return errors.New(`source: missing, want the source to gate, e.g. "index"`)
	}
	return nil
}

type rfc0008Params struct {
	Weights struct {
		Recency *float64 `json:"recency"`
		Chain   *float64 `json:"chain"`
		Model   *float64 `json:"model"`
	} `json:"weights"`
	HalfLife time.Duration `json:"half_life"`
}

func (p *rfc0008Params) Validate() error {
	return checkHalfLife(p.HalfLife)
}

func checkHalfLife(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("half_life: want > 0 (leave it out for the default, %v), got %v", score.DefaultHalfLife, d)
	}
	return nil
}

type recencyParams struct {
	HalfLife time.Duration `json:"half_life"`
}

func (p *recencyParams) Validate() error { return checkHalfLife(p.HalfLife) }

type weightedParams struct {
	Terms []struct {
		Weight *float64             `json:"weight"`
		Scorer Ref[pipeline.Scorer] `json:"scorer"`
	} `json:"terms"`
}

func (p *weightedParams) Validate() error {
	if len(p.Terms) == 0 {
		return errors.New(`terms: missing, want at least one {"weight": w, "scorer": ...} (a weight left out is 1)`)
	}
	var errs []error
	for i, t := range p.Terms {
		if t.Scorer.Name() == "" {
			errs = append(errs, fmt.Errorf("terms[%d].scorer: missing, want the term's scorer, e.g. \"recency\"", i))
		}
	}
	return errors.Join(errs...)
}

type deadlineParams struct {
	GetLatency   time.Duration `json:"get_latency"`
	GetBandwidth float64       `json:"get_bandwidth"`
}

func (p *deadlineParams) Validate() error {
	var errs []error
	if p.GetLatency < 0 {
		errs = append(errs, fmt.Errorf("get_latency: want >= 0, got %v", p.GetLatency))
	}
	if p.GetBandwidth < 0 {
		errs = append(errs, fmt.Errorf("get_bandwidth: want bytes per second > 0 (leave it out for a GET time that does not depend on size), got %v", p.GetBandwidth))
	}
	return errors.Join(errs...)
}

// getTime is the expected duration of a GET of n bytes: the latency, plus
// n over the bandwidth when one is given.
func (p deadlineParams) getTime(n uint64) time.Duration {
	d := p.GetLatency
	if p.GetBandwidth > 0 {
		t := float64(n) / p.GetBandwidth * 1e9
		if t >= float64(math.MaxInt64-d) {
			return math.MaxInt64
		}
		d += time.Duration(t)
	}
	return d
}

type notInFlightParams struct {
	// Required makes a store that does not track its fetches an error;
	// by default the filter is then left out, as the presets do.
	Required bool `json:"required"`
}

type backoffParams struct {
	Base       time.Duration `json:"base"`
	Max        time.Duration `json:"max"`
	MaxEntries int           `json:"max_entries"`
}

func (p *backoffParams) Validate() error {
	var errs []error
	if p.Base < 0 {
		errs = append(errs, fmt.Errorf("base: want > 0 (leave it out for the default, %v), got %v", filter.DefaultBackoffBase, p.Base))
	}
	if p.Max < 0 {
		errs = append(errs, fmt.Errorf("max: want > 0 (leave it out for the default, %v), got %v", filter.DefaultBackoffMax, p.Max))
	}
	if p.MaxEntries < 0 {
		errs = append(errs, fmt.Errorf("max_entries: want > 0 (leave it out for the default, %d), got %d", filter.DefaultBackoffMaxEntries, p.MaxEntries))
	}
	return errors.Join(errs...)
}

type budgetParams struct {
	PerCycle int     `json:"per_cycle"`
	Rate     float64 `json:"rate"`
	Burst    int     `json:"burst"`
	// MaxInFlight caps the GETs in flight across the worker; it applies
	// when Env.Store counts them (filter.Pending), and is left out
	// otherwise.
	MaxInFlight int `json:"max_in_flight"`
}

// maxRate is filter.Budget's bound on Rate.
const maxRate = 1e18

func (p *budgetParams) Validate() error {
	var errs []error
	if p.PerCycle < 0 {
		errs = append(errs, fmt.Errorf("per_cycle: want >= 0 (0 or left out: no cap of its own, top_k still bounds a cycle), got %d", p.PerCycle))
	}
	if !(p.Rate >= 0 && p.Rate <= maxRate) {
		errs = append(errs, fmt.Errorf("rate: want GETs per second, 0 to %g (0 or left out: no rate cap), got %v", maxRate, p.Rate))
	}
	if p.Burst < 0 {
		errs = append(errs, fmt.Errorf("burst: want >= 0 (0 or left out: per_cycle, or 1 without it), got %d", p.Burst))
	}
	if p.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("max_in_flight: want the most GETs in flight across the worker, >= 1 (0 or left out: no cap), got %d", p.MaxInFlight))
	}
	return errors.Join(errs...)
}

type hintsParams struct {
	// Lease is what the intake asks of a store that leases
	// (snapshot.Leaser) for the block of each new hint: "none", "touch"
	// or "pin"; left out, or a store that does not lease, is none.
	Lease      leaseMode     `json:"lease"`
	LeaseGrace time.Duration `json:"lease_grace"`
}

func (p *hintsParams) Validate() error {
	if p.LeaseGrace < 0 {
		return fmt.Errorf("lease_grace: want >= 0 (leave it out for the default, %v), got %v", snapshot.DefaultLeaseGrace, p.LeaseGrace)
	}
	return nil
}

// leaseMode is a snapshot.LeaseMode: "none", "touch" or "pin".
type leaseMode struct{ m snapshot.LeaseMode }

func (l *leaseMode) UnmarshalJSON(data []byte) error {
	var s string
	_ = json.Unmarshal(data, &s)
	m, err := snapshot.ParseLeaseMode(s)
	if err != nil {
		return fmt.Errorf(`want "none", "touch" or "pin", got %s`, show(data))
	}
	l.m = m
	return nil
}

type parallelParams struct {
	Limit int `json:"limit"`
}

func (p *parallelParams) Validate() error {
	if p.Limit < 0 {
		return fmt.Errorf("limit: want the most fetches in flight, >= 1 (leave it out for the default, %d), got %d", fetch.DefaultLimit, p.Limit)
	}
	return nil
}

type myelonParams struct {
	Format format `json:"format"`
}

func (p *myelonParams) Validate() error {
	if p.Format.f == 0 {
		return errors.New(`format: missing, want "v1" (the dry run's line), "v2" or "v3"`)
	}
	return nil
}

// format is a MyelonInstr line format: "v1", "v2" or "v3".
type format struct{ f emit.Format }

func (f *format) UnmarshalJSON(data []byte) error {
	var s string
	_ = json.Unmarshal(data, &s)
	switch s {
	case "v1":
		f.f = emit.V1
	case "v2":
		f.f = emit.V2
	case "v3":
		f.f = emit.V3
	default:
		return fmt.Errorf(`want "v1" (the dry run's line), "v2" or "v3", got %s`, show(data))
	}
	return nil
}

type slogParams struct {
	// Level is the level of a clean cycle (default info).
	Level level `json:"level"`
}

// level is a slog.Level: "debug", "info", "warn" or "error", with an
// optional offset ("info+2").
type level slog.Level

func (l *level) UnmarshalJSON(data []byte) error {
	var s string
	var v slog.Level
	if json.Unmarshal(data, &s) != nil || v.UnmarshalText([]byte(s)) != nil || strings.TrimSpace(s) == "" {
		return fmt.Errorf(`want a level, "debug", "info", "warn" or "error" (an offset such as "info+2" is allowed), got %s`, show(data))
	}
	*l = level(v)
	return nil
}
