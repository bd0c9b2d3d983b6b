package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/samber/lo"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/replay"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

const replayAbout = `kvprefetch replay: compare prefetch policies on a request trace.

Replays a Mooncake JSONL trace (or a seeded synthetic one) against a
simulated node — a flat LRU tier, a cold tier, the metadata index — on a
virtual clock, with the real pipeline as the prefetcher, and prints how
much request stall each policy removes, as a share of what a clairvoyant
oracle removes. Defaults follow docs/replay-model.md and reproduce its
reference figures.

The table goes to stdout (unless --json - or --csv - takes it); --json
and --csv carry the results with their provenance: the module version,
the command line, each trace's name, size and SHA-256, and the settings.

A sweep spreads over machines with --shard I/N: the run's groups (one per
scenario and lead, each with all its policies and the baselines, so that
a shard's shares of the oracle are final) are cut into N contiguous
slices, and this run replays the I-th. Then
  kvprefetch replay merge [--plot F.png] [--json F] [--csv F] a.json b.json ...
prints the table and draws the plot of the shards' union, and refuses
files of other traces (by SHA-256) or other settings.

--policy FILE replays a policy of one's own beside the shipped ones: a
policy spec file (the JSON format of package policy; the presets' own
specs, in the module's policy/presets, make a start), named in the results
by its base name without the extension. A spec is the whole policy: --k,
--interval and --limit, which the shipped policies follow, do not apply.

Examples:
  kvprefetch replay --synthetic
  kvprefetch replay --trace replay/testdata/mooncake_arxiv_sample_1000.jsonl --plot capacity.png
  kvprefetch replay --trace t.jsonl --policies none,hint-v3,oracle-v3 --sweep-lead 0,250ms,500ms,1s,2s,5s --sweep-capacity 0.1 --restart 0 --plot lead.png
  kvprefetch replay --trace t.jsonl --sweep-lead 0,1s,2s --shard 2/3 --json shard2.json
  kvprefetch replay --trace t.jsonl --policies none,hint-v3,oracle-v3 --policy mine.json --sweep-lead 0,1s,2s

Policies:
`

// listFlag collects a repeated string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// replayRun is one "kvprefetch replay" after its flags: what to replay
// and where the results go.
type replayRun struct {
	cfg      replay.Config
	plan     []replay.Config // the runs on each trace: cfg, or a shard's
	shard    string
	ro       replay.ReadOptions
	traces   []string // --trace files
	syn      *replay.SyntheticConfig
	every    time.Duration
	json     *output
	csv      *output
	plot     *output
	toStdout bool         // --json - or --csv -: no table
	files    []fileRecord // the --policy files
}

// runReplay runs "kvprefetch replay" (and "kvprefetch replay merge").
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	if len(args) > 0 && args[0] == "merge" {
		return runReplayMerge(args[1:], stdout, stderr)
	}
	rr, err := parseReplay(args, stderr)
	if err != nil {
		return err
	}
	defer func() {
		for _, o := range []*output{rr.json, rr.csv, rr.plot} {
			o.discard()
		}
	}()

	// Read every trace before the run, so that a bad one stops it early.
	var (
		trs  []*replay.Trace
		recs []traceRecord
	)
	for _, path := range rr.traces {
		tr, rec, err := readTrace(ctx, path, rr.ro)
		if err != nil {
			return err
		}
		if s := tr.SkippedString(); s != "" {
			fmt.Fprintf(stderr, "replay: %s: skipped bad requests: %s\n", tr.Name, s)
		}
		trs, recs = append(trs, tr), append(recs, rec)
	}
	if rr.syn != nil {
		tr, err := replay.Synthetic(*rr.syn)
		if err != nil {
			return usageError{err}
		}
		trs, recs = append(trs, tr), append(recs, syntheticRecord(tr))
	}

	var rows []int
	for range trs {
		for _, c := range rr.plan {
			rows = append(rows, len(c.Scenarios)*max(len(c.Leads), 1)*len(c.Policies))
		}
	}
	prog := newProgress(stderr, isTerminal(stderr), rr.every, time.Now, rows)
	stop := prog.run(ctx)
	var all []replay.Result
	part := 0
	for _, tr := range trs {
		for _, c := range rr.plan {
			c.Progress = prog.part(part)
			part++
			res, err := replay.Run(ctx, tr, c)
			if err != nil {
				stop()
				prog.finish()
				return err
			}
			all = append(all, res...)
		}
	}
	stop()
	prog.finish()

	version, revision := moduleVersion()
	rec := &replayRecord{
		Version: version, Revision: revision,
		Command:  append([]string{"kvprefetch", "replay"}, args...),
		Traces:   recs,
		Settings: newSettingsRecord(rr.cfg, rr.ro, rr.files),
		Shard:    rr.shard,
		Results:  all,
	}
	return writeResults(stdout, rec, rr.toStdout, rr.json, rr.csv, rr.plot)
}

// writeResults writes the files, then prints the table (unless the data
// goes to stdout): a reader of the table that stops early (| head) does
// not cost the files.
func writeResults(stdout io.Writer, rec *replayRecord, toStdout bool, jsonOut, csvOut, plotOut *output) error {
	if err := plotOut.commit(stdout, func(w io.Writer) error { return writePlot(w, rec.Results) }); err != nil {
		return err
	}
	if err := jsonOut.commit(stdout, func(w io.Writer) error { return writeJSON(w, rec) }); err != nil {
		return err
	}
	if err := csvOut.commit(stdout, func(w io.Writer) error { return writeCSV(w, rec) }); err != nil {
		return err
	}
	if toStdout {
		return nil
	}
	return writeTable(stdout, rec.Results)
}

// readTrace reads the trace at path, hashing it on the way, and refuses
// one with no request.
func readTrace(ctx context.Context, path string, ro replay.ReadOptions) (*replay.Trace, traceRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, traceRecord{}, fmt.Errorf("replay: --trace: %w", err)
	}
	defer f.Close()
	ro.Name = filepath.Base(path)
	hr := newHashingReader(f)
	tr, err := replay.ReadTrace(ctx, hr, ro)
	if le := (*replay.LineError)(nil); errors.As(err, &le) {
		return nil, traceRecord{}, lineError{le}
	}
	if err != nil {
		return nil, traceRecord{}, err
	}
	if len(tr.Requests) == 0 {
		skipped := ""
		if s := tr.SkippedString(); s != "" {
			skipped = " (every line was bad and skipped: " + s + ")"
		}
		return nil, traceRecord{}, fmt.Errorf("replay: --trace %s holds no request%s: want a Mooncake JSONL trace, one request a line", path, skipped)
	}
	return tr, traceRecord{Name: tr.Name, Bytes: hr.n, SHA256: hr.sum(), Requests: len(tr.Requests), Skipped: tr.Skipped}, nil
}

// parseReplay parses and checks replay's flags, naming each bad one, and
// opens the output files, all before any work.
func parseReplay(args []string, stderr io.Writer) (*replayRun, error) {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		traces    listFlag
		synthetic = fs.Bool("synthetic", false, "replay a seeded synthetic trace (no file needed); with --trace, replay both")
		seed      = fs.Uint64("seed", 1, "seed of the synthetic trace")
		synReqs   = fs.Int("synthetic-requests", 4000, "requests in the synthetic trace")
		policies  = fs.String("policies", strings.Join(policyNames(replay.DefaultPolicies()), ","), "comma-separated policies to compare (see below)")
		capacity  = fs.String("sweep-capacity", "0.05,0.1,0.2,0.4", "flat capacities as fractions (or percents: 5%) of the trace's unique bytes")
		restart   = fs.String("restart", "0.2", "capacity of the restart scenario (flat emptied at the time midpoint); 0 for none")
		lead      = fs.Duration("lead", 0, "how long before it is served a request becomes visible as a hint")
		leads     = fs.String("sweep-lead", "", "comma-separated lead times to replay the hint policies at (e.g. 0,250ms,500ms,1s,2s,5s); overrides --lead")
		admission = fs.String("admission", "mru", "where a prefetched block enters the flat LRU: mru, lru, probation:F or guess:F:TTL (policies that set their own keep it)")
		jsonOut   = fs.String("json", "", "write the results and their provenance as JSON to `FILE` (- for stdout)")
		csvOut    = fs.String("csv", "", "write the results as CSV to `FILE` (- for stdout), the provenance in # lines above")
		plotOut   = fs.String("plot", "", "draw share of the oracle against capacity (or lead, with --sweep-lead) to `FILE.png`")
		shard     = fs.String("shard", "", "replay only the I-th of N slices of the run (`I/N`, 1 <= I <= N), for replay merge")
		every     = fs.Duration("progress-every", 5*time.Second, "on a stderr that is not a terminal, a progress line this often (0: none)")
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
		burst       = fs.Int("burst", replay.DefaultBurst, "depth of the GET budget's token bucket: the GETs banked in a quiet spell")
		maxInFlight = fs.Int("max-in-flight", replay.DefaultLimit, "budgeted (hint) policies: most GETs in flight at once, every cycle's counted")
		lease       = fs.String("lease", "", "hint policy: none, touch or pin a hinted block already in flat (empty: the preset's default, touch)")
		linkBW      = fs.Float64("link-bandwidth", 0, "put every GET (requests' loads first, then prefetches) on one shared link of `B` bytes per second; 0: none, each GET its own --get-bandwidth")
		halfLife    = fs.Duration("half-life", replay.DefaultHalfLife, "RFC 0008's recency half-life (rfc0008 and recency policies)")
		weights     = fs.String("rfc-weights", "1,0.3,0.2", "RFC 0008's weights: recency,chain-head,model")
	)
	var countHL time.Duration
	countHalfLifeFlag(fs, &countHL)
	fs.Var(&traces, "trace", "Mooncake JSONL trace `FILE` to replay (repeatable)")
	var policyFiles listFlag
	fs.Var(&policyFiles, "policy", "also replay the policy spec `FILE` (JSON, see package policy; repeatable), named by its base name")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), replayAbout)
		for _, p := range replay.Builtin() {
			fmt.Fprintf(fs.Output(), "  %-13s %s\n", p.Name, p.About)
		}
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}

	// Every flag the library would take a 0 of as its default is checked
	// here, so that --k 0 is an error rather than a silent 8.
	var errs []error
	bad := func(name, want string, v any) {
		errs = append(errs, fmt.Errorf("replay: --%s = %v, want %s (default %s)", name, v, want, fs.Lookup(name).DefValue))
	}
	for _, c := range []struct {
		name string
		v    int64
	}{{"k", int64(*k)}, {"limit", int64(*limit)}, {"burst", int64(*burst)}, {"max-in-flight", int64(*maxInFlight)}, {"block-tokens", int64(*blockTokens)},
		{"synthetic-requests", int64(*synReqs)}, {"max-line-bytes", int64(*maxLine)}, {"max-request-blocks", int64(*maxBlocks)}} {
		if c.v < 1 {
			bad(c.name, ">= 1", c.v)
		}
	}
	if *bpt < 1 || *bpt > 1<<34 {
		bad("bytes-per-token", "1..2^34", *bpt)
	}
	if *seed == 0 {
		bad("seed", ">= 1", *seed)
	}
	for _, c := range []struct {
		name string
		v    time.Duration
	}{{"get-latency", *latency}, {"interval", *interval}, {"half-life", *halfLife}} {
		if c.v <= 0 {
			bad(c.name, "> 0", c.v)
		}
	}
	if msg := checkCountHalfLife(countHL); msg != "" {
		errs = append(errs, errors.New("replay: "+msg))
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{"get-bandwidth", *bandwidth}, {"gets-per-second", *rate}} {
		if !(c.v > 0) || math.IsInf(c.v, 0) {
			bad(c.name, "a finite number > 0", c.v)
		}
	}
	if *lead < 0 {
		bad("lead", ">= 0", *lead)
	}
	if !(*linkBW >= 0) || math.IsInf(*linkBW, 0) {
		bad("link-bandwidth", "bytes per second, a finite number > 0 (0: no shared link)", *linkBW)
	}
	if *lease != "" {
		if _, err := snapshot.ParseLeaseMode(*lease); err != nil {
			errs = append(errs, fmt.Errorf("replay: --lease %q, want none, touch or pin (empty: the preset's default)", *lease))
		}
	}
	if *parallel < 0 {
		bad("parallel", ">= 0 (0: one per CPU)", *parallel)
	}
	if *every < 0 {
		bad("progress-every", ">= 0 (0: no progress lines)", *every)
	}
	adm, err := replay.ParseAdmission(*admission)
	if err != nil {
		errs = append(errs, fmt.Errorf("replay: --admission %q: %s", *admission, strings.TrimPrefix(err.Error(), "replay: ")))
	}
	cfg := replay.Config{
		Settings: replay.Settings{
			BlockTokens: *blockTokens, BytesPerToken: *bpt,
			GetLatency: *latency, GetBandwidth: *bandwidth,
			TopK: *k, Interval: *interval, Limit: *limit,
			Lead: *lead, Admission: adm,
			GetsPerSecond: *rate, Burst: *burst, MaxInFlight: *maxInFlight,
			Lease: snapshot.LeaseMode(*lease), LinkBandwidth: *linkBW,
			HalfLife: *halfLife, CountHalfLife: countHL,
		},
		Parallelism: *parallel,
	}
	if ws := splitList(*weights); len(ws) != 3 {
		errs = append(errs, fmt.Errorf("replay: --rfc-weights %q, want three numbers: recency,chain-head,model (e.g. 1,0.3,0.2)", *weights))
	} else {
		for i, w := range ws {
			v, err := strconv.ParseFloat(w, 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				errs = append(errs, fmt.Errorf("replay: --rfc-weights %q: %q is not a finite number", *weights, w))
			}
			cfg.Settings.Weights[i] = v
		}
		if cfg.Settings.Weights == [3]float64{} {
			errs = append(errs, fmt.Errorf("replay: --rfc-weights %q, want at least one weight other than 0 (default %s)", *weights, fs.Lookup("rfc-weights").DefValue))
		}
	}
	if scs, err := scenarios(*capacity, *restart); err != nil {
		errs = append(errs, err)
	} else {
		cfg.Scenarios = scs
	}
	if *leads != "" {
		for _, s := range splitList(*leads) {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				errs = append(errs, fmt.Errorf("replay: --sweep-lead %q: %q is not a lead time, want e.g. 0,250ms,1s", *leads, s))
				continue
			}
			cfg.Leads = append(cfg.Leads, d)
		}
	}
	builtin := strings.Join(policyNames(replay.Builtin()), ", ")
	names := splitList(*policies)
	if len(names) == 0 {
		errs = append(errs, fmt.Errorf("replay: --policies is empty, want some of %s", builtin))
	}
	for _, n := range names {
		p, err := replay.PolicyByName(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("replay: --policies: unknown policy %q, want one of %s", n, builtin))
			continue
		}
		if slices.ContainsFunc(cfg.Policies, func(q replay.Policy) bool { return q.Name == n }) {
			errs = append(errs, fmt.Errorf("replay: --policies lists %s twice", n))
			continue
		}
		cfg.Policies = append(cfg.Policies, p)
	}
	var files []fileRecord
	for _, path := range policyFiles {
		p, rec, err := loadPolicy(path)
		switch {
		case err != nil:
			errs = append(errs, err)
			continue
		case slices.Contains(policyNames(replay.Builtin()), p.Name):
			errs = append(errs, fmt.Errorf("replay: --policy %s is named %s, after its file, as a shipped policy is: rename the file", path, p.Name))
			continue
		case slices.ContainsFunc(cfg.Policies, func(q replay.Policy) bool { return q.Name == p.Name }):
			errs = append(errs, fmt.Errorf("replay: --policy %s is named %s, after its file, as an earlier --policy is: rename one of them", path, p.Name))
			continue
		}
		cfg.Policies = append(cfg.Policies, p)
		files = append(files, rec)
	}
	if len(traces) == 0 && !*synthetic {
		errs = append(errs, errors.New("replay: no trace given: pass --trace FILE (Mooncake JSONL, e.g. replay/testdata/mooncake_arxiv_sample_1000.jsonl) or --synthetic"))
	}
	if *plotOut != "" && !strings.HasSuffix(strings.ToLower(*plotOut), ".png") {
		errs = append(errs, fmt.Errorf("replay: --plot %q: the plot is a PNG, name it FILE.png", *plotOut))
	}
	if *jsonOut == "-" && *csvOut == "-" {
		errs = append(errs, errors.New("replay: --json - and --csv -: only one can go to standard output, name a file for the other"))
	}
	if len(errs) == 0 { // a backstop: the checks above should leave nothing
		if err := cfg.Settings.WithDefaults().Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	rr := &replayRun{
		cfg: cfg, plan: []replay.Config{cfg}, traces: traces, every: *every,
		ro:       replay.ReadOptions{SkipBad: *skipBad, MaxLineBytes: *maxLine, MaxRequestBlocks: *maxBlocks},
		toStdout: *jsonOut == "-" || *csvOut == "-",
		files:    files,
	}
	if *synthetic {
		rr.syn = &replay.SyntheticConfig{Seed: *seed, Requests: *synReqs}
	}
	if *shard != "" && len(errs) == 0 {
		sh, err := replay.ParseShard(*shard)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("replay: --shard %q, want I/N, the I-th of N slices with 1 <= I <= N (e.g. 2/4)", *shard))
		case sh.Count > cfg.Groups():
			errs = append(errs, fmt.Errorf("replay: --shard %s: the run cuts into at most %d shards, one per scenario and lead (%d scenarios x %d leads)",
				sh, cfg.Groups(), len(cfg.Scenarios), max(len(cfg.Leads), 1)))
		default:
			rr.shard = sh.String()
			rr.plan, _ = sh.Configs(cfg) // checked above
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, usageError{err}
	}
	// The files, last: a usage error above leaves none behind.
	var err1, err2, err3 error
	rr.json, err1 = openOutput("json", *jsonOut, true)
	rr.csv, err2 = openOutput("csv", *csvOut, true)
	rr.plot, err3 = openOutput("plot", *plotOut, false)
	if err := errors.Join(err1, err2, err3); err != nil {
		for _, o := range []*output{rr.json, rr.csv, rr.plot} {
			o.discard()
		}
		return nil, usageError{err}
	}
	return rr, nil
}

// loadPolicy reads the policy spec file at path (with the module's
// stages) and records it by its content.
func loadPolicy(path string) (replay.Policy, fileRecord, error) {
	spec, err := policy.Load(path, policy.Builtin())
	if errors.Is(err, iofs.ErrNotExist) {
		return replay.Policy{}, fileRecord{}, fmt.Errorf("replay: --policy %s: no such file, want a policy spec file (JSON, see package policy; the presets' specs are in policy/presets)", path)
	}
	if err != nil {
		return replay.Policy{}, fileRecord{}, fmt.Errorf("replay: --policy: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return replay.Policy{}, fileRecord{}, fmt.Errorf("replay: --policy: %w", err)
	}
	sum := sha256.Sum256(b)
	p := replay.FromSpec(spec)
	return p, fileRecord{Name: p.Name, File: filepath.Base(path), SHA256: hex.EncodeToString(sum[:])}, nil
}

// policyNames returns the policies' names.
func policyNames(ps []replay.Policy) []string {
	return lo.Map(ps, func(p replay.Policy, _ int) string { return p.Name })
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
	return lo.Compact(lo.Map(strings.Split(s, ","), func(p string, _ int) string { return strings.TrimSpace(p) }))
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
