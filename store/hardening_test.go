package store

// Hardening, round two: a cold tier that lies about sizes, a flat
// directory that holds symlinks, files that changed after they were
// published, and a lock file deleted under a running store.

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
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
				_, _, err = s.Materialize(ctx, testNS, c.Hash, c.Meta)
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

// flatSums lists the blocks under dir by hash, each as its size and
// BLAKE3-256 (so that a diff stays short), failing the test if any other
// plain file is there. Unlike flatBlocks it follows no symlink: it reads
// plain files only.
func flatSums(t testing.TB, dir string) map[block.Hash]string {
	t.Helper()
	sums := make(map[block.Hash]string)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || d.Name() == lockName {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		h, herr := block.ParseKey(block.KeyPrefix + parts[len(parts)-1])
		if len(parts) != 3 || herr != nil || parts[1] != parts[2][:2] {
			t.Errorf("flat holds %s, want only <ns>/<2 hex>/<64 hex> block files", rel)
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sums[h] = fmt.Sprintf("%d bytes, b3 %s", len(data), sumOf(data))
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return sums
}

func wantSums(blocks ...testBlock) map[block.Hash]string {
	sums := make(map[block.Hash]string)
	for _, b := range blocks {
		sums[b.hash] = fmt.Sprintf("%d bytes, b3 %s", len(b.payload), sumOf(b.payload))
	}
	return sums
}

// symlinkEnv is a flat dir beside a directory outside it, which no call of
// the store may write, read or delete.
type symlinkEnv struct {
	flat, outside string
	before        map[string][]byte // the outside's files when the test set it up
}

func newSymlinkEnv(t *testing.T) *symlinkEnv {
	t.Helper()
	parent := t.TempDir()
	e := &symlinkEnv{flat: filepath.Join(parent, "flat"), outside: filepath.Join(parent, "outside")}
	for _, d := range []string{e.flat, e.outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// plant writes a file outside the root (rel to it) and records it.
func (e *symlinkEnv) plant(t *testing.T, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(e.outside, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// seal records what the outside holds now.
func (e *symlinkEnv) seal(t *testing.T) { t.Helper(); e.before = outsideFiles(t, e.outside) }

// checkOutside fails the test if anything outside the root changed.
func (e *symlinkEnv) checkOutside(t *testing.T) {
	t.Helper()
	if diff := cmp.Diff(e.before, outsideFiles(t, e.outside)); diff != "" {
		t.Errorf("outside the flat root changed (-before +after):\n%s", diff)
	}
}

// outsideFiles lists every path under dir with its content (nil for a
// directory).
func outsideFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte)
	for _, rel := range listTree(t, dir) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() {
			files[rel] = nil
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[rel] = data
	}
	return files
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// blockPath is block b's flat path under root.
func blockPath(root string, b testBlock) string {
	return filepath.Join(root, name{ns: testNS, hex: b.hash.String()}.rel())
}

// TestFlatSymlinks plants symlinks where flat keeps its blocks, before
// Open and while the store runs: no read, write, rename or delete reaches
// outside the root, and Open counts what it skipped.
func TestFlatSymlinks(t *testing.T) {
	ctx := context.Background()

	t.Run("namespace directory links outside: Put writes nothing there", func(t *testing.T) {
		e := newSymlinkEnv(t)
		symlink(t, e.outside, filepath.Join(e.flat, testNS))
		e.seal(t)
		s := open(t, Config{FlatDir: e.flat})
		if st := s.Stats(); st.Irregular != 1 {
			t.Errorf("Stats.Irregular after Open = %d, want 1 (the namespace symlink)", st.Irregular)
		}
		b := newBlock(t, 1000)
		err := s.Put(ctx, testNS, b.key(), b.payload)
		if reasonOf(err) != ReasonFlatWrite || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("Put through a symlinked namespace dir: err = %v, want a %q error naming the symlink", err, ReasonFlatWrite)
		}
		got, err := s.Get(ctx, testNS, b.key())
		if err != nil {
			t.Fatalf("Get: %v (cold holds the block)", err)
		}
		mustEqual(t, "Get", b.payload, got)
		if st := s.Stats(); st.FlatBlocks != 0 || st.FlatBytes != 0 {
			t.Errorf("Stats = %d blocks, %d bytes in flat; want none", st.FlatBlocks, st.FlatBytes)
		}
		e.checkOutside(t)
	})

	t.Run("block path links to a file: Get serves the block, not the file", func(t *testing.T) {
		for _, where := range []string{"outside", "inside"} {
			t.Run(where, func(t *testing.T) {
				e := newSymlinkEnv(t)
				s := open(t, Config{FlatDir: e.flat})
				b, other := newBlock(t, 1000), newBlock(t, 1000)
				for _, x := range []testBlock{b, other} {
					if err := s.Put(ctx, testNS, x.key(), x.payload); err != nil {
						t.Fatal(err)
					}
				}
				target := blockPath(e.flat, other) // another block, of the same size
				if where == "outside" {
					target = e.plant(t, "secret", []byte(strings.Repeat("s", 1000)))
				}
				e.seal(t)
				p := blockPath(e.flat, b)
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				symlink(t, target, p)
				if s.ContainsFlat(ctx, testNS, b.hash) {
					t.Errorf("ContainsFlat of a block whose file is a symlink = true, want false")
				}
				got, err := s.Get(ctx, testNS, b.key())
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				mustEqual(t, "Get", b.payload, got)
				if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
					t.Errorf("block path after Get: %v, %v; want the block refetched as a plain file", fi, err)
				}
				if diff := cmp.Diff(wantSums(b, other), flatSums(t, e.flat)); diff != "" {
					t.Errorf("flat mismatch (-want +got):\n%s", diff)
				}
				if st := s.Stats(); st.Irregular != 1 || st.ColdGets != 1 {
					t.Errorf("Stats.Irregular = %d, ColdGets = %d; want 1 (the symlink), 1 (the refetch)", st.Irregular, st.ColdGets)
				}
				e.checkOutside(t)
			})
		}
	})

	t.Run("fan-out directory swapped for a symlink: eviction deletes nothing outside", func(t *testing.T) {
		e := newSymlinkEnv(t)
		s := open(t, Config{FlatDir: e.flat, FlatBudget: 1000})
		a, b := newBlock(t, 1000), newBlock(t, 1000)
		a.hash[0], b.hash[0] = 0xaa, 0xbb
		if err := s.Put(ctx, testNS, a.key(), a.payload); err != nil {
			t.Fatal(err)
		}
		fan := filepath.Dir(blockPath(e.flat, a))
		e.plant(t, "aa/"+a.hash.String(), []byte("not the store's"))
		e.seal(t)
		if err := os.RemoveAll(fan); err != nil {
			t.Fatal(err)
		}
		symlink(t, filepath.Join(e.outside, "aa"), fan)
		if err := s.Put(ctx, testNS, b.key(), b.payload); err != nil { // evicts a
			t.Fatal(err)
		}
		if st := s.Stats(); st.Evicted != 1 || st.FlatBlocks != 1 {
			t.Errorf("Stats.Evicted = %d, FlatBlocks = %d; want 1, 1", st.Evicted, st.FlatBlocks)
		}
		e.checkOutside(t)
	})

	t.Run("dangling lock-file symlink: Open creates nothing outside", func(t *testing.T) {
		e := newSymlinkEnv(t)
		e.seal(t)
		symlink(t, filepath.Join(e.outside, "lock"), filepath.Join(e.flat, lockName))
		s, err := Open(ctx, Config{FlatDir: e.flat, ColdURL: "mem://"})
		if err == nil {
			s.Close()
			t.Errorf("Open with a symlinked lock file succeeded, want an error")
		} else if !strings.Contains(err.Error(), "symlink") || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("Open: err = %v, want one naming the symlink and saying to remove it", err)
		}
		e.checkOutside(t)
	})

}

// TestFlatContentChecked: a block file that changed after it was published
// (truncated, grown, deleted), or a file planted under a block's name, is
// never served nor counted as in flat: the store drops it and fetches the
// block afresh.
func TestFlatContentChecked(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		damage  func(t *testing.T, path string, b testBlock)
		damaged uint64 // Stats.Damaged
	}{
		{"truncated", func(t *testing.T, p string, b testBlock) {
			if err := os.Truncate(p, int64(len(b.payload)/2)); err != nil {
				t.Fatal(err)
			}
		}, 1},
		{"grown", func(t *testing.T, p string, b testBlock) {
			if err := os.WriteFile(p, append(clone(b.payload), "more"...), 0o644); err != nil {
				t.Fatal(err)
			}
		}, 1},
		{"deleted", func(t *testing.T, p string, b testBlock) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, 1},
	}
	for _, tc := range tests {
		for _, call := range []string{"get", "materialize", "contains"} {
			t.Run(tc.name+"/"+call, func(t *testing.T) {
				flat := t.TempDir()
				s := open(t, Config{FlatDir: flat})
				b := newBlock(t, 1000)
				if err := s.Put(ctx, testNS, b.key(), b.payload); err != nil {
					t.Fatal(err)
				}
				tc.damage(t, blockPath(flat, b), b)
				switch call {
				case "get":
					got, err := s.Get(ctx, testNS, b.key())
					if err != nil {
						t.Fatalf("Get: %v", err)
					}
					mustEqual(t, "Get", b.payload, got)
				case "materialize":
					n, found, err := s.Materialize(ctx, testNS, b.hash, b.meta())
					if err != nil || !found || n != int64(len(b.payload)) {
						t.Fatalf("Materialize = %d, %v, %v; want %d, true, nil", n, found, err, len(b.payload))
					}
				case "contains":
					if s.ContainsFlat(ctx, testNS, b.hash) {
						t.Errorf("ContainsFlat = true, want false")
					}
					if _, _, err := s.Materialize(ctx, testNS, b.hash, b.meta()); err != nil {
						t.Fatal(err)
					}
				}
				if diff := cmp.Diff(wantSums(b), flatSums(t, flat)); diff != "" {
					t.Errorf("flat mismatch (-want +got):\n%s", diff)
				}
				want := Stats{FlatBlocks: 1, FlatBytes: 1000, FlatBudget: DefaultFlatBudget, ColdGets: 1, Published: 2, Damaged: tc.damaged}
				if diff := cmp.Diff(want, s.Stats(), ignorePrefetch); diff != "" {
					t.Errorf("Stats mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}

	t.Run("planted while the store runs", func(t *testing.T) {
		flat := t.TempDir()
		s := open(t, Config{FlatDir: flat})
		b := newBlock(t, 1000)
		if err := s.PutCold(ctx, testNS, b.key(), b.payload); err != nil {
			t.Fatal(err)
		}
		p := blockPath(flat, b)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat("x", 1000)), 0o644); err != nil {
			t.Fatal(err)
		}
		if s.ContainsFlat(ctx, testNS, b.hash) {
			t.Errorf("ContainsFlat of a planted file = true, want false")
		}
		got, err := s.Get(ctx, testNS, b.key())
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		mustEqual(t, "Get", b.payload, got)
		if diff := cmp.Diff(wantSums(b), flatSums(t, flat)); diff != "" {
			t.Errorf("flat mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("the index expects another size", func(t *testing.T) {
		flat := t.TempDir()
		s := open(t, Config{FlatDir: flat})
		b := newBlock(t, 1000)
		if err := s.Put(ctx, testNS, b.key(), b.payload); err != nil {
			t.Fatal(err)
		}
		c := b.cand()
		c.Meta.PayloadBytes = 2000
		n, found, err := s.Materialize(ctx, testNS, c.Hash, c.Meta)
		if found || n != 0 || reasonOf(err) != ReasonSize {
			t.Errorf("Materialize = %d, %v, %v; want 0, false and a %q error (cold holds 1000 bytes too)", n, found, err, ReasonSize)
		}
		if st := s.Stats(); st.Damaged != 1 || st.FlatBlocks != 0 {
			t.Errorf("Stats.Damaged = %d, FlatBlocks = %d; want 1, 0", st.Damaged, st.FlatBlocks)
		}
	})
}

// TestFlatDirLockFileDeleted: deleting the lock file under a running store
// does not let a second store open the directory, and a lock file that is
// not a plain file is refused.
func TestFlatDirLockFileDeleted(t *testing.T) {
	ctx := context.Background()
	t.Run("deleted while the first store runs", func(t *testing.T) {
		flat := t.TempDir()
		s := open(t, Config{FlatDir: flat})
		if err := os.Remove(filepath.Join(flat, lockName)); err != nil {
			t.Fatal(err)
		}
		s2, err := Open(ctx, Config{FlatDir: flat, ColdURL: "mem://"})
		if err == nil {
			s2.Close()
			t.Fatalf("second Open after the lock file was deleted succeeded, want an in-use error")
		}
		if !strings.Contains(err.Error(), "in use by another store") {
			t.Errorf("second Open: err = %v, want an in-use error", err)
		}
		s.Close()
		s3, err := Open(ctx, Config{FlatDir: flat, ColdURL: "mem://"})
		if err != nil {
			t.Fatalf("Open after the first store closed: %v", err)
		}
		s3.Close()
	})
	t.Run("a symlink to a file inside the root", func(t *testing.T) {
		flat := t.TempDir()
		if err := os.WriteFile(filepath.Join(flat, "README"), []byte("notes"), 0o644); err != nil {
			t.Fatal(err)
		}
		symlink(t, "README", filepath.Join(flat, lockName))
		s, err := Open(ctx, Config{FlatDir: flat, ColdURL: "mem://"})
		if err == nil {
			s.Close()
			t.Fatalf("Open with a symlinked lock file succeeded, want an error")
		}
		if !strings.Contains(err.Error(), "not a plain file") {
			t.Errorf("Open: err = %v, want one saying the lock file is not a plain file", err)
		}
	})
}
