package gocloud_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"

	"gocloud.dev/blob/memblob"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/store"
	"github.com/wombatkv/prefetch/store/gocloud"
)

// A node whose cold tier is S3 opens it here and hands it to the store (a
// mem:// bucket stands in for "s3://bucket?region=us-east-1").
func ExampleOpen() {
	ctx := context.Background()
	cold, err := gocloud.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer cold.Close() // the store does not close a Config.Cold
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
	n, found, err := s.Materialize(ctx, "tp-default", h, block.Meta{})
	fmt.Println("materialize:", n, found, err)
	// Output:
	// materialize: 14 true <nil>
}

// A bucket built with a driver's own options (an S3 client with its own
// retries, say, through s3blob.OpenBucket) is adapted with New.
func ExampleNew() {
	ctx := context.Background()
	cold := gocloud.New(memblob.OpenBucket(nil)) // Close closes the bucket too
	defer cold.Close()
	if err := cold.WriteAll(ctx, "tp-default/k", []byte("kv"), map[string]string{"b3": "..."}); err != nil {
		log.Fatal(err)
	}
	body, size, meta, err := cold.NewReader(ctx, "tp-default/k")
	if err != nil {
		log.Fatal(err)
	}
	body.Close()
	fmt.Println(size, meta)
	_, _, _, err = cold.NewReader(ctx, "tp-default/missing")
	fmt.Println(errors.Is(err, fs.ErrNotExist))
	// Output:
	// 2 map[b3:...]
	// true
}
