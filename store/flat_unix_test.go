//go:build unix

package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestFlatIrregularEntries: Open skips and counts the symlinks and fifos
// found where flat keeps its namespace dirs, fan-out dirs and blocks, and
// a Get of a block whose file became a fifo or a symlink neither blocks
// nor follows it: it fetches the block afresh.
func TestFlatIrregularEntries(t *testing.T) {
	ctx := context.Background()
	e := newSymlinkEnv(t)
	cfg := Config{FlatDir: e.flat, ColdURL: "file://" + t.TempDir() + "?no_tmp_dir=true"}
	s := open(t, cfg)
	fifo, link := newBlock(t, 1000), newBlock(t, 1000)
	fifo.hash[0], link.hash[0] = 0x01, 0x02
	for _, x := range []testBlock{fifo, link} {
		if err := s.Put(ctx, testNS, x.key(), x.payload); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	secret := e.plant(t, "secret", []byte(strings.Repeat("s", 1000)))
	e.plant(t, "ns/cc/"+strings.Repeat("c", 64), []byte("a block-like file outside"))
	e.seal(t)
	if err := os.Remove(blockPath(e.flat, fifo)); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(blockPath(e.flat, fifo), 0o644); err != nil {
		t.Skipf("cannot make a fifo here: %v", err)
	}
	if err := os.Remove(blockPath(e.flat, link)); err != nil {
		t.Fatal(err)
	}
	symlink(t, secret, blockPath(e.flat, link))
	symlink(t, filepath.Join(e.outside, "ns"), filepath.Join(e.flat, "other-ns"))         // a namespace dir
	symlink(t, filepath.Join(e.outside, "ns", "cc"), filepath.Join(e.flat, testNS, "cc")) // a fan-out dir

	s = open(t, cfg)
	if diff := cmp.Diff(Stats{FlatBudget: DefaultFlatBudget, Irregular: 4}, s.Stats()); diff != "" {
		t.Errorf("Stats after Open mismatch (-want +got):\n%s", diff)
	}
	for _, x := range []testBlock{fifo, link} {
		got, err := getWithin(t, s, x, 10*time.Second)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		mustEqual(t, "Get", x.payload, got)
	}
	if diff := cmp.Diff(wantSums(fifo, link), flatSums(t, e.flat)); diff != "" {
		t.Errorf("flat mismatch (-want +got):\n%s", diff)
	}
	e.checkOutside(t)

	// A block file replaced by a fifo while the store runs.
	if err := os.Remove(blockPath(e.flat, fifo)); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(blockPath(e.flat, fifo), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := getWithin(t, s, fifo, 10*time.Second)
	if err != nil {
		t.Fatalf("Get of a block whose file became a fifo: %v", err)
	}
	mustEqual(t, "Get", fifo.payload, got)
	if st := s.Stats(); st.Irregular != 5 {
		t.Errorf("Stats.Irregular = %d, want 5 (4 at Open, then the fifo)", st.Irregular)
	}
	const metric = "kvprefetch_store_flat_irregular_total"
	if got := testutil.CollectAndCount(s.Collector(), metric); got != 1 {
		t.Fatalf("the collector has %d %s, want 1", got, metric)
	}
	err = testutil.CollectAndCompare(s.Collector(), strings.NewReader(`
# HELP kvprefetch_store_flat_irregular_total Entries found where the flat tier keeps blocks that are neither plain files nor directories (symlinks, devices, fifos), skipped or dropped, never followed.
# TYPE kvprefetch_store_flat_irregular_total counter
kvprefetch_store_flat_irregular_total 5
`), metric)
	if err != nil {
		t.Error(err)
	}
}

// getWithin runs s.Get of b, failing the test if it has not returned
// within d (a read that opened a fifo would wait for a writer forever).
func getWithin(t *testing.T, s *Store, b testBlock, d time.Duration) ([]byte, error) {
	t.Helper()
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := s.Get(context.Background(), testNS, b.key())
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-time.After(d):
		t.Fatalf("Get of %s has not returned after %v", b.key(), d)
		panic("unreachable")
	}
}
