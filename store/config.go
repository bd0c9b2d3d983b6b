package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wombatkv/prefetch/internal/slru"
)

// DefaultFlatBudget is the flat tier's byte budget when Config.FlatBudget is
// zero: 1 GiB.
const DefaultFlatBudget int64 = 1 << 30

// DefaultMaxObjectBytes is the most bytes Get reads from cold into memory
// when Config.MaxObjectBytes is zero: 1 GiB.
const DefaultMaxObjectBytes int64 = 1 << 30

// DefaultAdmission is the admission policy when Config.Admission is empty.
const DefaultAdmission = "mru"

// Config configures [Open]. Zero fields mean the defaults; FlatDir and one
// of ColdURL or Cold are required.
type Config struct {
	// FlatDir is the flat tier's root directory, created if missing; no
	// file operation of the store leaves it (see the package doc). One
	// Store at a time may use it: Open locks it (on Unix systems, the
	// directory itself, so deleting the lock file in it unlocks nothing)
	// and fails when another Store, in this process or another, holds it.
	FlatDir string

	// ColdURL is the cold tier's URL, of a scheme the store opens itself
	// (see [OpenCold]):
	//   - "file:///abs/path" (a directory, in gocloud.dev fileblob's
	//     layout; add "?create_dir=true" to create it);
	//   - "mem://" (in memory, for tests).
	// Another scheme is refused, naming the package that opens it: for
	// "s3://bucket?region=us-east-1" (AWS S3) and S3-compatible servers
	// ("s3://bucket?endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1"),
	// open the tier with github.com/wombatkv/prefetch/store/gocloud and
	// pass it as Cold, so that a node that needs no S3 builds no S3 client.
	// It is ignored when Cold is set.
	ColdURL string
	// Cold is an already-open cold tier, used instead of ColdURL: an S3
	// bucket from store/gocloud's Open (or its New, for a bucket built
	// with a client of one's own), or any other [Cold]. The Store does not
	// close it.
	Cold Cold

	// FlatBudget is the most payload bytes the flat tier holds (default
	// DefaultFlatBudget, 1 GiB). Publishing a block past it first evicts
	// least recently used blocks; a block larger than the whole budget is
	// never published to flat. There is no unlimited setting: prefetch must
	// never fill a disk without bound.
	FlatBudget int64

	// MaxObjectBytes is the largest cold object Get reads into memory for
	// a block that flat cannot take (larger than FlatBudget, or refused by
	// the flat disk); default DefaultMaxObjectBytes, 1 GiB. A larger one
	// fails with reason "too_large" before its body is read. Such a read
	// preallocates at most 1 MiB from the size the object declares and
	// grows with the bytes received, so an object that declares more than
	// it sends costs only what it sends. Blocks that go through flat are
	// bounded by FlatBudget instead, and their memory by what flat holds.
	MaxObjectBytes int64

	// Admission is where a prefetched block ([Store.Materialize]) enters
	// the flat tier's recency order (default "mru"). Blocks the node itself
	// writes or reads ([Store.Put], [Store.Get]) always enter as most
	// recently used, and [Store.Get] moves a block it reads there.
	//   - "mru": at the most recently used end, like a block the node read.
	//   - "lru": at the least recently used end, so that a prefetched block
	//     not read before the next eviction is the first to go.
	//   - "probation:F", 0 < F <= 1 (e.g. "probation:0.25"): a segmented
	//     LRU. Prefetched blocks enter a probation segment that holds at
	//     most floor(F x FlatBudget) bytes; a block larger than that is not
	//     fetched (reason "too_large"), and admitting one past it evicts the
	//     segment's least recently used blocks first. A Get promotes a block
	//     to the main segment. Eviction for budget then takes the probation
	//     segment's least recently used block first, and the main segment's
	//     only when probation is empty. So blocks prefetched but never read
	//     occupy at most F of the flat tier; with F = 1 they may take all of
	//     it, but still go before any block that was read. The segment is
	//     not persisted: a reopened store puts every block in the main
	//     segment, ordered by file mtime.
	//   - "guess:F:TTL", 0 < F <= 1, TTL > 0 (e.g. "guess:0.1:5s"): for
	//     prefetches that are guesses. They enter a guess segment of at
	//     most floor(F x FlatBudget) bytes (its oldest go first to make
	//     room), are evicted only after the main segment's blocks while
	//     younger than TTL (on the wall clock), and before every other
	//     block once older; a Get promotes one to the main segment. A wrong
	//     guess so holds its room for at most TTL. Not persisted either.
	//
	// Leases of hinted blocks ([Store.Lease]) pin at most PinShare of
	// FlatBudget, whatever the admission.
	//
	// The replay lab (kvprefetch replay --admission) takes the same values
	// and simulates this same order, eviction for eviction.
	Admission string

	// RequireChecksum rejects a cold object that carries no "b3" metadata
	// (failure reason "unverified") instead of accepting it when its size
	// matches and counting it in Stats.Unverified.
	RequireChecksum bool

	// Logger receives what the store cleans up or cannot (stale temporary
	// files, failed evictions). Nil means discard.
	Logger *slog.Logger

	// Clock is the prefetch accounting's time source (Stats.Prefetch: a
	// prefetched block's lead, a late read's wait, a wasted block's age).
	// Nil means time.Now. The recency stamps, mirrored as file times, stay
	// on the wall clock; a test or the replay lab passes a virtual clock
	// here. It is read under the store's locks: it must be quick and must
	// not call the store.
	Clock func() time.Time
}

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.FlatBudget == 0 {
		c.FlatBudget = DefaultFlatBudget
	}
	if c.MaxObjectBytes == 0 {
		c.MaxObjectBytes = DefaultMaxObjectBytes
	}
	if c.Admission == "" {
		c.Admission = DefaultAdmission
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// Validate reports every problem with c at once (joined with errors.Join),
// each naming the field, its value and what is allowed. Call it on
// c.WithDefaults().
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) { errs = append(errs, fieldErr(field, nil, format, args...)) }
	if c.FlatDir == "" {
		bad("FlatDir", "is empty, want the flat tier's directory")
	}
	if c.Cold == nil {
		if c.ColdURL == "" {
			bad("ColdURL", "is empty and Cold is nil, want a cold tier URL (file:///path, mem://) or an open tier (s3:// through store/gocloud)")
		} else if _, err := parseColdURL(c.ColdURL); err != nil {
			errs = append(errs, err)
		}
	}
	if c.FlatBudget <= 0 {
		bad("FlatBudget", "= %d, want > 0 bytes (0 means the default, %d)", c.FlatBudget, DefaultFlatBudget)
	}
	if c.MaxObjectBytes <= 0 {
		bad("MaxObjectBytes", "= %d, want > 0 bytes (0 means the default, %d)", c.MaxObjectBytes, DefaultMaxObjectBytes)
	}
	if _, err := parseAdmission(c.Admission); err != nil {
		errs = append(errs, err)
	}
	if c.Logger == nil {
		bad("Logger", "is nil (call WithDefaults first)")
	}
	if c.Clock == nil {
		bad("Clock", "is nil (call WithDefaults first)")
	}
	return errors.Join(errs...)
}

// FieldError is one problem [Config.Validate] (or [OpenCold]) found with
// a field of Config: the field's name, and what is wrong with its value
// and what would be right. A program that sets the fields from its own
// flags or file maps Field to its own name for it, instead of rewriting
// the message.
type FieldError struct {
	// Field is the Config field, e.g. "FlatBudget".
	Field string
	// Problem is what follows the field's name in the message, e.g.
	// `= -1, want > 0 bytes (0 means the default, 1073741824)`.
	Problem string
	// Err is the cause, when there is one.
	Err error
}

func fieldErr(field string, cause error, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...), Err: cause}
}

// Error returns "store: Field Problem".
func (e *FieldError) Error() string { return "store: " + e.Field + " " + e.Problem }

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }

// parseAdmission parses Config.Admission with the module's one parser
// ([slru.ParseAdmission]), which the replay lab's --admission uses too.
func parseAdmission(s string) (slru.Admission, error) {
	a, err := slru.ParseAdmission(s)
	if err != nil {
		return slru.Admission{}, fieldErr("Admission", err, "= %q, %v (empty means the default, %q)", s, err, DefaultAdmission)
	}
	return a, nil
}
