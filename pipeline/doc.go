// Package pipeline composes one prefetch cycle from small stages and runs it
// on an interval.
//
// A cycle is one pass down this line:
//
//	snapshot ──▶ score ──▶ select top-K ──▶ filter ──▶ fetch ──▶ emit
//	(Source)    (Scorer)   (Selector)      (Filter…)  (Fetcher)  (Emitter)
//
// Each arrow is a one-method interface paired with a func adapter, the way
// http.Handler pairs with http.HandlerFunc: [Source] and [SourceFunc],
// [Scorer] and [ScorerFunc], [Selector] and [SelectorFunc], [Filter] and
// [FilterFunc], [Fetcher] and [FetcherFunc], [Emitter] and [EmitterFunc].
// The implementations live in the stage packages under stages/, and ready
// compositions in presets/.
//
// [Config] names the stages and the cycle's settings; [New] fills defaults,
// validates and returns a [Pipeline], whose [Pipeline.Run] runs one cycle
// synchronously and returns its [Outcome]. A [Worker] runs cycles every
// Config.Interval (or at once after [Worker.Wake]) until stopped.
//
// Stages are configured as Config is: plain structs whose zero fields mean
// the defaults, built as struct literals or by their packages' NewX
// constructors, which are conveniences that check nothing and never panic.
// A stage whose fields can be out of range implements [Validator], and New
// reports its problems with the Config's (errors.Join, one line each,
// naming the Config field that holds the stage), so a bad value is caught
// at the same place however the stage was built. A stage used on its own,
// without New, treats an out-of-range number as its zero value.
//
// Two things bend the line without breaking it. Config.PreFilters run on
// every candidate before scoring, so the top K is chosen among blocks that
// need a fetch; Config.Filters run on the K selected. And any stage that
// implements [Observer] is shown every finished cycle's Outcome, so a stage
// can learn from the past (a backoff filter, a frequency scorer).
//
// Data flows one way: no stage calls back up the line. The snapshot, score
// and select stages are streamed together (candidates pass from the source
// through the scorer into the selector one at a time, and nothing holds the
// whole index), so the Outcome times them as one step, Timings.Scan.
//
// That step takes the fastest of three paths its stages allow, each
// discovered through optional interfaces the way io.Copy discovers
// io.WriterTo (see fastpath.go), and each returning exactly what the
// others return. The pruned path needs an index that exposes its columns
// ([ColumnScanner]), a scorer that bounds its score ([ScoreBounder]), a
// selector that publishes its K-th best ([ThresholdSelector]) and
// pre-filters that are [InlineFilter]s: it skips most entries with one
// integer comparison. With any scorer (a plain [ScorerFunc], say) and such
// a selector, the scored path scores every entry, outside the index's
// locks, and builds a candidate only for those that beat the K-th. Any
// other selector takes the general path. [Outcome.Path] says which ran
// and [Outcome.PathReason] why not a faster one; the pipeline logs both
// once.
package pipeline
