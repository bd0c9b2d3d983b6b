package pipeline

import (
	"context"
	"iter"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
)

// ctxCheckEvery is how many candidates the scan streams between checks of
// ctx, so a stop interrupts a scan of millions of entries promptly.
const ctxCheckEvery = 1024

// rows is a run of entries, column by column: entry i is hashes[i] with
// metadata metas[i].
type rows struct {
	hashes []block.Hash
	metas  []block.Meta
}

func (r *rows) reset() { r.hashes, r.metas = r.hashes[:0], r.metas[:0] }

func (r *rows) add(h *block.Hash, m *block.Meta) {
	r.hashes = append(r.hashes, *h)
	r.metas = append(r.metas, *m)
}

// scan streams the sources through the pre-filters and the scorer into the
// selector, and records the selection in o, on the fastest path the
// stages allow (see fastpath.go).
func (p *Pipeline) scan(ctx context.Context, cy *Cycle, o *Outcome) {
	var pl scanPlan
	stage := StageSource
	if !p.guardAt(o, &stage, func() { pl = p.plan(&stage) }) {
		return
	}
	p.notePath(ctx, o, &pl)
	p.extras.reset()
	found := 0
	if pl.index >= 0 {
		var ok bool
		if found, ok = p.gather(ctx, cy, o, &pl); !ok {
			return
		}
	}
	if pl.path == PathPruned {
		p.scanPruned(ctx, cy, o, &pl, found)
		return
	}
	p.scanStream(ctx, cy, o, &pl, found)
}

// gather collects into p.extras the candidates of every source but the
// index source (Sources[pl.index]), once each (the first source wins),
// and looks each up in the index: the index's entry replaces a candidate
// whose source comes after the index source. It returns how many of them
// the index holds, and false if the cycle ended (o.Err is set).
func (p *Pipeline) gather(ctx context.Context, cy *Cycle, o *Outcome, pl *scanPlan) (found int, ok bool) {
	if p.extraSet == nil {
		p.extraSet = make(map[block.Hash]struct{})
	}
	clear(p.extraSet)
	p.after = p.after[:0]
	n := 0
	ok = p.guard(o, StageSource, func() {
		for i, src := range p.cfg.Sources {
			if i == pl.index {
				continue
			}
			for h, m := range src.Candidates(ctx, cy) {
				if n++; n%ctxCheckEvery == 0 && ctx.Err() != nil {
					return
				}
				if _, dup := p.extraSet[h]; dup {
					continue
				}
				p.extraSet[h] = struct{}{}
				p.extras.add(&h, &m)
				p.after = append(p.after, i > pl.index)
			}
		}
		// Looked up once every source has been read, so that no lookup
		// runs inside a source's iterator.
		for i, h := range p.extras.hashes {
			if m, in := pl.get.Get(h); in {
				found++
				if p.after[i] {
					p.extras.metas[i] = m
				}
			}
		}
	})
	if ok && ctx.Err() != nil {
		o.Err, ok = ctx.Err(), false
	}
	return found, ok
}

// streamBatch is how many entries of a plain source the scored and
// general paths take before scoring them: 32 KiB of rows.
const streamBatch = 256

// scanStream is the scored path (with a ThresholdSelector, pl.ts) and the
// general path: every entry of every source is scored, a batch of rows at
// a time (a plain source's streamBatch entries; an index shard), and never
// under a lock of the index. When the other sources were gathered
// (pl.index >= 0), their candidates come first, and then the index
// source's entries but those they hold (found of them in all); with
// several sources and no index to look them up in, every hash is
// remembered instead.
func (p *Pipeline) scanStream(ctx context.Context, cy *Cycle, o *Outcome, pl *scanPlan, found int) {
	cfg := &p.cfg
	st := streamScan{p: p, ctx: ctx, cy: cy, o: o, sc: cfg.Scorer, ts: pl.ts, pre: len(cfg.PreFilters) > 0}
	byMap := len(cfg.Sources) > 1 && pl.index < 0
	if byMap {
		if p.seen == nil {
			p.seen = make(map[block.Hash]struct{})
		}
		clear(p.seen)
	}
	st.stage = StageSelector
	cands := func(yield func(Candidate) bool) {
		st.yield = yield
		if pl.index < 0 {
			for _, src := range cfg.Sources {
				if !st.source(src, byMap, nil) {
					break
				}
			}
		} else if st.run(&p.extras, nil) {
			var skip map[block.Hash]struct{}
			if len(p.extras.hashes) > 0 {
				skip = p.extraSet
			}
			st.source(cfg.Sources[pl.index], false, skip)
		}
		st.stage = StageSelector
	}
	var sel []Candidate
	if p.guardAt(o, &st.stage, func() {
		if pl.ts != nil {
			sel = pl.ts.SelectThreshold(nil, cy.TopK, &st.th, iter.Seq[Candidate](cands))
		} else {
			sel = cfg.Selector.Select(nil, cy.TopK, iter.Seq[Candidate](cands))
		}
	}) {
		if len(sel) > cy.TopK {
			sel = sel[:cy.TopK]
		}
		o.Selected = sel
	}
	o.Scored = max(st.scored-found, 0)
	if st.err != nil && o.Err == nil {
		o.Err = st.err
	}
}

// streamScan is the state of one scored or general scan.
type streamScan struct {
	p     *Pipeline
	ctx   context.Context
	cy    *Cycle
	o     *Outcome
	sc    Scorer
	ts    ThresholdSelector // nil on the general path
	pre   bool              // there are pre-filters
	th    Threshold         // kept current by ts
	yield func(Candidate) bool
	// stage names the stage whose code runs, for a PanicError.
	stage  Stage
	scored int
	err    error // the context's, if it ended the scan
}

// source scans src, passing over the entries whose hash is in skip (or,
// byMap, seen before), and reports whether to go on. The index of a
// ReaderSource that scans shard by shard is copied out a shard at a time
// under that shard's lock and scored between shards, when no lock is
// held; any other source is taken streamBatch entries at a time, scored
// while its iterator waits for the next.
func (st *streamScan) source(src Source, byMap bool, skip map[block.Hash]struct{}) bool {
	b := &st.p.batch
	b.reset()
	if rs, ok := src.(ReaderSource); ok && !byMap {
		st.stage = StageSource
		if ss, ok := rs.Reader().(ShardScanner); ok {
			going := true
			ss.ScanColumnsBounded(func(int, index.Bounds) bool {
				// Between two shards, without a lock: score the last.
				if going && len(b.hashes) > 0 {
					going = st.run(b, skip)
					b.reset()
					st.stage = StageSource
				}
				return !going
			}, func(c index.Columns) bool {
				b.hashes = append(b.hashes, c.Hashes...)
				b.metas = append(b.metas, c.Metas...)
				return true
			})
			return going && st.run(b, skip)
		}
	}
	st.stage = StageSource
	going := true
	for h, m := range src.Candidates(st.ctx, st.cy) {
		if byMap {
			if _, dup := st.p.seen[h]; dup {
				continue
			}
			st.p.seen[h] = struct{}{}
		}
		b.add(&h, &m)
		if len(b.hashes) == streamBatch {
			if going = st.run(b, skip); !going {
				break
			}
			b.reset()
			st.stage = StageSource
		}
	}
	return going && st.run(b, skip)
}

// run scores the rows of b, passing over those whose hash is in skip (they
// count as scored: the caller subtracts them), and hands the candidates on
// to the selector: with a ThresholdSelector, only those that beat its K-th
// so far. It reports whether to go on.
func (st *streamScan) run(b *rows, skip map[block.Hash]struct{}) bool {
	if len(b.hashes) == 0 {
		return true
	}
	if err := st.ctx.Err(); err != nil {
		st.err = err
		return false
	}
	sc, now, th, lazy := st.sc, st.cy.Now, &st.th, st.ts != nil
	scored := 0
	defer func() { st.scored += scored }()
	metas := b.metas[:len(b.hashes)]
	st.stage = StageScorer
	for i := range b.hashes {
		h, m := &b.hashes[i], &metas[i]
		var s float64
		if lazy {
			s = sc.Score(now, *h, *m)
			if th.Full && (s < th.Score || !th.Beats(s, *h)) {
				scored++ // ranked, and out of the running
				continue
			}
		}
		if skip != nil {
			if _, dup := skip[*h]; dup { // gathered, and counted in found
				scored++
				continue
			}
		}
		c := Candidate{Hash: *h, Meta: *m, Score: s}
		if st.pre {
			st.stage = StageFilter
			if st.p.preFiltered(st.ctx, st.cy, st.o, c) {
				st.stage = StageScorer
				continue
			}
			st.stage = StageScorer
		}
		if !lazy {
			c.Score = sc.Score(now, *h, *m)
		}
		scored++
		st.stage = StageSelector
		if !st.yield(c) {
			return false
		}
		st.stage = StageScorer
	}
	return true
}
