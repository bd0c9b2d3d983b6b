package replay

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/wombatkv/prefetch/block"
)

// Hash returns the block hash the lab gives trace id id: the id big-endian
// in the last 8 bytes, zeros before. Hashes so made order as their ids,
// so the pipeline's tie-break by the lower hash is the reference's
// tie-break by the lower id.
func Hash(id uint64) block.Hash {
	var h block.Hash
	binary.BigEndian.PutUint64(h[24:], id)
	return h
}

// ID returns the trace id of a hash made by [Hash], and false for any other
// hash.
func ID(h block.Hash) (uint64, bool) {
	if [24]byte(h[:24]) != [24]byte{} {
		return 0, false
	}
	return binary.BigEndian.Uint64(h[24:]), true
}

// labModel is the digest every block of the lab carries: the model is
// always the active one, so RFC 0008's model bonus is always paid.
func labModel() block.ModelDigest { return block.ModelDigest{'r', 'e', 'p', 'l', 'a', 'y'} }

// model is a trace prepared for replay under some settings: blocks
// numbered densely in order of first appearance, with their sizes and GET
// costs, and every request's references. It is read-only once built and
// shared by the runs of one Run call.
type model struct {
	name string
	// Per block (dense index b).
	ids    []uint64
	size   []int64
	cost   []int64 // ns
	parent []int32 // -1 for a chain head
	seq    []uint32
	first  []int32 // the request that first reads it
	// Lookup from id to dense index: a table when ids are dense enough,
	// else a map.
	table []int32
	index map[uint64]int32
	// Per request i: time and refs[start[i]:start[i+1]].
	t     []int64 // ns since the trace start
	start []int32
	refs  []int32
	// nextRef[j] is the position of the first ref to ref j's block in
	// the next request after j's that reads it, or noRef.
	nextRef []int32

	uniqueBytes int64
	reusedRefs  int
}

// prepare numbers the blocks of tr and prices them under s.
func prepare(tr *Trace, s Settings) *model {
	m := &model{name: tr.Name, index: map[uint64]int32{}}
	n := len(tr.Requests)
	m.t = make([]int64, n)
	m.start = make([]int32, n+1)
	total := 0
	for _, rq := range tr.Requests {
		total += len(rq.HashIDs)
	}
	m.refs = make([]int32, 0, total)
	bt := int64(s.BlockTokens)
	for i, rq := range tr.Requests {
		m.t[i] = rq.Timestamp * int64(time.Millisecond)
		m.start[i] = int32(len(m.refs))
		k := len(rq.HashIDs)
		for j, id := range rq.HashIDs {
			b, ok := m.index[id]
			if !ok {
				b = int32(len(m.ids))
				m.index[id] = b
				tokens := bt
				if j == k-1 {
					tokens = min(max(rq.InputLength-bt*int64(k-1), 1), bt)
				}
				size := tokens * s.BytesPerToken
				p := int32(-1)
				if j > 0 {
					p = m.index[rq.HashIDs[j-1]]
				}
				m.ids = append(m.ids, id)
				m.size = append(m.size, size)
				m.cost = append(m.cost, int64(s.GetCost(size)))
				m.parent = append(m.parent, p)
				m.seq = append(m.seq, uint32(j))
				m.first = append(m.first, int32(i))
				m.uniqueBytes += size
			} else if m.first[b] < int32(i) {
				m.reusedRefs++
			}
			m.refs = append(m.refs, b)
		}
	}
	m.start[n] = int32(len(m.refs))
	m.nextRef = make([]int32, len(m.refs))
	later := make([]int32, len(m.ids)) // each block's first ref in the requests after i
	for b := range later {
		later[b] = noRef
	}
	for i := n - 1; i >= 0; i-- {
		for j := m.start[i]; j < m.start[i+1]; j++ {
			m.nextRef[j] = later[m.refs[j]]
		}
		for j := m.start[i+1] - 1; j >= m.start[i]; j-- {
			later[m.refs[j]] = j
		}
	}
	// A dense table when the ids allow it (Mooncake's do: 0..N).
	var maxID uint64
	for _, id := range m.ids {
		maxID = max(maxID, id)
	}
	if maxID < uint64(4*len(m.ids)+1024) {
		m.table = make([]int32, maxID+1)
		for i := range m.table {
			m.table[i] = -1
		}
		for b, id := range m.ids {
			m.table[id] = int32(b)
		}
		m.index = nil
	}
	return m
}

// noRef is a ref position past every trace's: no further read.
const noRef = math.MaxInt32

// lookup returns the dense index of the block with hash h.
func (m *model) lookup(h block.Hash) (int32, bool) {
	id, ok := ID(h)
	if !ok {
		return -1, false
	}
	if m.table != nil {
		if id >= uint64(len(m.table)) || m.table[id] < 0 {
			return -1, false
		}
		return m.table[id], true
	}
	b, ok := m.index[id]
	return b, ok
}

// meta returns block b's metadata as the index holds it, last accessed at
// lastNs.
func (m *model) meta(b int32, lastNs int64) block.Meta {
	md := block.Meta{
		Seq:          m.seq[b],
		PayloadBytes: uint64(m.size[b]),
		LastAccessNs: lastNs,
		Model:        labModel(),
	}
	if p := m.parent[b]; p >= 0 {
		md.Parent = Hash(m.ids[p])
	}
	return md
}

func (m *model) requests() int { return len(m.t) }
