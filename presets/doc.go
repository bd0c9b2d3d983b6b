// Package presets wires the stages into the ready cycles a node embeds
// (a dry run, a sequential and a parallel fetch of the top K, a warm-up and
// a hint-driven one), each picked by its
// name, and is the one place the module reads the environment.
//
// [New] returns a preset's pipeline, [Worker] a stopped worker running it
// (wired to be woken by hints when the preset reads them), and [Config]
// its pipeline.Config for callers that adjust it before pipeline.New.
// Every preset takes one [Options]; [Names] lists the names and
// [FromEnv] picks one from the environment.
//
//	w, err := presets.Worker(presets.NameV3, presets.Options{Index: idx, Store: st})
//	if err != nil { ... }
//	err = w.Start(ctx)
//	defer w.Stop()
//
// # The presets
//
//   - "v1" ([NameV1]) scores, selects and reports, and never fetches (for
//     diagnostics and canaries).
//   - "v2" ([NameV2]) skips blocks already in flat and fetches the rest one
//     after another; a block whose fetch failed
//     backs off ([filter.Backoff]) so that others get its slot.
//   - "v3" ([NameV3]) does the same with at most Options.Limit fetches in
//     flight.
//   - "warmup" ([NameWarmup]) is a background prefetch that does no harm.
//   - "hints" ([NameHints]) fetches the blocks of the requests the node
//     announces.
//
// v1, v2 and v3 snapshot the index, score with [score.RFC0008], select
// with [topk.Heap] and write the [MyelonInstr] lines (fn
// "prefetch_cycle", "prefetch_cycle_v2" and "prefetch_cycle_v3") to
// Options.InstrLog; warmup and hints write the v3 line. Given
// Options.Registerer, every preset also counts its cycles and fetches into
// Prometheus metrics. See replay/RESULTS.md for what each recovers on
// real traces.
//
// # Warm-up
//
// The warm-up fetches the most recently read blocks ([score.Recency], ties
// by the lower hash) among those neither in flat nor in flight, only into
// the flat tier's free room ([filter.FreeRoom]), with at most Limit in
// flight; Options.Store must be [TiersWithRoom]. A fetch never evicts
// anything, so a block of unknown size (see [block.Meta.Size]) is never
// fetched: an index without sizes gets no warm-up. While flat has no room
// for the largest block seen, a cycle does not even scan the index
// ([snapshot.RoomGate]: a full LRU tier keeps a sliver free).
//
// It pays where flat has room and the index remembers what was there:
// after a restart emptied flat, or on a node that joins with a restored
// index. It is safe by construction when the store admits a prefetched
// block at its LRU end (the store's admission knob, "lru"): such a block
// is the first evicted unless a request reads it first, so the blocks
// requests load themselves stay exactly where they would be without
// prefetch.
//
// # Hints
//
// The hints preset reads Options.Hints, the intake ([snapshot.Hints]) the
// node feeds with the blocks of the requests it knows about before serving
// them (its scheduler queue, its router). Each cycle takes the pending
// hinted blocks that are neither in flat nor in flight, ranks them by
// deadline ([score.Deadline]: the earliest Due first, then the lower Seq,
// so a request's prefix comes first; a block due sooner than
// Options.GetTime says its GET takes ranks after every block that can
// still land), keeps TopK within the GET budget ([filter.Budget]:
// Options.GetsPerSecond on average, from a bucket Options.Burst deep, and
// at most Options.MaxInFlight GETs in flight across the worker when the
// store counts them) and fetches them with at most Limit in flight. It
// ticks every DefaultHintInterval unless Options.Interval says otherwise,
// and [Worker] wakes it at each hint.
//
// A hinted block already in flat needs no GET, but flat may evict it
// before its request comes. On a store that leases ([snapshot.Leaser]),
// the preset leases it when its hint first reaches a cycle
// (Options.Lease, default touch: moved to the most recently used end; pin
// also holds it until the hint's Due plus Options.LeaseGrace, within the
// store's bound).
//
// A hint is a perfect predictor: every block fetched is read by the
// request that was announced, unless it is evicted first. The budget keeps
// the GET rate at the grid's, so the gain comes from knowing what to fetch
// and when, not from spending more.
//
// [MyelonInstr]: https://pkg.go.dev/github.com/wombatkv/prefetch/stages/emit#MyelonInstr
package presets
