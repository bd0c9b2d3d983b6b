package policy_test

import (
	"io"
	"strings"
	"testing"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// FuzzParse: Parse never panics; it either reports problems, each a line
// naming the file, or returns a spec that builds over an Env that has
// everything into a config pipeline.New accepts. That is, the checks at
// parse time leave nothing for Build and pipeline.New to refuse but an
// Env's missing parts.
func FuzzParse(f *testing.F) {
	for _, n := range policy.PresetNames() {
		data, err := policy.PresetFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{"sources": ["index"], "scorer": {"stage": "rfc0008", "params": {"half_life": 12}}}`,
		`{"sources": ["index", "hints"], "scorer": {"stage": "weighted", "params": {"terms": [{"weight": 2, "scorer": "recency"}, {"scorer": "deadline"}]}}}`,
		`{"sources": [{"stage": "room-gate", "params": {"source": {"stage": "room-gate", "params": {"source": "index"}}}}], "scorer": "recency"}`,
		`{"sources": ["index"], "scorer": "recency", "top_k": 1048576, "interval": "1ns", "fetch_timeout": "1ns", "cycle_fetch_timeout": "1ns", "cycle_byte_budget": "8EiB"}`,
		`{"sources": ["index"], "scorer": "recency", "namespace": "a..b", "admission": " "}`,
		`{"sources": ["index"], "scorer": "recency", "filters": [{"stage": "budget", "params": {"rate": 1e18, "burst": 9223372036854775807}}]}`,
		`{"sources": ["index"], "scorer": "recency", "emitters": ["slog", {"stage": "slog", "params": {"level": "error+100"}}]}`,
		`{"sources": ["index"], "scorer": "recency", "x\ny": 1}`,
		`{"sources": ["index"], "scorer": {"stage": "deadline", "params": {"get_latency": "2562047h", "get_bandwidth": 1e-300}}}`,
		`[]`, `null`, `{`, `{}`, `"index"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := policy.Parse("fuzz.json", data, nil)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned a spec and an error: %v", err)
			}
			for _, line := range errLines(err) {
				if !strings.HasPrefix(line, "fuzz.json") {
					t.Fatalf("error line %q does not name the file", line)
				}
			}
			return
		}
		_ = s.Admission()
		_ = s.About()
		_ = s.UsesHints()
		st := newFakeStore()
		cfg, err := s.Build(policy.Env{
			Index: sharedIndex, Store: st, Hints: snapshot.NewHints(snapshot.HintsConfig{}),
			InstrLog: io.Discard, Logger: discardLogger,
		})
		if err != nil {
			t.Fatalf("parsed, but did not build over an Env that has everything: %v", err)
		}
		if _, err := pipeline.New(cfg); err != nil {
			t.Fatalf("built a config that pipeline.New refuses: %v", err)
		}
	})
}
