package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/policy"
	"github.com/wombatkv/prefetch/server"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/snapshot"
	"github.com/wombatkv/prefetch/store"
)

// The HTTP server's timeouts: a slow or idle client cannot hold a
// connection without bound.
const (
	serveReadHeaderTimeout = 10 * time.Second
	serveReadTimeout       = 5 * time.Minute // a whole PUT body
	serveWriteTimeout      = 5 * time.Minute // a whole GET answer
	serveIdleTimeout       = 2 * time.Minute
)

// runServe runs `kvprefetch serve` until ctx ends (SIGTERM, Ctrl-C), then
// drains: /readyz fails, the listener closes, requests in flight finish
// (or are cut after the shutdown timeout), the pipelines stop (their
// fetches canceled), the index snapshot is written and the store closed.
// A clean drain returns nil: exit status 0.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	c, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	token, err := readToken(c.tokenFile)
	if err != nil {
		return usageError{err}
	}
	bg, err := c.background.spec()
	if err != nil {
		return err
	}
	hs, err := c.hints.spec()
	if err != nil {
		return err
	}

	cold, err := openCold(ctx, c.cold)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(c.cold, "file://") && !strings.Contains(c.cold, "create_dir") {
			return fmt.Errorf("serve: --cold: %w (create the directory, or add ?create_dir=true to the URL)", err)
		}
		return fmt.Errorf("serve: --cold: %w", err)
	}
	defer cold.Close()
	admission := c.admission
	if admission == "" && bg != nil {
		admission = bg.Admission()
	}
	st, err := store.Open(ctx, store.Config{FlatDir: c.flat, Cold: cold, FlatBudget: c.flatBudget, Admission: admission, Logger: log})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("serve: %w", cerr)
		}
	}()

	idx, err := index.New(index.Options{CountHalfLife: c.countHalfLife})
	if err != nil {
		return fmt.Errorf("serve: %w", err) // not reached: validate checked the half-life
	}
	restoreIndex(c.snapshot, idx, log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(st.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n, err := newServeNode(c, bg, hs, st, idx, reg, log)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{
		Store: st, Index: idx, Hints: n.intakes, Policies: n.policies, Token: token,
		MaxBlockBytes: c.maxBlockBytes, MaxHintBlocks: c.maxHintBlocks, DefaultNamespace: c.namespace,
		Gatherer: reg, Registerer: reg, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("serve: --listen: %w", err)
	}
	hsrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: serveReadHeaderTimeout,
		ReadTimeout:       serveReadTimeout,
		WriteTimeout:      serveWriteTimeout,
		IdleTimeout:       serveIdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// The workers and the snapshot loop run on their own context, ended
	// by the drain below, not by the signal: requests in flight still
	// find them running.
	wctx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	if err := n.start(wctx); err != nil {
		ln.Close()
		return fmt.Errorf("serve: %w", err)
	}
	var snaps sync.WaitGroup
	snaps.Go(func() { snapshotLoop(wctx, c.snapshot, c.snapshotInterval, idx, log) })

	served := make(chan error, 1)
	go func() { served <- hsrv.Serve(ln) }()
	fmt.Fprintf(stdout, "kvprefetch serve: listening on http://%s (flat %s, cold %s, index %d entries)\n", ln.Addr(), c.flat, c.cold, idx.Len())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	log.Info("serve: draining", "timeout", c.shutdownTimeout)
	srv.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	var errs []error
	if serveErr == nil {
		if err := hsrv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("serve: requests still in flight after --shutdown-timeout %v, cut: %w", c.shutdownTimeout, err))
			hsrv.Close()
		}
		<-served
	} else {
		errs = append(errs, fmt.Errorf("serve: %w", serveErr))
	}
	n.stop()
	stopWork()
	snaps.Wait()
	if wrote, err := index.SaveSnapshot(c.snapshot, idx); err != nil {
		errs = append(errs, fmt.Errorf("serve: %w", err))
	} else {
		log.Info("serve: index snapshot written", "path", c.snapshot, "entries", wrote)
	}
	return errors.Join(errs...)
}

// restoreIndex loads the snapshot at path into idx. A missing snapshot
// starts an empty index; a bad one is refused, said so, and the node
// starts with the flat tier's blocks alone (a read enters each in the
// index again): it never trusts part of a file.
func restoreIndex(path string, idx *index.Memory, log *slog.Logger) {
	removeStaleSnapshots(path, log)
	n, err := index.LoadSnapshot(path, idx)
	switch {
	case err == nil:
		log.Info("serve: index restored", "path", path, "entries", n)
	case errors.Is(err, fs.ErrNotExist):
		log.Info("serve: no index snapshot yet, starting with an empty index", "path", path)
	default:
		log.Error("serve: index snapshot refused, starting with an empty index: the flat tier's blocks are served and enter the index as they are read", "path", path, "err", err)
	}
}

// removeStaleSnapshots removes the temporary files a crash during
// index.SaveSnapshot left beside path (".<base>.tmp-*"): the store locks
// the flat directory, so no other serve writes them now.
func removeStaleSnapshots(path string, log *slog.Logger) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return // LoadSnapshot says what is wrong with the directory
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "."+base+".tmp-") && e.Type().IsRegular() {
			stale := filepath.Join(dir, e.Name())
			if err := os.Remove(stale); err != nil {
				log.Warn("serve: cannot remove a stale snapshot temporary file", "path", stale, "err", err)
				continue
			}
			log.Info("serve: removed a stale snapshot temporary file", "path", stale)
		}
	}
}

// snapshotLoop writes the index snapshot every interval until ctx ends.
func snapshotLoop(ctx context.Context, path string, every time.Duration, idx *index.Memory, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := index.SaveSnapshot(path, idx); err != nil {
				log.Error("serve: index snapshot failed; the previous one stays", "err", err)
			}
		}
	}
}

// serveNode is the pipelines serve runs, and what the handler reports
// of them.
type serveNode struct {
	workers  []*pipeline.Worker
	intakes  map[string]*snapshot.Hints
	policies []server.Policy
	started  []*pipeline.Worker
}

// newServeNode builds the background and hint pipelines (either may be
// nil: none) over the store and the index, with their metrics and cycle
// logs.
func newServeNode(c *serveConfig, bg, hs *policy.Spec, st *store.Store, idx *index.Memory, reg *prometheus.Registry, log *slog.Logger) (*serveNode, error) {
	n := &serveNode{}
	// One intake for the namespace, proposing a hinted block with the
	// index's metadata when it has some, and at once either way (a block
	// another node wrote is in cold, not yet in this node's index).
	intake := snapshot.NewHints(snapshot.HintsConfig{Lookup: func(h block.Hash) (block.Meta, bool) {
		m, _ := idx.Get(h)
		return m, true
	}})
	var wakes []func()
	for _, p := range []struct {
		name string
		spec *policy.Spec
	}{{"background", bg}, {"hints", hs}} {
		if p.spec == nil {
			continue
		}
		preg := prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": p.name}, reg)
		pe, err := emit.NewPrometheus(preg, emit.PrometheusOptions{})
		if err != nil {
			return nil, fmt.Errorf("serve: %s pipeline metrics: %w", p.name, err)
		}
		cl := new(server.CycleLog)
		env := policy.Env{Index: idx, Store: st, Logger: log, Emitters: []pipeline.Emitter{pe, cl}}
		if p.spec.UsesHints() {
			env.Hints = intake
		}
		cfg, err := p.spec.Build(env)
		if err != nil {
			return nil, usageError{fmt.Errorf("serve: %s policy: %w", p.name, err)}
		}
		cfg.Namespace = c.namespace
		pl, err := pipeline.New(cfg)
		if err != nil {
			return nil, usageError{fmt.Errorf("serve: %s policy %s: %w", p.name, p.spec.Name(), err)}
		}
		w := pipeline.NewWorker(pl)
		if p.spec.UsesHints() {
			wakes = append(wakes, w.Wake)
			if n.intakes == nil {
				n.intakes = map[string]*snapshot.Hints{c.namespace: intake}
				if _, err := emit.NewHintMetrics(reg, intake, emit.HintMetricsOptions{}); err != nil {
					return nil, fmt.Errorf("serve: hint metrics: %w", err)
				}
			}
		}
		n.workers = append(n.workers, w)
		n.policies = append(n.policies, server.Policy{Name: p.name, About: p.spec.About(), Cycles: cl})
	}
	intake.SetNotify(func() {
		for _, wake := range wakes {
			wake()
		}
	})
	return n, nil
}

// start starts every worker, or none.
func (n *serveNode) start(ctx context.Context) error {
	for _, w := range n.workers {
		if err := w.Start(ctx); err != nil {
			n.stop()
			return err
		}
		n.started = append(n.started, w)
	}
	return nil
}

// stop stops the started workers, canceling their fetches, and waits.
func (n *serveNode) stop() {
	for _, w := range n.started {
		w.Stop()
	}
	n.started = nil
}
