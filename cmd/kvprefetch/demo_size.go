package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeFlag is a byte count given as a number of bytes or with a unit:
// binary KiB, MiB, GiB, TiB (and K, M, G, T for the same), or decimal kB,
// MB, GB, TB; units are case-insensitive except that "k"/"K" and "kb"/"KB"
// all mean what they say above.
type sizeFlag int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest suffixes first, so "KiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// parseSize parses a size such as "65536", "64KiB", "1.5MiB" or "2MB".
func parseSize(s string) (int64, error) {
	num := strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(num)
	for _, u := range sizeUnits {
		if strings.HasSuffix(lower, u.suffix) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mult
			break
		}
	}
	bad := fmt.Errorf("size %q: want bytes, or a number with a unit such as 64KiB, 2MiB or 1MB", s)
	if num == "" || strings.ContainsAny(num, "+-eEpPxX_") {
		return 0, bad
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n > math.MaxInt64/mult {
			return 0, fmt.Errorf("size %q: too large, want at most %d bytes", s, int64(math.MaxInt64))
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, bad
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large, want at most %d bytes", s, int64(math.MaxInt64))
	}
	return int64(v), nil
}

// String formats the size with the largest binary unit that keeps it
// readable: "64KiB", "1.5MiB", "100B".
func (s sizeFlag) String() string {
	v := int64(s)
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v >= u.mult {
			if v%u.mult == 0 {
				return fmt.Sprintf("%d%s", v/u.mult, u.name)
			}
			return strconv.FormatFloat(float64(v)/float64(u.mult), 'f', 1, 64) + u.name
		}
	}
	return fmt.Sprintf("%dB", v)
}

// Set parses a size for the flag package.
func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

// ceilSize returns the smallest size of at least n bytes with at most one
// decimal in the unit String picks for n (1.21GiB gives 1.3GiB): a flag
// value an error can suggest, which String prints and parseSize reads
// back as at least n.
func ceilSize(n int64) sizeFlag {
	for _, mult := range []int64{1 << 40, 1 << 30, 1 << 20, 1 << 10} {
		if n >= mult {
			q, r := n/mult, n%mult
			up := (r*10 + mult - 1) / mult * mult / 10 // r rounded up to a tenth of mult
			if q*mult > math.MaxInt64-up {
				return math.MaxInt64
			}
			return sizeFlag(q*mult + up)
		}
	}
	return sizeFlag(n)
}
