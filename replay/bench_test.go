package replay

import (
	"context"
	"errors"
	"io/fs"
	"testing"
)

// BenchmarkReplay replays five policies (the reference's) at one capacity,
// on the shared synthetic trace when it is beside the repository, else on
// a generated one; refs/s counts block references replayed, all policies
// together. Recorded in RESULTS.md, section 4.
func BenchmarkReplay(b *testing.B) {
	tr, err := ReadTraceFile(syntheticPath, false)
	if errors.Is(err, fs.ErrNotExist) {
		tr, err = Synthetic(SyntheticConfig{})
	}
	if err != nil {
		b.Fatal(err)
	}
	refs := 0
	for _, rq := range tr.Requests {
		refs += len(rq.HashIDs)
	}
	for _, par := range []int{1, 2} {
		b.Run(tr.Name+"/parallel="+string(rune('0'+par)), func(b *testing.B) {
			b.ReportAllocs()
			cfg := Config{Scenarios: []Scenario{{Fraction: 0.1}}, Parallelism: par}
			for b.Loop() {
				if _, err := Run(context.Background(), tr, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(5*refs)*float64(b.N)/b.Elapsed().Seconds(), "refs/s")
		})
	}
}
