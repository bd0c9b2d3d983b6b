package replay

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkReplay runs the reference's matrix, its five policies under
// its five scenarios (25 replays), on each shipped trace, with one worker
// and with GOMAXPROCS; refs/s counts the block references replayed, all
// replays together (25 x the trace's). Recorded in RESULTS.md, sections 4
// and 7.
func BenchmarkReplay(b *testing.B) {
	for _, tc := range []struct{ name, path string }{
		{"arxiv", arxivPath},
		{"synthetic", syntheticPath},
	} {
		tr, err := ReadTraceFile(tc.path, false)
		if err != nil {
			b.Fatal(err)
		}
		refs := 0
		for _, rq := range tr.Requests {
			refs += len(rq.HashIDs)
		}
		replays := len(DefaultScenarios()) * len(DefaultPolicies())
		for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("trace=%s/workers=%d", tc.name, workers), func(b *testing.B) {
				b.ReportAllocs()
				cfg := Config{Parallelism: workers}
				for b.Loop() {
					res, err := Run(context.Background(), tr, cfg)
					if err != nil {
						b.Fatal(err)
					}
					if len(res) != replays {
						b.Fatalf("%d results, want %d (5 scenarios x 5 policies)", len(res), replays)
					}
				}
				b.ReportMetric(float64(replays*refs)*float64(b.N)/b.Elapsed().Seconds(), "refs/s")
			})
		}
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
