// Package replay is the policy lab: it replays a request trace against a
// simulated node (a flat LRU tier, a cold tier, a metadata index) on a
// virtual clock, with the real pipeline, stages and presets as its
// prefetcher, and reports how much request stall each policy removes,
// against no prefetch and a clairvoyant oracle.
//
// The model is specified in docs/replay-model.md; with default [Settings]
// the lab reproduces that page's reference figures exactly. [ReadTrace] reads a Mooncake JSONL trace, [Synthetic] generates
// one, and [Run] replays it under several scenarios, lead times and
// policies at once, returning one [Result] per combination.
//
// The prefetcher is not simulated: each policy is a [pipeline.Pipeline]
// built from presets and stages, driven through its injected clock
// (Config.Clock) by calling [pipeline.Pipeline.Run] at each virtual cycle
// time. The simulated tiers implement the interfaces a real store does
// (filter.Flat, filter.InFlight, filter.Room, fetch.Materializer). A GET
// does not block: Materialize answers at once and the GET's completion is
// scheduled on the virtual clock, so GETs outlive their cycle and later
// cycles skip them as in flight. Requests become hints (snapshot.Hints)
// Settings.Lead before they are served; an event-driven policy's intake
// wakes a cycle at that instant, as it wakes a node's worker.
//
// The cost of a replay follows its work, not its span of time: in an idle
// stretch (no request, no hint, no GET in flight), cycles that provably
// repeat the last one are counted without being run, and every figure is
// that of a full replay (see idle.go for what each policy promises).
// Reading is linear in the trace, stops with its context, and bounds the
// memory of one line (ReadOptions); timestamps are at most MaxTimestamp.
package replay
