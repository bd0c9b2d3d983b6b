package slru

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Admission modes: where a prefetched entry enters the order.
const (
	// ModeMRU admits at the most recently used end of the main list, like
	// an entry that was read.
	ModeMRU = "mru"
	// ModeLRU admits at the least recently used end of the main list, so
	// that the next eviction takes it unless it is read first.
	ModeLRU = "lru"
	// ModeProbation admits at the most recently used end of the probation
	// list, which holds at most Fraction of the budget and is evicted
	// before the main list; a read promotes the entry to the main list.
	ModeProbation = "probation"
	// ModeGuess admits to the guess list ([PlaceGuess]), which holds at
	// most Fraction of the budget: a guess is evicted after the main list
	// for TTL, and before every other entry once TTL has run out; a read
	// promotes it to the main list. For prefetches that are guesses: a
	// wrong one costs at most TTL of its room.
	ModeGuess = "guess"
)

// wantGuess is what a guess admission must be, for its errors.
const wantGuess = `want "guess:F:TTL" with 0 < F <= 1 and a TTL > 0, e.g. "guess:0.1:5s"`

// want is what an admission may be, for the errors.
const want = `want "mru", "lru", "probation:F" with 0 < F <= 1 (e.g. "probation:0.25") or "guess:F:TTL" with 0 < F <= 1 and a TTL > 0 (e.g. "guess:0.1:5s")`

// Admission is where a prefetched entry enters the order: a mode, and for
// ModeProbation the probation list's share of the budget.
//
// The share F may be any number in (0, 1]. F = 1 is a probation list that
// may take the whole budget: prefetched entries are still evicted before
// every entry that was read, but are not capped below the budget. F = 0
// is refused: it would refuse every prefetch, which is no prefetch, not
// an admission.
type Admission struct {
	// Mode is ModeMRU, ModeLRU, ModeProbation or ModeGuess.
	Mode string
	// Fraction is the probation (or guess) list's share of the budget,
	// in (0, 1]; ignored under ModeMRU and ModeLRU.
	Fraction float64
	// TTL is how long a guess is protected (ModeGuess only).
	TTL time.Duration
}

// ParseAdmission parses "mru", "lru", "probation:F" with 0 < F <= 1, or
// "guess:F:TTL" with 0 < F <= 1 and a TTL > 0 (a time.Duration:
// "guess:0.1:5s"). Its errors say what is wrong and what would be right,
// without the value or a package prefix: the caller names the field and
// the value.
func ParseAdmission(s string) (Admission, error) {
	mode, frac, hasFrac := strings.Cut(s, ":")
	a := Admission{Mode: mode}
	if mode == ModeGuess {
		return parseGuess(frac)
	}
	switch {
	case mode == ModeProbation && hasFrac:
		f, err := strconv.ParseFloat(frac, 64)
		if errors.Is(err, strconv.ErrRange) {
			return Admission{}, fmt.Errorf("fraction %s is out of range, %s", frac, want)
		}
		if err != nil {
			return Admission{}, fmt.Errorf("fraction %q is not a number, %s", frac, want)
		}
		a.Fraction = f
	case mode == ModeProbation:
		return Admission{}, fmt.Errorf("probation lacks its fraction, %s", want)
	case hasFrac && (mode == ModeMRU || mode == ModeLRU):
		return Admission{}, fmt.Errorf("only probation takes a fraction, %s", want)
	}
	if err := a.Validate(); err != nil {
		return Admission{}, err
	}
	return a, nil
}

// parseGuess parses the F:TTL of "guess:F:TTL".
func parseGuess(rest string) (Admission, error) {
	frac, ttl, ok := strings.Cut(rest, ":")
	if !ok {
		return Admission{}, fmt.Errorf("guess lacks its fraction or its TTL, %s", wantGuess)
	}
	a := Admission{Mode: ModeGuess}
	f, err := strconv.ParseFloat(frac, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return Admission{}, fmt.Errorf("fraction %q is not a number, %s", frac, wantGuess)
	}
	a.Fraction = f
	if err != nil {
		a.Fraction = math.Inf(1)
	}
	if a.TTL, err = time.ParseDuration(ttl); err != nil {
		return Admission{}, fmt.Errorf("TTL %q is not a duration, %s", ttl, wantGuess)
	}
	if err := a.Validate(); err != nil {
		return Admission{}, err
	}
	return a, nil
}

// Validate reports whether a is an admission ParseAdmission would return,
// with an error in ParseAdmission's form.
func (a Admission) Validate() error {
	switch a.Mode {
	case ModeMRU, ModeLRU:
		return nil // Fraction is ignored, as String shows
	case ModeProbation:
		if !(a.Fraction > 0 && a.Fraction <= 1) {
			return fmt.Errorf("fraction %v is out of range, %s", a.Fraction, want)
		}
		return nil
	case ModeGuess:
		if !(a.Fraction > 0 && a.Fraction <= 1) {
			return fmt.Errorf("fraction %v is out of range, %s", a.Fraction, wantGuess)
		}
		if a.TTL <= 0 {
			return fmt.Errorf("TTL %v is out of range, %s", a.TTL, wantGuess)
		}
		return nil
	}
	return errors.New(want)
}

// String returns the admission as ParseAdmission reads it.
func (a Admission) String() string {
	switch a.Mode {
	case ModeProbation:
		return a.Mode + ":" + strconv.FormatFloat(a.Fraction, 'g', -1, 64)
	case ModeGuess:
		return a.Mode + ":" + strconv.FormatFloat(a.Fraction, 'g', -1, 64) + ":" + a.TTL.String()
	}
	return a.Mode
}

// Place returns where a prefetched entry enters under a.
func (a Admission) Place() Place {
	switch a.Mode {
	case ModeLRU:
		return PlaceBack
	case ModeProbation:
		return PlaceProbation
	case ModeGuess:
		return PlaceGuess
	}
	return PlaceFront
}

// GuessBudget returns the guess list's budget for a total budget of
// budget bytes, by ProbationBudget's rule; 0 outside ModeGuess.
func (a Admission) GuessBudget(budget int64) int64 {
	if a.Mode != ModeGuess {
		return 0
	}
	return Admission{Mode: ModeProbation, Fraction: a.Fraction}.ProbationBudget(budget)
}

// ProbationBudget returns the probation list's budget for a total budget
// of budget bytes: floor(Fraction x budget), and exactly budget when that
// is not less (F = 1, or a budget past float64's precision); 0 outside
// ModeProbation.
func (a Admission) ProbationBudget(budget int64) int64 {
	if a.Mode != ModeProbation || budget <= 0 {
		return 0
	}
	p := a.Fraction * float64(budget)
	if p >= float64(budget) {
		return budget
	}
	return int64(p)
}
