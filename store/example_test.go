package store_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/store"
)

// A node opens its tiers, writes a block through them, and a second node
// sharing the cold tier prefetches it.
func ExampleOpen() {
	ctx := context.Background()
	flat, err := os.MkdirTemp("", "flat-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(flat)
	cold, err := os.MkdirTemp("", "cold-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(cold)

	s, err := store.Open(ctx, store.Config{
		FlatDir:    flat,
		ColdURL:    "file://" + cold,
		FlatBudget: 64 << 20, // 64 MiB of blocks in flat, least recently used evicted first
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	h := block.Hash{0x2a}
	payload := []byte("kv-cache pages")
	if err := s.Put(ctx, "tp-default", block.Key(h), payload); err != nil {
		log.Fatal(err)
	}
	got, err := s.Get(ctx, "tp-default", block.Key(h))
	fmt.Printf("get: %q %v\n", got, err)

	// Another node, its own flat dir, the same cold bucket.
	flat2, err := os.MkdirTemp("", "flat-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(flat2)
	s2, err := store.Open(ctx, store.Config{FlatDir: flat2, ColdURL: "file://" + cold})
	if err != nil {
		log.Fatal(err)
	}
	defer s2.Close()
	fmt.Println("in flat before:", s2.ContainsFlat(ctx, "tp-default", h))
	n, found, err := s2.Materialize(ctx, "tp-default", h, block.Meta{PayloadBytes: uint64(len(payload))})
	fmt.Println("materialize:", n, found, err)
	fmt.Println("in flat after:", s2.ContainsFlat(ctx, "tp-default", h))

	_, err = s2.Get(ctx, "../etc", block.Key(h))
	fmt.Println(err)
	// Output:
	// get: "kv-cache pages" <nil>
	// in flat before: false
	// materialize: 14 true <nil>
	// in flat after: true
	// store: block: bad namespace "../etc": byte '/' at offset 2, want only [A-Za-z0-9._-]
}

// A cold tier the store opens itself, here a directory: each object is a
// file at its key, its metadata (the payload's BLAKE3-256, "b3") a JSON
// file beside it, as gocloud.dev's fileblob lays them out. An S3 URL names
// the package that opens it.
func ExampleOpenCold() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "cold-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cold, err := store.OpenCold(ctx, "file://"+dir)
	if err != nil {
		log.Fatal(err)
	}
	defer cold.Close()
	flat, err := os.MkdirTemp("", "flat-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(flat)
	s, err := store.Open(ctx, store.Config{FlatDir: flat, Cold: cold})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	h := block.Hash{0x2a}
	if err := s.PutCold(ctx, "tp-default", block.Key(h), []byte("kv-cache pages")); err != nil {
		log.Fatal(err)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			fmt.Println(strings.Replace(filepath.ToSlash(rel), h.String(), "<64 hex>", 1))
		}
		return err
	})

	_, err = store.OpenCold(ctx, "s3://bucket?region=us-east-1")
	fmt.Println(errors.Is(err, store.ErrUnsupportedScheme))
	// Output:
	// tp-default/wombatkv/v1/block/b3=<64 hex>
	// tp-default/wombatkv/v1/block/b3=<64 hex>.attrs
	// true
}
