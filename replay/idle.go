package replay

import (
	"math"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/score"
)

// Idle stretches.
//
// Between two events (a request, a hint becoming visible, the restart),
// with no GET in flight, the run's state (flat, the index, the cold tier)
// can change only through a cycle's fetches. A cycle that fetches nothing
// leaves it as it was; if every later cycle up to the next event would do
// exactly what it did, they change nothing but the tallies, which are
// known: the lab credits them (Result.Cycles and the skip counts stay
// those of a full replay) instead of running them, so the cost of a
// replay follows its work, not its span of time.
//
// "Would do exactly what it did" depends on the policy, and is not
// obvious: a cycle's outcome may depend on the time even when nothing
// else changes. The RFC 0008 and recency rankings move as blocks age
// (chain heads overtake recency, and after enough half-lives the recency
// terms round away and ties fall to the lower hash), and a block that then
// enters the top K and is not in flat gets fetched. A token bucket
// refills; hints expire; the warm-up's gate learns the largest block
// size. So each policy says, in its quietFunc, until when its cycle
// provably repeats; a policy without one never skips. The run calls it
// only after a cycle that fetched nothing, with no GET in flight and no
// fetch ever failed (the backoff pre-filter is then empty), and with no
// request served at the cycle's instant.

// quietFunc returns the latest time up to which every cycle would repeat
// o, the outcome of the cycle just run at r.now, if nothing but cycles
// happens (forever; r.now or less, or noPromise, promises nothing). The
// promise need hold only before end, the next event. again reports that
// the previous cycle was such a cycle too, with the same skip counts, and
// that nothing happened since.
type quietFunc func(r *run, o *pipeline.Outcome, end int64, again bool) int64

// forever is a horizon without end; noPromise promises nothing, whatever
// the time (a wake cycle may run before the trace starts, at a negative
// time).
const (
	forever   = math.MaxInt64
	noPromise = math.MinInt64
)

// quietAlways is the quietFunc of a policy whose cycle, given the run's
// state, does not depend on the time: the oracle (next use), the
// grid-bound hint policy (hint rank, with the pending hints fixed until
// the next event: none is due before it).
func quietAlways(*run, *pipeline.Outcome, int64, bool) int64 { return forever }

// quietWhenNoneSelected is the quietFunc of a policy whose ranking or
// budget moves with time, but which selected nothing: every candidate was
// dropped by a pre-filter (in flat), a verdict of the run's state alone,
// so the ranking and what follows it did not come into play. The hint
// policy: its deadline scorer and its token bucket depend on the time.
func quietWhenNoneSelected(_ *run, o *pipeline.Outcome, _ int64, _ bool) int64 {
	if len(o.Selected) == 0 {
		return forever
	}
	return noPromise
}

// quietWarmup is the warm-up's quietFunc. With nothing selected, either
// its gate was closed (no scan: nothing skipped, nothing learned; it stays
// closed) or every block was in flat; then the scan has just taught the
// gate the largest size, which may close it next cycle, so the promise
// waits for a second identical cycle.
func quietWarmup(_ *run, o *pipeline.Outcome, _ int64, again bool) int64 {
	if len(o.Selected) == 0 && (len(o.Skipped) == 0 || again) {
		return forever
	}
	return noPromise
}

// rankedQuiet returns the quietFunc of a policy that takes the top K of
// the whole index by sc (score.RFC0008 or score.Recency) and fetches those
// not in flat: a cycle that fetched nothing repeats as long as no block
// outside flat enters the top K. See decayForm. It tries only when at
// least minTicks cycles could be skipped, and backs off after a failure:
// the certificate costs about as much as a few cycles.
func rankedQuiet(sc pipeline.Scorer, interval int64) quietFunc {
	f, ok := newDecayForm(sc)
	if !ok {
		return nil
	}
	const minTicks, maxBackoff = 8, 4096
	var nextTry int64
	backoff := int64(minTicks)
	return func(r *run, o *pipeline.Outcome, end int64, _ bool) int64 {
		now := r.now
		if end-now < minTicks*interval || now < nextTry {
			return now
		}
		h := f.horizon(r, o, end)
		if h-now < minTicks*interval {
			nextTry = now + backoff*interval
			backoff = min(2*backoff, maxBackoff)
		} else {
			backoff = minTicks
		}
		return h
	}
}

// decayForm is a scorer of the RFC 0008 form, as far as the certificate
// below needs to know it: a block last accessed at L scores, at now,
//
//	G(a), a = fl(w * exp(fl(fl(-ln2 / h) * fl(float64(now) - float64(L)))))
//
// with G(a) = fl(fl(a + c) + m) for a chain head (Seq 0) and fl(a + m)
// for any other block when the additions apply (score.RFC0008: the chain
// weight c, and the model bonus m, paid to every block of the lab, all of
// the active model, or to none), G(a) = a for score.Recency. Ties go to
// the lower hash, that is the lower id. This is the scorers' arithmetic
// as written in stages/score; TestDecayCertificate holds the certificate
// to the scorers themselves, so a change there that breaks it fails that
// test.
//
// horizon certifies, for the selected blocks S (all in flat) and every
// block j outside flat, that each i in S ranks before j at every time up
// to the horizon: then the top K stays within flat, and each cycle skips
// the same |S| blocks as already in flat and fetches nothing. Per pair it
// uses only these facts, each with a margin for every rounding above:
//
//   - Equal last access: a is the same float for both (the same
//     computation), so G orders them by class (c >= 0), and equal scores
//     by hash.
//   - Otherwise, with A the exact recency w * 2^(-age/h): the exact score
//     difference d = Δbonus + A_i - A_j is a constant plus a term that
//     decays exponentially, and so do the rounding errors but for a floor;
//     while d exceeds the errors, the computed scores are ordered as the
//     exact ones, and the time at which that stops is computed in closed
//     form.
//   - In one class with L_i > L_j, A_i / A_j is constant: while the
//     computed a's are within a relative error rho of the exact ones (and
//     an absolute sigma for tiny values), a_i >= a_j, so G_i >= G_j, and an
//     equal score goes to the lower hash. Below the class's floor (a value
//     under which G(a) = G(0) exactly) j scores G(0), no more than i; once
//     exp's argument for j is below -746, exp returns exactly 0 (Go's Exp
//     returns 0 below -745.13, its amd64 assembly below about -745.5) and
//     j scores G(0) again.
//
// The computed a is within rho * A + sigma of the exact A: rho bounds
// exp's relative error generously (2^-40, about 4000 ulps), the error of
// its argument (the float64 conversion of times up to end, and two
// roundings of a product up to 746) and the final product; sigma (2^-1050)
// bounds the absolute error of results in exp's subnormal range, times w.
// Hence the bounds on w. G's additions round by at most 2^-52 of their
// terms.
type decayForm struct {
	w, c, m float64
	addC    bool    // heads get fl(a + c): two classes when c != 0
	addM    bool    // every block gets fl(. + m)
	k       float64 // ln2 / half-life, per ns
}

// newDecayForm reads sc's form, or reports false for a scorer it does not
// know or one the certificate cannot vouch for (a negative weight, a
// recency weight other than 0 outside 2^-20..2^20).
func newDecayForm(sc pipeline.Scorer) (*decayForm, bool) {
	var f decayForm
	var h float64
	switch s := sc.(type) {
	case *score.RFC0008:
		f = decayForm{w: s.Recency, c: s.Chain, m: s.Model, addC: true, addM: !s.Active.IsZero() && s.Active == labModel()}
		h = float64(s.HalfLife)
		if s.HalfLife <= 0 {
			h = float64(score.DefaultHalfLife)
		}
	case *score.Recency:
		f = decayForm{w: 1}
		h = float64(s.HalfLife)
		if s.HalfLife <= 0 {
			h = float64(score.DefaultHalfLife)
		}
	default:
		return nil, false
	}
	if !(f.w == 0 || f.w >= 0x1p-20 && f.w <= 0x1p20) || !(f.c >= 0) || math.IsInf(f.c, 0) || math.IsNaN(f.m) || math.IsInf(f.m, 0) {
		return nil, false
	}
	if !f.addM {
		f.m = 0
	}
	f.k = math.Ln2 / h
	return &f, true
}

// classes reports whether heads and other blocks score differently.
func (f *decayForm) classes() bool { return f.addC && f.c != 0 }

// bound is a block as the certificate sees it.
type bound struct {
	last int64  // last access, ns
	head bool   // chain head (Seq 0) of a scorer with two classes
	id   uint64 // trace id: the tie-break
}

// errs are the rounding bounds for a window ending at end: a score
// computed at t' is within rel * A(t') + sigma + add of the exact one,
// add being the roundings of its class's bonus additions.
type errs struct {
	rel, sigma, dAge float64
}

func (f *decayForm) errs(end int64) errs {
	dAge := 4*ulp(float64(max(end, 1))) + 4 // ns: both conversions and the difference
	rho := (746*0x1p-51 + f.k*dAge + 0x1p-40 + 0x1p-52) * 1.01
	return errs{rel: rho + 0x1p-52, dAge: dAge, sigma: 0x1p-1050}
}

// add bounds the roundings of the additions in G for a block of the class
// head, beyond those proportional to a (which rel covers): two roundings
// of at most c + |m|.
func (f *decayForm) add(head bool) float64 {
	v := math.Abs(f.m)
	if head && f.classes() {
		v += f.c
	}
	return 0x1p-52 * v
}

// ulp returns the gap above x > 0.
func ulp(x float64) float64 { return math.Nextafter(x, math.Inf(1)) - x }

// floor returns a value under which the class's G(a) is exactly G(0), or
// 0 when it has none (G(a) = a).
func (f *decayForm) floor(head bool) float64 {
	switch {
	case head && f.classes():
		return ulp(f.c) / 8
	case f.m != 0:
		return ulp(math.Abs(f.m)) / 8
	}
	return 0
}

// recency returns the exact recency of a block last accessed at last, at
// t >= last.
func (f *decayForm) recency(t, last int64) float64 {
	return f.w * math.Exp(-f.k*float64(t-last))
}

// lead returns A_hi - A_lo at t for last accesses hi > lo, without
// cancellation.
func (f *decayForm) lead(t, hi, lo int64) float64 {
	return f.recency(t, hi) * -math.Expm1(-f.k*float64(hi-lo))
}

// until returns the latest time at which d, a quantity at t that decays
// with the half-life, still exceeds bar (t when it does not now), on the
// early side.
func (f *decayForm) until(t int64, d, bar float64) int64 {
	if !(d > bar*(1+1e-9)) || !(bar > 0) {
		return t
	}
	tau := (math.Log(d)-math.Log(bar))/f.k*(1-1e-6) - 1000 // d/bar may overflow
	if tau <= 0 {
		return t
	}
	if tau >= float64(forever-t) {
		return forever
	}
	return t + int64(tau)
}

// zeroFrom returns a time from which exp's argument for a block last
// accessed at last is below -746 (exp returns exactly 0), on the late
// side, or forever.
func (f *decayForm) zeroFrom(last int64, e errs) int64 {
	age := 746.01/f.k/(1-0x1p-50) + 2*e.dAge + 1
	if age >= float64(forever-last) {
		return forever
	}
	return last + int64(age) + 1
}

// atFloor reports whether a block of class head last accessed at last is
// below its class's floor at t and so at every later time.
func (f *decayForm) atFloor(t int64, b bound, e errs) bool {
	thr := f.floor(b.head)
	return thr > 0 && f.recency(t, b.last)*(1+e.rel)+e.sigma < thr
}

// pair returns the latest time up to which i ranks before j at every time
// after t (forever, or t for no promise). Each case compares the exact
// score difference with the two scores' errors, err = rel*A + sigma + add:
// both decay with A but for their floor 2 sigma + add_i + add_j.
func (f *decayForm) pair(t int64, i, j bound, e errs) int64 {
	hashFirst := i.id < j.id
	ci, cj := i.head && f.classes(), j.head && f.classes()
	fixed := 2*e.sigma + f.add(ci) + f.add(cj) // the errors' floor
	ai, aj := f.recency(t, i.last), f.recency(t, j.last)
	if i.last == j.last {
		// The same a: G orders by class (c >= 0), equal scores by hash;
		// the classes' gap c survives G's roundings alone.
		if ci == cj && hashFirst || ci && !cj && (hashFirst || f.c > f.add(true)+f.add(false)) {
			return forever
		}
		return t
	}
	switch {
	case ci && !cj:
		// i has the chain bonus. The difference c + A_i - A_j is at least
		// c when i is more recent, and grows when j is, while the errors
		// shrink: its value now decides.
		d := f.c
		if i.last < j.last {
			d -= f.lead(t, j.last, i.last)
		}
		if d > e.rel*(ai+aj)+fixed {
			return forever
		}
		return t
	case !ci && cj:
		// j has the bonus: i stays ahead while its recency lead, less
		// the decaying errors, exceeds it.
		if i.last < j.last {
			return t
		}
		return f.until(t, f.lead(t, i.last, j.last)-e.rel*(ai+aj), f.c+fixed)
	}
	// One class.
	if i.last < j.last {
		// j is ahead, exactly: only a tie won by the lower hash keeps i
		// first, with both at the floor or both zero from now on.
		if hashFirst && (f.atFloor(t, j, e) || t >= f.zeroFrom(j.last, e)) {
			return forever
		}
		return t
	}
	// i is ahead, exactly; its lead decays toward a tie.
	strict := f.until(t, f.lead(t, i.last, j.last)-e.rel*(ai+aj), fixed)
	if !hashFirst {
		return strict // a tie goes to j
	}
	// Ties go to i: G(a_j) = G(0) <= G(a_i) with j below its floor or
	// zero, and a_i >= a_j while A_j >= aMin = 2 sigma / gap.
	zj := f.zeroFrom(j.last, e)
	if f.atFloor(t, j, e) || t >= zj {
		return forever
	}
	gap := math.Exp(f.k*float64(i.last-j.last))*(1-e.rel) - (1 + e.rel) // A_i / A_j, less the errors
	if !(gap > 0) {
		return strict
	}
	// log A_j(t') >= log aMin for t' - j.last <= span.
	logMin := math.Log(2*e.sigma) - math.Log(gap)
	if thr := f.floor(j.head); thr > 0 && logMin <= math.Log((thr-e.sigma)/(1+e.rel)) {
		return forever // every A_j is above aMin or below the floor
	}
	span := (math.Log(f.w)-logMin)/f.k*(1-1e-9) - 1000
	if !(span < float64(zj-j.last)) {
		return forever // every A_j is above aMin, or j is zero
	}
	return max(strict, j.last+int64(span))
}

// horizon returns the latest time up to which the top K of a cycle that
// selected o.Selected, all in flat, and fetched nothing stays within flat
// (r.now for no promise).
func (f *decayForm) horizon(r *run, o *pipeline.Outcome, end int64) int64 {
	now := r.now
	if o.Skipped[pipeline.SkipAlreadyFlat] != len(o.Selected) || len(o.Skipped) > 1 {
		return now
	}
	if f.w == 0 {
		return forever // scores do not depend on the time
	}
	m := r.m
	sel := make([]bound, 0, len(o.Selected))
	for _, c := range o.Selected {
		b, ok := m.lookup(c.Hash)
		if !ok || r.where[b] == inNone {
			return now
		}
		sel = append(sel, bound{last: r.lastRead[b], head: m.seq[b] == 0 && f.classes(), id: m.ids[b]})
	}
	// The blocks outside flat, by last access and class: within a group
	// only the lowest id binds (the others lose every tie it loses).
	type group struct {
		last int64
		head bool
	}
	groups := map[group]uint64{}
	for b, seen := range r.seen {
		if !seen || r.where[b] != inNone {
			continue
		}
		g := group{r.lastRead[b], m.seq[b] == 0 && f.classes()}
		if id, ok := groups[g]; !ok || m.ids[b] < id {
			groups[g] = m.ids[b]
		}
	}
	e := f.errs(end)
	h := int64(forever)
	for _, i := range sel {
		for g, id := range groups {
			h = min(h, f.pair(now, i, bound{last: g.last, head: g.head, id: id}, e))
			if h <= now {
				return now
			}
		}
	}
	return h
}
