// Package policy assembles a prefetch policy from a file: a JSON spec that
// names a cycle's stages and their params, parsed against a [Registry] of
// stage constructors and built into a pipeline.Config over an [Env] (the
// node's index, tiers, hint intake, clock and logs).
//
// It sits beside the presets package: where presets wires the ready
// cycles in Go, a spec wires any cycle the registry's stages allow, and a
// team's own stage, registered under a name of its own, is as usable from
// a spec as the module's. The presets ship as specs too ([Preset]), each
// building exactly the config of its Go constructor.
//
//	spec, err := policy.Load("policy.json", policy.Builtin())
//	cfg, err := spec.Build(policy.Env{Index: idx, Store: st, InstrLog: os.Stderr})
//	p, err := pipeline.New(cfg)
//
// # The format
//
// A spec is one JSON object. JSON, and no YAML, because the standard
// library reads it, strictly, with the byte offsets errors need; YAML
// would bring a parser outside the standard library and its implicit
// typing (yes/no as booleans, bare 10m as a string or not) into a file
// whose values are durations and names. A YAML user converts with a tool
// (yq -o json).
//
//	{
//	  "about": "v3 scored by recency and chain position, fetched four at a time",
//	  "interval": "500ms",
//	  "top_k": 16,
//	  "namespace": "tp-default",
//	  "fetch_timeout": "5s",
//	  "cycle_fetch_timeout": "10s",
//	  "cycle_byte_budget": "256MiB",
//	  "admission": "probation:0.1",
//	  "sources": ["index"],
//	  "scorer": {"stage": "weighted", "params": {"terms": [
//	    {"weight": 1, "scorer": {"stage": "recency", "params": {"half_life": "5m"}}},
//	    {"weight": 0.3, "scorer": {"stage": "rfc0008", "params": {"weights": {"recency": 0, "chain": 1, "model": 0}}}}
//	  ]}},
//	  "selector": "heap",
//	  "pre_filters": ["backoff"],
//	  "filters": ["already-flat", "not-in-flight"],
//	  "fetcher": {"stage": "parallel", "params": {"limit": 4}},
//	  "emitters": [{"stage": "myelon", "params": {"format": "v3"}}, "slog"]
//	}
//
// Every field but sources and scorer may be left out, and then means its
// default, as a zero field of pipeline.Config does: interval (default
// 500ms), top_k (8), namespace ("tp-default"), fetch_timeout (5s),
// cycle_fetch_timeout (2 x fetch_timeout) and cycle_byte_budget (an
// integer, or a string with a unit; 0: no cap) set the fields of the same
// names. Durations are strings time.ParseDuration reads ("750ms", "10m").
// admission is carried through unparsed for the store or the replay lab
// ([Spec.Admission]); about is a line for listings ([Spec.About]).
//
// A stage is its name, or an object {"stage": name, "params": {...}}. A
// spec lists sources (a cycle draws on all of them, a block proposed twice
// taken once), one scorer, one selector (default heap), pre_filters (run
// before selection, so the top K is chosen among what they keep), filters
// (on the K selected, in order), one fetcher (left out: a dry run) and
// emitters (in order; left out: none). Unknown fields, unknown stages and
// values of the wrong type are errors, all reported at once with their
// file and field path (see [Parse]).
//
// # The module's stages
//
// [Builtin] registers these; "needs" is the [Env] field the stage takes.
//
// Sources:
//   - "index": every entry of the index (snapshot.Index); needs Index.
//   - "hints" {"lease": "none", "lease_grace": "1s"}: the pending hinted
//     blocks (snapshot.Hints); needs Hints. With a Store that leases
//     (snapshot.Leaser), "touch" or "pin" leases the block of each new
//     hint if flat holds it (snapshot.Hints.SetLease; pinned until Due
//     plus lease_grace); over any other Store nothing is leased.
//   - "room-gate" {"source": stage}: source, but nothing while flat has no
//     room for the largest block seen (snapshot.RoomGate); needs a Store
//     that implements filter.Room.
//
// Scorers:
//   - "rfc0008" {"weights": {"recency": 1.0, "chain": 0.3, "model": 0.2},
//     "half_life": "10m"}: the seed's formula (score.RFC0008), the model
//     bonus for Env.Model; a weight left out keeps its default.
//   - "recency" {"half_life": "10m"}: the recency term alone
//     (score.Recency).
//   - "weighted" {"terms": [{"weight": 1, "scorer": stage}, ...]}: the sum
//     of the terms' scores times their weights (score.Weighted); a weight
//     left out is 1.
//   - "deadline" {"get_latency": "100ms", "get_bandwidth": 1e8}: hinted
//     blocks by deadline (score.Deadline), a GET of n bytes expected to
//     take get_latency + n / get_bandwidth seconds; with neither,
//     Env.GetTime, else score.DefaultGetTime; needs Hints.
//   - "frequency": blocks by their decayed access count (score.Frequency);
//     needs an Env.Index that keeps counts (index.Options.CountHalfLife;
//     in the replay lab, --count-half-life). It looks each block up in
//     the index, so a cycle scores every entry (no pruned path).
//
// Selectors: "heap", "quickselect", "fullsort" (topk.Heap, Quickselect,
// FullSort: the same K in the same order, at different costs).
//
// Filters:
//   - "already-flat": skip blocks flat holds; needs Store.
//   - "not-in-flight" {"required": false}: skip blocks being fetched; over
//     a Store that does not implement filter.InFlight it is left out (as
//     the presets do), or an error when required.
//   - "backoff" {"base": "1s", "max": "5m", "max_entries": 65536}: skip a
//     block that failed recently (filter.Backoff), new in each build.
//   - "budget" {"per_cycle": 0, "rate": 16, "burst": 8, "max_in_flight":
//     8}: a GET budget (filter.Budget): per cycle, the GETs in flight
//     across the worker (over a Store that counts them, filter.Pending;
//     left out otherwise), and a token bucket of rate per second, burst
//     deep; 0s mean no cap of that kind, and with none left it is left
//     out. List it last.
//   - "free-room": pass only what fits in flat's free room
//     (filter.FreeRoom); needs a Store that implements filter.Room.
//
// Fetchers: "dry-run" (fetch nothing), "sequential", "parallel"
// {"limit": 8}; the latter two need Store.
//
// Emitters: "myelon" {"format": "v1" | "v2" | "v3"}: the seed's
// MyelonInstr line to Env.InstrLog (left out when it is nil); "slog"
// {"level": "info"}: one record per cycle to Env.Logger.
//
// # A team's own stage
//
// A stage of one's own is a constructor from typed params and the Env,
// registered under a name ([Typed], [Registry.RegisterScorer] and the
// like); a params type with a Validate method is checked when the spec is
// parsed. A stage that holds others takes them as [Ref]s in its params.
// There is no package-level registry: each caller holds its own, from
// [Builtin].
//
// # Hints
//
// A spec whose stages read the hint intake reports [Spec.UsesHints]; its
// caller creates the intake (snapshot.NewHints), passes it as Env.Hints,
// feeds it and wires its notify function to the worker's Wake, which
// [Spec.Worker] does.
package policy
