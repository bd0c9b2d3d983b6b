package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wombatkv/prefetch/internal/slru"
	"github.com/wombatkv/prefetch/internal/usefulness"
)

// ChecksumKey is the cold object metadata key that holds the payload's
// BLAKE3-256 as 64 lowercase hex digits.
const ChecksumKey = "b3"

const (
	lockName  = "@kvprefetch.lock" // '@' is in no namespace, so no namespace dir can clash
	tmpPrefix = ".tmp-"            // temporary files; no block file starts with '.'
)

// Store is a node's two tiers: a flat directory on local disk in front of a
// cold bucket. It implements the fetch stage's Materializer ([Store.Materialize]:
// prefetch from cold into flat) and the filters' Flat ([Store.ContainsFlat]:
// presence in flat), InFlight ([Store.InFlight]: a cold GET running) and
// Room ([Store.FreeBytes]), and offers [Store.Put] and [Store.Get] for the
// node's own writes and reads. It is safe for concurrent use.
type Store struct {
	cfg   Config
	root  string   // FlatDir, absolute: for messages
	flat  *os.Root // FlatDir: every file operation of the flat tier goes through it
	lock  *flatLock
	adm   slru.Admission
	cold  Cold
	owned bool // cold was opened by Open, so Close closes it
	log   *slog.Logger
	hooks *testHooks // nil outside tests

	mu      sync.Mutex // guards rec, pending, acct and every publish and eviction on disk
	rec     *recency
	pending int64 // payload bytes of cold fetches being written to flat
	// acct is the prefetch accounting's tally of each namespace, read on
	// the accounting clock; accounting is false only in the benchmark
	// that measures its cost.
	acct       map[string]*usefulness.Tally
	accounting bool
	clock      func() time.Time
	wallClock  bool // Config.Clock was nil: clock is time.Now

	fmu     sync.Mutex // guards flights; a key is there iff sf runs a call for it
	flights map[string]*flight
	sf      singleflight.Group
	// prefetching counts the flights a prefetch leads, by namespace
	// (PendingGets), under fmu.
	prefetching map[string]int
	// lease counts the leases (Lease), under mu.
	lease LeaseStats

	closed atomic.Bool
	st     struct {
		coldGets, published, evicted, evictedBytes, unverified, rejected, irregular, damaged atomic.Uint64
	}
}

// testHooks let in-package tests stop a store at exact points.
type testHooks struct {
	afterChunk   func(written int64) // after each chunk written to a temp file
	beforeRename func(tmp string)    // after fsync, before the rename that publishes
	onJoin       func()              // when a caller joins a running fetch
}

// Stats is a snapshot of a Store's figures.
type Stats struct {
	// FlatBlocks and FlatBytes are the blocks and payload bytes in flat.
	FlatBlocks int
	FlatBytes  int64
	// FlatBudget is Config.FlatBudget (after defaults).
	FlatBudget int64
	// ColdGets counts GETs sent to the cold tier (concurrent fetches of one
	// block share one).
	ColdGets uint64
	// Published counts blocks published to flat (fetched or put).
	Published uint64
	// Evicted and EvictedBytes count blocks evicted from flat for budget.
	Evicted      uint64
	EvictedBytes uint64
	// Unverified counts cold objects accepted without "b3" metadata, their
	// size alone checked. With Config.RequireChecksum it stays 0 and such
	// objects are rejected.
	Unverified uint64
	// Rejected counts cold objects refused for their content or size
	// (reasons "corrupt", "size", "unverified", "too_large"): never
	// published.
	Rejected uint64
	// Irregular counts the entries found where flat keeps its namespace
	// directories, fan-out directories and blocks that are neither plain
	// files nor directories (symlinks, devices, fifos, sockets): skipped
	// at Open, dropped when found at a block's place later. None is ever
	// followed or opened.
	Irregular uint64
	// Damaged counts block files found missing, unreadable, or of another
	// size than the store published them at (or than the index expects)
	// when checked: dropped from flat, so that they are fetched afresh.
	Damaged uint64

	// Prefetch is the prefetch accounting of every namespace together:
	// of the blocks Materialize published (Prefetched), how many a Get
	// read while flat held them (Useful), how many a Get joined while
	// their GET was in flight (Late), and how many left flat unread
	// (WastedEvicted for the budget, WastedRemoved otherwise: dropped as
	// damaged or replaced by a Put); and the node's Gets by where they
	// were served (Reads: Flat, Prefetched, Joined, Cold). A block the
	// request path fetched itself (a Get that missed flat, or a
	// Materialize that joined such a Get) is not prefetched. Precision
	// and Served follow from it.
	Prefetch PrefetchStats
	// PrefetchByNamespace is Prefetch for each namespace that has had a
	// prefetch or a read.
	PrefetchByNamespace map[string]PrefetchStats
	// Lease counts the leases of hinted blocks (Store.Lease).
	Lease LeaseStats
}

// Open opens the store cfg describes: it opens the cold bucket, creates and
// locks the flat directory, removes temporary files a crash left there, and
// rebuilds the flat tier's recency order from the blocks' sizes and
// modification times, evicting down to the budget if it shrank. Entries
// that are neither plain files nor directories are skipped and counted in
// Stats.Irregular. Open fails, naming the entry, when it cannot read a
// namespace or fan-out directory: it could not tell what that holds
// against the budget. Open starts no goroutines; call Close when done.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	wall := cfg.Clock == nil
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	adm, _ := parseAdmission(cfg.Admission) // Validate checked it
	root, err := filepath.Abs(cfg.FlatDir)
	if err != nil {
		return nil, fmt.Errorf("store: FlatDir %q: %w", cfg.FlatDir, err)
	}
	s := &Store{
		cfg:     cfg,
		root:    root,
		adm:     adm,
		cold:    cfg.Cold,
		log:     cfg.Logger,
		flights: make(map[string]*flight),
		rec:     newRecency(cfg.FlatBudget, adm.ProbationBudget(cfg.FlatBudget)),
		acct:    make(map[string]*usefulness.Tally),
		clock:   cfg.Clock,

		accounting:  true,
		wallClock:   wall,
		prefetching: make(map[string]int),
	}
	s.rec.timed(cfg.FlatBudget, adm)
	if s.cold == nil {
		c, err := OpenCold(ctx, cfg.ColdURL)
		if err != nil {
			return nil, err
		}
		s.cold, s.owned = c, true
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		s.closeCold()
		return nil, fmt.Errorf("store: create flat dir: %w", err)
	}
	if s.flat, err = os.OpenRoot(root); err != nil {
		s.closeCold()
		return nil, fmt.Errorf("store: open flat dir: %w", err)
	}
	if s.lock, err = lockFlat(s.flat, root); err != nil {
		s.flat.Close()
		s.closeCold()
		return nil, err
	}
	if err := s.scan(); err != nil {
		s.lock.Close()
		s.flat.Close()
		s.closeCold()
		return nil, err
	}
	s.mu.Lock()
	s.removeEvicted(s.rec.trim())
	s.mu.Unlock()
	return s, nil
}

// Close closes the cold bucket (unless it came from Config.Cold) and
// unlocks the flat directory. Call it once every other call has returned.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.closeCold()
	if lerr := s.lock.Close(); lerr != nil && err == nil {
		err = fmt.Errorf("store: unlock flat dir: %w", lerr)
	}
	if ferr := s.flat.Close(); ferr != nil && err == nil {
		err = fmt.Errorf("store: close flat dir: %w", ferr)
	}
	return err
}

func (s *Store) closeCold() error {
	if !s.owned {
		return nil
	}
	if err := s.cold.Close(); err != nil {
		return fmt.Errorf("store: close cold tier: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the store's figures.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	blocks, bytes := s.rec.o.Len(), s.rec.bytes()
	lease := s.leaseStats()
	s.mu.Unlock()
	prefetch, byNS := s.prefetchStats()
	return Stats{
		Prefetch:            prefetch,
		PrefetchByNamespace: byNS,
		Lease:               lease,
		FlatBlocks:          blocks,
		FlatBytes:           bytes,
		FlatBudget:          s.cfg.FlatBudget,
		ColdGets:            s.st.coldGets.Load(),
		Published:           s.st.published.Load(),
		Evicted:             s.st.evicted.Load(),
		EvictedBytes:        s.st.evictedBytes.Load(),
		Unverified:          s.st.unverified.Load(),
		Rejected:            s.st.rejected.Load(),
		Irregular:           s.st.irregular.Load(),
		Damaged:             s.st.damaged.Load(),
	}
}
