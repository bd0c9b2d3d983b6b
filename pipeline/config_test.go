package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

func TestWithDefaults(t *testing.T) {
	if pipeline.DefaultInterval != 500*time.Millisecond || pipeline.DefaultTopK != 8 ||
		pipeline.DefaultNamespace != "tp-default" || pipeline.DefaultFetchTimeout != 5*time.Second {
		t.Errorf("defaults are %v, %d, %q, %v; want the seed's 500ms, 8, tp-default, 5s",
			pipeline.DefaultInterval, pipeline.DefaultTopK, pipeline.DefaultNamespace, pipeline.DefaultFetchTimeout)
	}
	c := pipeline.Config{}.WithDefaults()
	if c.Interval != 500*time.Millisecond {
		t.Errorf("Interval = %v, want 500ms", c.Interval)
	}
	if c.TopK != 8 {
		t.Errorf("TopK = %d, want 8", c.TopK)
	}
	if c.Namespace != "tp-default" {
		t.Errorf("Namespace = %q, want tp-default", c.Namespace)
	}
	if c.FetchTimeout != 5*time.Second {
		t.Errorf("FetchTimeout = %v, want 5s", c.FetchTimeout)
	}
	if c.Clock == nil {
		t.Error("Clock is nil")
	} else if d := time.Since(c.Clock()); d < 0 || d > time.Minute {
		t.Errorf("the default Clock is not the wall clock: off by %v", d)
	}
	if c.Logger == nil {
		t.Error("Logger is nil")
	}

	// Set fields are kept.
	clock := func() time.Time { return time.Unix(1, 0) }
	set := pipeline.Config{Interval: time.Second, TopK: 3, Namespace: "ns-a", FetchTimeout: time.Millisecond, Clock: clock}.WithDefaults()
	if set.Interval != time.Second || set.TopK != 3 || set.Namespace != "ns-a" || set.FetchTimeout != time.Millisecond || !set.Clock().Equal(time.Unix(1, 0)) {
		t.Errorf("WithDefaults overwrote set fields: %+v", set)
	}
	// Negative values are not defaults: they stay for Validate to report.
	neg := pipeline.Config{Interval: -1, TopK: -1, FetchTimeout: -1}.WithDefaults()
	if neg.Interval != -1 || neg.TopK != -1 || neg.FetchTimeout != -1 {
		t.Errorf("WithDefaults replaced negative values: %+v", neg)
	}
}

func validConfig() pipeline.Config {
	return pipeline.Config{
		Sources:  []pipeline.Source{sliceSource()},
		Scorer:   seqScorer,
		Selector: sortSelector,
	}.WithDefaults()
}

func TestValidateAcceptsDefaults(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Errorf("Validate of a complete config: %v", err)
	}
}

// TestValidateReportsEveryProblem breaks every field at once and checks
// that each is reported, with its value and what is allowed.
func TestValidateReportsEveryProblem(t *testing.T) {
	c := pipeline.Config{
		Interval:     -1,
		TopK:         -1,
		Namespace:    "a/b",
		FetchTimeout: -2 * time.Second,
		Sources:      nil,
		PreFilters:   []pipeline.Filter{nil},
		Filters:      []pipeline.Filter{filterReason(""), nil},
		Observers:    []pipeline.Observer{nil},
	}.WithDefaults()
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted a config with every field wrong")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"pipeline: Interval = -1ns, want > 0 (0 means the default, 500ms)",
		"pipeline: TopK = -1, want >= 1 (0 means the default, 8)",
		`pipeline: Namespace = "a/b": block: bad namespace "a/b": byte '/' at offset 1, want only [A-Za-z0-9._-] (empty means the default, "tp-default")`,
		"pipeline: FetchTimeout = -2s, want > 0 (0 means the default, 5s)",
		"pipeline: Sources is empty, want at least one (e.g. snapshot.Index)",
		"pipeline: Scorer is nil, want one (e.g. score.RFC0008)",
		"pipeline: Selector is nil, want one (e.g. topk.Heap)",
		"pipeline: PreFilters[0] is nil",
		"pipeline: Filters[1] is nil",
		"pipeline: Observers[0] is nil",
	}
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("Validate did not report\n\t%s\ngot:\n\t%s", w, strings.Join(lines, "\n\t"))
		}
	}
	if len(lines) != len(want) {
		t.Errorf("Validate reported %d problems, want %d:\n\t%s", len(lines), len(want), strings.Join(lines, "\n\t"))
	}
	if !errors.Is(err, block.ErrBadNamespace) {
		t.Error("the namespace problem does not wrap block.ErrBadNamespace")
	}
}

func TestValidateNilEntries(t *testing.T) {
	c := validConfig()
	c.Sources = []pipeline.Source{sliceSource(), nil}
	err := c.Validate()
	if err == nil || err.Error() != "pipeline: Sources[1] is nil" {
		t.Errorf("Validate = %v, want exactly the nil source", err)
	}
}

func TestValidateWithoutDefaults(t *testing.T) {
	err := pipeline.Config{}.Validate()
	if err == nil {
		t.Fatal("Validate of the zero Config = nil")
	}
	for _, w := range []string{
		"pipeline: Interval = 0s, want > 0 (0 means the default, 500ms)",
		"pipeline: TopK = 0, want >= 1 (0 means the default, 8)",
		"pipeline: Clock is nil (call WithDefaults first)",
		"pipeline: Logger is nil (call WithDefaults first)",
		"pipeline: Namespace = \"\"",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate of the zero Config does not report %q:\n%v", w, err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	p, err := pipeline.New(pipeline.Config{TopK: -3, Scorer: seqScorer, Selector: sortSelector, Sources: []pipeline.Source{sliceSource()}})
	if err == nil || p != nil {
		t.Fatalf("New with TopK -3 = %v, %v; want nil and an error", p, err)
	}
	if got, want := err.Error(), "pipeline: TopK = -3, want >= 1 (0 means the default, 8)"; got != want {
		t.Errorf("New error = %q, want %q", got, want)
	}

	p, err = pipeline.New(pipeline.Config{Scorer: seqScorer, Selector: sortSelector, Sources: []pipeline.Source{sliceSource()}})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config()
	if c.TopK != 8 || c.Interval != 500*time.Millisecond || c.Namespace != "tp-default" || c.FetchTimeout != 5*time.Second || c.Clock == nil || c.Logger == nil {
		t.Errorf("Pipeline.Config has no defaults: %+v", c)
	}
}

// A TopK that would exhaust memory (or overflow the selectors' buffers) is
// refused with the bound, instead of killing the process at the first
// cycle or silently selecting nothing.
func TestValidateTopKBound(t *testing.T) {
	for _, k := range []int{pipeline.MaxTopK + 1, 1_000_000_000, 4_000_000_000_000_000_000} {
		c := validConfig()
		c.TopK = k
		want := fmt.Sprintf("pipeline: TopK = %d, want at most MaxTopK (%d): a cycle holds its K candidates in memory", k, pipeline.MaxTopK)
		if err := c.Validate(); err == nil || err.Error() != want {
			t.Errorf("Validate with TopK %d = %v, want %q", k, err, want)
		}
	}
	c := validConfig()
	c.TopK = pipeline.MaxTopK
	if err := c.Validate(); err != nil {
		t.Errorf("Validate with TopK = MaxTopK: %v", err)
	}
}

// validating is a stage (any of them: it is a source, a filter, a fetcher
// and an emitter) whose Validate returns err.
type validating struct{ err error }

func (v validating) Validate() error { return v.err }
func (validating) Candidates(context.Context, *pipeline.Cycle) iter.Seq2[block.Hash, block.Meta] {
	return func(func(block.Hash, block.Meta) bool) {}
}
func (validating) Skip(context.Context, *pipeline.Cycle, pipeline.Candidate) string { return "" }
func (validating) Fetch(context.Context, *pipeline.Cycle, []pipeline.Candidate) []pipeline.FetchResult {
	return nil
}
func (validating) Emit(context.Context, *pipeline.Outcome) {}

var errSentinel = errors.New("stage: Sentinel = 1, want 0")

// TestNewValidatesStages: New reports what the stages' Validate returns,
// after the Config's own problems, one line per joined error, each with
// the field that holds the stage; a stage that validates adds nothing.
func TestNewValidatesStages(t *testing.T) {
	c := validConfig()
	c.TopK = -1
	c.Sources = append(c.Sources, validating{errors.New("src: Rate = -1, want >= 0")})
	c.PreFilters = []pipeline.Filter{validating{}}
	c.Filters = []pipeline.Filter{filterReason(""), validating{errors.Join(
		errors.New("filter: Budget.PerCycle = -1, want >= 0"),
		errors.Join(errSentinel, nil),
	)}}
	c.Fetcher = validating{fmt.Errorf("fetch: Parallel.Limit = %d: %w, want >= 0 (%w)", -1, errSentinel, errSentinel)}
	c.Emitter = validating{}
	_, err := pipeline.New(c)
	want := strings.Join([]string{
		"pipeline: TopK = -1, want >= 1 (0 means the default, 8)",
		"pipeline: Sources[1]: src: Rate = -1, want >= 0",
		"pipeline: Filters[1]: filter: Budget.PerCycle = -1, want >= 0",
		"pipeline: Filters[1]: stage: Sentinel = 1, want 0",
		// Several %w in one message are one problem, not a join.
		"pipeline: Fetcher: fetch: Parallel.Limit = -1: stage: Sentinel = 1, want 0, want >= 0 (stage: Sentinel = 1, want 0)",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("New error:\n%v\nwant:\n%s", err, want)
	}
	if !errors.Is(err, errSentinel) {
		t.Error("a stage's error is not in the chain of New's")
	}

	c = validConfig()
	c.Filters, c.Fetcher = []pipeline.Filter{validating{}}, validating{}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate with stages that validate: %v", err)
	}
}
