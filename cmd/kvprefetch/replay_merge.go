package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/wombatkv/prefetch/replay"
)

const mergeAbout = `Usage: kvprefetch replay merge [flags] FILE.json ...

Joins the results of the shards of one run (kvprefetch replay --shard I/N
--json FILE, one file per shard, in any order) and prints their table, as
the unsharded run would have, and writes --json, --csv and --plot of the
union. Files of other traces (by SHA-256) or other settings are refused,
as are two files of one shard; missing shards are named on stderr.

Flags:
`

// runReplayMerge runs "kvprefetch replay merge".
func runReplayMerge(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jsonOut := fs.String("json", "", "write the merged results and their provenance as JSON to `FILE` (- for stdout)")
	csvOut := fs.String("csv", "", "write the merged results as CSV to `FILE` (- for stdout)")
	plotOut := fs.String("plot", "", "draw the merged shares of the oracle to `FILE.png`")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), mergeAbout)
		fs.PrintDefaults()
	}
	// Flags may come before, between or after the files.
	var files []string
	for rest := args; ; {
		err := fs.Parse(rest)
		switch {
		case errors.Is(err, flag.ErrHelp):
			return errHelp
		case err != nil:
			return usageError{err}
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	var errs []error
	if len(files) == 0 {
		errs = append(errs, errors.New("replay merge: no file given: pass the files kvprefetch replay --shard I/N --json FILE wrote, e.g. replay merge a.json b.json"))
	}
	if *plotOut != "" && !strings.HasSuffix(strings.ToLower(*plotOut), ".png") {
		errs = append(errs, fmt.Errorf("replay merge: --plot %q: the plot is a PNG, name it FILE.png", *plotOut))
	}
	if *jsonOut == "-" && *csvOut == "-" {
		errs = append(errs, errors.New("replay merge: --json - and --csv -: only one can go to standard output, name a file for the other"))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	jo, err1 := openOutput("json", *jsonOut, true)
	co, err2 := openOutput("csv", *csvOut, true)
	po, err3 := openOutput("plot", *plotOut, false)
	defer func() {
		for _, o := range []*output{jo, co, po} {
			o.discard()
		}
	}()
	if err := errors.Join(err1, err2, err3); err != nil {
		return usageError{err}
	}

	rec, err := mergeFiles(files, stderr)
	if err != nil {
		return err
	}
	rec.Command = append([]string{"kvprefetch", "replay", "merge"}, args...)
	return writeResults(stdout, rec, *jsonOut == "-" || *csvOut == "-", jo, co, po)
}

// mergeFiles reads the shards' files and joins them, refusing files of
// other traces or settings and shards given twice.
func mergeFiles(files []string, stderr io.Writer) (*replayRecord, error) {
	type part struct {
		file string
		rec  *replayRecord
		sh   replay.Shard
	}
	var parts []part
	for _, f := range files {
		rec, err := readRecord(f)
		if err != nil {
			return nil, err
		}
		sh := replay.Shard{Index: 1, Count: 1}
		if rec.Shard != "" {
			if sh, err = replay.ParseShard(rec.Shard); err != nil {
				return nil, fmt.Errorf("replay merge: %s: %w", f, err)
			}
		}
		parts = append(parts, part{f, rec, sh})
	}
	first := parts[0]
	for _, p := range parts[1:] {
		if err := sameTraces(first.file, first.rec.Traces, p.file, p.rec.Traces); err != nil {
			return nil, err
		}
		if d := settingsDiff(first.rec.Settings, p.rec.Settings); d != "" {
			return nil, fmt.Errorf("replay merge: %s was run with other settings than %s (%s): merge only the shards of one run", p.file, first.file, d)
		}
		if p.sh.Count != first.sh.Count {
			return nil, fmt.Errorf("replay merge: %s is shard %v and %s shard %v: merge the shards of one cut into N", first.file, first.sh, p.file, p.sh)
		}
		if p.rec.Version != first.rec.Version || p.rec.Revision != first.rec.Revision {
			fmt.Fprintf(stderr, "replay merge: warning: %s is from version %s %s, %s from %s %s\n",
				first.file, first.rec.Version, first.rec.Revision, p.file, p.rec.Version, p.rec.Revision)
		}
	}
	slices.SortStableFunc(parts, func(a, b part) int { return a.sh.Index - b.sh.Index })
	for i := 1; i < len(parts); i++ {
		if parts[i].sh == parts[i-1].sh {
			return nil, fmt.Errorf("replay merge: %s and %s both hold shard %v", parts[i-1].file, parts[i].file, parts[i].sh)
		}
	}
	if n := first.sh.Count; len(parts) < n {
		var missing []string
		for i := 1; i <= n; i++ {
			if !slices.ContainsFunc(parts, func(p part) bool { return p.sh.Index == i }) {
				missing = append(missing, replay.Shard{Index: i, Count: n}.String())
			}
		}
		fmt.Fprintf(stderr, "replay merge: %d of %d shards; missing %s\n", len(parts), n, strings.Join(missing, ", "))
	}
	version, revision := moduleVersion()
	out := &replayRecord{Version: version, Revision: revision, Traces: first.rec.Traces, Settings: first.rec.Settings}
	var results [][]replay.Result
	for _, p := range parts {
		results = append(results, p.rec.Results)
		out.MergedFrom = append(out.MergedFrom, sourceRecord{File: p.file, Shard: p.rec.Shard, Version: p.rec.Version, Command: p.rec.Command})
	}
	out.Results = replay.Merge(results...)
	return out, nil
}

// sameTraces reports two files whose traces differ, by name and SHA-256.
func sameTraces(fa string, a []traceRecord, fb string, b []traceRecord) error {
	hashes := func(ts []traceRecord) string {
		var s []string
		for _, t := range ts {
			s = append(s, fmt.Sprintf("%s (sha256 %.12s)", t.Name, t.SHA256))
		}
		return strings.Join(s, ", ")
	}
	same := len(a) == len(b)
	for i := 0; same && i < len(a); i++ {
		same = a[i].SHA256 == b[i].SHA256
	}
	if !same {
		return fmt.Errorf("replay merge: %s replays other traces than %s: %s against %s: merge only the shards of one run", fb, fa, hashes(b), hashes(a))
	}
	return nil
}

// settingsDiff names the settings that differ ("" when none does), with
// both values.
func settingsDiff(a, b settingsRecord) string {
	if reflect.DeepEqual(a, b) {
		return ""
	}
	asMap := func(s settingsRecord) map[string]json.RawMessage {
		raw, _ := json.Marshal(s) // plain data always marshals
		var m map[string]json.RawMessage
		json.Unmarshal(raw, &m)
		return m
	}
	ma, mb := asMap(a), asMap(b)
	var keys []string
	for k := range ma {
		keys = append(keys, k)
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var diffs []string
	for _, k := range keys {
		if string(ma[k]) != string(mb[k]) {
			diffs = append(diffs, fmt.Sprintf("%s: %s against %s", k, orNone(mb[k]), orNone(ma[k])))
		}
	}
	if len(diffs) == 0 { // equal as JSON, not as Go (a nil and an empty list)
		return ""
	}
	return strings.Join(diffs, "; ")
}

func orNone(m json.RawMessage) string {
	if len(m) == 0 {
		return "none"
	}
	return string(m)
}
