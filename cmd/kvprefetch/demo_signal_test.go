//go:build unix

package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// helperArgs carries the command line of a kvprefetch process that a
// test runs as a child (TestDemoSignals, TestServeKill9): this test
// binary, through TestHelperProcess.
const helperArgs = "KVPREFETCH_TEST_HELPER_ARGS"

// TestHelperProcess is not a test: it runs main with the arguments in
// $KVPREFETCH_TEST_HELPER_ARGS (one a line), for the tests that run
// kvprefetch as a child process.
func TestHelperProcess(t *testing.T) {
	args, ok := os.LookupEnv(helperArgs)
	if !ok {
		t.Skip("the kvprefetch process of TestDemoSignals and TestServeKill9")
	}
	os.Args = append([]string{"kvprefetch"}, strings.Split(args, "\n")...)
	main() // exits
}

// TestDemoSignals runs kvprefetch demo as a process and signals it while
// its cycles run, as Ctrl-C, kill or a closing terminal would: it exits 1,
// saying it was interrupted, with its temporary tiers removed.
func TestDemoSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			args := []string{"demo", "--cycles", "1000000", "--interval", "5ms", "--blocks", "50", "--block-size", "1KiB"}
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp, helperArgs+"="+strings.Join(args, "\n"))
			cmd.Stdout = io.Discard
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			signaled := false
			for sc := bufio.NewScanner(stderr); sc.Scan(); {
				out.WriteString(sc.Text() + "\n")
				if !signaled && strings.HasPrefix(sc.Text(), "seeded ") {
					if err := cmd.Process.Signal(sig); err != nil {
						t.Fatal(err)
					}
					signaled = true
				}
			}
			err = cmd.Wait()
			if !signaled {
				t.Fatalf("the demo ended (%v) before seeding:\n%s", err, out.String())
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out.String(), "kvprefetch: interrupted") {
				t.Errorf("after %v: %v, want exit status 1 and \"interrupted\":\n%s", sig, err, out.String())
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("after %v the demo left %d entries in TMPDIR (first %s), want none", sig, len(left), left[0].Name())
			}
		})
	}
}
