package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"slices"
	"strings"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/internal/joined"
	"github.com/wombatkv/prefetch/internal/slru"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/store"
)

// demoFlags are the demo's settings.
type demoFlags struct {
	preset       string
	policy       string
	lead         time.Duration
	namespace    string
	topK         int
	limit        int
	interval     time.Duration
	fetchTimeout time.Duration
	cycles       int
	blocks       int
	blockSize    sizeFlag
	latency      time.Duration
	countHL      time.Duration // the index's access-count half-life, 0: none
	seed         uint64
	cold         string
	flat         string
	flatBudget   sizeFlag
	admission    string
	metricsAddr  string
	keep         bool
	readTraffic  bool
	shadowArgs   shadowFlag

	given         map[string]bool // the flags the command line set
	spec          *policy.Spec    // the --policy file, parsed
	shadows       []shadowSpec    // the --shadow candidates, checked
	admissionFrom string          // what set admission: the flag, or the policy
}

const demoUsage = `Usage: kvprefetch demo [flags]

Runs a preset, or a policy of one's own, against real tiers: a flat
directory in front of a cold bucket. With no flags it creates a temporary
cold bucket (file://) and flat directory, seeds the cold tier with the
blocks of a generated node (an index of chained blocks from a few models,
touched by simulated requests while the worker cycles), runs v3 (parallel
fetch), prints each cycle's [MyelonInstr] line and a summary, and removes
what it created.

--policy FILE runs a policy spec file instead of a preset (the JSON format
of package policy; the presets' own specs, in the module's policy/presets,
make a start). Its settings apply unless a flag given on the command line
says otherwise (--top-k, --interval, --fetch-timeout, --namespace,
--admission); its admission, when it has one, is the flat tier's. So too
for a preset: a flag left out leaves the setting to it.

--preset hints, or a policy that reads hints, fetches the blocks of the
requests the node knows about ahead: the simulated traffic then also sends
a request every %v (a block and the chain before it), announced as hints
--lead before it reads its blocks, and the summary says how many of those
reads flat served.

The summary (and stderr every %d cycles) tells what became of the blocks
the prefetcher put in flat, as the store counts them: useful (read while
in flat), late (a read joined their GET in flight) or wasted (they left
flat unread), with the precision, and the share of the node's reads the
prefetcher served. Only reads make a prefetch useful: --read-traffic has
the simulated requests read every block they touch through the store.

--shadow NAME_OR_FILE (repeatable) runs a candidate policy beside the
live one, in shadow: a preset or a policy spec file, cycling on the same
index (and hints) over a simulated flat tier of the same budget, fetching
nothing; its would-be fetches are checked against what the node then
reads, and the summary ends with a table comparing live and shadow
policies. The flags given on the command line that override a policy's
settings (--top-k, --interval, --fetch-timeout, --namespace) apply to the
candidates too, so that they differ from the live policy in policy alone.
A candidate that reads hints makes the traffic announce its requests.

Point it at real storage with --cold and --flat, e.g. an S3-compatible
server:

  kvprefetch demo --cold 's3://bucket?endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1' --flat /var/cache/kv

A --flat directory that already holds files (a stopped node's cache,
say) is never shrunk: the demo refuses it unless --flat-budget has room
for what is there and every block of the run, since the store evicts
least recently used blocks past the budget. Blocks are at most %s.

Ctrl-C stops it at once, mid-seeding or mid-fetch, with nothing partial
in flat, and removes what the demo created.

Flags:
`

// parseDemoFlags parses and validates the demo's command line.
func parseDemoFlags(args []string, stderr io.Writer) (*demoFlags, error) {
	f := &demoFlags{blockSize: 64 << 10}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.preset, "preset", presets.NameV3, "preset to run: v1 (dry run), v2 (sequential fetch), v3 (parallel fetch), warmup (only into free room) or hints (the blocks the traffic announces)")
	fs.StringVar(&f.policy, "policy", "", "policy spec file to run instead of a preset (JSON, see package policy)")
	fs.DurationVar(&f.lead, "lead", time.Second, "with a pipeline that reads hints: how long before reading its blocks the traffic announces a request")
	fs.StringVar(&f.namespace, "namespace", pipeline.DefaultNamespace, "namespace of the blocks")
	fs.IntVar(&f.topK, "top-k", pipeline.DefaultTopK, "blocks selected per cycle")
	fs.IntVar(&f.limit, "limit", fetch.DefaultLimit, "v3, warmup, hints: most fetches in flight (a policy sets its own)")
	fs.DurationVar(&f.interval, "interval", 0, fmt.Sprintf("time between cycles (default: the preset's or the policy's; %v, and %v for hints)", pipeline.DefaultInterval, presets.DefaultHintInterval))
	fs.DurationVar(&f.fetchTimeout, "fetch-timeout", pipeline.DefaultFetchTimeout, "deadline of one fetch")
	fs.IntVar(&f.cycles, "cycles", 5, "cycles to run before stopping; with hints, the worker then runs on while the requests announced are read")
	fs.IntVar(&f.blocks, "blocks", 1000, "blocks in the generated index, all seeded in the cold tier")
	fs.Var(&f.blockSize, "block-size", "payload size of each block: bytes, or a number with a unit (64KiB, 2MiB, 1MB); at most "+sizeFlag(maxBlockSize).String()+", and no more than --flat-budget")
	fs.DurationVar(&f.latency, "latency", 0, "latency added to each fetch, to mimic a distant cold tier")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the generated node")
	countHalfLifeFlag(fs, &f.countHL)
	fs.StringVar(&f.cold, "cold", "", "cold tier bucket URL: file:///dir, s3://bucket?region=..., mem:// (default: a temporary file:// bucket, removed at the end)")
	fs.StringVar(&f.flat, "flat", "", "flat tier directory, kept at the end (default: a temporary directory, removed at the end); one that holds files must have room in --flat-budget for them and every block of the run")
	fs.Var(&f.flatBudget, "flat-budget", "flat tier byte budget, least recently used blocks evicted past it (default 1GiB)")
	fs.StringVar(&f.admission, "admission", store.DefaultAdmission, `where a prefetched block enters flat's LRU order: "mru", "lru", "probation:F" or "guess:F:TTL"`)
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics while the demo runs (e.g. 127.0.0.1:9464)")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary tiers, and the objects seeded in a --cold bucket")
	fs.Var(&f.shadowArgs, "shadow", "a candidate policy to run in shadow beside the live one, fetching nothing: a preset name or a policy spec file; repeatable. The summary compares them")
	fs.BoolVar(&f.readTraffic, "read-traffic", false, "the simulated requests also read each block they touch through the store (from flat, else from cold, then published to flat), so that the summary can tell which prefetches were read")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), demoUsage, hintRequestEvery, summaryEvery, sizeFlag(maxBlockSize))
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	f.given = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	f.admissionFrom = "--admission"
	if f.given["policy"] && f.policy != "" && !f.given["preset"] {
		spec, err := policy.Load(f.policy, policy.Builtin())
		switch {
		case errors.Is(err, iofs.ErrNotExist):
			return nil, usageError{fmt.Errorf("demo: --policy %s: no such file, want a policy spec file (JSON, see package policy; the presets' specs are in policy/presets)", f.policy)}
		case err != nil:
			return nil, usageError{fmt.Errorf("demo: --policy: %w", err)}
		}
		f.spec = spec
		if a := spec.Admission(); a != "" && !f.given["admission"] {
			f.admission, f.admissionFrom = a, fmt.Sprintf("the admission of --policy %s", f.policy)
		}
	}
	shadows, serrs := parseShadows(f.shadowArgs)
	f.shadows = shadows
	if err := f.validate(); err != nil {
		var ue usageError
		if !errors.As(err, &ue) {
			return nil, err
		}
		serrs = append([]error{ue.err}, serrs...)
	}
	if len(serrs) > 0 {
		return nil, usageError{errors.Join(serrs...)}
	}
	return f, nil
}

// running names what the demo runs: "preset v3", "policy FILE".
func (f *demoFlags) running() string {
	if f.spec != nil {
		return "policy " + f.policy
	}
	return "preset " + f.preset
}

// announces reports whether the traffic announces its requests as hints:
// the live pipeline or a shadow reads them.
func (f *demoFlags) announces() bool {
	return f.readsHints() || slices.ContainsFunc(f.shadows, shadowSpec.readsHints)
}

// readsHints reports whether the live pipeline reads hints.
func (f *demoFlags) readsHints() bool {
	if f.spec != nil {
		return f.spec.UsesHints()
	}
	return f.preset == presets.NameHints
}

func (f *demoFlags) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("demo: "+format, args...)) }
	switch {
	case f.given["preset"] && f.given["policy"]:
		bad("--preset and --policy both given, want one: --preset NAME runs a shipped preset, --policy FILE a policy spec file")
	case f.given["policy"] && f.policy == "":
		bad("--policy is empty, want the name of a policy spec file")
	case f.spec == nil && !slices.Contains(presets.Names(), f.preset):
		bad("--preset: unknown preset %q, want one of %s", f.preset, strings.Join(presets.Names(), ", "))
	}
	if f.spec != nil && f.given["limit"] {
		bad("--limit sets a preset's fetches in flight, and %s sets its own (its fetcher's params.limit)", f.policy)
	}
	switch {
	case f.lead <= 0:
		bad("--lead = %v, want > 0", f.lead)
	case f.given["lead"] && !f.announces() && (f.spec != nil || slices.Contains(presets.Names(), f.preset)):
		bad("--lead: %s reads no hints, so the traffic announces nothing; want --preset hints or a --policy that uses hints (or a --shadow that does)", f.running())
	}
	if err := block.ValidateNamespace(f.namespace); err != nil {
		bad("--namespace: %v", err)
	}
	switch {
	case f.topK < 1:
		bad("--top-k = %d, want >= 1", f.topK)
	case f.topK > pipeline.MaxTopK:
		bad("--top-k = %d, want at most %d", f.topK, pipeline.MaxTopK)
	}
	if f.limit < 1 {
		bad("--limit = %d, want >= 1", f.limit)
	}
	if f.given["interval"] && f.interval <= 0 {
		bad("--interval = %v, want > 0", f.interval)
	}
	if f.fetchTimeout <= 0 {
		bad("--fetch-timeout = %v, want > 0", f.fetchTimeout)
	}
	if f.cycles < 1 {
		bad("--cycles = %d, want >= 1", f.cycles)
	}
	if f.blocks < 1 {
		bad("--blocks = %d, want >= 1", f.blocks)
	}
	switch room, segment := f.flatRoom(); {
	case f.blockSize < 1:
		bad("--block-size = %d, want >= 1 byte", f.blockSize)
	case f.blockSize > maxBlockSize:
		bad("--block-size = %s (%d bytes), want at most %s: the demo generates each block in memory", f.blockSize, int64(f.blockSize), sizeFlag(maxBlockSize))
	case room > 0 && int64(f.blockSize) > room:
		bad("--block-size = %s, more than %s: no block would fit in flat; want a smaller --block-size or a larger --flat-budget", f.blockSize, segment)
	}
	if f.latency < 0 {
		bad("--latency = %v, want >= 0", f.latency)
	}
	if msg := checkCountHalfLife(f.countHL); msg != "" {
		bad("%s", msg)
	}
	cfg := store.Config{FlatDir: "flat", ColdURL: f.cold, FlatBudget: int64(f.flatBudget), Admission: f.admission}
	if cfg.ColdURL == "" {
		cfg.ColdURL = "file:///tmp"
	}
	if err := cfg.WithDefaults().Validate(); err != nil {
		for _, e := range joined.Split(err) {
			if errors.Is(e, store.ErrUnsupportedScheme) {
				continue // the demo opens it through store/gocloud
			}
			// The store names its Config fields; the demo set them from
			// these flags.
			flags := map[string]string{"ColdURL": "--cold", "FlatBudget": "--flat-budget", "Admission": f.admissionFrom}
			var fe *store.FieldError
			if !errors.As(e, &fe) || flags[fe.Field] == "" {
				bad("%v", e) // a field no flag sets: the demo's own mistake
				continue
			}
			bad("%s %s", flags[fe.Field], fe.Problem)
		}
	}
	if len(errs) > 0 {
		return usageError{errors.Join(errs...)}
	}
	return nil
}

// maxBlockSize is the largest --block-size: seeding generates each block
// whole in memory before writing it.
const maxBlockSize = 256 << 20

// budget is the flat tier's byte budget, after the default.
func (f *demoFlags) budget() int64 {
	if f.flatBudget == 0 {
		return store.DefaultFlatBudget
	}
	return int64(f.flatBudget)
}

// flatRoom is the most bytes a prefetched block may have to enter flat,
// and what bounds it: the budget, or the probation segment's share of it
// with --admission probation:F. It is 0 when the flags are invalid
// (validate says why).
func (f *demoFlags) flatRoom() (room int64, what string) {
	budget := f.budget()
	if budget <= 0 {
		return 0, ""
	}
	if strings.HasPrefix(f.admission, slru.ModeProbation) {
		// The store's own parser and segment size (internal/slru).
		a, err := slru.ParseAdmission(f.admission)
		if err != nil {
			return 0, ""
		}
		room = a.ProbationBudget(budget)
		_, v, _ := strings.Cut(f.admission, ":")
		return room, fmt.Sprintf("the %s probation segment (%s of --flat-budget %s)", sizeFlag(room), v, sizeFlag(budget))
	}
	return budget, fmt.Sprintf("--flat-budget (%s)", sizeFlag(budget))
}
