package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/stages/fetch"
	"github.com/wombatkv/prefetch/stages/filter"
)

// checkFlatRoom refuses a --flat directory whose files the run could
// evict. The store evicts least recently used blocks past the flat budget,
// when it opens (down to a budget smaller than what is there) and as the
// demo fetches; in a directory the demo did not create (a stopped node's
// cache, say) those blocks are not the demo's to drop. So a directory that
// holds files must have room in the budget for them and for every block
// the run may fetch: all of the node's, for v2, v3 and hints; none for
// warmup, which fetches only into free room, and v1, the dry run (and so
// for a policy, by its fetcher and filters). Every plain file counts, which
// is at least what the store counts.
func (f *demoFlags) checkFlatRoom(ctx context.Context, cfg pipeline.Config) error {
	if f.flat == "" {
		return nil
	}
	held, err := dirBytes(ctx, f.flat)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("demo: measure --flat %s: %w (the demo opens no flat directory it cannot measure: it might evict what is there)", f.flat, err)
	case held == 0:
		return nil
	}
	budget := f.budget()
	if held > budget {
		return fmt.Errorf("demo: --flat %s already holds %s (%d bytes), more than the flat budget of %s: opening it would evict blocks the demo did not write; pass --flat-budget %s or more, or an empty --flat directory",
			f.flat, sizeFlag(held), held, sizeFlag(budget), ceilSize(held))
	}
	if add := f.mayFetch(cfg); add > budget-held {
		need := int64(math.MaxInt64)
		if add <= math.MaxInt64-held {
			need = held + add
		}
		return fmt.Errorf("demo: --flat %s already holds %s (%d bytes), and this run may fetch %s more (%d blocks of %s), past the flat budget of %s: it would evict blocks the demo did not write; pass --flat-budget %s or more, fewer --blocks, --preset warmup (it fetches only into free room), or an empty --flat directory",
			f.flat, sizeFlag(held), held, sizeFlag(add), f.blocks, f.blockSize, sizeFlag(budget), ceilSize(need))
	}
	return nil
}

// mayFetch is the most payload bytes the run of cfg may fetch into flat:
// none for a dry run or a pipeline that fetches only into free room.
func (f *demoFlags) mayFetch(cfg pipeline.Config) int64 {
	if !f.readTraffic && (dryRun(cfg) || onlyIntoFreeRoom(cfg)) {
		return 0 // with --read-traffic, the reads may bring any block into flat
	}
	n, size := int64(f.blocks), int64(f.blockSize)
	if n > math.MaxInt64/size {
		return math.MaxInt64
	}
	return n * size
}

// dryRun reports whether cfg fetches nothing.
func dryRun(cfg pipeline.Config) bool {
	_, ok := cfg.Fetcher.(fetch.DryRun)
	return cfg.Fetcher == nil || ok
}

// onlyIntoFreeRoom reports whether cfg fetches only what fits in flat's
// free room, evicting nothing.
func onlyIntoFreeRoom(cfg pipeline.Config) bool {
	for _, fl := range cfg.Filters {
		if _, ok := fl.(*filter.FreeRoom); ok {
			return true
		}
	}
	return false
}

// dirBytes returns the bytes in the plain files under dir: 0 when dir
// does not exist or is not a directory (the store then says what is
// wrong). Like the store, it follows dir itself when it is a symbolic
// link, and no link below it.
func dirBytes(ctx context.Context, dir string) (int64, error) {
	root, err := filepath.EvalSymlinks(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return 0, err
	}
	var n int64
	err = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // removed meanwhile
		case err != nil:
			return err
		}
		n += fi.Size()
		return nil
	})
	return n, err
}
