package server

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/wombatkv/prefetch/pipeline"
	"github.com/wombatkv/prefetch/server/wire"
	"github.com/wombatkv/prefetch/stages/snapshot"
	"github.com/wombatkv/prefetch/store"
)

// CycleLog is a [pipeline.Emitter] that keeps a pipeline's cycle count
// and its last cycle, for /v1/status. It is safe for concurrent use; its
// zero value is ready.
type CycleLog struct {
	mu     sync.Mutex
	cycles uint64
	last   *CycleSummary
}

// Emit records o as the last cycle.
func (l *CycleLog) Emit(_ context.Context, o *pipeline.Outcome) {
	c := summarize(o)
	l.mu.Lock()
	l.cycles++
	l.last = &c
	l.mu.Unlock()
}

// Last returns the number of cycles recorded and the last one (nil
// before the first).
func (l *CycleLog) Last() (uint64, *CycleSummary) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cycles, l.last
}

// CycleSummary is a cycle as /v1/status reports it.
type CycleSummary struct {
	Seq               uint64         `json:"seq"`
	Start             time.Time      `json:"start"`
	ElapsedMs         float64        `json:"elapsed_ms"`
	Namespace         string         `json:"namespace"`
	Path              string         `json:"path"`
	Scored            int            `json:"scored"`
	Selected          int            `json:"selected"`
	Skipped           map[string]int `json:"skipped,omitempty"`
	Fetched           int            `json:"fetched"`
	Failed            int            `json:"failed"`
	FailedBy          map[string]int `json:"failed_by,omitempty"`
	BytesMaterialized int64          `json:"bytes_materialized"`
	Error             string         `json:"error,omitempty"`
}

func summarize(o *pipeline.Outcome) CycleSummary {
	c := CycleSummary{
		Seq: o.Seq, Start: o.Start, ElapsedMs: float64(o.Elapsed) / float64(time.Millisecond),
		Namespace: o.Namespace, Path: string(o.Path), Scored: o.Scored, Selected: len(o.Selected),
		Skipped: maps.Clone(o.Skipped), Fetched: o.Fetched, Failed: o.Failed,
		FailedBy: maps.Clone(o.FailedBy), BytesMaterialized: o.BytesMaterialized,
	}
	if o.Err != nil {
		c.Error = o.Err.Error()
	}
	return c
}

// Status is the answer of GET /v1/status.
type Status struct {
	Ready    bool           `json:"ready"`
	Policies []PolicyStatus `json:"policies"`
	Flat     FlatStatus     `json:"flat"`
	Index    IndexStatus    `json:"index"`
	// Usefulness is what became of the blocks the pipelines prefetched,
	// from the store's accounting (store.Stats.Prefetch).
	Usefulness Usefulness `json:"usefulness"`
	// Store is the store's figures (store.Stats), the accounting's
	// histograms and its split by namespace included.
	Store store.Stats `json:"store"`
	// Hints is, per namespace with a hint pipeline, what became of its
	// hints: how useful they were (snapshot.HintStats, histograms left
	// out; /metrics has them).
	Hints map[string]HintStatus `json:"hints,omitempty"`
}

// PolicyStatus is one pipeline in [Status].
type PolicyStatus struct {
	Name      string        `json:"name"`
	About     string        `json:"about,omitempty"`
	Cycles    uint64        `json:"cycles"`
	LastCycle *CycleSummary `json:"last_cycle,omitempty"`
}

// FlatStatus is the flat tier's usage.
type FlatStatus = wire.FlatStatus

// IndexStatus is the index's size.
type IndexStatus = wire.IndexStatus

// Usefulness is the store's prefetch accounting in brief: of the blocks
// prefetched, how many a read wanted while flat held them (useful) or
// while their GET was in flight (late), how many left flat unread
// (wasted) and how many are in flat unread; precision, (useful + late) /
// (useful + late + wasted), and served, the share of the node's reads
// the prefetcher served, each left out while undefined.
type Usefulness struct {
	Prefetched uint64   `json:"prefetched"`
	Useful     uint64   `json:"useful"`
	Late       uint64   `json:"late"`
	Wasted     uint64   `json:"wasted"`
	Unread     uint64   `json:"unread"`
	Reads      uint64   `json:"reads"`
	Precision  *float64 `json:"precision,omitempty"`
	Served     *float64 `json:"served,omitempty"`
}

func usefulness(p store.PrefetchStats) Usefulness {
	u := Usefulness{Prefetched: p.Prefetched, Useful: p.Useful, Late: p.Late, Wasted: p.Wasted(), Unread: p.Unread(), Reads: p.Reads.Total()}
	if v, ok := p.Precision(); ok {
		u.Precision = &v
	}
	if v, ok := p.Served(); ok {
		u.Served = &v
	}
	return u
}

// HintStatus is one intake's figures: snapshot.HintStats without its
// histograms.
type HintStatus = wire.HintStatus

// Status returns what GET /v1/status answers.
func (s *Server) Status() Status {
	st := s.cfg.Store.Stats()
	out := Status{
		Ready:      !s.draining.Load(),
		Policies:   []PolicyStatus{},
		Flat:       FlatStatus{Blocks: st.FlatBlocks, Bytes: st.FlatBytes, BudgetBytes: st.FlatBudget},
		Index:      IndexStatus{Entries: s.cfg.Index.Len()},
		Usefulness: usefulness(st.Prefetch),
		Store:      st,
	}
	for _, p := range s.cfg.Policies {
		ps := PolicyStatus{Name: p.Name, About: p.About}
		if p.Cycles != nil {
			ps.Cycles, ps.LastCycle = p.Cycles.Last()
		}
		out.Policies = append(out.Policies, ps)
	}
	for _, ns := range slices.Sorted(maps.Keys(s.cfg.Hints)) {
		if out.Hints == nil {
			out.Hints = make(map[string]HintStatus)
		}
		out.Hints[ns] = hintStatus(s.cfg.Hints[ns])
	}
	return out
}

func hintStatus(h *snapshot.Hints) HintStatus {
	hs := h.Stats()
	return HintStatus{Added: hs.Added, Dropped: hs.Dropped, Expired: hs.Expired, Fetched: hs.Fetched, AlreadyFlat: hs.AlreadyFlat, Pending: hs.Pending}
}
