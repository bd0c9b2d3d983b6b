package index_test

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
)

// snapshotFixture returns an index of n entries with every field of
// their metadata set, and its entries as a map.
func snapshotFixture(n int) (*index.Memory, map[block.Hash]block.Meta) {
	x := index.NewMemory(nil)
	want := make(map[block.Hash]block.Meta, n)
	for i := range n {
		h := hashOf(uint64(i))
		m := block.Meta{
			Parent:       hashOf(uint64(i + 1000000)),
			Seq:          uint32(i % 7),
			Flags:        uint32(i * 3),
			PayloadBytes: uint64(i) << 20,
			LastAccessNs: int64(i)*1e9 - 5e8, // negative too
			Model:        block.ModelDigest{byte(i), 1, 2},
			Layout:       block.LayoutTag{byte(i >> 8), 9},
		}
		want[h] = m
	}
	x.BulkLoad(maps.All(want))
	return x, want
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 513, 5000} {
		t.Run("n="+itoa(n), func(t *testing.T) {
			x, want := snapshotFixture(n)
			path := filepath.Join(t.TempDir(), "index.snap")
			wrote, err := index.SaveSnapshot(path, x)
			if err != nil {
				t.Fatal(err)
			}
			if wrote != n {
				t.Errorf("SaveSnapshot wrote %d entries, want %d", wrote, n)
			}
			y := index.NewMemory(nil)
			loaded, err := index.LoadSnapshot(path, y)
			if err != nil {
				t.Fatal(err)
			}
			if loaded != n || y.Len() != n {
				t.Errorf("LoadSnapshot loaded %d (Len %d), want %d", loaded, y.Len(), n)
			}
			if diff := cmp.Diff(want, maps.Collect(y.All())); diff != "" {
				t.Errorf("restored index mismatch (-want +got):\n%s", diff)
			}
			// Nothing but the snapshot is left in the directory.
			ents, _ := os.ReadDir(filepath.Dir(path))
			if len(ents) != 1 {
				t.Errorf("directory holds %d entries after a save, want 1 (no temporary file left)", len(ents))
			}
		})
	}
}

func itoa(n int) string {
	var b []byte
	if n == 0 {
		return "0"
	}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestSnapshotRefused: every way a file can fail to be a whole snapshot
// is refused with ErrBadSnapshot, a message saying what is wrong, and
// nothing loaded.
func TestSnapshotRefused(t *testing.T) {
	x, _ := snapshotFixture(100)
	var good bytes.Buffer
	if _, err := index.WriteSnapshot(&good, x); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(g)) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated or not a snapshot"},
		{"header only", g[:16], "truncated"},
		{"truncated in the records", g[:16+128*50+17], "truncated"},
		{"truncated at a record boundary", g[:16+128*50+40], "trailer counts"},
		{"trailer cut", g[:len(g)-1], "truncated"},
		{"a record byte flipped", mutate(func(b []byte) []byte { b[16+128*42+3] ^= 1; return b }), "corrupt"},
		{"checksum flipped", mutate(func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }), "corrupt"},
		{"count changed", mutate(func(b []byte) []byte { b[len(b)-40]++; return b }), "trailer counts 101 records"},
		{"not a snapshot", []byte(strings.Repeat("{\"json\": true}\n", 20)), "not an index snapshot"},
		{"another version", mutate(func(b []byte) []byte { b[8] = 3; return b }), "format version 3, want 1 or 2"},
		{"another record size", mutate(func(b []byte) []byte { b[12] = 64; return b }), "record size 64, want 128 (format version 1)"},
		{"version 2 with version 1's records", mutate(func(b []byte) []byte { b[8] = 2; return b }), "record size 128, want 132 (format version 2)"},
		{"trailing garbage", append(bytes.Clone(g), 0), "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "index.snap")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			y := index.NewMemory(nil)
			n, err := index.LoadSnapshot(path, y)
			if !errors.Is(err, index.ErrBadSnapshot) {
				t.Fatalf("LoadSnapshot = %d, %v; want an error wrapping ErrBadSnapshot", n, err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file and say %q", err, tt.want)
			}
			if y.Len() != 0 || n != 0 {
				t.Errorf("a refused snapshot loaded %d entries (returned %d), want none", y.Len(), n)
			}
		})
	}
}

func TestSnapshotMissing(t *testing.T) {
	_, err := index.LoadSnapshot(filepath.Join(t.TempDir(), "none"), index.NewMemory(nil))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, index.ErrBadSnapshot) {
		t.Errorf("LoadSnapshot of a missing file = %v, want fs.ErrNotExist and not ErrBadSnapshot", err)
	}
}

// TestSnapshotFailedSaveKeepsThePrevious: a save that fails (here its
// rename, onto a directory) leaves the previous snapshot as it was and no
// temporary file.
func TestSnapshotFailedSaveKeepsThePrevious(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "index.snap")
	x, want := snapshotFixture(10)
	if _, err := index.SaveSnapshot(path, x); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	bigger, _ := snapshotFixture(20)
	// A directory where the snapshot goes: the rename fails.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := index.SaveSnapshot(blocked, bigger); err == nil || !strings.Contains(err.Error(), blocked) {
		t.Errorf("SaveSnapshot onto a non-empty directory = %v, want an error naming it", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("the previous snapshot changed")
	}
	y := index.NewMemory(nil)
	if _, err := index.LoadSnapshot(path, y); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, maps.Collect(y.All())); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want the snapshot and the blocking directory only", names)
	}
}

// TestSnapshotOverwrite: a second save replaces the first whole.
func TestSnapshotOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.snap")
	a, _ := snapshotFixture(300)
	if _, err := index.SaveSnapshot(path, a); err != nil {
		t.Fatal(err)
	}
	b, want := snapshotFixture(3)
	if _, err := index.SaveSnapshot(path, b); err != nil {
		t.Fatal(err)
	}
	y := index.NewMemory(nil)
	if _, err := index.LoadSnapshot(path, y); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, maps.Collect(y.All())); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

// BenchmarkSnapshot saves and loads a snapshot of an index of n entries
// (128 bytes each on disk), the save fsynced.
//
//	go test ./index/ -run '^$' -bench BenchmarkSnapshot -benchtime 5x -count 1
func BenchmarkSnapshot(b *testing.B) {
	for _, n := range []int{100000, 1000000} {
		x, _ := snapshotFixture(n)
		path := filepath.Join(b.TempDir(), "index.snap")
		b.Run("n="+itoa(n)+"/save", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := index.SaveSnapshot(path, x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*128*float64(b.N)/b.Elapsed().Seconds()/(1<<20), "MiB/s")
		})
		b.Run("n="+itoa(n)+"/load", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := index.LoadSnapshot(path, index.NewMemory(nil)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*128*float64(b.N)/b.Elapsed().Seconds()/(1<<20), "MiB/s")
		})
	}
}
