package index_test

import (
	"fmt"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
)

// ScanColumns reads the last-access column in place: here, to find the
// most recently used block.
func ExampleMemory_ScanColumns() {
	x := index.NewMemory(nil)
	x.BulkLoad(func(yield func(block.Hash, block.Meta) bool) {
		for i, t := range []int64{10, 30, 20} {
			if !yield(block.Hash{byte(i + 1)}, block.Meta{LastAccessNs: t}) {
				return
			}
		}
	})
	var newest int64
	var h block.Hash
	x.ScanColumns(func(c index.Columns) bool {
		for i, t := range c.LastAccessNs {
			if t > newest {
				newest, h = t, c.Hashes[i]
			}
		}
		return true
	})
	fmt.Println(h[0], newest)
	// Output: 2 30
}
