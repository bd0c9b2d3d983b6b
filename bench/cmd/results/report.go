package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// writeReport writes the generated section of RESULTS.md: the machine,
// the command, the targets with their measured ratios, the ratio tables,
// the plots and the benchstat tables.
func writeReport(w io.Writer, o options, set *resultSet, stats map[string]string, m machineInfo) {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	med := func(name, unit string) float64 {
		v, ok := set.median(name, unit)
		if !ok {
			return math.NaN()
		}
		return v
	}
	pf("\n## Machine and command\n\n")
	pf("| | |\n| --- | --- |\n")
	pf("| CPU | %s (`/proc/cpuinfo` model name) |\n", m.cpu)
	pf("| cores (`nproc`) | %d; GOMAXPROCS %s |\n", m.nproc, set.procs)
	pf("| Go | %s |\n", m.goVersion)
	pf("| kernel | %s |\n", m.kernel)
	if m.date != "" {
		pf("| run | %s |\n", m.date)
	}
	pf("| samples | %d per benchmark (`-count`); medians below, benchstat's 95%% intervals in the tables at the end |\n\n", maxSamples(set))
	pf("Regenerate everything in this section, and both plots, with:\n\n")
	pf("```\ngo run ./bench/cmd/results%s\n```\n\n", o.flags())
	if o.interleave {
		pf("which runs `go test ./bench -run '^$' -bench '%s' -count 1 -timeout 0` %d times (%d samples of each\n", o.bench, o.count, o.count)
		pf("benchmark, as `-count %d` takes, but interleaved over the whole run so that load from other jobs\n", o.count)
		pf("on this shared machine falls on every benchmark alike; `-interleave=false` runs `-count %d` once),\n", o.count)
	} else {
		pf("which runs `go test ./bench -run '^$' -bench '%s' -count %d -timeout 0`,\n", o.bench, o.count)
	}
	pf("keeps its output in `bench/results/raw.txt` (`-rerun=false` rewrites this section from it without\n")
	pf("rerunning), then runs `go run %s` over it, once per benchmark family.\n", benchstatPkg)
	pf("Ratios are the median over the passes of the ratio within each pass (the medians of the two, without\n")
	pf("interleaving), so that load that falls on some passes and not others cancels out.\n\n")

	cyc := func(n, k int, ages, path string) string {
		return fmt.Sprintf("Cycle/n=%d/k=%d/ages=%s/path=%s", n, k, ages, path)
	}
	fetchName := func(preset string, limit int) string {
		s := "Fetch/k=32/delay=20ms/preset=" + preset
		if preset == "v3" {
			s += fmt.Sprintf("/limit=%d", limit)
		}
		return s
	}

	// Targets.
	pf("## Targets (issue 4: the fast path)\n\n")
	pf("| target | measured | met |\n| --- | --- | --- |\n")
	verdict := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	ratio := func(a, b string) float64 { return set.ratio(a, b, "ns/op") }
	seed := med(cyc(1e6, 8, "random", "seed"), "ns/op")
	def := med(cyc(1e6, 8, "random", "default"), "ns/op")
	floor := med(cyc(1e6, 8, "random", "floor"), "ns/op")
	r := ratio(cyc(1e6, 8, "random", "seed"), cyc(1e6, 8, "random", "default"))
	pf("| N = 1e6, K = 8, random ages: default path >= 100x faster than the seed's approach | %.0fx (%s vs %s) | %s |\n",
		r, dur(seed), dur(def), verdict(r >= 100))
	r = ratio(cyc(1e6, 8, "random", "default"), cyc(1e6, 8, "random", "floor"))
	pf("| same: default path within 3x of the floor | %.2fx (%s vs %s) | %s |\n",
		r, dur(def), dur(floor), verdict(r <= 3))
	seed = med(cyc(1e6, 1024, "asc", "seed"), "ns/op")
	def = med(cyc(1e6, 1024, "asc", "default"), "ns/op")
	r = ratio(cyc(1e6, 1024, "asc", "seed"), cyc(1e6, 1024, "asc", "default"))
	pf("| N = 1e6, K = 1024, ascending ages: default path >= 20x faster than the seed's | %.0fx (%s vs %s) | %s |\n",
		r, dur(seed), dur(def), verdict(r >= 20))
	allocsFlat, allocsNote := allocsIndependentOf(set, cyc, "default")
	pf("| allocations per cycle independent of N (zero per entry) | %s | %s |\n", allocsNote, verdict(allocsFlat))
	v2 := med(fetchName("v2", 1), "ns/op")
	v38 := med(fetchName("v3", 8), "ns/op")
	x8 := med(fetchName("v3", 8), "x-ideal")
	pf("| fetch, K = 32, 20 ms per fetch: v3 limit 8 within 1.25x of ideal (80 ms) | %.3fx (%s) | %s |\n", x8, dur(v38), verdict(x8 <= 1.25))
	pf("| same: v3 limit 8 >= 6x faster than v2 | %.1fx (%s vs %s) | %s |\n", v2/v38, dur(v2), dur(v38), verdict(v2/v38 >= 6))
	p99 := med("RequestPath/n=1000000/op=touch/cycles=on", "p99-ns")
	pf("| Touch p99 < 10 us while cycles scan 1e6 entries back to back | %s | %s |\n\n", dur(p99), verdict(p99 < 10e3))

	pf("## Targets (no composition cliff)\n\n")
	pf("| target | measured | met |\n| --- | --- | --- |\n")
	seed = med(cyc(1e6, 8, "random", "seed"), "ns/op")
	def = med(cyc(1e6, 8, "random", "default"), "ns/op")
	floor = med(cyc(1e6, 8, "random", "floor"), "ns/op")
	rowFloor := med(cyc(1e6, 8, "random", "row-floor"), "ns/op")
	fn := med(cyc(1e6, 8, "random", "func-scorer"), "ns/op")
	wt := med(cyc(1e6, 8, "random", "weighted"), "ns/op")
	ex := med(cyc(1e6, 8, "random", "extra-source"), "ns/op")
	r = ratio(cyc(1e6, 8, "random", "func-scorer"), cyc(1e6, 8, "random", "row-floor"))
	pf("| N = 1e6, K = 8, random ages: a ScorerFunc cycle (the README's) within 2x of the row floor | %.2fx (%s vs %s) | %s |\n",
		r, dur(fn), dur(rowFloor), verdict(r <= 2))
	r = ratio(cyc(1e6, 8, "random", "seed"), cyc(1e6, 8, "random", "func-scorer"))
	pf("| same: the ScorerFunc cycle >= 40x faster than the seed's approach | %.0fx (%s vs %s) | %s |\n",
		r, dur(seed), dur(fn), verdict(r >= 40))
	pf("| (for scale: the seed's approach over the row floor; a cycle that hands every row to a scorer is no faster than the floor) | %.0fx | - |\n",
		ratio(cyc(1e6, 8, "random", "seed"), cyc(1e6, 8, "random", "row-floor")))
	r = ratio(cyc(1e6, 8, "random", "weighted"), cyc(1e6, 8, "random", "floor"))
	pf("| same: score.Weighted of one RFC0008 keeps the pruned path, within 3x of the floor | %.2fx (%s vs %s) | %s |\n",
		r, dur(wt), dur(floor), verdict(r <= 3))
	r = ratio(cyc(1e6, 8, "random", "extra-source"), cyc(1e6, 8, "random", "default"))
	pf("| same: a 10-block source beside the index costs its own size: within 1.5x of default | %.2fx (%s vs %s) | %s |\n",
		r, dur(ex), dur(def), verdict(r <= 1.5))
	fnFlat, fnNote := allocsIndependentOf(set, cyc, "func-scorer")
	pf("| ScorerFunc cycle's allocations independent of N | %s | %s |\n\n", fnNote, verdict(fnFlat))

	// Cycle ratios.
	pf("## Cycle: scan + score + select, as ratios\n\n")
	pf("Medians per cycle. *seed*: the seed's `run_cycle` in Go (`bench.SeedCycle`: copy the index, score all, full sort, truncate).\n")
	pf("*general*: the v1 preset with its source hidden, so `pipeline.Run` scores every entry as the index's `All` streams it (`pipeline.PathScored`).\n")
	pf("*default*: the v1 preset as a node runs it (`pipeline.PathPruned`). *floor*: a loop reading only each entry's last-access time.\n\n")
	pf("| N | K | ages | seed | general | default | floor | seed / default | default / floor | default allocs/op | default B/op |\n")
	pf("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, n := range cycleNs {
		for _, k := range []int{8, 1024} {
			for _, ages := range []string{"random", "asc"} {
				s, g, d, f := med(cyc(n, k, ages, "seed"), "ns/op"), med(cyc(n, k, ages, "general"), "ns/op"),
					med(cyc(n, k, ages, "default"), "ns/op"), med(cyc(n, k, ages, "floor"), "ns/op")
				pf("| %s | %d | %s | %s | %s | %s | %s | %.0fx | %.2fx | %.0f | %.0f |\n", sci(n), k, ages,
					dur(s), dur(g), dur(d), dur(f), ratio(cyc(n, k, ages, "seed"), cyc(n, k, ages, "default")),
					ratio(cyc(n, k, ages, "default"), cyc(n, k, ages, "floor")),
					med(cyc(n, k, ages, "default"), "allocs/op"), med(cyc(n, k, ages, "default"), "B/op"))
			}
		}
	}
	pf("\n")

	pf("## Cycle: compositions (a custom scorer, a weighted scorer, a source beside the index)\n\n")
	pf("Medians per cycle. *func-scorer*: the v1 preset with the README's custom scorer, a `pipeline.ScorerFunc` that offers no score bound\n")
	pf("(`pipeline.PathScored`: every entry scored, outside the index's locks). *weighted*: its scorer in a `score.Weighted` of one term\n")
	pf("(`pipeline.PathPruned`). *extra-source*: a 10-block source after the index (`pipeline.PathPruned`).\n")
	pf("*row-floor*: a loop reading every entry's hash and metadata row, the least a cycle that scores every entry must read.\n\n")
	pf("| N | K | ages | row-floor | func-scorer | func / row-floor | seed / func | default | weighted | weighted / default | extra-source | extra-source / default |\n")
	pf("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, n := range cycleNs {
		for _, k := range []int{8, 1024} {
			for _, ages := range []string{"random", "asc"} {
				name := func(path string) string { return cyc(n, k, ages, path) }
				v := func(path string) string { return dur(med(name(path), "ns/op")) }
				pf("| %s | %d | %s | %s | %s | %.2fx | %.0fx | %s | %s | %.2fx | %s | %.2fx |\n", sci(n), k, ages,
					v("row-floor"), v("func-scorer"), ratio(name("func-scorer"), name("row-floor")),
					ratio(name("seed"), name("func-scorer")), v("default"), v("weighted"), ratio(name("weighted"), name("default")),
					v("extra-source"), ratio(name("extra-source"), name("default")))
			}
		}
	}
	pf("\n")

	pf("## The scored path: where a scorer without a bound runs\n\n")
	pf("N = 1e6, K = 8, random ages, the README's scorer. *copy*: the cycle as it runs, each shard's rows copied out under its lock and\n")
	pf("scored once it is released. *stream*: the same cycle over the index's `All`. *in-place*: scoring each row under the shard's read\n")
	pf("lock, the design not taken (a scorer that reads the index deadlocks with a writer queued on its shard). *row-floor* as above.\n\n")
	pf("| where | cycle | / row-floor |\n| --- | ---: | ---: |\n")
	sp := func(where string) string { return "ScoredPath/n=1000000/k=8/ages=random/where=" + where }
	for _, where := range []string{"copy", "stream", "in-place", "row-floor"} {
		pf("| %s | %s | %.2fx |\n", where, dur(med(sp(where), "ns/op")), ratio(sp(where), sp("row-floor")))
	}
	pf("\n")

	pf("## Fetch fan-out: K = 32, each fetch answered after 20 ms\n\n")
	pf("| preset | in flight | cycle | ideal ceil(K/limit) x 20 ms | x ideal | v2 / this |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, c := range []struct {
		preset string
		limit  int
	}{{"v2", 1}, {"v3", 4}, {"v3", 8}, {"v3", 16}} {
		v := med(fetchName(c.preset, c.limit), "ns/op")
		ideal := time.Duration((32+c.limit-1)/c.limit) * 20 * time.Millisecond
		pf("| %s | %d | %s | %v | %.3fx | %.1fx |\n", c.preset, c.limit, dur(v), ideal,
			med(fetchName(c.preset, c.limit), "x-ideal"), v2/v)
	}
	pf("\n")

	pf("## Request path under scanning: single Touch / Insert on a 1e6-entry index\n\n")
	pf("*cycles=on*: default v1 cycles (K = 8) run back to back on another goroutine meanwhile. Medians over the runs of each quantile.\n\n")
	pf("| op | cycles | p50 | p99 | p99.9 | cycles/s meanwhile |\n| --- | --- | ---: | ---: | ---: | ---: |\n")
	for _, op := range []string{"touch", "insert"} {
		for _, c := range []string{"off", "on"} {
			name := fmt.Sprintf("RequestPath/n=1000000/op=%s/cycles=%s", op, c)
			cps := "-"
			if c == "on" {
				cps = fmt.Sprintf("%.0f", med(name, "cycles/s"))
			}
			pf("| %s | %s | %s | %s | %s | %s |\n", op, c, dur(med(name, "p50-ns")), dur(med(name, "p99-ns")), dur(med(name, "p999-ns")), cps)
		}
	}
	pf("\n")

	pf("## Plots\n\n")
	pf("![selection alone: ns/op against N per selector, log axes](results/select.png)\n\n")
	pf("![front half of a cycle: ns/op against N per path, log axes](results/cycle.png)\n\n")

	pf("## benchstat tables\n\n")
	for _, name := range []string{"Select", "Cycle", "ScoredPath", "Fetch", "RequestPath"} {
		pf("### %s\n\n```\n%s\n```\n\n", name, stats[name])
	}
}

// allocsIndependentOf reports whether path's allocs/op are the same at
// every N, for each K (random ages).
func allocsIndependentOf(set *resultSet, cyc func(n, k int, ages, path string) string, path string) (bool, string) {
	ok := true
	var parts []string
	for _, k := range []int{8, 1024} {
		var vs []string
		var first float64
		for i, n := range cycleNs {
			v, have := set.median(cyc(n, k, "random", path), "allocs/op")
			if !have {
				return false, "not measured"
			}
			if i == 0 {
				first = v
			} else if v != first {
				ok = false
			}
			vs = append(vs, fmt.Sprintf("%.0f", v))
		}
		parts = append(parts, fmt.Sprintf("K = %d: %s allocs/op at N = 1e4, 1e5, 1e6", k, strings.Join(vs, ", ")))
	}
	return ok, strings.Join(parts, "; ")
}

func maxSamples(set *resultSet) int {
	n := 0
	for _, name := range set.order {
		n = max(n, set.samples(name, "ns/op"))
	}
	return n
}

// dur formats nanoseconds for a table.
func dur(ns float64) string {
	if math.IsNaN(ns) {
		return "n/a"
	}
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func sci(n int) string {
	e := 0
	for v := n; v >= 10 && v%10 == 0; v /= 10 {
		e++
	}
	return fmt.Sprintf("1e%d", e)
}
