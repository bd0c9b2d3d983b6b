package store

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zeebo/blake3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/store/gocloud"
)

// coldBackend opens a cold tier for the conformance suite: the Config
// fields that reach it, and a tier on the same storage for the test to
// seed and inspect. Where two implementations share a storage (the
// store's file:// tier and gocloud.dev's fileblob), the test seeds through
// the other one.
type coldBackend struct {
	name string
	open func(t *testing.T) (cfg Config, seed Cold)
}

func coldBackends() []coldBackend {
	return []coldBackend{
		{"mem", func(t *testing.T) (Config, Cold) {
			c := openCold(t, "mem://")
			return Config{FlatDir: t.TempDir(), Cold: c}, c
		}},
		{"file", func(t *testing.T) (Config, Cold) {
			u := "file://" + t.TempDir()
			return Config{FlatDir: t.TempDir(), ColdURL: u}, gocloud.New(openBucket(t, u+"?no_tmp_dir=true"))
		}},
		{"gocloud-mem", func(t *testing.T) (Config, Cold) {
			c := gocloud.New(memblob.OpenBucket(nil))
			t.Cleanup(func() { c.Close() })
			return Config{FlatDir: t.TempDir(), Cold: c}, c
		}},
		{"gocloud-file", func(t *testing.T) (Config, Cold) {
			u := "file://" + t.TempDir()
			return Config{FlatDir: t.TempDir(), Cold: gocloud.New(openBucket(t, u+"?no_tmp_dir=true"))}, openCold(t, u)
		}},
		{"s3", func(t *testing.T) (Config, Cold) {
			f := startS3(t)
			return Config{FlatDir: t.TempDir(), ColdURL: f.url()}, gocloud.New(openBucket(t, f.url()))
		}},
	}
}

// openCold opens a cold tier of the store's own, closed at cleanup.
func openCold(t *testing.T, u string) Cold {
	t.Helper()
	c, err := OpenCold(context.Background(), u)
	if err != nil {
		t.Fatalf("OpenCold %s: %v", u, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func openBucket(t *testing.T, u string) *blob.Bucket {
	t.Helper()
	b, err := blob.OpenBucket(context.Background(), u)
	if err != nil {
		t.Fatalf("open bucket %s: %v", u, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func sumOf(p []byte) string {
	s := blake3.Sum256(p)
	return hex.EncodeToString(s[:])
}

// seedObject writes payload as block b's cold object with metadata meta.
func seedObject(t *testing.T, cold Cold, b testBlock, payload []byte, meta map[string]string) {
	t.Helper()
	if err := cold.WriteAll(context.Background(), testNS+"/"+b.key(), payload, meta); err != nil {
		t.Fatalf("seed %s: %v", b.key(), err)
	}
}

// TestConformance runs every tier behaviour against every cold backend.
func TestConformance(t *testing.T) {
	ctx := context.Background()
	for _, be := range coldBackends() {
		t.Run(be.name, func(t *testing.T) {
			t.Run("put then get and fetch", func(t *testing.T) {
				cfg, seed := be.open(t)
				s := open(t, cfg)
				b := newBlock(t, 100_000)
				if err := s.Put(ctx, testNS, b.key(), b.payload); err != nil {
					t.Fatalf("Put: %v", err)
				}
				body, size, meta, err := seed.NewReader(ctx, testNS+"/"+b.key())
				if err != nil {
					t.Fatalf("cold object after Put: %v", err)
				}
				data, err := io.ReadAll(body)
				body.Close()
				if err != nil || size != int64(len(b.payload)) {
					t.Fatalf("cold object after Put: %d bytes declared, read %d bytes, %v; want %d", size, len(data), err, len(b.payload))
				}
				mustEqual(t, "cold object after Put", b.payload, data)
				if diff := cmp.Diff(sumOf(b.payload), meta[ChecksumKey]); diff != "" {
					t.Errorf("cold b3 metadata mismatch (-want +got):\n%s", diff)
				}
				if !s.ContainsFlat(ctx, testNS, b.hash) {
					t.Errorf("ContainsFlat after Put = false, want true")
				}
				got, err := s.Get(ctx, testNS, b.key())
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				mustEqual(t, "Get", b.payload, got)
				if gets := s.Stats().ColdGets; gets != 0 {
					t.Errorf("ColdGets after a flat Get = %d, want 0", gets)
				}

				// A second node on the same cold tier fetches it.
				cfg.FlatDir = t.TempDir()
				s2 := open(t, cfg)
				n, found, err := s2.Materialize(ctx, testNS, b.hash, b.meta())
				if err != nil || !found || n != int64(len(b.payload)) {
					t.Fatalf("Materialize = %d, %v, %v; want %d, true, nil", n, found, err, len(b.payload))
				}
				if diff := cmp.Diff(wantFlat(b), flatBlocks(t, cfg.FlatDir)); diff != "" {
					t.Errorf("flat mismatch (-want +got):\n%s", diff)
				}
				n, found, err = s2.Materialize(ctx, testNS, b.hash, b.meta())
				if err != nil || !found || n != int64(len(b.payload)) {
					t.Fatalf("second Materialize = %d, %v, %v; want %d, true, nil", n, found, err, len(b.payload))
				}
				st := s2.Stats()
				if diff := cmp.Diff(Stats{FlatBlocks: 1, FlatBytes: int64(len(b.payload)), FlatBudget: DefaultFlatBudget, ColdGets: 1, Published: 1}, st, ignorePrefetch); diff != "" {
					t.Errorf("Stats mismatch (-want +got):\n%s", diff)
				}
			})

			t.Run("get fetches from cold", func(t *testing.T) {
				cfg, seed := be.open(t)
				s := open(t, cfg)
				b := newBlock(t, 5000)
				seedObject(t, seed, b, b.payload, map[string]string{ChecksumKey: sumOf(b.payload)})
				got, err := s.Get(ctx, testNS, b.key())
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				mustEqual(t, "Get", b.payload, got)
				if diff := cmp.Diff(wantFlat(b), flatBlocks(t, cfg.FlatDir)); diff != "" {
					t.Errorf("flat mismatch (-want +got):\n%s", diff)
				}
			})

			t.Run("miss", func(t *testing.T) {
				cfg, _ := be.open(t)
				s := open(t, cfg)
				b := newBlock(t, 10)
				n, found, err := s.Materialize(ctx, testNS, b.hash, b.meta())
				if n != 0 || found || err != nil {
					t.Errorf("Materialize of a missing block = %d, %v, %v; want 0, false, nil", n, found, err)
				}
				if _, err := s.Get(ctx, testNS, b.key()); !errors.Is(err, ErrNotFound) {
					t.Errorf("Get of a missing block: err = %v, want ErrNotFound", err)
				}
				if got := flatFiles(t, cfg.FlatDir); len(got) != 0 {
					t.Errorf("flat after a miss holds %d files, want none", len(got))
				}
			})

			t.Run("zero-byte block", func(t *testing.T) {
				cfg, _ := be.open(t)
				s := open(t, cfg)
				b := newBlock(t, 0)
				if err := s.Put(ctx, testNS, b.key(), nil); err != nil {
					t.Fatalf("Put: %v", err)
				}
				got, err := s.Get(ctx, testNS, b.key())
				if err != nil || len(got) != 0 {
					t.Fatalf("Get = %d bytes, %v; want 0 bytes, nil", len(got), err)
				}
			})

			t.Run("rejected objects", func(t *testing.T) {
				tests := []struct {
					name       string
					stored     func(b testBlock) []byte // the object's body
					meta       func(b testBlock) map[string]string
					expect     int64 // PayloadBytes; -1 for the block's size
					require    bool
					wantReason string // "" for accepted
					unverified uint64
				}{
					{
						name:   "verified",
						stored: func(b testBlock) []byte { return b.payload },
						meta:   func(b testBlock) map[string]string { return map[string]string{ChecksumKey: sumOf(b.payload)} },
						expect: -1,
					},
					{
						name:   "verified, size unknown to the index",
						stored: func(b testBlock) []byte { return b.payload },
						meta:   func(b testBlock) map[string]string { return map[string]string{ChecksumKey: sumOf(b.payload)} },
						expect: 0,
					},
					{
						name:       "corrupt: payload differs from b3",
						stored:     func(b testBlock) []byte { c := clone(b.payload); c[len(c)/2] ^= 1; return c },
						meta:       func(b testBlock) map[string]string { return map[string]string{ChecksumKey: sumOf(b.payload)} },
						expect:     -1,
						wantReason: ReasonCorrupt,
					},
					{
						name:       "corrupt: b3 is not hex",
						stored:     func(b testBlock) []byte { return b.payload },
						meta:       func(b testBlock) map[string]string { return map[string]string{ChecksumKey: "not-a-checksum"} },
						expect:     -1,
						wantReason: ReasonCorrupt,
					},
					{
						name:       "corrupt: b3 is empty",
						stored:     func(b testBlock) []byte { return b.payload },
						meta:       func(b testBlock) map[string]string { return map[string]string{ChecksumKey: ""} },
						expect:     -1,
						wantReason: ReasonCorrupt,
					},
					{
						name:   "corrupt: b3 in uppercase",
						stored: func(b testBlock) []byte { return b.payload },
						meta: func(b testBlock) map[string]string {
							return map[string]string{ChecksumKey: strings.ToUpper(sumOf(b.payload))}
						},
						expect:     -1,
						wantReason: ReasonCorrupt,
					},
					{
						name:   "short: object smaller than the index says",
						stored: func(b testBlock) []byte { return b.payload[:len(b.payload)-1] },
						meta: func(b testBlock) map[string]string {
							return map[string]string{ChecksumKey: sumOf(b.payload[:len(b.payload)-1])}
						},
						expect:     -1,
						wantReason: ReasonSize,
					},
					{
						name:   "long: object larger than the index says",
						stored: func(b testBlock) []byte { return append(clone(b.payload), 0) },
						meta: func(b testBlock) map[string]string {
							return map[string]string{ChecksumKey: sumOf(append(clone(b.payload), 0))}
						},
						expect:     -1,
						wantReason: ReasonSize,
					},
					{
						name:       "unverified, size matches: accepted",
						stored:     func(b testBlock) []byte { return b.payload },
						meta:       func(testBlock) map[string]string { return nil },
						expect:     -1,
						unverified: 1,
					},
					{
						name:       "unverified, size differs",
						stored:     func(b testBlock) []byte { return b.payload[1:] },
						meta:       func(testBlock) map[string]string { return nil },
						expect:     -1,
						wantReason: ReasonSize,
					},
					{
						name:       "unverified, checksum required",
						stored:     func(b testBlock) []byte { return b.payload },
						meta:       func(testBlock) map[string]string { return nil },
						expect:     -1,
						require:    true,
						wantReason: ReasonUnverified,
					},
				}
				for _, tc := range tests {
					t.Run(tc.name, func(t *testing.T) {
						cfg, seed := be.open(t)
						cfg.RequireChecksum = tc.require
						s := open(t, cfg)
						b := newBlock(t, 70_000)
						seedObject(t, seed, b, tc.stored(b), tc.meta(b))
						c := b.cand()
						if tc.expect >= 0 {
							c.Meta.PayloadBytes = uint64(tc.expect)
						}
						n, found, err := s.Materialize(ctx, testNS, c.Hash, c.Meta)
						if got := reasonOf(err); got != tc.wantReason {
							t.Fatalf("Materialize reason = %q (err %v), want %q", got, err, tc.wantReason)
						}
						want := map[block.Hash][]byte{}
						if tc.wantReason == "" {
							if !found || n != int64(len(b.payload)) {
								t.Errorf("Materialize = %d, %v; want %d, true", n, found, len(b.payload))
							}
							want = wantFlat(b)
						} else if found || n != 0 {
							t.Errorf("failed Materialize = %d, %v; want 0, false", n, found)
						}
						if diff := cmp.Diff(want, flatBlocks(t, cfg.FlatDir)); diff != "" {
							t.Errorf("flat mismatch (-want +got):\n%s", diff)
						}
						st := s.Stats()
						if st.Unverified != tc.unverified {
							t.Errorf("Stats.Unverified = %d, want %d", st.Unverified, tc.unverified)
						}
						wantRej := uint64(0)
						if tc.wantReason != "" {
							wantRej = 1
						}
						if st.Rejected != wantRej {
							t.Errorf("Stats.Rejected = %d, want %d", st.Rejected, wantRej)
						}
					})
				}
			})

			t.Run("get refuses a corrupt object", func(t *testing.T) {
				cfg, seed := be.open(t)
				s := open(t, cfg)
				b := newBlock(t, 1000)
				bad := clone(b.payload)
				bad[0] ^= 0xff
				seedObject(t, seed, b, bad, map[string]string{ChecksumKey: sumOf(b.payload)})
				got, err := s.Get(ctx, testNS, b.key())
				if reasonOf(err) != ReasonCorrupt || got != nil {
					t.Errorf("Get = %d bytes, %v; want nil, a %q error", len(got), err, ReasonCorrupt)
				}
				if got := flatFiles(t, cfg.FlatDir); len(got) != 0 {
					t.Errorf("flat holds %v, want nothing", keys(got))
				}
			})

			t.Run("a size no tier holds keeps the flat copy", func(t *testing.T) {
				cfg, _ := be.open(t)
				s := open(t, cfg)
				b := newBlock(t, 1000)
				if err := s.Put(ctx, testNS, b.key(), b.payload); err != nil {
					t.Fatal(err)
				}
				m := b.meta()
				m.PayloadBytes = 1<<63 + 1 // negative as an int64
				if _, _, err := s.Materialize(ctx, testNS, b.hash, m); reasonOf(err) != ReasonTooLarge {
					t.Errorf("Materialize reason = %q (err %v), want %q", reasonOf(err), err, ReasonTooLarge)
				}
				if diff := cmp.Diff(wantFlat(b), flatBlocks(t, cfg.FlatDir)); diff != "" {
					t.Errorf("flat mismatch (-want +got):\n%s", diff)
				}
			})

			t.Run("too large for the budget", func(t *testing.T) {
				cfg, seed := be.open(t)
				cfg.FlatBudget = 1000
				s := open(t, cfg)
				b := newBlock(t, 1001)
				seedObject(t, seed, b, b.payload, map[string]string{ChecksumKey: sumOf(b.payload)})
				if _, _, err := s.Materialize(ctx, testNS, b.hash, b.meta()); reasonOf(err) != ReasonTooLarge {
					t.Errorf("Materialize reason = %q (err %v), want %q", reasonOf(err), err, ReasonTooLarge)
				}
				c := b.cand()
				c.Meta.PayloadBytes = 0 // unknown to the index: found out from the object
				if _, _, err := s.Materialize(ctx, testNS, c.Hash, c.Meta); reasonOf(err) != ReasonTooLarge {
					t.Errorf("Materialize (size unknown) reason = %q (err %v), want %q", reasonOf(err), err, ReasonTooLarge)
				}
				got, err := s.Get(ctx, testNS, b.key())
				if err != nil {
					t.Fatalf("Get of a block larger than flat: %v", err)
				}
				mustEqual(t, "Get", b.payload, got)
				b2 := newBlock(t, 2000)
				if err := s.Put(ctx, testNS, b2.key(), b2.payload); err != nil {
					t.Fatalf("Put of a block larger than flat: %v", err)
				}
				if got := flatFiles(t, cfg.FlatDir); len(got) != 0 {
					t.Errorf("flat holds %v, want nothing", keys(got))
				}
				if body, _, _, err := seed.NewReader(ctx, testNS+"/"+b2.key()); err != nil {
					t.Errorf("cold after Put of a block larger than flat: %v", err)
				} else {
					body.Close()
				}
			})
		})
	}
}

func clone(p []byte) []byte { return append([]byte(nil), p...) }

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestFetchStage runs the store under the fetch stage's strategies and
// checks the reasons the cycle counts.
func TestFetchStageReasons(t *testing.T) {
	ctx := context.Background()
	cold := openCold(t, "mem://")
	flat := t.TempDir()
	s := open(t, Config{FlatDir: flat, Cold: cold})
	good, corrupt, missing := newBlock(t, 4096), newBlock(t, 4096), newBlock(t, 4096)
	seedObject(t, cold, good, good.payload, map[string]string{ChecksumKey: sumOf(good.payload)})
	seedObject(t, cold, corrupt, good.payload, map[string]string{ChecksumKey: sumOf(corrupt.payload)})
	cands := []pipeline.Candidate{good.cand(), corrupt.cand(), missing.cand()}
	for _, f := range fetchers(s) {
		t.Run(f.name, func(t *testing.T) {
			res := f.f.Fetch(ctx, &pipeline.Cycle{Namespace: testNS, FetchTimeout: 10 * time.Second}, cands)
			var got []string
			for _, r := range res {
				got = append(got, r.Reason)
			}
			if diff := cmp.Diff([]string{"", ReasonCorrupt, pipeline.FailMiss}, got); diff != "" {
				t.Errorf("reasons mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantFlat(good), flatBlocks(t, flat)); diff != "" {
				t.Errorf("flat mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
