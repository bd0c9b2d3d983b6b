package replay

import (
	"time"

	"github.com/wombatkv/prefetch/internal/usefulness"
	"github.com/wombatkv/prefetch/stages/snapshot"
)

// serve replays request i at its time (r.now).
func (r *run) serve(i int) {
	m := r.m
	t := r.now
	var stall, prefix int64
	missed := false
	for j := m.start[i]; j < m.start[i+1]; j++ {
		b := m.refs[j]
		r.lastRead[b] = t
		r.next[b] = m.nextRef[j]
		r.note(b)
		if !r.seen[b] {
			// Computed: no stall; it enters the index, cold and flat.
			r.seen[b] = true
			if r.idx != nil {
				r.idx.Insert(Hash(m.ids[b]), m.meta(b, 0))
			}
			r.demandInsert(b, t)
			continue
		}
		if r.idx != nil {
			r.idx.Touch(Hash(m.ids[b]))
		}
		cost := m.cost[b]
		switch {
		case r.where[b] != inNone:
			r.hits++
			r.touch(b)
			r.tally.Hit(&r.marks[b], at(t))
			if missed {
				prefix += cost
			}
		case r.pend[b]:
			r.late++
			done := r.pendAt[b]
			if r.link != nil {
				done, _ = r.link.join(b) // the request's load from now on
			}
			wait := max(0, done-(t+stall))
			r.tally.Late(at(t+stall), at(done))
			r.tally.Read(usefulness.ReadJoined)
			stall += wait
			r.lateWait += wait
			r.pend[b] = false
			r.gen[b]++
			r.pendBytes -= m.size[b]
			r.pending--
			r.demandInsert(b, t)
			if missed {
				prefix += cost
			} else {
				prefix += wait
			}
			missed = true
		default:
			r.cold++
			r.tally.Read(usefulness.ReadCold)
			load := cost
			if r.link != nil {
				load = r.link.demand(t+stall, float64(m.size[b])) - (t + stall)
			}
			stall += load
			prefix += load
			r.demandInsert(b, t)
			missed = true
		}
	}
	r.stalls = append(r.stalls, stall)
	r.prefix = append(r.prefix, prefix)
}

// hintsOf returns request i's blocks as hints due at its time.
func (r *run) hintsOf(i int, dst []snapshot.Hint) []snapshot.Hint {
	m := r.m
	due := time.Unix(0, m.t[i])
	dst = dst[:0]
	for j := m.start[i]; j < m.start[i+1]; j++ {
		b := m.refs[j]
		dst = append(dst, snapshot.Hint{Hash: Hash(m.ids[b]), Meta: m.meta(b, 0), Due: due})
	}
	return dst
}
