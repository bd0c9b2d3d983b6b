package main

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// resultSet holds the parsed output of go test -bench: every sample of
// every metric, by benchmark name (without the -GOMAXPROCS suffix).
type resultSet struct {
	header map[string]string // goos, goarch, pkg, cpu
	order  []string          // names, in first-seen order
	vals   map[string]map[string][]float64
	procs  string
	date   string
}

// parse reads the standard benchmark format: "BenchmarkName-P N v unit
// v unit ...", and "key: value" header lines.
func parse(data []byte) *resultSet {
	s := &resultSet{header: map[string]string{}, vals: map[string]map[string][]float64{}}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "Benchmark") {
			if k, v, ok := strings.Cut(line, ": "); ok && !strings.Contains(k, " ") {
				s.header[k] = v
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				s.procs = name[i+1:]
				name = name[:i]
			}
		}
		m := s.vals[name]
		if m == nil {
			m = map[string][]float64{}
			s.vals[name] = m
			s.order = append(s.order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			m[f[i+1]] = append(m[f[i+1]], v)
		}
	}
	s.date = s.header["date"]
	return s
}

// median returns the median of name's samples of unit, and whether there
// were any.
func (s *resultSet) median(name, unit string) (float64, bool) {
	xs := slices.Clone(s.vals[name][unit])
	if len(xs) == 0 {
		return 0, false
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 1 {
		return xs[n/2], true
	} else {
		return (xs[n/2-1] + xs[n/2]) / 2, true
	}
}

// samples returns how many samples name has of unit.
func (s *resultSet) samples(name, unit string) int { return len(s.vals[name][unit]) }

// ratio returns the median over passes of a's sample of unit over b's,
// when both have as many samples (in an interleaved run the i-th of each
// comes from pass i), else the ratio of their medians, or NaN. Pairing the
// samples of one pass cancels load that a shared machine puts on some
// passes and not others.
func (s *resultSet) ratio(a, b, unit string) float64 {
	as, bs := s.vals[a][unit], s.vals[b][unit]
	if len(as) == 0 || len(bs) == 0 {
		return math.NaN()
	}
	if len(as) != len(bs) {
		ma, _ := s.median(a, unit)
		mb, _ := s.median(b, unit)
		return ma / mb
	}
	rs := make([]float64, len(as))
	for i := range as {
		rs[i] = as[i] / bs[i]
	}
	slices.Sort(rs)
	if n := len(rs); n%2 == 1 {
		return rs[n/2]
	} else {
		return (rs[n/2-1] + rs[n/2]) / 2
	}
}
