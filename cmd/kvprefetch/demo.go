package main

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/store"
	"github.com/wombatkv/prefetch/store/gocloud"
)

// demoFlags are the demo's settings.
type demoFlags struct {
	preset       string
	namespace    string
	topK         int
	limit        int
	interval     time.Duration
	fetchTimeout time.Duration
	cycles       int
	blocks       int
	blockSize    sizeFlag
	latency      time.Duration
	seed         uint64
	cold         string
	flat         string
	flatBudget   sizeFlag
	admission    string
	metricsAddr  string
	keep         bool
}

const demoUsage = `Usage: kvprefetch demo [flags]

Runs a preset against real tiers: a flat directory in front of a cold
bucket. With no flags it creates a temporary cold bucket (file://) and flat
directory, seeds the cold tier with the blocks of a generated node (an
index of chained blocks from a few models, touched by simulated requests
while the worker cycles), runs v3 (parallel fetch), prints each cycle's
[MyelonInstr] line and a summary, and removes what it created.

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

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	f := demoFlags{blockSize: 64 << 10}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.preset, "preset", presets.NameV3, "preset to run: v1 (dry run), v2 (sequential fetch), v3 (parallel fetch) or warmup (only into free room)")
	fs.StringVar(&f.namespace, "namespace", pipeline.DefaultNamespace, "namespace of the blocks")
	fs.IntVar(&f.topK, "top-k", pipeline.DefaultTopK, "blocks selected per cycle")
	fs.IntVar(&f.limit, "limit", fetch.DefaultLimit, "v3: most fetches in flight")
	fs.DurationVar(&f.interval, "interval", pipeline.DefaultInterval, "time between cycles")
	fs.DurationVar(&f.fetchTimeout, "fetch-timeout", pipeline.DefaultFetchTimeout, "deadline of one fetch")
	fs.IntVar(&f.cycles, "cycles", 5, "cycles to run before stopping")
	fs.IntVar(&f.blocks, "blocks", 1000, "blocks in the generated index, all seeded in the cold tier")
	fs.Var(&f.blockSize, "block-size", "payload size of each block: bytes, or a number with a unit (64KiB, 2MiB, 1MB); at most "+sizeFlag(maxBlockSize).String()+", and no more than --flat-budget")
	fs.DurationVar(&f.latency, "latency", 0, "latency added to each fetch, to mimic a distant cold tier")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the generated node")
	fs.StringVar(&f.cold, "cold", "", "cold tier bucket URL: file:///dir, s3://bucket?region=..., mem:// (default: a temporary file:// bucket, removed at the end)")
	fs.StringVar(&f.flat, "flat", "", "flat tier directory, kept at the end (default: a temporary directory, removed at the end); one that holds files must have room in --flat-budget for them and every block of the run")
	fs.Var(&f.flatBudget, "flat-budget", "flat tier byte budget, least recently used blocks evicted past it (default 1GiB)")
	fs.StringVar(&f.admission, "admission", store.DefaultAdmission, `where a prefetched block enters flat's LRU order: "mru", "lru" or "probation:F"`)
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics while the demo runs (e.g. 127.0.0.1:9464)")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary tiers, and the objects seeded in a --cold bucket")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), demoUsage, sizeFlag(maxBlockSize))
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}

	start := time.Now()
	node := generateNode(f.seed, f.blocks, int64(f.blockSize), start)

	// The pipeline is built before the tiers exist, so that a config error
	// is reported before anything is created; its store is filled in once
	// they are open.
	var reg *prometheus.Registry
	var middleware []fetch.Middleware
	var emitters []pipeline.Emitter
	outcomes := make(chan *pipeline.Outcome, 1)
	emitters = append(emitters, emit.Func(func(o *pipeline.Outcome) { outcomes <- o }))
	if f.metricsAddr != "" {
		reg = prometheus.NewRegistry()
		pe, err := emit.NewPrometheus(reg, emit.PrometheusOptions{})
		if err != nil {
			return err
		}
		instrument, err := fetch.Instrument(reg, fetch.InstrumentOptions{})
		if err != nil {
			return err
		}
		emitters = append(emitters, pe)
		middleware = append(middleware, instrument)
	}
	if f.latency > 0 {
		middleware = append(middleware, withLatency(f.latency))
	}
	ds := &demoStore{}
	p, err := presets.New(f.preset, presets.Options{
		Index:        node.index,
		Store:        ds,
		Model:        node.models[0],
		Namespace:    f.namespace,
		TopK:         f.topK,
		Limit:        f.limit,
		Interval:     f.interval,
		FetchTimeout: f.fetchTimeout,
		InstrLog:     stdout,
		Emitters:     emitters,
	})
	if err != nil {
		return usageError{fmt.Errorf("demo: preset %s: %w", f.preset, err)}
	}
	if reg != nil {
		stopMetrics, err := serveMetrics(f.metricsAddr, reg, stderr)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}

	if err := f.checkFlatRoom(ctx); err != nil {
		return err
	}
	t, err := openTiers(ctx, &f, stderr)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := t.close(ctx, stderr); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	ds.Store, ds.m = t.store, t.store
	if len(middleware) > 0 {
		ds.m = fetch.Chain(middleware[0], middleware[1:]...)(t.store)
	}
	if reg != nil {
		if err := reg.Register(t.store.Collector()); err != nil {
			return fmt.Errorf("demo: register store metrics: %w", err)
		}
	}

	var sum demoSummary
	if f.preset == presets.NameV1 {
		fmt.Fprintln(stderr, "v1 is a dry run, it fetches nothing: the cold tier is not seeded")
	} else if err := t.seed(ctx, node, int64(f.blockSize), stderr); err != nil {
		if ctx.Err() != nil {
			sum.print(stdout, f.preset, t, time.Since(start))
			return ctx.Err()
		}
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { node.traffic(ctx, f.seed) })
	defer func() { cancel(); wg.Wait() }()

	w := pipeline.NewWorker(p)
	if err := w.Start(ctx); err != nil {
		return err
	}
	interrupted := false
wait:
	for sum.cycles < f.cycles {
		select {
		case o := <-outcomes:
			sum.add(o)
		case <-ctx.Done():
			interrupted = true
			break wait
		}
	}
	// Stop cancels the cycle in flight, which still emits: drain it, and
	// count it only when the user interrupted (it is then part of the run).
	stopped := make(chan struct{})
	go func() { w.Stop(); close(stopped) }()
	for done := false; !done; {
		select {
		case o := <-outcomes:
			if interrupted {
				sum.add(o)
			}
		case <-stopped:
			done = true
		}
	}
	sum.print(stdout, f.preset, t, time.Since(start))
	if interrupted {
		return ctx.Err()
	}
	return nil
}

func (f *demoFlags) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("demo: "+format, args...)) }
	if !slices.Contains(presets.Names(), f.preset) {
		bad("--preset: unknown preset %q, want one of %s", f.preset, strings.Join(presets.Names(), ", "))
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
	if f.interval <= 0 {
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
	cfg := store.Config{FlatDir: "flat", ColdURL: f.cold, FlatBudget: int64(f.flatBudget), Admission: f.admission}
	if cfg.ColdURL == "" {
		cfg.ColdURL = "file:///tmp"
	}
	if err := cfg.WithDefaults().Validate(); err != nil {
		problems := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			problems = j.Unwrap()
		}
		for _, e := range problems {
			if errors.Is(e, store.ErrUnsupportedScheme) {
				continue // the demo opens it through store/gocloud
			}
			e := strings.TrimPrefix(e.Error(), "store: ")
			e = strings.NewReplacer("ColdURL", "--cold", "FlatBudget", "--flat-budget", "Admission", "--admission").Replace(e)
			bad("%s", e)
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
	if v, ok := strings.CutPrefix(f.admission, "probation:"); ok {
		frac, err := strconv.ParseFloat(v, 64)
		if err != nil || frac <= 0 || frac >= 1 {
			return 0, ""
		}
		room = int64(frac * float64(budget))
		return room, fmt.Sprintf("the %s probation segment (%s of --flat-budget %s)", sizeFlag(room), v, sizeFlag(budget))
	}
	return budget, fmt.Sprintf("--flat-budget (%s)", sizeFlag(budget))
}

// demoStore is the store with its Materialize wrapped in the demo's
// middlewares; presence and in-flight questions go to the store itself.
// runDemo hands the preset an empty one and fills it in once the tiers
// are open, before the first cycle.
type demoStore struct {
	*store.Store
	m fetch.Materializer
}

func (d demoStore) Materialize(ctx context.Context, ns string, h block.Hash, meta block.Meta) (int64, bool, error) {
	return d.m.Materialize(ctx, ns, h, meta)
}

// withLatency delays each fetch by d, or until its context ends.
func withLatency(d time.Duration) fetch.Middleware {
	return func(next fetch.Materializer) fetch.Materializer {
		return fetch.MaterializerFunc(func(ctx context.Context, ns string, h block.Hash, meta block.Meta) (int64, bool, error) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return 0, false, ctx.Err()
			case <-t.C:
			}
			return next.Materialize(ctx, ns, h, meta)
		})
	}
}

// tiers are the demo's store and what it made to run it.
type tiers struct {
	store    *store.Store
	cold     store.Cold // the store's Config.Cold, closed by close
	coldURL  string
	flatDir  string
	tempDirs []string // created here, removed by close unless --keep
	userCold bool     // the cold bucket is the user's (--cold): close removes what seed wrote there
	keep     bool
	ns       string

	hashes   []block.Hash // the blocks seed was asked to write
	state    []seedState  // state[i]: what became of hashes[i]'s write
	seededN  int
	seededB  int64
	seedTook time.Duration
}

// openTiers opens the cold bucket and the flat directory the flags name,
// creating temporary ones for those they leave out.
func openTiers(ctx context.Context, f *demoFlags, stderr io.Writer) (_ *tiers, err error) {
	t := &tiers{coldURL: f.cold, flatDir: f.flat, userCold: f.cold != "", keep: f.keep, ns: f.namespace}
	defer func() {
		if err != nil {
			if rerr := t.removeTemp(stderr); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if t.coldURL == "" {
		dir, err := os.MkdirTemp("", "kvprefetch-cold-")
		if err != nil {
			return nil, fmt.Errorf("demo: create a temporary cold bucket: %w (set TMPDIR or pass --cold)", err)
		}
		t.tempDirs = append(t.tempDirs, dir)
		// The store's file:// tier writes its temporary files beside their
		// object, in dir, so a killed run leaves none loose in TMPDIR.
		t.coldURL = (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String() // a '#' or '?' in TMPDIR escaped
		fmt.Fprintf(stderr, "cold tier: %s (temporary)\n", t.coldURL)
	} else {
		fmt.Fprintf(stderr, "cold tier: %s\n", t.coldURL)
	}
	if t.flatDir == "" {
		dir, err := os.MkdirTemp("", "kvprefetch-flat-")
		if err != nil {
			return nil, fmt.Errorf("demo: create a temporary flat directory: %w (set TMPDIR or pass --flat)", err)
		}
		t.tempDirs = append(t.tempDirs, dir)
		t.flatDir = dir
		fmt.Fprintf(stderr, "flat tier: %s (temporary)\n", dir)
	} else {
		fmt.Fprintf(stderr, "flat tier: %s\n", t.flatDir)
	}
	t.cold, err = openCold(ctx, t.coldURL)
	if err != nil {
		return nil, fmt.Errorf("demo: open the cold tier %q: %w (check --cold)", t.coldURL, err)
	}
	t.store, err = store.Open(ctx, store.Config{
		FlatDir:    t.flatDir,
		Cold:       t.cold,
		FlatBudget: int64(f.flatBudget),
		Admission:  f.admission,
	})
	if err != nil {
		t.cold.Close()
		return nil, fmt.Errorf("demo: %w", err)
	}
	return t, nil
}

// openCold opens the cold tier at rawURL: file:// and mem:// as the store
// opens them itself, any other scheme (s3://) through store/gocloud.
func openCold(ctx context.Context, rawURL string) (store.Cold, error) {
	c, err := store.OpenCold(ctx, rawURL)
	if !errors.Is(err, store.ErrUnsupportedScheme) {
		return c, err
	}
	b, err := gocloud.Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// seedMemory bounds the payload bytes seeding holds at once; blocks larger
// than it are written one at a time.
const seedMemory = 64 << 20

// seedWorkers is how many blocks of size bytes seed writes at once: 16,
// fewer for blocks so large that 16 payloads would pass seedMemory, and
// at least 1.
func seedWorkers(size int64) int { return int(max(1, min(16, seedMemory/size))) }

// seedState is what became of one block's write to the cold tier.
type seedState uint8

const (
	notWritten seedState = iota // not tried, or refused by the bucket
	written
	maybeWritten // cut short by Ctrl-C: the bucket may have stored it
)

// seed writes every block of node, of size bytes, to the cold tier,
// seedWorkers(size) at a time, each payload generated just before its
// write. Once ctx ends (Ctrl-C) or a write fails it starts no other; ctx
// is passed to every write, so Ctrl-C stops it at once. A failure lets the
// writes in flight finish, so that close knows which blocks to remove.
func (t *tiers) seed(ctx context.Context, node *demoNode, size int64, stderr io.Writer) error {
	fmt.Fprintf(stderr, "seeding the cold tier: %d blocks of %s...\n", len(node.hashes), sizeFlag(size))
	start := time.Now()
	t.hashes = node.hashes
	t.state = make([]seedState, len(node.hashes))
	var failed atomic.Bool
	var g errgroup.Group
	g.SetLimit(seedWorkers(size))
	for i, h := range node.hashes {
		if ctx.Err() != nil || failed.Load() {
			break
		}
		g.Go(func() error {
			if failed.Load() {
				return nil // failed while this task waited for its turn
			}
			p, err := payload(ctx, h, size)
			if err != nil {
				return err
			}
			switch err := t.store.PutCold(ctx, t.ns, block.Key(h), p); {
			case err == nil:
				t.state[i] = written
			case ctx.Err() != nil:
				t.state[i] = maybeWritten
				return err
			default:
				failed.Store(true)
				return err
			}
			return nil
		})
	}
	err := g.Wait()
	for _, s := range t.state {
		if s == written {
			t.seededN++
		}
	}
	t.seededB, t.seedTook = int64(t.seededN)*size, time.Since(start)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil && t.seededN == 0:
		// The first writes failed: the bucket or its access is wrong.
		return fmt.Errorf("demo: seed the cold tier %s: %w%s", t.coldURL, err, coldHint(t.coldURL))
	case err != nil:
		return fmt.Errorf("demo: seed the cold tier %s: %w (after %d of %d blocks)", t.coldURL, err, t.seededN, len(t.hashes))
	}
	fmt.Fprintf(stderr, "seeded %d blocks (%s) in %v\n", t.seededN, sizeFlag(t.seededB), t.seedTook.Round(time.Millisecond))
	return nil
}

// coldHint says what to check when no block could be written to the cold
// bucket at url.
func coldHint(url string) string {
	if !strings.HasPrefix(url, "s3://") {
		return ""
	}
	return " (check the bucket, endpoint and region in --cold, and the credentials: add anonymous=true to the --cold URL for a public or unauthenticated server, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
}

// payload is block h's generated payload: size bytes of a ChaCha8 stream
// keyed by the hash, the same on every run. It is generated a MiB at a
// time, and abandoned when ctx ends.
func payload(ctx context.Context, h block.Hash, size int64) ([]byte, error) {
	const chunk = 1 << 20
	p := make([]byte, size)
	r := rand.NewChaCha8(h)
	for off := int64(0); off < size; off += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r.Read(p[off:min(off+chunk, size)])
	}
	return p, nil
}

// close closes the store and removes what the demo created, unless --keep:
// first the temporary tiers (local and quick), then the blocks seed wrote
// to a bucket the user named. It runs even when ctx has ended (Ctrl-C),
// and returns what it could not do.
func (t *tiers) close(ctx context.Context, stderr io.Writer) error {
	var errs []error
	if err := t.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("demo: %w", err))
	}
	errs = append(errs, t.removeTemp(stderr))
	if t.userCold && !t.keep {
		errs = append(errs, t.unseed(ctx, stderr))
	}
	if err := t.cold.Close(); err != nil {
		errs = append(errs, fmt.Errorf("demo: close the cold tier: %w", err))
	}
	return errors.Join(errs...)
}

// unseed deletes from the cold bucket the blocks seed wrote there, or may
// have (a missing one is no failure), and only those: a block the bucket
// refused may be another's. It gives up after a minute.
func (t *tiers) unseed(ctx context.Context, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	errs := make([]error, len(t.hashes))
	removed := make([]bool, len(t.hashes))
	var g errgroup.Group
	g.SetLimit(16)
	for i, h := range t.hashes {
		if t.state[i] == notWritten {
			continue
		}
		g.Go(func() error {
			switch err := t.cold.Delete(ctx, t.ns+"/"+block.Key(h)); {
			case err == nil:
				removed[i] = true
			case !errors.Is(err, iofs.ErrNotExist):
				errs[i] = err
			}
			return nil
		})
	}
	g.Wait()
	n, left, first := 0, 0, error(nil)
	for i, err := range errs {
		if removed[i] {
			n++
		}
		if err != nil {
			left++
			first = cmp.Or(first, err)
		}
	}
	if left > 0 {
		return fmt.Errorf("demo: remove the seeded blocks from %s: %d of %d left there: %w", t.coldURL, left, left+n, first)
	}
	if n > 0 {
		fmt.Fprintf(stderr, "removed the %d seeded blocks from %s\n", n, t.coldURL)
	}
	return nil
}

// removeTemp removes the temporary tiers, or says where they are kept.
func (t *tiers) removeTemp(stderr io.Writer) error {
	var errs []error
	for _, dir := range t.tempDirs {
		if t.keep {
			fmt.Fprintf(stderr, "kept %s\n", dir)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("demo: remove %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// serveMetrics serves reg at http://addr/metrics until the returned stop
// is called.
func serveMetrics(addr string, reg *prometheus.Registry, stderr io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageError{fmt.Errorf("demo: --metrics-addr %q: %w (want HOST:PORT, e.g. 127.0.0.1:9464)", addr, err)}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	fmt.Fprintf(stderr, "metrics: http://%s/metrics\n", ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	}, nil
}

// demoSummary totals the cycles the demo saw.
type demoSummary struct {
	cycles, scored, selected, skipped, fetched, failed int
	bytes                                              int64
	failedBy                                           map[string]int
	fetchTime                                          time.Duration
}

func (s *demoSummary) add(o *pipeline.Outcome) {
	s.cycles++
	s.scored += o.Scored
	s.selected += len(o.Selected)
	s.skipped += o.SkippedAlreadyFlat()
	s.fetched += o.Fetched
	s.failed += o.Failed
	s.bytes += o.BytesMaterialized
	s.fetchTime += o.Timings.Fetch
	for r, n := range o.FailedBy {
		if s.failedBy == nil {
			s.failedBy = map[string]int{}
		}
		s.failedBy[r] += n
	}
}

func (s *demoSummary) print(w io.Writer, preset string, t *tiers, took time.Duration) {
	fmt.Fprintf(w, "\nsummary: preset %s, %d cycles in %v\n", preset, s.cycles, took.Round(time.Millisecond))
	fmt.Fprintf(w, "  scored %d, selected %d, skipped already flat %d\n", s.scored, s.selected, s.skipped)
	var reasons []string
	for r, n := range s.failedBy {
		reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
	}
	sort.Strings(reasons)
	failed := fmt.Sprint(s.failed)
	if len(reasons) > 0 {
		failed += " (" + strings.Join(reasons, ", ") + ")"
	}
	fmt.Fprintf(w, "  fetched %d blocks (%d bytes, %s) in %v of fetch stage, failed %s\n", s.fetched, s.bytes, sizeFlag(s.bytes), s.fetchTime.Round(time.Millisecond), failed)
	st := t.store.Stats()
	fmt.Fprintf(w, "  flat tier: %d blocks, %d bytes (%s) of a %s budget, %d evicted\n", st.FlatBlocks, st.FlatBytes, sizeFlag(st.FlatBytes), sizeFlag(st.FlatBudget), st.Evicted)
	fmt.Fprintf(w, "  cold tier: %d blocks seeded (%s) in %v, %d GETs\n", t.seededN, sizeFlag(t.seededB), t.seedTook.Round(time.Millisecond), st.ColdGets)
}

// demoNode is a generated node's index.
type demoNode struct {
	index  *index.Memory
	models []block.ModelDigest
	hashes []block.Hash
}

// generateNode builds an index of n blocks of size bytes in chains: a few
// shared system prompts (chain heads, popular ones reused more) extended
// by conversations, across three models, last accessed up to an hour
// before now.
func generateNode(seed uint64, n int, size int64, now time.Time) *demoNode {
	rng := rand.New(rand.NewPCG(seed, 0x6b76707265666574))
	node := &demoNode{index: index.NewMemory(nil), models: make([]block.ModelDigest, 3)}
	for i := range node.models {
		node.models[i][0] = byte(i + 1)
	}
	newHash := func() block.Hash {
		var h block.Hash
		for i := 0; i < len(h); i += 8 {
			binary.LittleEndian.PutUint64(h[i:], rng.Uint64())
		}
		return h
	}
	add := func(h block.Hash, m block.Meta) {
		node.index.BulkLoad(func(yield func(block.Hash, block.Meta) bool) { yield(h, m) })
		node.hashes = append(node.hashes, h)
	}
	type prefix struct {
		hash  block.Hash
		meta  block.Meta
		model block.ModelDigest
	}
	var heads []prefix
	for len(node.hashes) < n {
		// One conversation: a system prompt (new, or a popular one
		// reused), then a few turns that extend the chain.
		var parent prefix
		if len(heads) == 0 || rng.IntN(4) == 0 {
			h := newHash()
			model := node.models[min(rng.IntN(5), 2)] // the first model is busiest
			m := block.Meta{Seq: 0, PayloadBytes: uint64(size), Model: model}
			m.LastAccessNs = now.Add(-time.Duration(rng.ExpFloat64() * float64(10*time.Minute))).UnixNano()
			add(h, m)
			parent = prefix{h, m, model}
			heads = append(heads, parent)
		} else {
			parent = heads[int(float64(len(heads))*math.Pow(rng.Float64(), 3))] // skewed popularity
		}
		turns := 1 + rng.IntN(6)
		for t := 0; t < turns && len(node.hashes) < n; t++ {
			h := newHash()
			m := block.Meta{Parent: parent.hash, Seq: parent.meta.Seq + 1, PayloadBytes: uint64(size), Model: parent.model}
			m.LastAccessNs = min(now.UnixNano(), parent.meta.LastAccessNs+int64(rng.IntN(int(time.Minute))))
			add(h, m)
			parent = prefix{h, m, parent.model}
		}
	}
	return node
}

// traffic touches random blocks, as requests on the node would, until ctx
// ends: recently read blocks rise in the next cycle's ranking.
func (n *demoNode) traffic(ctx context.Context, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.index.Touch(n.hashes[rng.IntN(len(n.hashes))])
		}
	}
}
