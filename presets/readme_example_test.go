package presets_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/store"
)

// Example_embed is the README's embedding example: a node's metadata index,
// its two tiers, and the v3 preset running in the background.
func Example_embed() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "prefetch-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cold := "file://" + filepath.Join(dir, "cold") + "?create_dir=true"

	// Another node wrote three blocks to the shared cold tier; this node's
	// index knows them (from the router, say), its flat tier does not.
	other, err := store.Open(ctx, store.Config{FlatDir: filepath.Join(dir, "other"), ColdURL: cold})
	if err != nil {
		log.Fatal(err)
	}
	idx := index.NewMemory(nil)
	for i := range 3 {
		h := block.Hash{31: byte(i + 1)}
		payload := fmt.Appendf(nil, "kv-cache block %d", i)
		if err := other.Put(ctx, "tp-default", block.Key(h), payload); err != nil {
			log.Fatal(err)
		}
		idx.Insert(h, block.Meta{Seq: uint32(i), PayloadBytes: uint64(len(payload))})
	}
	other.Close()

	// This node: its flat directory in front of the same cold bucket (in
	// production an S3 bucket, opened with store/gocloud and passed as
	// Config.Cold).
	st, err := store.Open(ctx, store.Config{FlatDir: filepath.Join(dir, "flat"), ColdURL: cold})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	first := make(chan *pipeline.Outcome, 1)
	w, err := presets.Worker(presets.NameV3, presets.Options{
		Index:    idx,
		Store:    st,
		Interval: time.Minute,
		Emitters: []pipeline.Emitter{emit.Func(func(o *pipeline.Outcome) {
			select {
			case first <- o:
			default:
			}
		})},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer w.Stop()

	o := <-first
	fmt.Printf("fetched %d blocks, %d bytes, %d failed\n", o.Fetched, o.BytesMaterialized, o.Failed)
	fmt.Println("in flat:", st.ContainsFlat(ctx, "tp-default", block.Hash{31: 1}))
	// Output:
	// fetched 3 blocks, 48 bytes, 0 failed
	// in flat: true
}
