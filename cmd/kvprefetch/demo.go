package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/shadow"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	f, err := parseDemoFlags(args, stderr)
	if err != nil {
		return err
	}

	start := time.Now()
	node := generateNode(f.seed, f.blocks, int64(f.blockSize), start, f.countHL)

	// The pipeline is built before the tiers exist, so that a config error
	// is reported before anything is created; its store is filled in once
	// they are open.
	var reg *prometheus.Registry
	var middleware []fetch.Middleware
	var emitters []pipeline.Emitter
	outcomes := make(chan *pipeline.Outcome, 1)
	var shadows *demoShadows // set before the worker starts
	emitters = append(emitters, emit.Func(func(o *pipeline.Outcome) {
		shadows.observe(o) // the live GET times
		outcomes <- o
	}))
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
	var hints *snapshot.Hints
	if f.readsHints() {
		hints = snapshot.NewHints(snapshot.HintsConfig{Lookup: node.index.Get})
	}
	w, err := f.worker(node, ds, hints, emitters, stdout, stderr)
	if err != nil {
		return err
	}
	cfg := w.Pipeline().Config()
	f.namespace = cfg.Namespace // the tiers' and the traffic's: the flag's, the policy's or the default
	if shadows, err = f.buildShadows(node); err != nil {
		return err
	}
	ds.shadows = shadows
	if reg != nil && len(shadows.list) > 0 {
		if _, err := shadow.NewMetrics(reg, shadows.list...); err != nil {
			return fmt.Errorf("demo: register shadow metrics: %w", err)
		}
	}
	if reg != nil {
		stopMetrics, err := serveMetrics(f.metricsAddr, reg, stderr)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}

	if err := f.checkFlatRoom(ctx, cfg); err != nil {
		return err
	}
	t, err := openTiers(ctx, f, stderr)
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
	if dryRun(cfg) {
		name := f.preset
		if f.spec != nil {
			name = f.policy
		}
		fmt.Fprintf(stderr, "%s is a dry run, it fetches nothing: the cold tier is not seeded\n", name)
	} else if err := t.seed(ctx, node, int64(f.blockSize), stderr); err != nil {
		if ctx.Err() != nil {
			sum.print(stdout, f.running(), t, time.Since(start))
			return ctx.Err()
		}
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var read func(context.Context, block.Hash)
	if f.readTraffic {
		sum.readers = "--read-traffic"
		read = func(ctx context.Context, h block.Hash) { ds.Get(ctx, f.namespace, block.Key(h)) } // the store counts what it served
	}
	wg.Go(func() { node.traffic(ctx, f.seed, read) })
	defer func() { cancel(); wg.Wait() }()
	if err := shadows.start(ctx); err != nil {
		return err
	}
	defer shadows.stop() // at once, when the run ends early
	// With hints, requests are also announced ahead and read.
	stopAnnouncing, hintsRead := make(chan struct{}), make(chan struct{})
	if f.announces() {
		sum.readers = "the hinted traffic"
		sum.hinted = &hintedTraffic{node: node, hints: hints, also: shadows.hints, store: ds, ns: f.namespace, lead: f.lead}
		wg.Go(func() {
			defer close(hintsRead)
			sum.hinted.run(ctx, stopAnnouncing, f.seed)
		})
	}

	if err := w.Start(ctx); err != nil {
		return err
	}
	interrupted := false
wait:
	for sum.cycles < f.cycles {
		select {
		case o := <-outcomes:
			sum.add(o)
			if sum.cycles%summaryEvery == 0 {
				// The Outcome stream's periodic summary of the accounting.
				fmt.Fprintf(stderr, "after %d cycles:\n%s", sum.cycles, prefetchSummary("  ", t.store.Stats().Prefetch, sum.readers))
			}
		case <-ctx.Done():
			interrupted = true
			break wait
		}
	}
	if sum.hinted != nil {
		// The requests announced by now are still read, and the worker
		// still fetches for them: its cycles count too.
		close(stopAnnouncing)
		for reading := !interrupted; reading; {
			select {
			case o := <-outcomes:
				sum.add(o)
			case <-hintsRead:
				reading = false
			case <-ctx.Done():
				interrupted, reading = true, false
			}
		}
		<-hintsRead // at once when interrupted: the summary reads its counts
	}
	// Stop cancels the cycle in flight, which still emits: drain it, and
	// count it only when the user interrupted (it is then part of the run);
	// otherwise only the blocks it still put in flat are told.
	stopped := make(chan struct{})
	go func() { w.Stop(); close(stopped) }()
	for done := false; !done; {
		select {
		case o := <-outcomes:
			if interrupted {
				sum.add(o)
			} else {
				sum.cutShort += o.Fetched
			}
		case <-stopped:
			done = true
		}
	}
	shadows.stop()
	sum.print(stdout, f.running(), t, time.Since(start))
	if len(shadows.list) > 0 {
		shadows.printTable(stdout, f.running(), sum.cycles, t.store.Stats().Prefetch, sum.getCost())
	}
	if interrupted {
		return ctx.Err()
	}
	return nil
}

// summaryEvery is how many cycles apart the demo writes the prefetch
// accounting's summary to stderr while it runs.
const summaryEvery = 10

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
