package bench

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/wombatkv/prefetch/index"
)

// BenchmarkCycleLarge is BenchmarkCycle's path=default (the v1 preset as
// a node runs it) and path=floor at N = 1e7, the index size of issue 12's
// targets (K = 8 within 1 ms, K = 1024 within 5 ms). Each index is built
// for its ages and dropped after them (1.5 GB each), and each cycle is
// checked, before timing, to select exactly what the seed's approach
// selects (which takes seconds at this size).
func BenchmarkCycleLarge(b *testing.B) {
	const n = 10_000_000
	for _, ages := range []Ages{Random, Ascending} {
		var x *index.Memory
		fix := func() *index.Memory {
			if x == nil {
				x = NewIndex(n, ages, fixedClock)
			}
			return x
		}
		for _, k := range []int{8, 1024} {
			prefix := fmt.Sprintf("n=%d/k=%d/ages=%s", n, k, ages)
			b.Run(prefix+"/path=default", func(b *testing.B) { benchDefault(b, fix(), k) })
			b.Run(prefix+"/path=floor", func(b *testing.B) {
				x := fix()
				b.ReportAllocs()
				for b.Loop() {
					sink += floorScan(x)
				}
			})
		}
		x = nil
		runtime.GC()
	}
}
