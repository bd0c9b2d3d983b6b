package replay

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/score"
)

// gapTrace is two requests gap apart: 16 blocks of 512 tokens, then 4 of
// them and 4 new ones. At 50% of the unique bytes flat holds 10 blocks, so
// the first request does not fit, and the policies fetch right after it
// (and after the restart), then fall idle. (At 20%, 4 blocks, the RFC 0008
// policies' top 8 never fits: they fetch 4 blocks every cycle, the
// next cycle evicts them for the other 4, and so on for as long as the
// gap lasts. Those cycles are work; they run.)
func gapTrace(gap time.Duration) *Trace {
	first := make([]uint64, 16)
	for i := range first {
		first[i] = uint64(i)
	}
	return &Trace{Name: "gap", Requests: []Request{
		{Timestamp: 0, InputLength: 16 * 512, HashIDs: first},
		{Timestamp: gap.Milliseconds(), InputLength: 8 * 512, HashIDs: []uint64{0, 1, 2, 3, 100, 101, 102, 103}},
	}}
}

// gapConfig replays every policy the lab knows, with a lead for the hint
// policies.
func gapConfig() Config {
	return Config{
		Scenarios: []Scenario{{Fraction: 0.5}, {Fraction: 0.9}, {Fraction: 0.5, Restart: true}},
		Policies:  Builtin(),
		Leads:     []time.Duration{2 * time.Second},
	}
}

// A year between two requests is a year of cycles in the model, but the
// lab runs only those that can change something: the rest repeat the one
// before and are credited, not run. Every figure but the cycles and their
// skip counts is the same as with an hour between the requests, and with
// an hour, skipping changes no figure at all.
func TestIdleYearGap(t *testing.T) {
	const year = 365 * 24 * time.Hour
	ctx := context.Background()
	long, err := Run(ctx, gapTrace(year), gapConfig())
	if err != nil {
		t.Fatal(err)
	}
	short, err := Run(ctx, gapTrace(time.Hour), gapConfig())
	if err != nil {
		t.Fatal(err)
	}
	full := gapConfig()
	full.runIdle = true
	shortFull, err := Run(ctx, gapTrace(time.Hour), full)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shortFull, short, cmpopts.IgnoreUnexported(Result{}), cmpopts.IgnoreFields(Result{}, "Elapsed")); diff != "" {
		t.Errorf("an hour's gap, every cycle run and idle ones skipped, differ (-all +skipped):\n%s", diff)
	}
	for i, r := range long {
		if r.Policy == PolicyNone {
			continue
		}
		interval := time.Duration(r.Settings.IntervalMs * float64(time.Millisecond))
		if want := short[i].Cycles + int((year-time.Hour)/interval); r.Cycles != want {
			t.Errorf("%s %s: %d cycles, want %d (an hour's, and one per interval of the rest of the year)", r.Scenario, r.Policy, r.Cycles, want)
		}
		if r.ran > 100 || short[i].ran > 100 {
			t.Errorf("%s %s: ran %d of %d cycles (%d of %d with an hour's gap), want at most 100 (the rest are idle)", r.Scenario, r.Policy, r.ran, r.Cycles, short[i].ran, short[i].Cycles)
		}
		// (The prefetched blocks' lead and unread age span the gap.)
		if diff := cmp.Diff(short[i], r, cmpopts.IgnoreUnexported(Result{}), cmpopts.IgnoreFields(Result{}, "Elapsed", "Cycles", "SkippedAlreadyFlat", "SkippedInFlight", "Skipped"), cmpopts.IgnoreFields(PrefetchStats{}, "Lead", "UnreadAge")); diff != "" {
			t.Errorf("%s %s: a year's gap and an hour's differ (-hour +year):\n%s", r.Scenario, r.Policy, diff)
		}
	}
}

// withGaps returns tr with its timeline cut after every few requests and
// a gap of one of gaps inserted there, so that its requests come in
// bursts with long idle stretches between them.
func withGaps(tr *Trace, seed uint64, gaps ...time.Duration) *Trace {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := &Trace{Name: tr.Name + "+gaps", Requests: slices.Clone(tr.Requests)}
	var shift int64
	for i := range out.Requests {
		if i > 0 && rng.IntN(12) == 0 {
			shift += gaps[rng.IntN(len(gaps))].Milliseconds()
		}
		out.Requests[i].Timestamp += shift
	}
	return out
}

// Skipping idle cycles changes no figure. The traces come in bursts with
// gaps of seconds to ten minutes, and half-lives of a second or a minute
// make the RFC 0008 and recency rankings go through all they can within a
// gap: heads overtake recency, recency terms fall below the bonuses'
// rounding, then to zero. Every policy, restart included, with hints.
func TestIdleSkipChangesNothing(t *testing.T) {
	for i, v := range []struct {
		name string
		s    Settings
	}{
		{"defaults", Settings{}},
		{"half-life 1s", Settings{HalfLife: time.Second}},
		{"half-life 1min, no model bonus", Settings{HalfLife: time.Minute, Weights: [3]float64{1, 0.3, 0}}},
		{"half-life 2s, recency and model", Settings{HalfLife: 2 * time.Second, Weights: [3]float64{1, 0, 0.2}}},
	} {
		if (testing.Short() || raceEnabled) && i > 1 {
			break
		}
		t.Run(v.name, func(t *testing.T) {
			seed := uint64(i + 1)
			syn, err := Synthetic(SyntheticConfig{Seed: seed, Requests: 60, Rate: 2})
			if err != nil {
				t.Fatal(err)
			}
			tr := withGaps(syn, seed, 20*time.Second, 2*time.Minute, 10*time.Minute)
			cfg := Config{
				Settings:  v.s,
				Scenarios: []Scenario{{Fraction: 0.1}, {Fraction: 0.4}, {Fraction: 0.4, Restart: true}},
				Policies:  Builtin(),
				Leads:     []time.Duration{0, 3 * time.Second},
			}
			skipped, err := Run(context.Background(), tr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			cfg.runIdle = true
			all, err := Run(context.Background(), tr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(all, skipped, cmpopts.IgnoreUnexported(Result{}), cmpopts.IgnoreFields(Result{}, "Elapsed")); diff != "" {
				t.Errorf("every cycle run and idle ones skipped differ (-all +skipped):\n%s", diff)
			}
			ran, cycles := 0, 0
			for _, r := range skipped {
				ran, cycles = ran+r.ran, cycles+r.Cycles
			}
			t.Logf("ran %d of %d cycles", ran, cycles)
			if ran*2 > cycles {
				t.Errorf("ran %d of %d cycles, want most skipped (the test would prove little)", ran, cycles)
			}
		})
	}
}

// The certificate's promise, checked against the real scorers: wherever
// pair says i ranks before j, at instants sampled up to its horizon the
// scorer's own scores agree (higher score, or equal and lower id first).
// The cases cover times up to 2^62 ns, tiny and huge half-lives, classes
// with and without a floor, and pairs close to a tie.
func TestDecayCertificate(t *testing.T) {
	type scorer struct {
		name string
		sc   pipeline.Scorer
	}
	var scorers []scorer
	for _, h := range []time.Duration{time.Millisecond, time.Second, 600 * time.Second, 1e6 * time.Second} {
		for _, w := range [][3]float64{{1, 0.3, 0.2}, {1, 0, 0}, {1, 0.3, 0}, {1, 0, 0.2}, {2, 1, -0.5}, {0.5, 1e-3, 0.25}} {
			sc := score.NewRFC0008(labModel())
			sc.Recency, sc.Chain, sc.Model, sc.HalfLife = w[0], w[1], w[2], h
			scorers = append(scorers, scorer{fmt.Sprintf("rfc0008%v/h=%v", w, h), sc})
		}
		scorers = append(scorers, scorer{fmt.Sprintf("recency/h=%v", h), score.NewRecency(h)})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	promised, checked := 0, 0
	for _, s := range scorers {
		f, ok := newDecayForm(s.sc)
		if !ok {
			t.Fatalf("%s: no decay form", s.name)
		}
		hl := math.Ln2 / f.k // ns
		for range 1000 {
			now := []int64{int64(time.Hour), 1 << 40, 1 << 54, 1<<62 - int64(time.Hour)*24*365}[rng.IntN(4)] + rng.Int64N(1<<30)
			end := now + []int64{int64(time.Minute), int64(24 * time.Hour), 1 << 61}[rng.IntN(3)]
			e := f.errs(end)
			// Ages from fresh to far past exp's underflow, in half-lives;
			// the other block's a millisecond to many half-lives apart.
			age := func() int64 {
				return int64(math.Min(hl*[]float64{0.01, 1, 20, 55, 700, 1070, 1100}[rng.IntN(7)]*(0.5+rng.Float64()), float64(now)))
			}
			bi := bound{last: now - age(), head: rng.IntN(3) == 0, id: uint64(rng.IntN(100))}
			bj := bound{last: bi.last - []int64{0, 1, 1000, int64(time.Millisecond), int64(hl), -int64(hl), -1}[rng.IntN(7)], head: rng.IntN(3) == 0, id: uint64(rng.IntN(100))}
			if bj.last > now || bj.last < 0 || bi.id == bj.id {
				continue
			}
			h := f.pair(now, bi, bj, e)
			if h <= now {
				continue
			}
			promised++
			top := min(h, end)
			for k := range 64 {
				var at int64
				switch {
				case k < 16: // just after now
					at = now + 1 + int64(k)*int64(time.Millisecond)
				case k < 24: // just before the horizon
					at = top - int64(k-16)*int64(time.Millisecond)
				default: // anywhere, log-spread
					at = now + int64(math.Pow(float64(top-now), rng.Float64()))
				}
				if at <= now || at > top {
					continue
				}
				checked++
				clock := time.Unix(0, at)
				si := s.sc.Score(clock, Hash(bi.id), metaOf(bi, f))
				sj := s.sc.Score(clock, Hash(bj.id), metaOf(bj, f))
				if !(si > sj || si == sj && bi.id < bj.id) {
					t.Fatalf("%s: pair(%d, %+v, %+v) = %d, but at %d the scores are %v and %v", s.name, now, bi, bj, h, at, si, sj)
				}
			}
		}
	}
	t.Logf("%d promises, %d instants checked", promised, checked)
	if promised < 5000 {
		t.Errorf("only %d promises: the test checks little", promised)
	}
}

// metaOf is the index entry of b: Seq 0 for a chain head.
func metaOf(b bound, f *decayForm) block.Meta {
	m := block.Meta{LastAccessNs: b.last, Model: labModel(), Seq: 1}
	if b.head || !f.classes() && b.id%2 == 0 {
		m.Seq = 0 // a head of a one-class scorer scores as any block
	}
	return m
}

// The longest gap a trace can hold, 146 years, replays at once with every
// policy, restart and hints included: nothing wraps, and idle cycles are
// credited, not run.
func TestIdleLongestGap(t *testing.T) {
	tr := &Trace{Name: "longest", Requests: []Request{req(0, 1, 2), req(MaxTimestamp, 1, 3)}}
	res, err := Run(context.Background(), tr, Config{
		Settings:  tiny,
		Policies:  Builtin(),
		Scenarios: []Scenario{{Fraction: 1}, {Fraction: 1, Restart: true}}, // everything fits: nothing rotates
		Leads:     []time.Duration{time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.ran > 100 || r.Hits+r.LatePrefetchHits+r.ColdLoads != 1 {
			t.Errorf("%s %s: ran %d of %d cycles, %d hits, %d late, %d cold; want at most 100 run and block 1 read once", r.Scenario, r.Policy, r.ran, r.Cycles, r.Hits, r.LatePrefetchHits, r.ColdLoads)
		}
	}
}
