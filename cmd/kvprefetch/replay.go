package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/replay"
)

const replayAbout = `kvprefetch replay: compare prefetch policies on a request trace.

Replays a Mooncake JSONL trace (or a seeded synthetic one) against a
simulated node — a flat LRU tier, a cold tier, the metadata index — on a
virtual clock, with the real pipeline as the prefetcher, and prints how
much request stall each policy removes, as a share of what a clairvoyant
oracle removes. Defaults follow REPLAY-MODEL.md and reproduce its
reference figures.

Examples:
  kvprefetch replay --synthetic
  kvprefetch replay --trace mooncake_synthetic_trace.jsonl
  kvprefetch replay --trace t.jsonl --policies none,hint-v3,oracle-v3 --sweep-lead 0,250ms,500ms,1s,2s,5s --sweep-capacity 0.1 --restart 0 --plot lead.png

Policies:
`

// listFlag collects a repeated string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// runReplay runs "kvprefetch replay".
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		traces    listFlag
		synthetic = fs.Bool("synthetic", false, "replay a seeded synthetic trace (no file needed); with --trace, replay both")
		seed      = fs.Uint64("seed", 1, "seed of the synthetic trace")
		synReqs   = fs.Int("synthetic-requests", 4000, "requests in the synthetic trace")
		policies  = fs.String("policies", strings.Join(replay.DefaultPolicies(), ","), "comma-separated policies to compare (see below)")
		capacity  = fs.String("sweep-capacity", "0.05,0.1,0.2,0.4", "flat capacities as fractions (or percents: 5%) of the trace's unique bytes")
		restart   = fs.String("restart", "0.2", "capacity of the restart scenario (flat emptied at the time midpoint); 0 for none")
		lead      = fs.Duration("lead", 0, "how long before it is served a request becomes visible as a hint")
		leads     = fs.String("sweep-lead", "", "comma-separated lead times to replay the hint policies at (e.g. 0,250ms,500ms,1s,2s,5s); overrides --lead")
		admission = fs.String("admission", "mru", "where a prefetched block enters the flat LRU: mru, lru or probation:F (policies that set their own keep it)")
		jsonOut   = fs.String("json", "", "write the results as JSON to `FILE`")
		plotOut   = fs.String("plot", "", "draw share of the oracle against capacity (or lead, with --sweep-lead) to `FILE.png`")
		skipBad   = fs.Bool("skip-bad", false, "skip bad trace lines (and count them) instead of failing")
		maxLine   = fs.Int("max-line-bytes", replay.DefaultMaxLineBytes, "longest trace line read, in bytes (a longer one is bad)")
		maxBlocks = fs.Int("max-request-blocks", replay.DefaultMaxRequestBlocks, "most hash ids in one request (a request with more is bad)")
		parallel  = fs.Int("parallel", 0, "replays run at once (0: one per CPU)")

		blockTokens = fs.Int("block-tokens", replay.DefaultBlockTokens, "tokens per block")
		bpt         = fs.Int64("bytes-per-token", replay.DefaultBytesPerToken, "KV payload bytes per token")
		latency     = fs.Duration("get-latency", replay.DefaultGetLatency, "latency of one cold GET")
		bandwidth   = fs.Float64("get-bandwidth", replay.DefaultGetBandwidth, "bandwidth of one cold GET, bytes per second")
		k           = fs.Int("k", replay.DefaultTopK, "candidates a cycle selects (TopK)")
		interval    = fs.Duration("interval", replay.DefaultInterval, "time between grid cycles")
		limit       = fs.Int("limit", replay.DefaultLimit, "v3: GETs in flight per cycle")
		rate        = fs.Float64("gets-per-second", replay.DefaultGetsPerSecond, "GET budget of the budgeted (hint) policies, per second")
		burst       = fs.Int("burst", replay.DefaultBurst, "burst of the GET budget")
		halfLife    = fs.Duration("half-life", replay.DefaultHalfLife, "RFC 0008's recency half-life (rfc0008 and recency policies)")
		weights     = fs.String("rfc-weights", "1,0.3,0.2", "RFC 0008's weights: recency,chain-head,model")
	)
	fs.Var(&traces, "trace", "Mooncake JSONL trace `FILE` to replay (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), replayAbout)
		for _, p := range replay.PolicyNames() {
			fmt.Fprintf(fs.Output(), "  %-13s %s\n", p, replay.PolicyAbout(p))
		}
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	adm, err := replay.ParseAdmission(*admission)
	if err != nil {
		return usageError{err}
	}
	cfg := replay.Config{
		Settings: replay.Settings{
			BlockTokens: *blockTokens, BytesPerToken: *bpt,
			GetLatency: *latency, GetBandwidth: *bandwidth,
			TopK: *k, Interval: *interval, Limit: *limit,
			Lead: *lead, Admission: adm,
			GetsPerSecond: *rate, Burst: *burst,
			HalfLife: *halfLife,
		},
		Policies:    splitList(*policies),
		Parallelism: *parallel,
	}
	ws := splitList(*weights)
	if len(ws) != 3 {
		return usagef("replay: --rfc-weights %q, want three numbers: recency,chain-head,model (e.g. 1,0.3,0.2)", *weights)
	}
	for i, w := range ws {
		v, err := strconv.ParseFloat(w, 64)
		if err != nil {
			return usagef("replay: --rfc-weights %q: %q is not a number", *weights, w)
		}
		cfg.Settings.Weights[i] = v
	}
	if err := cfg.Settings.WithDefaults().Validate(); err != nil {
		return usageError{err}
	}
	if cfg.Scenarios, err = scenarios(*capacity, *restart); err != nil {
		return usageError{err}
	}
	if *leads != "" {
		for _, s := range splitList(*leads) {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return usagef("replay: --sweep-lead %q: %q is not a lead time, want e.g. 0,250ms,1s", *leads, s)
			}
			cfg.Leads = append(cfg.Leads, d)
		}
	}
	for _, p := range cfg.Policies {
		if replay.PolicyAbout(p) == "" {
			return usagef("replay: unknown policy %q, want one of %s", p, strings.Join(replay.PolicyNames(), ", "))
		}
	}
	if *maxLine < 1 {
		return usagef("replay: --max-line-bytes = %d, want >= 1", *maxLine)
	}
	if *maxBlocks < 1 {
		return usagef("replay: --max-request-blocks = %d, want >= 1", *maxBlocks)
	}
	if len(traces) == 0 && !*synthetic {
		return usagef("replay: no trace given: pass --trace FILE (Mooncake JSONL) or --synthetic")
	}
	if *plotOut != "" && !strings.HasSuffix(strings.ToLower(*plotOut), ".png") {
		return usagef("replay: --plot %q: the plot is a PNG, name it FILE.png", *plotOut)
	}

	var trs []*replay.Trace
	ro := replay.ReadOptions{SkipBad: *skipBad, MaxLineBytes: *maxLine, MaxRequestBlocks: *maxBlocks}
	for _, path := range traces {
		tr, err := replay.ReadTraceFileContext(ctx, path, ro)
		if le := (*replay.LineError)(nil); errors.As(err, &le) {
			return lineError{le}
		}
		if err != nil {
			return err
		}
		if s := tr.SkippedString(); s != "" {
			fmt.Fprintf(stderr, "replay: %s: skipped bad requests: %s\n", tr.Name, s)
		}
		trs = append(trs, tr)
	}
	if *synthetic {
		tr, err := replay.Synthetic(replay.SyntheticConfig{Seed: *seed, Requests: *synReqs})
		if err != nil {
			return usageError{err}
		}
		trs = append(trs, tr)
	}

	progress := isTerminal(stderr)
	var all []replay.Result
	for _, tr := range trs {
		c := cfg
		start := time.Now()
		if progress {
			c.Progress = func(done, total int) {
				fmt.Fprintf(stderr, "\rreplay: %s: %d/%d replays, %v", tr.Name, done, total, time.Since(start).Round(time.Second/10))
			}
		}
		res, err := replay.Run(ctx, tr, c)
		if progress {
			fmt.Fprintln(stderr)
		}
		if err != nil {
			return err
		}
		all = append(all, res...)
	}
	if err := replay.WriteTable(stdout, all); err != nil {
		return err
	}
	if *jsonOut != "" {
		if err := writeFile(*jsonOut, func(w io.Writer) error { return replay.WriteJSON(w, all) }); err != nil {
			return err
		}
	}
	if *plotOut != "" {
		axis := replay.ByCapacity
		if len(cfg.Leads) > 1 {
			axis = replay.ByLead
		}
		if err := writeFile(*plotOut, func(w io.Writer) error { return replay.Plot(w, all, axis) }); err != nil {
			return err
		}
	}
	return nil
}

// lineError is a bad trace line, its ways out named by the flags that
// set the library's ReadOptions.
type lineError struct{ *replay.LineError }

func (e lineError) Error() string {
	raise := ""
	switch e.Limit {
	case "MaxLineBytes":
		raise = ", raise --max-line-bytes"
	case "MaxRequestBlocks":
		raise = ", raise --max-request-blocks"
	}
	return fmt.Sprintf("replay: %s line %d: %v (fix the line%s, or pass --skip-bad to skip bad requests and count them)", e.Name, e.Line, e.Err, raise)
}

func (e lineError) Unwrap() error { return e.LineError }

// scenarios parses the capacity list and the restart capacity.
func scenarios(capacities, restart string) ([]replay.Scenario, error) {
	var scs []replay.Scenario
	for _, s := range splitList(capacities) {
		f, err := fraction(s)
		if err != nil {
			return nil, fmt.Errorf("replay: --sweep-capacity: %w", err)
		}
		scs = append(scs, replay.Scenario{Fraction: f})
	}
	if restart != "" && restart != "0" && restart != "none" {
		f, err := fraction(restart)
		if err != nil {
			return nil, fmt.Errorf("replay: --restart: %w", err)
		}
		scs = append(scs, replay.Scenario{Fraction: f, Restart: true})
	}
	if len(scs) == 0 {
		return nil, errors.New("replay: no capacity to replay: give --sweep-capacity or --restart")
	}
	return scs, nil
}

// fraction parses "0.1" or "10%".
func fraction(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if pct {
		f /= 100
	}
	if err != nil || !(f > 0) || f > 1e6 {
		return 0, fmt.Errorf("%q is not a capacity, want a fraction of the unique bytes > 0 (0.1) or a percent (10%%)", s)
	}
	return f, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// writeFile writes a file through write, reporting either failure.
func writeFile(path string, write func(io.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("replay: %w", cerr)
		}
	}()
	return write(f)
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
