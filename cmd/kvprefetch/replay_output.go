package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/wombatkv/prefetch/replay"
)

// replayRecord is what --json writes and "replay merge" reads: the
// results and where they come from.
type replayRecord struct {
	// Version is the module's version ("(devel)" when unknown), Revision
	// its VCS revision when the binary records one.
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	// Command is the command line that produced the results.
	Command []string `json:"command"`
	// Traces are the replayed traces, in the order of the results.
	Traces []traceRecord `json:"traces"`
	// Settings are everything but the traces that the figures depend on.
	Settings settingsRecord `json:"settings"`
	// Shard is "I/N" for the results of one shard of a run.
	Shard string `json:"shard,omitempty"`
	// MergedFrom are the files "replay merge" joined, in shard order.
	MergedFrom []sourceRecord  `json:"merged_from,omitempty"`
	Results    []replay.Result `json:"results"`
}

// traceRecord names a trace by its content. For a synthetic trace, Bytes
// and SHA256 are those of its Mooncake JSONL rendering.
type traceRecord struct {
	Name     string         `json:"name"`
	Bytes    int64          `json:"bytes"`
	SHA256   string         `json:"sha256"`
	Requests int            `json:"requests"`
	Skipped  map[string]int `json:"skipped,omitempty"`
}

// settingsRecord is the model's settings (defaults filled in), the run's
// matrix and the trace reading options.
type settingsRecord struct {
	BlockTokens      int              `json:"block_tokens"`
	BytesPerToken    int64            `json:"bytes_per_token"`
	GetLatencyMs     float64          `json:"get_latency_ms"`
	GetBandwidth     float64          `json:"get_bandwidth_bytes_per_s"`
	K                int              `json:"k"`
	IntervalMs       float64          `json:"interval_ms"`
	Limit            int              `json:"limit"`
	Admission        string           `json:"admission"`
	GetsPerSecond    float64          `json:"gets_per_second"`
	Burst            int              `json:"burst"`
	RFCWeights       [3]float64       `json:"rfc_weights"`
	HalfLifeS        float64          `json:"half_life_s"`
	Scenarios        []scenarioRecord `json:"scenarios"`
	LeadsMs          []float64        `json:"leads_ms"`
	Policies         []string         `json:"policies"`
	PolicyFiles      []fileRecord     `json:"policy_files,omitempty"`
	SkipBad          bool             `json:"skip_bad"`
	MaxLineBytes     int              `json:"max_line_bytes"`
	MaxRequestBlocks int              `json:"max_request_blocks"`
}

type scenarioRecord struct {
	Name     string  `json:"name"`
	Fraction float64 `json:"fraction"`
	Restart  bool    `json:"restart"`
}

// fileRecord is a --policy file: the policy's name, the file's base name
// and its SHA-256.
type fileRecord struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

// sourceRecord is one file a merge joined.
type sourceRecord struct {
	File    string   `json:"file"`
	Shard   string   `json:"shard,omitempty"`
	Version string   `json:"version"`
	Command []string `json:"command"`
}

// newSettingsRecord records cfg (its settings with the defaults filled in),
// the reading options and the --policy files.
func newSettingsRecord(cfg replay.Config, ro replay.ReadOptions, files []fileRecord) settingsRecord {
	s := cfg.Settings.WithDefaults()
	rec := settingsRecord{
		BlockTokens: s.BlockTokens, BytesPerToken: s.BytesPerToken,
		GetLatencyMs: msOf(s.GetLatency.Nanoseconds()), GetBandwidth: s.GetBandwidth,
		K: s.TopK, IntervalMs: msOf(s.Interval.Nanoseconds()), Limit: s.Limit,
		Admission: s.Admission.String(), GetsPerSecond: s.GetsPerSecond, Burst: s.Burst,
		RFCWeights: s.Weights, HalfLifeS: s.HalfLife.Seconds(),
		Policies: policyNames(cfg.Policies), PolicyFiles: files,
		SkipBad: ro.SkipBad, MaxLineBytes: ro.MaxLineBytes, MaxRequestBlocks: ro.MaxRequestBlocks,
	}
	scs := cfg.Scenarios
	if len(scs) == 0 {
		scs = replay.DefaultScenarios()
	}
	for _, sc := range scs {
		rec.Scenarios = append(rec.Scenarios, scenarioRecord{sc.Name(), sc.Fraction, sc.Restart})
	}
	rec.LeadsMs = append(rec.LeadsMs, msOf(s.Lead.Nanoseconds()))
	if len(cfg.Leads) > 0 {
		rec.LeadsMs = rec.LeadsMs[:0]
		for _, l := range cfg.Leads {
			rec.LeadsMs = append(rec.LeadsMs, msOf(l.Nanoseconds()))
		}
	}
	return rec
}

func msOf(ns int64) float64 { return float64(ns) / 1e6 }

// moduleVersion returns the main module's version and VCS revision (with
// "+dirty" for a modified tree), as the binary records them.
func moduleVersion() (version, revision string) {
	version = "(devel)"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, ""
	}
	if bi.Main.Version != "" {
		version = bi.Main.Version
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if revision != "" && dirty {
		revision += "+dirty"
	}
	return version, revision
}

// hashingReader counts and hashes what is read through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func newHashingReader(r io.Reader) *hashingReader { return &hashingReader{r: r, h: sha256.New()} }

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.n += int64(n)
	h.h.Write(p[:n])
	return n, err
}

func (h *hashingReader) sum() string { return hex.EncodeToString(h.h.Sum(nil)) }

// syntheticRecord records a generated trace by its Mooncake JSONL
// rendering, so that two machines' synthetic traces compare as files do.
func syntheticRecord(tr *replay.Trace) traceRecord {
	h := sha256.New()
	bw := bufio.NewWriter(h)
	var n int64
	for _, rq := range tr.Requests {
		b, _ := json.Marshal(rq) // a Request always marshals
		k, _ := bw.Write(append(b, '\n'))
		n += int64(k)
	}
	bw.Flush()
	return traceRecord{Name: tr.Name, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil)), Requests: len(tr.Requests)}
}

// writeJSON writes rec, indented.
func writeJSON(w io.Writer, rec *replayRecord) error {
	if rec.Results == nil {
		rec.Results = []replay.Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rec); err != nil {
		return fmt.Errorf("replay: writing JSON: %w", err)
	}
	return nil
}

// readRecord reads a file --json wrote.
func readRecord(path string) (*replayRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("replay merge: %w", err)
	}
	var rec replayRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("replay merge: %s: %v (want a file written by kvprefetch replay --json)", path, err)
	}
	if len(rec.Traces) == 0 || rec.Settings.K == 0 {
		return nil, fmt.Errorf("replay merge: %s holds no traces or settings: want a file written by kvprefetch replay --json (a bare array of results is from an older version: run it again)", path)
	}
	return &rec, nil
}

// csvColumns are the CSV's columns, one result a row.
var csvColumns = []string{
	"trace", "scenario", "capacity_bytes", "lead_ms", "policy", "requests", "block_refs", "reused_refs",
	"unique_blocks", "unique_bytes", "hits", "late_prefetch_hits", "cold_loads", "late_wait_s",
	"stall_total_s", "stall_mean_ms", "stall_p50_ms", "stall_p99_ms",
	"prefix_stall_total_s", "prefix_stall_mean_ms", "prefix_stall_p50_ms", "prefix_stall_p99_ms",
	"cycles", "skipped_already_flat", "skipped_in_flight", "prefetch_gets", "prefetch_bytes", "failed_gets",
	"max_in_flight", "useful", "wasted", "precision", "share_of_oracle_stall_reduction",
	"prefix_share_of_oracle_stall_reduction", "hints_dropped", "k", "interval_ms", "admission",
	"get_latency_ms", "get_bandwidth_bytes_per_s", "bytes_per_token", "max_gets_per_s",
}

// writeCSV writes rec's results as CSV, one row per result, after comment
// lines ("# ") that carry the provenance: version, command, traces,
// settings (as JSON) and shard.
func writeCSV(w io.Writer, rec *replayRecord) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# kvprefetch replay results, version %s", rec.Version)
	if rec.Revision != "" {
		fmt.Fprintf(bw, ", revision %s", rec.Revision)
	}
	fmt.Fprintf(bw, "\n# command: %s\n", strings.Join(rec.Command, " "))
	for _, t := range rec.Traces {
		fmt.Fprintf(bw, "# trace: %s, %d bytes, %d requests, sha256 %s\n", t.Name, t.Bytes, t.Requests, t.SHA256)
	}
	settings, _ := json.Marshal(rec.Settings) // plain data always marshals
	fmt.Fprintf(bw, "# settings: %s\n", settings)
	if rec.Shard != "" {
		fmt.Fprintf(bw, "# shard: %s\n", rec.Shard)
	}
	cw := csv.NewWriter(bw)
	cw.Write(csvColumns)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	d := strconv.Itoa
	for _, r := range rec.Results {
		cw.Write([]string{
			r.Trace, r.Scenario, strconv.FormatInt(r.CapacityBytes, 10), f(r.Settings.LeadMs), r.Policy,
			d(r.Requests), d(r.BlockRefs), d(r.ReusedRefs), d(r.UniqueBlocks), strconv.FormatInt(r.UniqueBytes, 10),
			d(r.Hits), d(r.LatePrefetchHits), d(r.ColdLoads), f(r.LateWaitS),
			f(r.Stall.TotalS), f(r.Stall.MeanMs), f(r.Stall.P50Ms), f(r.Stall.P99Ms),
			f(r.PrefixStall.TotalS), f(r.PrefixStall.MeanMs), f(r.PrefixStall.P50Ms), f(r.PrefixStall.P99Ms),
			d(r.Cycles), d(r.SkippedAlreadyFlat), d(r.SkippedInFlight), d(r.PrefetchGets),
			strconv.FormatInt(r.PrefetchBytes, 10), d(r.FailedGets), d(r.MaxInFlight), d(r.Useful), d(r.Wasted),
			f(r.Precision), f(r.Share), f(r.PrefixShare), strconv.FormatUint(r.HintsDropped, 10),
			d(r.Settings.K), f(r.Settings.IntervalMs), r.Settings.Admission, f(r.Settings.GetLatencyMs),
			f(r.Settings.GetBandwidthBytesPerS), strconv.FormatInt(r.Settings.BytesPerToken, 10), f(r.Settings.MaxGetsPerS),
		})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("replay: writing CSV: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("replay: writing CSV: %w", err)
	}
	return nil
}

// output is a file a flag names. It is opened before the run, so that a
// path that cannot be written is refused before any work, and written at
// the end into a temporary file beside it that is renamed over it once
// complete: a failed run leaves no half-written file, and an earlier one
// in place. The path "-" is standard output.
type output struct {
	flag, path string
	tmp        *os.File // nil for standard output
}

// openOutput opens path for flag, or returns nil for an empty path.
func openOutput(flag, path string, stdoutOK bool) (*output, error) {
	switch {
	case path == "":
		return nil, nil
	case path == "-" && stdoutOK:
		return &output{flag: flag, path: path}, nil
	case path == "-":
		return nil, usagef("replay: --%s -: this file cannot go to standard output, name a file", flag)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, usagef("replay: --%s %s is a directory, want a file name", flag, path)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, usagef("replay: --%s %s cannot be written (%v): name a file in a directory you can write", flag, path, err)
	}
	return &output{flag: flag, path: path, tmp: tmp}, nil
}

// commit writes the file through write and puts it in place.
func (o *output) commit(stdout io.Writer, write func(io.Writer) error) error {
	if o == nil {
		return nil
	}
	if o.tmp == nil {
		return write(stdout)
	}
	defer o.discard()
	bw := bufio.NewWriter(o.tmp)
	if err := write(bw); err != nil {
		return err
	}
	err := bw.Flush()
	if err == nil {
		err = o.tmp.Chmod(0o644)
	}
	if cerr := o.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.tmp.Name(), o.path)
	}
	if err != nil {
		return fmt.Errorf("replay: writing --%s %s: %w", o.flag, o.path, err)
	}
	o.tmp = nil
	return nil
}

// discard removes the temporary file of an output not committed.
func (o *output) discard() {
	if o == nil || o.tmp == nil {
		return
	}
	o.tmp.Close()
	os.Remove(o.tmp.Name())
	o.tmp = nil
}
