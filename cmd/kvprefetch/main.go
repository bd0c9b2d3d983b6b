// Command kvprefetch runs the prefetch module from a shell.
//
//	kvprefetch demo     run a preset or a policy file on a generated node (no setup needed)
//	kvprefetch serve    run the prefetcher as a node-local HTTP service
//	kvprefetch help     show this help
//
// Run "kvprefetch COMMAND -h" for a command's flags. Data goes to stdout,
// errors and progress to stderr. Exit status: 0 on success, 1 when the
// command failed, 2 for bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/internal/joined"
)

func main() {
	// SIGHUP too (the terminal closed): the command still removes what it
	// created, where the default action would kill it on the spot.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

const usage = `kvprefetch: warm a KV-cache flat tier from its cold tier, as a node would.

Usage:
  kvprefetch demo [flags]     run a preset or a policy file on a generated node (no setup needed)
  kvprefetch serve --flat DIR --cold URL [flags]
                              run the prefetcher as a node-local HTTP service
  kvprefetch replay [flags]   compare prefetch policies on a request trace (the policy lab)
  kvprefetch replay merge FILE.json...
                              join the JSON of sharded replays (--shard I/N) into one table and plots
  kvprefetch help             show this help

Run "kvprefetch COMMAND -h" for a command's flags.
`

// usageError is a command-line mistake: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run runs the command named by args[0].
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given, want one of: demo, serve, replay, help")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "replay":
		return runReplay(ctx, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown command %q, want one of: demo, serve, replay, help", cmd)
}

// parseFlags parses args into fs, turning a flag error into a usageError
// and -h into a clean exit.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return errHelp
	case err != nil:
		return usageError{err}
	case fs.NArg() > 0:
		return usagef("%s: unexpected argument %q (flags go before it? run %s -h)", fs.Name(), fs.Arg(0), fs.Name())
	}
	return nil
}

// countHalfLifeFlag defines --count-half-life on fs, into d: the flag of replay,
// serve and demo that has their index keep a decayed access count per
// block (index.Options.CountHalfLife); checkCountHalfLife says what is
// wrong with its value, or "".
func countHalfLifeFlag(fs *flag.FlagSet, d *time.Duration) {
	fs.DurationVar(d, "count-half-life", 0, "have the index keep a decayed access count per block with this half-life, for a policy that ranks by it (the \"frequency\" scorer); 0: none")
}

func checkCountHalfLife(d time.Duration) string {
	if (index.Options{CountHalfLife: d}).Validate() != nil {
		return fmt.Sprintf("--count-half-life = %v, want >= 0 (0: the index keeps no access counts)", d)
	}
	return ""
}

// errHelp is returned after -h printed the flags: exit status 0.
var errHelp = errors.New("help shown")

// exitCode maps run's error to an exit status, printing it to stderr.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "kvprefetch: %v\n", err)
		return 2
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "kvprefetch: interrupted")
		// What failed besides, such as the clean-up after the interrupt.
		for _, e := range joined.Split(err) {
			if !errors.Is(e, context.Canceled) {
				fmt.Fprintf(stderr, "kvprefetch: %v\n", e)
			}
		}
		return 1
	}
	fmt.Fprintf(stderr, "kvprefetch: %v\n", err)
	return 1
}
