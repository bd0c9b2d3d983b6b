// Command results runs the bench package's benchmarks, summarizes them with
// benchstat, and writes bench/RESULTS.md's generated section and its plots.
//
//	go run ./bench/cmd/results               # 10 samples of each (about an hour), then write
//	go run ./bench/cmd/results -count 5      # 5 samples of each
//	go run ./bench/cmd/results -rerun=false  # rewrite from the last raw output
//
// It runs from anywhere inside the module. The raw `go test` output is
// kept in bench/results/raw.txt, so the tables can be checked or
// recomputed without rerunning; benchstat is run with `go run` at a pinned
// version (it needs the Go module proxy the first time).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "results:", err)
		os.Exit(1)
	}
}

// benchstatPkg is the benchstat the tables are made with: the newest
// x/perf whose go.mod asks for no more than this module's Go 1.25.
const benchstatPkg = "golang.org/x/perf/cmd/benchstat@v0.0.0-20260709024250-82a0b07e230d"

// defaultBench is the benchmarks the report reads. The package's other
// benchmarks (the index's own, BenchmarkPreFilter) are run by hand, as
// their sections of RESULTS.md say.
const defaultBench = "^Benchmark(Select|Cycle|ScoredPath|Fetch|RequestPath)$"

// defaultCount is the samples taken of each benchmark.
const defaultCount = 10

type options struct {
	rerun      bool
	interleave bool
	count      int
	bench      string
	benchtime  string
	root       string // module root
}

// flags returns the command-line flags that set o apart from the
// defaults, for the report's command line.
func (o options) flags() string {
	var b strings.Builder
	if o.count != defaultCount {
		fmt.Fprintf(&b, " -count %d", o.count)
	}
	if !o.interleave {
		b.WriteString(" -interleave=false")
	}
	if o.bench != defaultBench {
		fmt.Fprintf(&b, " -bench '%s'", o.bench)
	}
	if o.benchtime != "" {
		fmt.Fprintf(&b, " -benchtime %s", o.benchtime)
	}
	return b.String()
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("results", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.BoolVar(&o.rerun, "rerun", true, "run the benchmarks; false reuses bench/results/raw.txt")
	fs.IntVar(&o.count, "count", defaultCount, "samples of each benchmark, for benchstat")
	fs.BoolVar(&o.interleave, "interleave", true, "take the samples in count passes of go test -count=1 (false: one pass of -count=count)")
	fs.StringVar(&o.bench, "bench", defaultBench, "go test -bench: which benchmarks to run")
	fs.StringVar(&o.benchtime, "benchtime", "", "go test -benchtime (empty: go test's default, 1s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	o.root = root
	dir := filepath.Join(root, "bench", "results")
	raw := filepath.Join(dir, "raw.txt")
	if o.rerun {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := runBenchmarks(ctx, o, raw, stderr); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(raw)
	if err != nil {
		return fmt.Errorf("%w (run without -rerun=false to produce it)", err)
	}
	set := parse(data)
	if len(set.order) == 0 {
		return fmt.Errorf("%s holds no benchmark results", raw)
	}
	stats, err := benchstatTables(ctx, root, raw)
	if err != nil {
		return err
	}
	plots := []struct{ file, alt string }{
		{"select.png", "selection alone: ns/op against N per selector, log axes"},
		{"cycle.png", "scan + score + select of a cycle: ns/op against N per path, log axes"},
	}
	if err := plotSelect(set, filepath.Join(dir, plots[0].file)); err != nil {
		return err
	}
	if err := plotCycle(set, filepath.Join(dir, plots[1].file)); err != nil {
		return err
	}
	var md bytes.Buffer
	writeReport(&md, o, set, stats, machine(ctx, set))
	results := filepath.Join(root, "bench", "RESULTS.md")
	if err := splice(results, md.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s, %s and %s\n", results,
		filepath.Join(dir, plots[0].file), filepath.Join(dir, plots[1].file))
	return nil
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the prefetch module")
	}
	return filepath.Dir(gomod), nil
}

// runBenchmarks runs go test -bench, writing its output to raw and
// echoing each result line to stderr as progress. By default it makes
// o.count passes of -count=1 rather than one pass of -count=N: each
// benchmark still gets N samples, but they are spread over the whole run,
// so a burst of load on a shared machine lands on every benchmark alike
// instead of on the few that happened to be running, which keeps the
// ratios between benchmarks honest.
func runBenchmarks(ctx context.Context, o options, raw string, stderr io.Writer) error {
	passes, count := o.count, 1
	if !o.interleave {
		passes, count = 1, o.count
	}
	args := []string{"test", "./bench", "-run", "^$", "-bench", o.bench,
		"-count", fmt.Sprint(count), "-timeout", "0"}
	if o.benchtime != "" {
		args = append(args, "-benchtime", o.benchtime)
	}
	f, err := os.Create(raw)
	if err != nil {
		return err
	}
	defer f.Close()
	// A config line benchstat reads like go test's own goos: and cpu:.
	fmt.Fprintf(f, "date: %s\n", time.Now().UTC().Format(time.RFC3339))
	start := time.Now()
	for pass := 1; pass <= passes; pass++ {
		fmt.Fprintf(stderr, "results: pass %d of %d: go %s\n", pass, passes, strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = o.root
		cmd.Stderr = stderr
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(f, line)
			if strings.HasPrefix(line, "Benchmark") {
				fmt.Fprintf(stderr, "[%s] %s\n", time.Since(start).Round(time.Second), line)
			}
		}
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("go test -bench: %w (its output is in %s)", err, raw)
		}
	}
	return f.Close()
}

// benchstatTables runs benchstat once per benchmark family, each with the
// layout that reads best: one column per selector, per cycle path, and so
// on.
func benchstatTables(ctx context.Context, root, raw string) (map[string]string, error) {
	layouts := []struct{ name, filter, col, row string }{
		{"Select", ".name:Select", "/sel", "/n /k /order"},
		{"Cycle", ".name:Cycle", "/path", "/n /k /ages"},
		{"ScoredPath", ".name:ScoredPath", "/where", "/n /k /ages"},
		{"Fetch", ".name:Fetch", "", ""},
		{"RequestPath", ".name:RequestPath", "/cycles", "/n /op"},
	}
	// Relative to the module root (benchstat runs there), so that the
	// column it names after the file reads the same in every checkout.
	if rel, err := filepath.Rel(root, raw); err == nil {
		raw = rel
	}
	out := map[string]string{}
	for _, l := range layouts {
		args := []string{"run", benchstatPkg, "-filter", l.filter}
		if l.col != "" {
			args = append(args, "-col", l.col)
		}
		if l.row != "" {
			args = append(args, "-row", l.row)
		}
		args = append(args, raw)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("benchstat %s: %w: %s", l.name, err, stderr.String())
		}
		out[l.name] = strings.TrimRight(string(b), "\n")
	}
	return out, nil
}

type machineInfo struct {
	cpu, goVersion, kernel string
	nproc                  int
	date                   string
}

func machine(ctx context.Context, set *resultSet) machineInfo {
	m := machineInfo{nproc: runtime.NumCPU(), cpu: set.header["cpu"], date: set.date}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		m.goVersion = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "uname", "-sr").Output(); err == nil {
		m.kernel = strings.TrimSpace(string(out))
	}
	return m
}

const (
	beginMark = "<!-- results:begin (generated by go run ./bench/cmd/results; edits here are overwritten) -->"
	endMark   = "<!-- results:end -->"
)

// splice replaces the generated section of the file at path (between the
// marks) with gen, or creates the file with a title and gen.
func splice(path string, gen []byte) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		old = []byte("# Benchmark results\n\n" + beginMark + "\n" + endMark + "\n")
	} else if err != nil {
		return err
	}
	i := bytes.Index(old, []byte(beginMark))
	j := bytes.Index(old, []byte(endMark))
	if i < 0 || j < i {
		return fmt.Errorf("%s: want the generated section between %q and %q", path, beginMark, endMark)
	}
	var b bytes.Buffer
	b.Write(old[:i+len(beginMark)])
	b.WriteString("\n")
	b.Write(gen)
	b.Write(old[j:])
	return os.WriteFile(path, b.Bytes(), 0o644)
}
