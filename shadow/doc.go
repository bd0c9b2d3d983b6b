// Package shadow runs candidate prefetch policies beside a node's live
// one, in shadow: each candidate cycles on the node's index and hints as
// a live pipeline would, but fetches nothing (a dry run), and its
// would-be fetches are checked against what the node then reads, in the
// words of the store's prefetch accounting and the replay lab (package
// internal/usefulness holds the one definition): would-be useful, late or
// wasted, its precision, and the stall it would have saved at the GET
// time the live fetches show.
//
// A [Shadow] is one candidate. [New] builds its pipeline with
// Config.Build over the shadow's [Tiers], a simulated flat tier of the
// node's budget and admission, and then replaces the pipeline's fetcher
// with one that only records (so no candidate can reach a cold tier,
// whatever its Build hands its stages) and drops its emitter (so its
// cycles write no MyelonInstr lines and count in no live metrics).
// [Shadow.Start] runs it on its own goroutine, a pipeline.Worker of the
// candidate's own interval: the live cycle never waits for it. The node
// tells every shadow what it reads ([Shadow.Read], after each read, from
// the request path: a short critical section on the shadow's own mutex,
// constant work but for the blocks whose would-be GETs land) and shows it
// the live pipeline's outcomes ([Shadow.Observe]), whose fetch durations
// are the GET time the shadow's would-be GETs take.
//
// A candidate without a fetcher (a dry run, as the v1 preset) is shadowed
// as if it fetched what it selects: that is what a shadow asks of it.
// [Shadow.Cycle] runs one cycle on the caller's goroutine instead, for a
// caller that paces the shadow itself (a test, a virtual clock).
//
// # What counts as wasted
//
// A would-be fetch is wasted when its block is evicted unread from the
// candidate's own simulated flat tier (the node's budget and admission,
// filled by the candidate's would-be fetches and by the node's reads, as
// the store's flat tier is by its prefetches and reads), or removed. That
// is the store's own rule and the lab's, so a candidate's figures and the
// live store's mean the same thing; a fixed horizon ("read within T")
// would instead credit a candidate that fetches more than the tier can
// hold, and would need a record per would-be fetch for T whatever the
// budget, where the simulated tier's records are bounded by the blocks
// the budget holds. The candidate's horizon is then how long its blocks
// survive in its tier: its own choices decide it.
//
// # Simplifications
//
// A would-be GET lands one observed GET time after the cycle that would
// fetch it (as with a fan-out as wide as the cycle); a read that comes
// before is late, and saves the GET time less its wait. A shadow starts
// with an empty simulated tier, as the store does on a fresh flat
// directory: compare over a run long enough for the tiers to fill. It
// simulates the namespace its pipeline fetches in; reads of others are
// ignored. A candidate that reads hints must have its own intake
// (snapshot.NewHints), which the node feeds as it feeds the live one:
// an intake learns from its pipeline's fetches, and a shadow's would
// mislead the live pipeline's.
package shadow
