package fetch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/pipeline"
)

// InstrumentOptions configures [Instrument]. Zero fields mean the
// defaults.
type InstrumentOptions struct {
	// Buckets are the upper bounds, in seconds, of the per-fetch duration
	// histogram (default: 1 ms to 16.384 s, doubling: 15 buckets).
	Buckets []float64
	// ConstLabels are added to every metric (say, {"node": "a"}).
	ConstLabels prometheus.Labels
}

// Instrument registers with reg the live figures of the fetches through a
// Materializer and returns the Middleware that records them, labelled by
// the fetch's namespace as kv_namespace (a plain "namespace" would collide
// with the Kubernetes target label a standard scrape adds):
//
//	kvprefetch_fetches_in_flight{kv_namespace}                gauge of Materialize calls running
//	kvprefetch_fetch_duration_seconds{kv_namespace,result}    histogram of each call's duration
//
// where result is "fetched", "miss" ([pipeline.FailMiss]) or the failure
// reason [pipeline.FailureReason] names ("deadline", "corrupt", ...; a
// panic counts as "panic" and goes on panicking). Wrap the store with it,
// outermost, so the duration includes the other middlewares. Several
// Instruments may share a registry when their ConstLabels differ (same
// label names, other values). It fails, registering nothing, when reg is
// nil or already holds these metrics with the same ConstLabels, or with
// other label names.
func Instrument(reg prometheus.Registerer, opts InstrumentOptions) (Middleware, error) {
	if reg == nil {
		return nil, errors.New("fetch: Instrument: nil Registerer, want a registry (e.g. prometheus.NewRegistry())")
	}
	buckets := opts.Buckets
	if len(buckets) == 0 {
		buckets = prometheus.ExponentialBuckets(0.001, 2, 15)
	}
	inFlight := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name:        "kvprefetch_fetches_in_flight",
		Help:        "Block fetches in flight.",
		ConstLabels: opts.ConstLabels,
	}, []string{"kv_namespace"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "kvprefetch_fetch_duration_seconds",
		Help:        "Duration of one block fetch, by result (fetched, miss, or the failure reason).",
		Buckets:     buckets,
		ConstLabels: opts.ConstLabels,
	}, []string{"kv_namespace", "result"})
	const hint = "Instruments sharing a registry need ConstLabels of the same names and other values"
	if err := reg.Register(inFlight); err != nil {
		return nil, fmt.Errorf("fetch: register prometheus metrics: %w (%s)", err, hint)
	}
	if err := reg.Register(duration); err != nil {
		reg.Unregister(inFlight)
		return nil, fmt.Errorf("fetch: register prometheus metrics: %w (%s)", err, hint)
	}
	return func(next Materializer) Materializer {
		return MaterializerFunc(func(ctx context.Context, ns string, h block.Hash, m block.Meta) (n int64, found bool, err error) {
			g := inFlight.WithLabelValues(ns)
			g.Inc()
			start := time.Now()
			result := pipeline.FailPanic // until Materialize returns
			defer func() {
				g.Dec()
				duration.WithLabelValues(ns, result).Observe(time.Since(start).Seconds())
			}()
			n, found, err = next.Materialize(ctx, ns, h, m)
			switch {
			case err != nil:
				result = failure(ctx, err) // as the fetch stage names it
			case !found:
				result = pipeline.FailMiss
			default:
				result = "fetched"
			}
			return n, found, err
		})
	}, nil
}
