package bench

import (
	"context"
	"io"
	"slices"
	"testing"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/presets"
)

// TestSeedCycleMatchesPresets: the reference and the default pipeline
// select the same blocks in the same order over both fixtures, so the
// benchmarks compare equal work.
func TestSeedCycleMatchesPresets(t *testing.T) {
	for _, ages := range []Ages{Random, Ascending} {
		for _, k := range []int{1, 8, 1024} {
			x := NewIndex(20000, ages, fixedClock)
			p, err := presets.New(presets.NameV1, presets.Options{Index: x, Model: Model(0), TopK: k, InstrLog: io.Discard, Clock: fixedClock})
			if err != nil {
				t.Fatal(err)
			}
			o := p.Run(context.Background())
			want, scored := SeedCycle(x, Now, Model(0), k)
			if o.Scored != scored || scored != 20000 {
				t.Errorf("%s k=%d: scored %d, seed approach %d, want 20000", ages, k, o.Scored, scored)
			}
			var got, wantH []block.Hash
			for i := range o.Selected {
				got = append(got, o.Selected[i].Hash)
			}
			for _, c := range want {
				wantH = append(wantH, c.Hash)
			}
			if !slices.Equal(got, wantH) {
				t.Errorf("%s k=%d: the preset and the seed approach select differently", ages, k)
			}
		}
	}
}
