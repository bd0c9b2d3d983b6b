// Package slru is the flat tier's replacement policy, written once: a
// byte-weighted segmented LRU ([Order]) and the admission setting
// ([Admission], "mru", "lru", "probation:F" or "guess:F:TTL") that says where a
// prefetched block enters it.
//
// The store's flat tier (store.Config.Admission) and the replay lab's
// simulated one (replay.Settings.Admission) both run on it, so that the
// lab evicts exactly the blocks the store would, and both accept exactly
// the same admissions. The store keeps what is its own around it (block
// ids, the recency stamps mirrored as file times); the lab uses its dense
// block numbers as handles.
//
// Two segments are bound by time, on a clock the caller advances
// ([Order.Advance], nanoseconds: the store's wall clock, the lab's
// virtual one): pinned entries ([Order.Pin], within [Order.SetPinBudget]),
// which a hinted lease keeps from eviction until the request is due, and
// guesses ([PlaceGuess], within [Order.SetGuess]'s budget), protected
// like recently read entries for a TTL and evicted before any other once
// it has run out, so that a guess that was wrong costs at most its TTL of
// room.
//
// An [Order] holds no values and does no I/O: it orders integer handles,
// weighs them in bytes, and returns the handles it evicts, whose data the
// caller drops. It is not safe for concurrent use. The package imports
// nothing of the module, so the store still depends on block alone.
package slru
