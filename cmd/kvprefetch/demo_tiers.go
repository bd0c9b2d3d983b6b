package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/store"
	"github.com/wombatkv/prefetch/store/gocloud"
)

// demoStore is the store with its Materialize wrapped in the demo's
// middlewares; presence and in-flight questions go to the store itself.
// runDemo hands the pipeline an empty one and fills it in once the tiers
// are open, before the first cycle. It remembers which blocks the
// pipeline fetched, for the summary of the hinted traffic.
type demoStore struct {
	*store.Store
	m fetch.Materializer

	mu      sync.Mutex
	fetched map[block.Hash]bool

	shadows *demoShadows // told of each read; nil without --shadow
}

// Get reads through the store, and tells the shadows of the read.
func (d *demoStore) Get(ctx context.Context, ns, key string) ([]byte, error) {
	data, err := d.Store.Get(ctx, ns, key)
	if err == nil {
		d.shadows.read(ns, key, len(data))
	}
	return data, err
}

func (d *demoStore) Materialize(ctx context.Context, ns string, h block.Hash, meta block.Meta) (int64, bool, error) {
	n, found, err := d.m.Materialize(ctx, ns, h, meta)
	if found && err == nil {
		d.mu.Lock()
		if d.fetched == nil {
			d.fetched = map[block.Hash]bool{}
		}
		d.fetched[h] = true
		d.mu.Unlock()
	}
	return n, found, err
}

// prefetched reports whether the pipeline fetched block h into flat.
func (d *demoStore) prefetched(h block.Hash) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fetched[h]
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
