package client_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/client"
)

// An engine's Go side stores a block, reads it back, and announces the
// blocks of a request it is about to schedule.
func Example() {
	dir, _ := os.MkdirTemp("", "kvprefetch-example-")
	defer os.RemoveAll(dir)
	url, _, stop, err := serve(dir, "") // kvprefetch serve --flat DIR --cold file:///DIR2
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	ctx := context.Background()
	c, err := client.New(url, client.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	head := block.Hash{1}
	if err := c.Put(ctx, "ns", head, []byte("kv bytes"), block.Meta{Seq: 0}); err != nil {
		fmt.Println(err)
		return
	}
	b, err := c.Get(ctx, "ns", head)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s from %s, %d bytes\n", b.Payload, b.Tier, b.Meta.PayloadBytes)

	res, err := c.Hint(ctx, client.HintGroup{Namespace: "ns", Blocks: []block.Hash{{2}, {3}}, Lead: 500 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("hints accepted:", res.Accepted)
	// Output:
	// kv bytes from flat, 8 bytes
	// hints accepted: 2
}
