package index

import (
	"math/bits"

	"github.com/wombatkv/prefetch/block"
)

// slotTable locates a shard's entries: it maps a hash to the entry's slot
// (its position in the shard's columns) without a second copy of the
// hash. It is an open-addressing table of uint32 words probed linearly;
// a word holds the slot plus one in its low k bits (0 is an empty word)
// and, above them, a tag: the top 32-k bits of the hash's seeded 64-bit
// fingerprint. A probe compares tags first and reads the full hash from
// the shard's hashes column only when a tag matches, so a lookup costs
// about one probe into the column; the tag also fixes the word's home
// position, so the table is rebuilt and shrunk around a deletion without
// reading the hashes column.
//
// Words are kept in Robin Hood order (along a probe, homes never go
// back), which keeps probes short at the 90% load the table grows at: a
// probe for an absent hash stops at the first word nearer its home than
// the hash would be to its own.
//
// The table grows by half when it is 90% full, incrementally: the full
// table becomes old, an empty one half as large again becomes cur, and
// every later write moves at most drainSteps of old's positions into cur
// (by their tags, without reading a hash), so no write rehashes more than
// a few words. Until old is empty, lookups probe cur and then old. With
// 4-byte words at 60% to 90% load, the table costs 4.4 to 6.7 bytes per
// entry.
type slotTable struct {
	cur, old slotArray
	drain    int // old's positions below drain are empty: moved into cur
}

// drainSteps bounds the table work of one write: positions of old looked
// at, or words moved. Any value from 5 drains old before cur fills.
const drainSteps = 64

type slotArray struct {
	w []uint32
	k uint // slot bits; the tag has 32-k
}

func newSlotArray(size int) slotArray {
	// len(w) < 1<<k, and at most 90% of it is ever filled, so slot+1
	// fits in k bits.
	return slotArray{w: make([]uint32, size), k: uint(bits.Len(uint(size)))}
}

func (a *slotArray) tag(fp uint64) uint32 { return uint32(fp >> (32 + a.k)) }

// home is where a word with the given tag starts its probe. The tags of
// a table of up to 1<<15 words spread over all of it (larger tables, of
// shards past 29,000 entries, use fewer distinct homes and probe longer).
func (a *slotArray) home(tag uint32) int {
	return int(uint64(tag) * uint64(len(a.w)) >> (32 - a.k))
}

func (a *slotArray) word(tag uint32, slot int32) uint32 { return tag<<a.k | uint32(slot+1) }

func (a *slotArray) slot(w uint32) int32 { return int32(w&(1<<a.k-1)) - 1 }

// find returns the position in a of the word for h, whose fingerprint is
// fp, and its slot; pos is -1 when h is not in a.
func (a *slotArray) find(s *shard, h *block.Hash, fp uint64) (pos int, slot int32) {
	n := len(a.w)
	if n == 0 {
		return -1, -1
	}
	tag := a.tag(fp)
	home := a.home(tag)
	for p, d := home, 0; ; d++ {
		w := a.w[p]
		// Robin Hood order: had h been here, it would sit before any word
		// nearer its own home than h would be to h's.
		if w == 0 || dist(a.home(w>>a.k), p, n) < d {
			return -1, -1
		}
		if w>>a.k == tag {
			if sl := a.slot(w); *s.hashAt(sl) == *h {
				return p, sl
			}
		}
		if p++; p == n {
			p = 0
		}
	}
}

// insert stores a word for tag and slot, Robin Hood style: probing from
// the tag's home, it takes the place of the first word nearer its own home
// than the new word is to its, and carries that word on.
func (a *slotArray) insert(tag uint32, slot int32) {
	n := len(a.w)
	w := a.word(tag, slot)
	for p, d := a.home(tag), 0; ; d++ {
		e := a.w[p]
		if e == 0 {
			a.w[p] = w
			return
		}
		if ed := dist(a.home(e>>a.k), p, n); ed < d {
			a.w[p], w, d = w, e, ed
		}
		if p++; p == n {
			p = 0
		}
	}
}

// deleteAt empties position p, shifting back by one the words after it up
// to the first that is at its home (backward-shift deletion: no
// tombstones, and the Robin Hood order holds).
func (a *slotArray) deleteAt(p int) {
	n := len(a.w)
	for {
		q := p + 1
		if q == n {
			q = 0
		}
		w := a.w[q]
		if w == 0 || a.home(w>>a.k) == q {
			break
		}
		a.w[p] = w
		p = q
	}
	a.w[p] = 0
}

// dist is how far b lies after a in a ring of n positions.
func dist(a, b, n int) int {
	if d := b - a; d >= 0 {
		return d
	}
	return b - a + n
}

// find returns where h (fingerprint fp) is: the array holding its word,
// the word's position, and h's slot; a is nil when h is absent.
func (t *slotTable) find(s *shard, h *block.Hash, fp uint64) (a *slotArray, pos int, slot int32) {
	if p, sl := t.cur.find(s, h, fp); p >= 0 {
		return &t.cur, p, sl
	}
	if p, sl := t.old.find(s, h, fp); p >= 0 {
		return &t.old, p, sl
	}
	return nil, -1, -1
}

// add records a new entry at slot (the shard then holds slot+1 entries),
// growing the table first if it is 90% full.
func (t *slotTable) add(fp uint64, slot int32) {
	if n := len(t.cur.w); 10*int(slot+1) > 9*n {
		if len(t.old.w) > 0 { // not reached: old drains before cur fills
			t.drainAll()
		}
		t.old, t.cur, t.drain = t.cur, newSlotArray(max(8, n+n/2)), 0
	}
	t.cur.insert(t.cur.tag(fp), slot)
	t.step()
}

// step moves up to drainSteps of old's positions into cur.
func (t *slotTable) step() {
	if len(t.old.w) == 0 {
		return
	}
	shift := t.cur.k - t.old.k // cur's tags are shorter
	for range drainSteps {
		if t.drain == len(t.old.w) {
			t.old, t.drain = slotArray{}, 0
			return
		}
		w := t.old.w[t.drain]
		if w == 0 {
			t.drain++
			continue
		}
		// Deleting at drain may shift a later word into it: the next
		// step looks at drain again. No word shifts below drain, where
		// every position is empty.
		t.cur.insert((w>>t.old.k)>>shift, t.old.slot(w))
		t.old.deleteAt(t.drain)
	}
}

func (t *slotTable) drainAll() {
	for len(t.old.w) > 0 {
		t.step()
	}
}

// setSlot rewrites the word at pos of a for a new slot, which must be
// below the old one (a swap-delete moves the shard's last entry down).
func setSlot(a *slotArray, pos int, slot int32) {
	a.w[pos] = a.word(a.w[pos]>>a.k, slot)
}
