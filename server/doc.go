// Package server is the prefetcher as a node-local HTTP service: an
// [http.Handler] over a node's store, its metadata index, its hint
// intakes and the pipelines that run on them, so that an engine in any
// language writes and reads KV-cache blocks and announces the blocks its
// requests will need, and a Go node mounts the same handler in its own
// mux. `kvprefetch serve` runs it.
//
// The handler is a thin layer: every rule stays in the packages under it.
// Names are checked by the module's one validator
// ([block.ValidateNamespace], [block.ParseKey]) before any I/O; blocks go
// through [store.Store.Put] and [store.Store.NewReader] (atomic, verified,
// one cold GET per key however many callers; a GET streams the block from
// its flat file); hints go to a
// [snapshot.Hints] intake, which wakes its pipeline; the index is the
// node's [index.Memory], which [index.SaveSnapshot] persists.
//
// # Routes
//
//	PUT  /v1/blocks/{namespace}/{key}   store a block (write route)
//	GET  /v1/blocks/{namespace}/{key}   read a block: flat first, then cold
//	HEAD /v1/blocks/{namespace}/{key}   its size, tier and metadata; fetches nothing
//	POST /v1/hints                      announce blocks soon needed (write route); 202
//	GET  /v1/status                     policies, last cycles, flat usage, hint figures
//	GET  /metrics                       Prometheus metrics (Config.Gatherer)
//	GET  /healthz                       200 while the process serves
//	GET  /readyz                        200 until Drain, then 503
//
// {key} is a block key ([block.Key], "wombatkv/v1/block/b3=<64 hex>",
// slashes and all) or its 64 lowercase hex digits alone. docs/openapi.json
// describes every route, and a test checks it against [Routes].
//
// A block's metadata travels in headers, on PUT and on GET and HEAD
// answers: X-Kv-Parent (the parent's hash, 64 hex digits), X-Kv-Position
// (its position in its chain, block.Meta.Seq, a decimal uint32),
// X-Kv-Model (the model digest, 48 hex digits), X-Kv-Layout (the layout
// tag, 32 hex digits) and X-Kv-Flags (decimal uint32); every one is
// optional. A GET or HEAD answer also says X-Kv-Tier: "flat" when the
// block was in flat when the request came, "cold" when it was fetched.
//
// # Errors
//
// Every error is JSON, {"code": "...", "message": "...", "field": "..."},
// with a stable code (the Code* constants) and, for a bad request, the
// field, header or path element at fault.
//
// # Hints
//
// POST /v1/hints takes one of three shapes: a batch
// {"hints": [{"namespace": "ns", "blocks": ["<64 hex or block key>", ...],
// "lead_ms": 500, "priority": 1}, ...]}, one such group alone, or
// Dynamo's router hint: {"router_hint": {"source_control_endpoint": "...",
// "block_hashes": [123, ...]}, "namespace": "ns", "lead_ms": 500}. A group
// gives its due time as "due" (RFC 3339) or "lead_ms" (from now), not
// both; with neither, Config.DefaultLead applies. Groups of higher
// priority are added first, so that among hints of one due time they come
// first (the intake orders by due, then by arrival). Dynamo's
// block_hashes are 64-bit integers; integer v names the block whose hash
// is v as 32 bytes big-endian, that is the key whose 64 hex digits are
// fmt.Sprintf("%064x", v): an engine that stores its blocks under that
// key gets them prefetched ([HashOfUint64]). source_control_endpoint is
// accepted and not used: the blocks come from the cold tier.
package server
