//go:build linux

package store

import (
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// diskFullEnv marks the child process TestFaultsDiskFull runs its scenario
// in.
const diskFullEnv = "STORE_TEST_FAULTS_DISK_FULL"

// TestFaultsDiskFull is TestFaults' row for a flat disk that refuses a
// write midway through a block, as a full disk does: the victims are
// larger than the file size limit (RLIMIT_FSIZE), so their temporary file
// takes the first 64 KiB and the next write fails (EFBIG), while the
// healthy blocks fit. A real full file system would need a mount; the
// limit needs no privilege, but it binds the whole process (go test's own
// log file included), so the scenario runs in a child: this test binary
// re-run on this test alone.
func TestFaultsDiskFull(t *testing.T) {
	if os.Getenv(diskFullEnv) == "" {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFaultsDiskFull$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), diskFullEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestFaultsDiskFull") {
			t.Fatalf("child (%v):\n%s", err, out)
		}
		return
	}
	const limit = 64 << 10
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &saved); err != nil {
		t.Fatal(err)
	}
	if saved.Cur < limit { // RLIM_INFINITY is the largest value
		t.Fatalf("RLIMIT_FSIZE is already %d bytes, below the %d this test sets", saved.Cur, limit)
	}
	restore := func(t *testing.T) {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &saved); err != nil {
			t.Fatal(err)
		}
	}
	signal.Ignore(syscall.SIGXFSZ) // a write past the limit fails with EFBIG instead of killing us
	t.Cleanup(func() { restore(t) })
	runFault(t, faultCase{
		name:       "flat disk full midway through a block",
		victims:    2,
		victimSize: 100_000, // > limit; the healthy blocks take 18 to 21 kB
		setup: func(t *testing.T, _ *faultEnv) {
			lim := saved
			lim.Cur = limit
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
				t.Fatal(err)
			}
		},
		heal:    func(t *testing.T, _ *faultEnv) { restore(t) },
		reason:  ReasonFlatWrite,
		errLike: "file too large",
		gets:    faultBlocks,
	})
}
