package replay

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Shard is one of Count slices of a run's matrix, numbered from 1, so that
// a sweep can be spread over machines and its results joined with
// [Merge].
//
// The matrix is cut by group: a group is one scenario at one lead time,
// with every policy of the run. Groups are ordered as [Run] orders its
// results (scenario, then lead) and cut into Count contiguous slices whose
// sizes differ by at most one; shard Index gets the Index-th. A group runs
// whole, baselines included, so every result of a shard has its shares of
// the oracle: a shard's figures are final, only fewer.
type Shard struct {
	Index, Count int
}

// ParseShard parses "I/N", the I-th of N shards (1 <= I <= N).
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	sh := Shard{}
	var err1, err2 error
	sh.Index, err1 = strconv.Atoi(strings.TrimSpace(i))
	sh.Count, err2 = strconv.Atoi(strings.TrimSpace(n))
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("replay: shard %q, want I/N, the I-th of N slices (e.g. 1/4)", s)
	}
	return sh, sh.validate()
}

func (sh Shard) validate() error {
	if sh.Count < 1 || sh.Index < 1 || sh.Index > sh.Count {
		return fmt.Errorf("replay: shard %d/%d, want I/N with 1 <= I <= N (e.g. 1/4)", sh.Index, sh.Count)
	}
	return nil
}

// String returns "I/N".
func (sh Shard) String() string { return fmt.Sprintf("%d/%d", sh.Index, sh.Count) }

// Groups returns the number of groups (scenarios x lead times) of c's
// matrix: the most shards it can be cut into.
func (c Config) Groups() int {
	scs, leads := c.matrix()
	return len(scs) * len(leads)
}

// matrix returns c's scenarios and leads with their defaults, as Run
// takes them.
func (c Config) matrix() ([]Scenario, []time.Duration) {
	scs := c.Scenarios
	if len(scs) == 0 {
		scs = DefaultScenarios()
	}
	leads := c.Leads
	if len(leads) == 0 {
		leads = []time.Duration{c.Settings.WithDefaults().Lead}
	}
	return scs, leads
}

// Configs returns the runs that make up shard sh of cfg: one Config per
// scenario of the shard's slice, with the leads of that scenario the slice
// holds. Run each (on each trace) one after another and concatenate the
// results: they are the rows of the whole run's results that fall in the
// slice, in the same order. Count may not exceed cfg.Groups().
func (sh Shard) Configs(cfg Config) ([]Config, error) {
	if err := sh.validate(); err != nil {
		return nil, err
	}
	scs, leads := cfg.matrix()
	g := len(scs) * len(leads)
	if sh.Count > g {
		return nil, fmt.Errorf("replay: shard %v: the run has %d groups (%d scenarios x %d leads), want at most %d shards", sh, g, len(scs), len(leads), g)
	}
	lo, hi := (sh.Index-1)*g/sh.Count, sh.Index*g/sh.Count
	var out []Config
	for k := lo; k < hi; k++ {
		si, li := k/len(leads), k%len(leads)
		if k == lo || li == 0 {
			c := cfg
			c.Scenarios = []Scenario{scs[si]}
			c.Leads = nil
			out = append(out, c)
		}
		last := &out[len(out)-1]
		last.Leads = append(last.Leads, leads[li])
	}
	return out, nil
}

// Merge joins the results of the shards of one run, given in shard order
// (each as returned by running its [Shard.Configs], over one or several
// traces), into the results of the whole run: for each trace, in the
// order the traces first appear, the shards' rows of that trace one shard
// after another. It does not check that the shards are of one run.
func Merge(shards ...[]Result) []Result {
	var traces []string
	n := 0
	for _, rs := range shards {
		n += len(rs)
		for _, r := range rs {
			if !slices.Contains(traces, r.Trace) {
				traces = append(traces, r.Trace)
			}
		}
	}
	out := make([]Result, 0, n)
	for _, tr := range traces {
		for _, rs := range shards {
			for _, r := range rs {
				if r.Trace == tr {
					out = append(out, r)
				}
			}
		}
	}
	return out
}
