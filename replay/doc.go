// Package replay is the policy lab: it replays a request trace against a
// simulated node (a flat LRU tier, a cold tier, a metadata index) on a
// virtual clock, with the real pipeline and stages as its prefetcher, and
// reports how much request stall each policy removes, against no prefetch
// and a clairvoyant oracle.
//
// The model is specified in docs/replay-model.md; with default [Settings]
// the lab reproduces that page's reference figures exactly. [ReadTrace]
// reads a Mooncake JSONL trace, [Synthetic] generates one, and [Run]
// replays it under several scenarios, lead times and policies at once,
// returning one [Result] per combination.
//
// # Policies
//
// A [Policy] is a name and a Build function that makes a pipeline.Config
// over the simulated node of one replay, its [Env]: the index, the tiers
// (through the interfaces a real store satisfies: [Tiers]), the virtual
// clock, the hint intake the lab feeds ([Env.Hints]) and the settings.
// The shipped policies ([Builtin], [PolicyByName]) are built through that
// same door, from presets and stages; a team's own scorer replays the
// same way, without forking the module, and a policy file through
// [FromSpec]. The lab is told nothing else: it reads from the config how
// a cycle's GETs complete (the fetcher's type), the GET rate, and which
// cycles of an idle stretch it may credit without running them.
//
// The prefetcher is not simulated: each policy's pipeline runs its real
// stages, driven through its injected clock (Config.Clock) by calling
// [pipeline.Pipeline.Run] at each virtual cycle time. A GET does not
// block: Materialize answers at once and the GET's completion is
// scheduled on the virtual clock, so GETs outlive their cycle and later
// cycles skip them as in flight. (As its GETs answer at once, a
// *fetch.Parallel over the lab's tiers runs them one after another on the
// cycle's goroutine, with the same results; the lab times them as its
// window.) Requests become hints Settings.Lead
// before they are served; an event-driven policy's intake wakes a cycle
// at that instant, as it wakes a node's worker.
//
// By default every GET has its own bandwidth (Settings.GetBandwidth), so
// a burst of GETs costs nothing but the budget's tokens. With
// Settings.LinkBandwidth, every GET, the requests' cold loads and the
// prefetches alike, shares one link, the loads served first (link.go):
// a wasted prefetch then slows the prefetches that follow it, and a
// prefetch the link cannot carry in time lands late. The lab's tiers
// also count their GETs in flight (filter.Pending, for the budgets' cap)
// and lease hinted blocks (snapshot.Leaser) on the store's own segmented
// LRU, pins and guesses included (internal/slru).
//
// The cost of a replay follows its work, not its span of time: in an idle
// stretch (no request, no hint, no GET in flight), cycles that provably
// repeat the last one are counted without being run, and every figure is
// that of a full replay (see idle.go for what each kind of policy
// promises). Reading is linear in the trace, stops with its context, and
// bounds the memory of one line (ReadOptions); timestamps are at most
// MaxTimestamp.
package replay
