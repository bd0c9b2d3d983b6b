// Package slru is the flat tier's replacement policy, written once: a
// byte-weighted segmented LRU ([Order]) and the admission setting
// ([Admission], "mru", "lru" or "probation:F") that says where a
// prefetched block enters it.
//
// The store's flat tier (store.Config.Admission) and the replay lab's
// simulated one (replay.Settings.Admission) both run on it, so that the
// lab evicts exactly the blocks the store would, and both accept exactly
// the same admissions. The store keeps what is its own around it (block
// ids, the recency stamps mirrored as file times); the lab uses its dense
// block numbers as handles.
//
// An [Order] holds no values and does no I/O: it orders integer handles,
// weighs them in bytes, and returns the handles it evicts, whose data the
// caller drops. It is not safe for concurrent use. The package imports
// nothing of the module, so the store still depends on block alone.
package slru
