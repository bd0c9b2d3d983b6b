package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"
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

// BenchmarkReadTraceLongLine reads one request of n hash ids (a chain of
// new ids); ns/id stays flat as n doubles when reading is linear in the
// line. Recorded in RESULTS.md, section 6.
func BenchmarkReadTraceLongLine(b *testing.B) {
	for _, n := range []int{100000, 200000, 400000} {
		line := []byte(chainLine(0, seqIDs(0, uint64(n))...))
		b.Run(fmt.Sprintf("ids=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				if _, err := ReadTrace(context.Background(), bytes.NewReader(line), ReadOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/id")
		})
	}
}

// BenchmarkReplayGap replays every policy (gapConfig: 3 scenarios, 21
// replays) over two requests an hour, a day and a year apart: the cost
// stays flat, as only the cycles that can change something run (cycles/op
// counts the model's, ran/op those run). Recorded in RESULTS.md, section 6.
func BenchmarkReplayGap(b *testing.B) {
	for _, gap := range []struct {
		name string
		d    time.Duration
	}{{"1h", time.Hour}, {"1d", 24 * time.Hour}, {"1y", 365 * 24 * time.Hour}} {
		tr := gapTrace(gap.d)
		b.Run("gap="+gap.name, func(b *testing.B) {
			b.ReportAllocs()
			var cycles, ran int
			for b.Loop() {
				res, err := Run(context.Background(), tr, gapConfig())
				if err != nil {
					b.Fatal(err)
				}
				cycles, ran = 0, 0
				for _, r := range res {
					cycles, ran = cycles+r.Cycles, ran+r.ran
				}
			}
			b.ReportMetric(float64(cycles), "cycles/op")
			b.ReportMetric(float64(ran), "ran/op")
		})
	}
}
