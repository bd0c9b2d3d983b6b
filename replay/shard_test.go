package replay_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wombatkv/prefetch/replay"
)

func TestParseShard(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    replay.Shard
		wantErr string
	}{
		{"1/1", replay.Shard{Index: 1, Count: 1}, ""},
		{"3/4", replay.Shard{Index: 3, Count: 4}, ""},
		{"0/4", replay.Shard{}, "want I/N with 1 <= I <= N"},
		{"5/4", replay.Shard{}, "want I/N with 1 <= I <= N"},
		{"1/0", replay.Shard{}, "want I/N with 1 <= I <= N"},
		{"2", replay.Shard{}, "want I/N, the I-th of N slices"},
		{"a/b", replay.Shard{}, "want I/N, the I-th of N slices"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := replay.ParseShard(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseShard(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// Groups are cut into contiguous slices, scenario then lead, and every
// group lands in exactly one shard.
func TestShardConfigs(t *testing.T) {
	scs := []replay.Scenario{{Fraction: 0.1}, {Fraction: 0.2}, {Fraction: 0.2, Restart: true}}
	leads := []time.Duration{0, time.Second}
	cfg := replay.Config{Scenarios: scs, Leads: leads}
	if got := cfg.Groups(); got != 6 {
		t.Fatalf("Groups() = %d, want 6", got)
	}
	// Each shard's groups as "scenario@lead".
	groups := func(sh replay.Shard) []string {
		cs, err := sh.Configs(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			for _, sc := range c.Scenarios {
				for _, l := range c.Leads {
					out = append(out, fmt.Sprintf("%s@%v", sc.Name(), l))
				}
			}
		}
		return out
	}
	for _, tt := range []struct {
		count int
		want  [][]string
	}{
		{1, [][]string{{"10%@0s", "10%@1s", "20%@0s", "20%@1s", "20%+restart@0s", "20%+restart@1s"}}},
		{4, [][]string{{"10%@0s"}, {"10%@1s", "20%@0s"}, {"20%@1s"}, {"20%+restart@0s", "20%+restart@1s"}}},
		{6, [][]string{{"10%@0s"}, {"10%@1s"}, {"20%@0s"}, {"20%@1s"}, {"20%+restart@0s"}, {"20%+restart@1s"}}},
	} {
		t.Run(fmt.Sprint("count=", tt.count), func(t *testing.T) {
			var got [][]string
			for i := 1; i <= tt.count; i++ {
				got = append(got, groups(replay.Shard{Index: i, Count: tt.count}))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := (replay.Shard{Index: 1, Count: 7}).Configs(cfg); err == nil || !strings.Contains(err.Error(), "at most 6 shards") {
		t.Errorf("7 shards of 6 groups: err = %v, want at most 6 shards", err)
	}
}

// The shards of a run, run one by one and merged, give the run's results.
func TestShardsMergeToTheRun(t *testing.T) {
	var trs []*replay.Trace
	for _, seed := range []uint64{1, 2} {
		tr, err := replay.Synthetic(replay.SyntheticConfig{Seed: seed, Requests: 200})
		if err != nil {
			t.Fatal(err)
		}
		trs = append(trs, tr)
	}
	cfg := replay.Config{
		Scenarios: []replay.Scenario{{Fraction: 0.1}, {Fraction: 0.2, Restart: true}},
		Policies:  policies(t, replay.PolicyNone, replay.PolicyRFC0008V3, replay.PolicyHintV3, replay.PolicyOracleV3),
		Leads:     []time.Duration{0, 500 * time.Millisecond, 2 * time.Second},
	}
	ctx := context.Background()
	var whole []replay.Result
	for _, tr := range trs {
		res, err := replay.Run(ctx, tr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		whole = append(whole, res...)
	}
	const n = 4 // 6 groups: a scenario's leads split over two shards
	var shards [][]replay.Result
	for i := 1; i <= n; i++ {
		cs, err := replay.Shard{Index: i, Count: n}.Configs(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var part []replay.Result
		for _, tr := range trs {
			for _, c := range cs {
				res, err := replay.Run(ctx, tr, c)
				if err != nil {
					t.Fatal(err)
				}
				part = append(part, res...)
			}
		}
		shards = append(shards, part)
	}
	got := replay.Merge(shards...)
	opts := cmp.Options{cmpopts.IgnoreFields(replay.Result{}, "Elapsed"), cmpopts.IgnoreUnexported(replay.Result{})}
	if diff := cmp.Diff(whole, got, opts); diff != "" {
		t.Errorf("merged shards differ from the run (-want +got):\n%s", diff)
	}
}

func policies(t *testing.T, names ...string) []replay.Policy {
	t.Helper()
	var ps []replay.Policy
	for _, n := range names {
		p, err := replay.PolicyByName(n)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func ExampleShard_Configs() {
	cfg := replay.Config{
		Scenarios: []replay.Scenario{{Fraction: 0.1}, {Fraction: 0.2, Restart: true}},
		Leads:     []time.Duration{0, time.Second, 5 * time.Second},
	}
	for i := 1; i <= 3; i++ {
		sh := replay.Shard{Index: i, Count: 3}
		cs, err := sh.Configs(cfg)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("shard %v:", sh)
		for _, c := range cs {
			fmt.Printf(" %s at %v;", c.Scenarios[0].Name(), c.Leads)
		}
		fmt.Println()
	}
	// Run each config on each trace, one after another, and join the
	// shards' results with replay.Merge.

	// Output:
	// shard 1/3: 10% at [0s 1s];
	// shard 2/3: 10% at [5s]; 20%+restart at [0s];
	// shard 3/3: 20%+restart at [1s 5s];
}
