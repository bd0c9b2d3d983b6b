package presets_test

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/stages/emit"
	"github.com/wombatkv/prefetch/stages/filter"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// metricsPresets are every preset; all but v1 fetch.
var metricsPresets = presets.Names()

// metricsConfig returns the config of preset name over o, with three
// blocks of 10 B in the index and hinted, so that each fetching preset
// fetches all three unless a filter drops them.
func metricsConfig(name string, o presets.Options) (pipeline.Config, error) {
	now := time.Unix(1000, 0)
	o.Clock = func() time.Time { return now }
	idx := index.NewMemory(o.Clock)
	hints := snapshot.NewHints(snapshot.HintsConfig{})
	for i := byte(1); i <= 3; i++ {
		m := block.Meta{PayloadBytes: 10, LastAccessNs: now.Add(-time.Duration(i) * time.Second).UnixNano()}
		idx.BulkLoad(func(yield func(block.Hash, block.Meta) bool) { yield(hintHash(i), m) })
		hints.Add(snapshot.Hint{Hash: hintHash(i), Meta: m, Due: now.Add(time.Hour)})
	}
	o.Index, o.Hints = idx, hints
	return presets.Config(name, o)
}

// metricsPipeline returns the pipeline of [metricsConfig].
func metricsPipeline(t *testing.T, name string, o presets.Options) (*pipeline.Pipeline, error) {
	t.Helper()
	cfg, err := metricsConfig(name, o)
	if err != nil {
		return nil, err
	}
	return pipeline.New(cfg)
}

// gathered flattens what g gathers into "name{label="value",...}" → value;
// a histogram gives its _count.
func gathered(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	got := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			id := "{" + strings.Join(ls, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				got[mf.GetName()+id] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				got[mf.GetName()+id] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				got[mf.GetName()+"_count"+id] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return got
}

// TestRegistererEveryPreset: given a registry, every preset counts its
// cycles, and every fetching preset times its fetches, with no wrapper
// built by the caller.
func TestRegistererEveryPreset(t *testing.T) {
	const ns = `{kv_namespace="tp-default"}`
	for _, name := range metricsPresets {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			p, err := metricsPipeline(t, name, presets.Options{Store: newRoomStore(1 << 30), Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			o := p.Run(context.Background())
			got := gathered(t, reg)
			want := map[string]float64{
				"kvprefetch_cycles_total" + ns:         1,
				"kvprefetch_blocks_fetched_total" + ns: 3,
			}
			if name == presets.NameV1 {
				want["kvprefetch_blocks_fetched_total"+ns] = 0
			} else {
				want[`kvprefetch_fetch_duration_seconds_count{kv_namespace="tp-default",result="fetched"}`] = 3
				want[`kvprefetch_fetches_in_flight`+ns] = 0
			}
			for k, v := range want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (present: %v), want %v; outcome fetched %d", k, g, ok, v, o.Fetched)
				}
			}
			if name == presets.NameV1 {
				for k := range got {
					if strings.HasPrefix(k, "kvprefetch_fetch") {
						t.Errorf("the dry run has fetch metric %s, want none (it fetches nothing)", k)
					}
				}
			}
			if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
				t.Errorf("lint: %v %v", problems, err)
			}
		})
	}
}

// inFlightRoom is a roomStore that also knows fetches in flight.
type inFlightRoom struct {
	*roomStore
	inFlight map[block.Hash]bool
}

func (s inFlightRoom) InFlight(_ string, h block.Hash) bool { return s.inFlight[h] }

var _ filter.InFlight = inFlightRoom{}

// TestRegistererKeepsInFlight: the metrics middleware wraps only what the
// fetcher calls, so a store that tracks its fetches keeps the in-flight
// filter, and the block in flight is neither fetched nor timed.
func TestRegistererKeepsInFlight(t *testing.T) {
	for _, name := range metricsPresets[1:] {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			st := inFlightRoom{newRoomStore(1 << 30), map[block.Hash]bool{hintHash(2): true}}
			p, err := metricsPipeline(t, name, presets.Options{Store: st, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			o := p.Run(context.Background())
			if o.Skipped[pipeline.SkipInFlight] != 1 || o.Fetched != 2 {
				t.Errorf("skipped %v, fetched %d; want 1 in flight and 2 fetched", o.Skipped, o.Fetched)
			}
			k := `kvprefetch_fetch_duration_seconds_count{kv_namespace="tp-default",result="fetched"}`
			if got := gathered(t, reg)[k]; got != 2 {
				t.Errorf("%s = %v, want 2", k, got)
			}
		})
	}
}

// TestRegistererShared: two pipelines on one registry need a label each;
// without one the second is refused with what to do, and a refusal part
// way leaves nothing registered.
func TestRegistererShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, name := range []string{presets.NameV3, presets.NameHints} {
		wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": name}, reg)
		p, err := metricsPipeline(t, name, presets.Options{Store: newRoomStore(1 << 30), Registerer: wrapped})
		if err != nil {
			t.Fatalf("%s with its own label: %v", name, err)
		}
		p.Run(context.Background())
	}
	got := gathered(t, reg)
	for _, name := range []string{presets.NameV3, presets.NameHints} {
		k := fmt.Sprintf(`kvprefetch_cycles_total{kv_namespace="tp-default",pipeline=%q}`, name)
		if got[k] != 1 {
			t.Errorf("%s = %v, want 1", k, got[k])
		}
	}

	same := prometheus.NewRegistry()
	if _, err := metricsPipeline(t, presets.NameV3, presets.Options{Store: newRoomStore(1 << 30), Registerer: same}); err != nil {
		t.Fatal(err)
	}
	_, err := metricsPipeline(t, presets.NameHints, presets.Options{Store: newRoomStore(1 << 30), Registerer: same})
	if err == nil || !strings.HasPrefix(err.Error(), "presets: Options.Registerer: ") || !strings.Contains(err.Error(), "WrapRegistererWith") {
		t.Errorf("second pipeline on one registry without a label: err = %v, want a presets: Options.Registerer error naming WrapRegistererWith", err)
	}

	// The fetch metrics clash after the cycle metrics were registered:
	// those are unregistered again.
	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "kvprefetch_fetch_duration_seconds", Help: "taken"}))
	if _, err := metricsPipeline(t, presets.NameV2, presets.Options{Store: newRoomStore(1 << 30), Registerer: clash}); err == nil {
		t.Fatal("v2 on a registry holding kvprefetch_fetch_duration_seconds succeeded")
	}
	if _, err := emit.NewPrometheus(clash, emit.PrometheusOptions{}); err != nil {
		t.Errorf("the refused preset left its cycle metrics registered: %v", err)
	}
}

// TestInstrLog: nil writes no MyelonInstr line, so a preset without
// emitters has none; a writer gets one line per cycle; Options.Emitters
// see the metrics already counting the cycle.
func TestInstrLog(t *testing.T) {
	for _, name := range metricsPresets {
		t.Run(name, func(t *testing.T) {
			cfg, err := metricsConfig(name, presets.Options{Store: newRoomStore(1 << 30)})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Emitter != nil {
				t.Errorf("Emitter = %T without InstrLog, Registerer or Emitters, want none", cfg.Emitter)
			}
		})
	}
	var buf bytes.Buffer
	reg := prometheus.NewRegistry()
	var counted float64
	after := emit.Func(func(*pipeline.Outcome) {
		counted = gathered(t, reg)[`kvprefetch_cycles_total{kv_namespace="tp-default"}`]
	})
	p, err := metricsPipeline(t, presets.NameV2, presets.Options{Store: newRoomStore(1 << 30), InstrLog: &buf, Registerer: reg, Emitters: []pipeline.Emitter{after}})
	if err != nil {
		t.Fatal(err)
	}
	p.Run(context.Background())
	p.Run(context.Background())
	if n := strings.Count(buf.String(), emit.Prefix); n != 2 {
		t.Errorf("InstrLog got %d lines in 2 cycles, want 2:\n%s", n, buf.String())
	}
	if counted != 2 {
		t.Errorf("an Emitter saw kvprefetch_cycles_total = %v at the second cycle, want 2 (the metrics come first)", counted)
	}
}
