//go:build unix

package store

import (
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
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
	if diff := cmp.Diff(Stats{FlatBudget: DefaultFlatBudget, Irregular: 4}, s.Stats(), ignorePrefetch); diff != "" {
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

// unreadableEnv marks the child process TestOpenUnreadableDir runs Open
// in: "<flat dir>\n<the unreadable entry, relative>".
const unreadableEnv = "STORE_TEST_UNREADABLE"

// TestOpenUnreadableDir: Open fails on a fan-out directory it cannot read
// (it cannot tell what that directory holds against the budget), with an
// error that names the entry and says what to do. Root reads every
// directory whatever its mode, so as root the Open runs in a child that
// is not: this test binary, copied where any user may run it, re-run as
// nobody (uid 65534).
func TestOpenUnreadableDir(t *testing.T) {
	if env := os.Getenv(unreadableEnv); env != "" {
		flat, rel, _ := strings.Cut(env, "\n")
		checkUnreadable(t, flat, rel)
		return
	}
	ctx := context.Background()
	base := t.TempDir()
	flat := filepath.Join(base, "flat")
	s := open(t, Config{FlatDir: flat})
	b := newBlock(t, 1000)
	if err := s.Put(ctx, testNS, b.key(), b.payload); err != nil {
		t.Fatal(err)
	}
	s.Close()
	rel := testNS + "/" + b.hash.String()[:2]
	dir := filepath.Join(flat, filepath.FromSlash(rel))
	t.Cleanup(func() { os.Chmod(dir, 0o755) }) // so that TempDir's cleanup can remove it
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0); err != nil {
			t.Fatal(err)
		}
		checkUnreadable(t, flat, rel)
		return
	}

	const nobody = 65534
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.WalkDir(flat, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "store.test")
	copyFile(t, os.Args[0], bin)
	cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestOpenUnreadableDir$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), unreadableEnv+"="+flat+"\n"+rel)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil {
		t.Skipf("cannot run a child as uid %d to make a directory unreadable: %v", nobody, err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestOpenUnreadableDir") {
		t.Fatalf("child as uid %d (%v):\n%s", nobody, err, out)
	}
}

// checkUnreadable opens the store on flat, whose entry rel it cannot read.
func checkUnreadable(t *testing.T, flat, rel string) {
	if _, err := os.ReadDir(filepath.Join(flat, filepath.FromSlash(rel))); err == nil {
		t.Fatalf("%s is readable (uid %d): the test cannot make it unreadable", rel, os.Geteuid())
	}
	s, err := Open(context.Background(), Config{FlatDir: flat, ColdURL: "mem://"})
	if err == nil {
		st := s.Stats()
		s.Close()
		t.Fatalf("Open with %s unreadable succeeded (%d blocks indexed), want an error", rel, st.FlatBlocks)
	}
	for _, want := range []string{rel, "permission denied", "make it readable", "or remove it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open: err = %v, want one that says %q", err, want)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
