// Package store holds a node's real tiers: a flat directory on local disk
// in front of a cold tier shared by every node ([Cold]).
//
// A [Store] is what the cycle's last stages need: the already-flat filter
// asks it [Store.ContainsFlat] (a filter.Flat), the in-flight filter asks
// it [Store.InFlight] (a filter.InFlight), and the fetch stage calls
// [Store.Materialize] (a fetch.Materializer) to pull a block from cold
// into flat; the hint preset leases hinted blocks flat already holds
// through [Store.Lease] (a snapshot.Leaser: moved to the most recently
// used end, or pinned until due, within [PinShare] of the budget), and
// the GET budgets' cap in flight reads [Store.PendingGets] (a
// filter.Pending). The node itself writes through [Store.Put] (cold, then flat)
// and reads through [Store.Get] (flat, else cold, then published to flat).
// Those contracts speak in [block] types, so the store imports nothing of
// this module but package block: a node that embeds it does not build the
// pipeline (its tests check that it satisfies the stage interfaces).
//
// # The cold tier
//
// The store reaches the cold tier through [Cold], a four-method interface
// of standard types. It opens file:// (a directory, in gocloud.dev
// fileblob's layout) and mem:// tiers itself, from Config.ColdURL, and
// needs no gocloud.dev for them. S3 and S3-compatible servers, and any
// other gocloud.dev bucket, go through package
// github.com/wombatkv/prefetch/store/gocloud, opened by the caller and
// passed as Config.Cold: only a node that imports that package builds
// gocloud.dev, its S3 driver and the AWS SDK. A ColdURL of another scheme
// fails with an error that names that package ([ErrUnsupportedScheme]).
//
// # Names
//
// A block is addressed by a namespace and its hash (or its key,
// [block.Key]). The namespace is checked by [block.ValidateNamespace] and a
// key by [block.ParseKey] before any filesystem or network call, so no name
// can reach outside the flat root or the namespace's part of the bucket. In
// the bucket a block is the object "<namespace>/<key>". In flat it is a
// file whose path is the store's own business (today
// <root>/<namespace>/<first 2 hex digits>/<64 hex digits>, which fans a
// namespace out over at most 256 directories); presence is one stat.
//
// # Safety
//
// A block reaches flat only whole and verified. It is written to a
// temporary file in its final directory, checked, fsynced and renamed into
// place, so a reader never sees part of one and a crash leaves at most a
// temporary file, which the next [Open] removes. Put records the payload's
// BLAKE3-256 (64 lowercase hex digits) as the object's metadata "b3"; a
// fetch verifies it, and the size against the index's PayloadBytes when
// that is known. A short, long or corrupt object is never published: the
// fetch fails with an error whose reason pipeline.FailureReason reads
// (ReasonSize, ReasonCorrupt, ...). An object without "b3" (written by
// another tool) is accepted when its size checks and counted in
// Stats.Unverified, or refused when Config.RequireChecksum is set; a "b3"
// that is empty or not 64 lowercase hex digits is ReasonCorrupt. A
// missing object is a miss, not an error.
//
// An object's declared size is checked before its body is read: against
// the index's PayloadBytes (ReasonSize), and against what is to hold it
// (ReasonTooLarge): the flat budget for a fetch into flat, or
// Config.MaxObjectBytes (default 1 GiB) for the block [Store.Get] reads
// into memory because flat cannot take it. Memory follows the bytes
// received, never the declared size: a fetch into flat streams to its
// temporary file, and Get's read into memory preallocates at most 1 MiB
// and grows as the body arrives, so an endpoint that declares 1 TiB and
// sends 1 KiB costs about 1 KiB.
//
// # The flat directory
//
// Every read, write, rename and delete in flat goes through an [os.Root]
// on Config.FlatDir, so none reaches outside it, whatever the directory
// holds: a symlink that leads out fails the call. Nor does the store
// follow a symlink inside it. It writes a block only into namespace and
// fan-out directories that are directories (anything else there, a
// symlink above all, fails the write with ReasonFlatWrite; Get then reads
// the block from cold without publishing it). [Open] skips the entries
// where it looks for blocks that are neither plain files nor directories
// (symlinks, devices, fifos), counting them in Stats.Irregular. And a
// block is served from flat, or counted as there, only when the recency
// index holds it and its file is a plain file of the size it was
// published at (and of the index's PayloadBytes, when given): checked by
// lstat before the file is opened, so a fifo is never opened, and by
// fstat on the open file. A block that fails the check (truncated, grown,
// deleted, replaced by a symlink or a fifo) is dropped and fetched afresh,
// counted in Stats.Damaged or Stats.Irregular; a file planted under a
// block's name while the store runs is never served. These checks are of
// type and size, not content: a block's content is verified as it enters
// flat, not each time it is read, so a writer of FlatDir who keeps a
// file's size (or a hard link, which is a plain file) goes unseen.
//
// One store at a time uses a flat directory: Open takes an exclusive
// flock (on Unix systems) on the directory itself and on its lock file,
// so deleting the lock file under a running store does not let a second
// one in, and Open refuses a lock file that is not a plain file. Open
// fails, naming the entry and what to do, on a namespace or fan-out
// directory it cannot read, rather than run with blocks it cannot count
// against the budget.
//
// # Capacity
//
// The flat tier holds at most Config.FlatBudget payload bytes. Publishing
// past it evicts the least recently used blocks first; Get marks a block
// it reads as most recently used, and Config.Admission says where a
// prefetched block enters ("mru", "lru", "probation:F" or "guess:F:TTL").
// The recency order is mirrored in the files' modification times, so
// [Open] rebuilds it.
//
// # Prefetch accounting
//
// The store tells, per namespace, what became of each block a prefetch
// published (Stats.Prefetch, and the kvprefetch_prefetch_* metrics of
// [Store.Collector]), in the words of the replay lab, whose simulated
// flat tier runs the same accounting code: useful (a Get read it while
// flat held it; the lead, publication to first read, is observed), late
// (a Get joined its GET in flight; the wait is observed), or wasted (it
// left flat unread: evicted for the budget, or removed, dropped as
// damaged or replaced by a Put; the time it sat is observed). Exactly one
// of the three, once: a block read twice is useful once. A block the
// request path fetched itself (a Get that missed flat, and a Materialize
// that joined that Get's GET) is not prefetched. Gets are split by where
// they were served: flat, prefetched (the first read of a prefetched
// block), joined (a GET in flight), cold. The record is 16 bytes in the
// block's index entry, dropped with it; each read and each eviction adds a
// constant cost under the lock it already takes. Config.Clock is the
// accounting's clock.
//
// # Concurrency
//
// Concurrent fetches of one block (the prefetcher and the request path at
// once) share one GET through golang.org/x/sync/singleflight. The store
// starts no goroutine of its own beyond that GET's, and every call returns
// only once the work it started has ended.
package store
