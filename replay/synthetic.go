package replay

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// SyntheticConfig configures [Synthetic]. Zero fields mean the defaults.
type SyntheticConfig struct {
	// Seed seeds the generator (default 1); a seed always gives the same
	// trace.
	Seed uint64
	// Requests is the trace length (default 4000).
	Requests int
	// Rate is the mean arrival rate in requests per second, Poisson
	// (default 4).
	Rate float64
	// SystemPrompts is the number of shared system prompts (default 32),
	// picked with Zipf popularity of exponent ZipfS (default 1.1).
	SystemPrompts int
	ZipfS         float64
	// NewConversation is the chance that a request starts a conversation
	// rather than continuing one (default 0.3).
	NewConversation float64
	// EndConversation is the chance that a conversation ends after each
	// turn (default 0.15).
	EndConversation float64
	// BlockTokens is the tokens per block the ids are chained at (default
	// DefaultBlockTokens).
	BlockTokens int
}

func (c SyntheticConfig) withDefaults() SyntheticConfig {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Requests == 0 {
		c.Requests = 4000
	}
	if c.Rate == 0 {
		c.Rate = 4
	}
	if c.SystemPrompts == 0 {
		c.SystemPrompts = 32
	}
	if c.ZipfS == 0 {
		c.ZipfS = 1.1
	}
	if c.NewConversation == 0 {
		c.NewConversation = 0.3
	}
	if c.EndConversation == 0 {
		c.EndConversation = 0.15
	}
	if c.BlockTokens == 0 {
		c.BlockTokens = DefaultBlockTokens
	}
	return c
}

func (c SyntheticConfig) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("replay: synthetic "+format, args...))
	}
	if c.Requests < 0 {
		bad("Requests = %d, want >= 1 (0 means the default, 4000)", c.Requests)
	}
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
		bad("Rate = %v, want a finite number > 0 (0 means the default, 4)", c.Rate)
	}
	if c.SystemPrompts < 0 {
		bad("SystemPrompts = %d, want >= 1 (0 means the default, 32)", c.SystemPrompts)
	}
	if !(c.ZipfS > 1) || math.IsInf(c.ZipfS, 0) {
		bad("ZipfS = %v, want a finite number > 1 (0 means the default, 1.1)", c.ZipfS)
	}
	if !(c.NewConversation > 0 && c.NewConversation <= 1) {
		bad("NewConversation = %v, want in (0, 1] (0 means the default, 0.3)", c.NewConversation)
	}
	if !(c.EndConversation > 0 && c.EndConversation <= 1) {
		bad("EndConversation = %v, want in (0, 1] (0 means the default, 0.15)", c.EndConversation)
	}
	if c.BlockTokens < 0 {
		bad("BlockTokens = %d, want >= 1 (0 means the default, %d)", c.BlockTokens, DefaultBlockTokens)
	}
	return errors.Join(errs...)
}

// conversation is a chat whose prompt grows each turn: its full blocks
// keep their ids, so the next turn re-reads them.
type conversation struct {
	tokens int64    // prompt so far, with the last answer
	full   []uint64 // ids of the prompt's full blocks
}

// Synthetic generates a seeded trace in the shape of the Mooncake traces:
// multi-turn conversations whose prompt grows each turn (the previous
// prompt, its answer and a new question), each opened by one of a few
// shared system prompts of skewed (Zipf) popularity, arriving as a
// Poisson process. Ids are prefix-chained as in Mooncake: an id names its
// whole prefix, and a new block gets a new, higher id.
func Synthetic(cfg SyntheticConfig) (*Trace, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x9e3779b97f4a7c15))
	zipf := rand.NewZipf(rng, c.ZipfS, 1, uint64(c.SystemPrompts-1))
	bt := int64(c.BlockTokens)
	var nextID uint64
	fresh := func() uint64 { nextID++; return nextID - 1 }

	// System prompts: 1 to 16 full blocks each, shared by every
	// conversation they open.
	system := make([][]uint64, c.SystemPrompts)
	for i := range system {
		n := 1 + rng.IntN(16)
		for range n {
			system[i] = append(system[i], fresh())
		}
	}
	tr := &Trace{Name: fmt.Sprintf("synthetic(seed=%d)", c.Seed)}
	var active []*conversation
	var nowMs float64
	for range c.Requests {
		nowMs += rng.ExpFloat64() / c.Rate * 1000
		var cv *conversation
		if len(active) == 0 || rng.Float64() < c.NewConversation {
			sp := system[zipf.Uint64()]
			cv = &conversation{tokens: int64(len(sp)) * bt, full: append([]uint64(nil), sp...)}
			active = append(active, cv)
		} else {
			cv = active[rng.IntN(len(active))]
		}
		question := 256 + rng.Int64N(4096)
		answer := 16 + rng.Int64N(768)
		input := cv.tokens + question
		n := (input + bt - 1) / bt
		ids := make([]uint64, 0, n)
		ids = append(ids, cv.full[:min(int64(len(cv.full)), n)]...)
		for int64(len(ids)) < n {
			ids = append(ids, fresh())
		}
		tr.Requests = append(tr.Requests, Request{
			Timestamp:    int64(nowMs),
			InputLength:  input,
			OutputLength: answer,
			HashIDs:      ids,
		})
		// The next turn re-reads this prompt's full blocks; its partial
		// last block will be extended, so it gets a new id then.
		cv.full = ids[:input/bt]
		cv.tokens = input + answer
		if rng.Float64() < c.EndConversation {
			for i, a := range active {
				if a == cv {
					active = append(active[:i], active[i+1:]...)
					break
				}
			}
		}
	}
	return tr, nil
}
