package bench

import (
	"encoding/binary"
	"iter"
	"math/rand/v2"
	"time"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/pipeline"
)

// Now is the clock reading every benchmark cycle scores against: a fixed
// instant, so that every cycle over a fixture ranks the same way.
var Now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// Ages says how a fixture's last-access times are laid out along the order
// its entries are inserted.
type Ages string

const (
	// Random ages: each entry last accessed uniformly within MaxAge
	// before Now, independently of its insertion order.
	Random Ages = "random"
	// Ascending last-access times (ages falling, newest last) along the
	// insertion order: the order an index fills in, where every newcomer
	// is the most recent yet. It is the hard case for pruning a stream
	// scanned in insertion order.
	Ascending Ages = "asc"
)

// MaxAge is the oldest last access in a fixture: six RFC 0008 half-lives.
const MaxAge = time.Hour

// Fixture shape: chains of ChainLen blocks (1 in ChainLen is a chain head)
// computed by Models models, the first of which is active.
const (
	ChainLen = 32
	Models   = 4
)

// Model returns the digest of fixture model i (0 is the active one).
func Model(i int) block.ModelDigest {
	var d block.ModelDigest
	d[0] = 0xd0
	d[23] = byte(i + 1)
	return d
}

// Entries streams the n entries of the fixture with the given ages before
// now: hashes uniformly random (as content hashes are), seeded so that a
// fixture is the same in every run.
func Entries(n int, ages Ages, now time.Time) iter.Seq2[block.Hash, block.Meta] {
	return func(yield func(block.Hash, block.Meta) bool) {
		r := rand.New(rand.NewPCG(uint64(n), 0x5eed))
		nowNs := now.UnixNano()
		for i := range n {
			var h block.Hash
			for j := 0; j < len(h); j += 8 {
				binary.LittleEndian.PutUint64(h[j:], r.Uint64())
			}
			var age int64
			switch ages {
			case Ascending:
				age = int64(MaxAge) - int64(MaxAge)*int64(i)/int64(n)
			default:
				age = r.Int64N(int64(MaxAge))
			}
			m := block.Meta{
				Seq:          uint32(r.IntN(ChainLen)),
				PayloadBytes: 1 << 20,
				LastAccessNs: nowNs - age,
				Model:        Model(r.IntN(Models)),
			}
			if !yield(h, m) {
				return
			}
		}
	}
}

// NewIndex returns an index.Memory holding Entries(n, ages, clock()),
// whose own clock (for Touch and Insert) is clock. The cycle benchmarks use
// the fixed clock Now; the request-path benchmark, where Touch and Insert
// stamp entries while cycles rank them, uses time.Now, as a node does.
func NewIndex(n int, ages Ages, clock func() time.Time) *index.Memory {
	x := index.NewMemory(clock)
	x.BulkLoad(Entries(n, ages, clock()))
	return x
}

// Candidates returns n pre-scored candidates for the selection benchmarks:
// random hashes, and scores in random order or (ascending) rising along the
// stream, so that every candidate enters a streaming top K.
func Candidates(n int, ages Ages) []pipeline.Candidate {
	r := rand.New(rand.NewPCG(uint64(n), 0xca7d))
	cs := make([]pipeline.Candidate, n)
	for i := range cs {
		for j := 0; j < len(cs[i].Hash); j += 8 {
			binary.LittleEndian.PutUint64(cs[i].Hash[j:], r.Uint64())
		}
		if ages == Ascending {
			cs[i].Score = float64(i) / float64(n)
		} else {
			cs[i].Score = r.Float64()
		}
	}
	return cs
}
