package store

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// The crash tests re-run the test binary as a child (TestMain dispatches on
// childEnv) that opens a store, starts publishing a block, says "ready" on
// stdout at an exact point of the publish and waits there to be killed.
const (
	childEnv     = "STORE_TEST_CRASH_CHILD" // the scenario
	childFlatEnv = "STORE_TEST_CRASH_FLAT"
	childColdEnv = "STORE_TEST_CRASH_COLD"
	childHashEnv = "STORE_TEST_CRASH_HASH"
	childDataEnv = "STORE_TEST_CRASH_SIZE"
)

// crashChild is the child's main. It returns an exit code only when the
// scenario fails before reaching its point; at the point it waits to be
// killed.
func crashChild(scenario string) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		return 3
	}
	ctx := context.Background()
	s, err := Open(ctx, Config{FlatDir: os.Getenv(childFlatEnv), ColdURL: os.Getenv(childColdEnv)})
	if err != nil {
		return fail("%v", err)
	}
	var h block.Hash
	if _, err := hex.Decode(h[:], []byte(os.Getenv(childHashEnv))); err != nil {
		return fail("hash: %v", err)
	}
	size, err := strconv.Atoi(os.Getenv(childDataEnv))
	if err != nil {
		return fail("size: %v", err)
	}
	ready := func() {
		fmt.Println("ready")
		time.Sleep(time.Minute) // the parent kills us long before
		os.Exit(4)
	}
	switch scenario {
	case "mid-write":
		s.hooks = &testHooks{afterChunk: func(written int64) {
			if written > 0 && written < int64(size) {
				ready()
			}
		}}
	case "before-rename", "put-before-rename":
		s.hooks = &testHooks{beforeRename: func(string) { ready() }}
	default:
		return fail("unknown scenario %q", scenario)
	}
	if scenario == "put-before-rename" {
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		err = s.Put(ctx, testNS, block.Key(h), payload)
	} else {
		c := pipeline.Candidate{Hash: h, Meta: block.Meta{PayloadBytes: uint64(size)}}
		_, _, err = s.Materialize(ctx, testNS, c.Hash, c.Meta)
	}
	return fail("%s: the store returned (err %v) instead of reaching the crash point", scenario, err)
}

// TestCrashMidPublish kills a child process at points of a publish and
// shows that reopening the store leaves no partial block visible, keeps the
// blocks published before, and fetches the killed block afresh.
func TestCrashMidPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("re-runs the test binary")
	}
	ctx := context.Background()
	const size = 300_000 // several copy chunks
	for _, scenario := range []string{"mid-write", "before-rename", "put-before-rename"} {
		t.Run(scenario, func(t *testing.T) {
			flat, coldDir := t.TempDir(), t.TempDir()
			coldURL := "file://" + coldDir + "?no_tmp_dir=true"

			// A block published before the crash, and the one the child
			// is killed publishing (Put by the child itself in the put
			// scenario, seeded in cold otherwise).
			before, victim := newBlock(t, 1000), newBlock(t, size)
			for i := range victim.payload {
				victim.payload[i] = byte(i * 7)
			}
			s := open(t, Config{FlatDir: flat, ColdURL: coldURL})
			if err := s.Put(ctx, testNS, before.key(), before.payload); err != nil {
				t.Fatal(err)
			}
			if scenario != "put-before-rename" {
				seedObject(t, s.cold, victim, victim.payload, map[string]string{ChecksumKey: sumOf(victim.payload)})
			}
			s.Close() // the child needs the lock

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(),
				childEnv+"="+scenario,
				childFlatEnv+"="+flat,
				childColdEnv+"="+coldURL,
				childHashEnv+"="+victim.hash.String(),
				childDataEnv+"="+strconv.Itoa(size),
			)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if line != "ready\n" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child said %q (%v), want \"ready\"; stderr:\n%s", line, err, stderr.String())
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("child ended with %v, want killed", err)
			}

			// The kill left a temporary file and no block file.
			tmps := tmpFiles(t, flat)
			if len(tmps) != 1 {
				t.Fatalf("after the kill flat holds temporary files %v, want exactly one", tmps)
			}
			if scenario == "mid-write" {
				if n := len(flatFiles(t, flat)[tmps[0]]); n == 0 || n >= size {
					t.Fatalf("mid-write temporary file holds %d bytes, want a partial block (0 < n < %d)", n, size)
				}
			}

			s2 := open(t, Config{FlatDir: flat, ColdURL: coldURL})
			if got := tmpFiles(t, flat); len(got) != 0 {
				t.Errorf("after reopen flat holds temporary files %v, want none", got)
			}
			if diff := cmp.Diff(wantFlat(before), flatBlocks(t, flat)); diff != "" {
				t.Errorf("flat after reopen mismatch (-want +got):\n%s", diff)
			}
			if s2.ContainsFlat(ctx, testNS, victim.hash) {
				t.Errorf("ContainsFlat(killed block) = true, want false")
			}
			if st := s2.Stats(); st.FlatBlocks != 1 || st.FlatBytes != int64(len(before.payload)) {
				t.Errorf("Stats after reopen = %d blocks, %d bytes; want 1, %d", st.FlatBlocks, st.FlatBytes, len(before.payload))
			}
			got, err := s2.Get(ctx, testNS, victim.key())
			if err != nil {
				t.Fatalf("Get of the killed block after reopen: %v", err)
			}
			mustEqual(t, "Get", victim.payload, got)
			if diff := cmp.Diff(wantFlat(before, victim), flatBlocks(t, flat)); diff != "" {
				t.Errorf("flat after refetch mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
