package replay_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/replay"
)

func ExampleReadTrace() {
	in := `{"timestamp": 0, "input_length": 1000, "output_length": 20, "hash_ids": [0, 1]}
{"timestamp": 1500, "input_length": 1100, "output_length": 20, "hash_ids": [0, 1, 2]}
`
	tr, err := replay.ReadTrace(context.Background(), strings.NewReader(in), replay.ReadOptions{Name: "chat.jsonl"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tr.Name, len(tr.Requests), "requests, last reads", tr.Requests[1].HashIDs)

	_, err = replay.ReadTrace(context.Background(), strings.NewReader(in+`{"timestamp": 1000, "input_length": 5, "hash_ids": [9]}`), replay.ReadOptions{Name: "chat.jsonl"})
	fmt.Println(err)
	// Output:
	// chat.jsonl 2 requests, last reads [0 1 2]
	// replay: chat.jsonl line 3: timestamp 1000 goes back in time (the previous request was at 1500); a trace must be in timestamp order (fix the line, or set ReadOptions.SkipBad to skip bad requests and count them)
}

func ExampleSynthetic() {
	tr, err := replay.Synthetic(replay.SyntheticConfig{Seed: 42, Requests: 1000})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tr.Name, len(tr.Requests), "requests")
	// Output:
	// synthetic(seed=42) 1000 requests
}

func ExampleRun() {
	tr, err := replay.Synthetic(replay.SyntheticConfig{Seed: 1, Requests: 1500})
	if err != nil {
		fmt.Println(err)
		return
	}
	var policies []replay.Policy
	for _, name := range []string{replay.PolicyNone, replay.PolicyRFC0008V3, replay.PolicyHintV3, replay.PolicyOracleV3} {
		p, err := replay.PolicyByName(name)
		if err != nil {
			fmt.Println(err)
			return
		}
		policies = append(policies, p)
	}
	res, err := replay.Run(context.Background(), tr, replay.Config{
		Scenarios: []replay.Scenario{{Fraction: 0.1}},
		Policies:  policies,
		Leads:     []time.Duration{2 * time.Second},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res {
		fmt.Printf("%-10s share of the oracle %.2f, precision %.2f\n", r.Policy, r.Share, r.Precision)
	}
	// Output:
	// none       share of the oracle 0.00, precision 0.00
	// rfc0008-v3 share of the oracle 0.00, precision 0.00
	// hint-v3    share of the oracle 1.13, precision 1.00
	// oracle-v3  share of the oracle 1.00, precision 0.98
}
