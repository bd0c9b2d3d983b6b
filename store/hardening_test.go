package store

// Hardening, round two: a cold tier that lies about sizes.

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"testing"
)

// TestColdLyingSize: an endpoint that declares a huge object and sends
// 1 KiB costs the memory of what it sends. Get of a block too large for
// flat reads it into memory: a declared size past Config.MaxObjectBytes is
// refused before the body is read, and below it the buffer grows with the
// bytes received. A size that disagrees with the index's is refused
// before anything is read.
func TestColdLyingSize(t *testing.T) {
	ctx := context.Background()
	const sent = 1 << 10
	tests := []struct {
		name     string
		declared int64
		// expect is the index's PayloadBytes for a Materialize; -1 for a Get.
		expect     int64
		wantReason string
	}{
		{name: "get, declares 512 MiB", declared: 512 << 20, expect: -1, wantReason: ReasonSize},
		{name: "get, declares 1 TiB", declared: 1 << 40, expect: -1, wantReason: ReasonTooLarge},
		{name: "materialize, the index expects 1 KiB, declares 1 TiB", declared: 1 << 40, expect: sent, wantReason: ReasonSize},
		{name: "materialize, size unknown to the index, declares 1 TiB", declared: 1 << 40, expect: 0, wantReason: ReasonTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startS3(t)
			b := newBlock(t, sent)
			// A flat budget far below the declared sizes: Get reads the
			// object into memory instead of into a temporary file.
			s, flat := s3Store(t, f, Config{Cold: s3BucketNoRetry(t, f), FlatBudget: 1 << 20}, b)
			f.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
				if !isGet(r) {
					return false
				}
				rec := recorded(next, r)
				copyHeader(w, rec)
				w.Header().Set("Content-Length", strconv.FormatInt(tc.declared, 10))
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes()) // then the handler ends, short of Content-Length
				return true
			})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var err error
			if tc.expect < 0 {
				var got []byte
				got, err = s.Get(ctx, testNS, b.key())
				if got != nil {
					t.Errorf("Get returned %d bytes, want none", len(got))
				}
			} else {
				c := b.cand()
				c.Meta.PayloadBytes = uint64(tc.expect)
				_, _, err = s.Materialize(ctx, testNS, c)
			}
			runtime.ReadMemStats(&after)
			if got := reasonOf(err); got != tc.wantReason {
				t.Errorf("reason = %q (err %v), want %q", got, err, tc.wantReason)
			}
			const bound = 64 << 20
			if grew := after.TotalAlloc - before.TotalAlloc; grew > bound {
				t.Errorf("the call allocated %d MiB for a %d-byte body, want under %d MiB", grew>>20, sent, bound>>20)
			}
			if files := flatFiles(t, flat); len(files) != 0 {
				t.Errorf("flat holds %v, want nothing", keys(files))
			}
			if st := s.Stats(); st.Rejected == 0 {
				t.Errorf("Stats.Rejected = 0, want the refusal counted")
			}
		})
	}
}
