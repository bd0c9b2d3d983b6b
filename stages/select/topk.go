// Package topk holds the select stage: [pipeline.Selector] implementations
// that keep the K best candidates of a stream, best first, equal scores
// ordered by the lower hash (see [pipeline.Compare]), so that every selector
// returns the same K in the same order.
//
//   - [FullSort] collects every candidate, sorts and truncates: O(N log N)
//     time and O(N) memory, kept as the baseline.
//   - [Heap] streams the candidates through a bounded heap of the K best:
//     O(N log K) time, O(K) memory, and no allocation per candidate.
//   - [Quickselect] gathers candidates in a buffer of 2K and, each time it
//     fills, keeps the K best by partitioning (quickselect): O(N) expected
//     time whatever the input order, O(K) memory. It beats Heap when many
//     candidates enter the top K as they arrive (scores ascending along the
//     stream, large K).
//
// Heap and Quickselect implement [pipeline.ThresholdSelector], so a cycle
// over a bounded scorer and a columnar index skips the entries that cannot
// enter the top K (see the pipeline package's fast path).
//
// The package is named topk because select is a Go keyword; it lives in
// stages/select.
package topk

import (
	"iter"
	"slices"

	"github.com/wombatkv/prefetch/pipeline"
)

// FullSort collects all candidates, sorts them and keeps the first K. It
// allocates O(N) per cycle.
type FullSort struct{}

// Select returns the k best of seq in rank order.
func (FullSort) Select(dst []pipeline.Candidate, k int, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
	k = max(k, 0)
	all := slices.Collect(seq)
	slices.SortFunc(all, func(a, b pipeline.Candidate) int { return pipeline.Compare(&a, &b) })
	if k < len(all) {
		all = all[:k]
	}
	return append(dst[:0], all...)
}

// maxPrealloc bounds the candidates a selector allocates before it has
// seen them: a K far larger than the stream (a caller's mistake, or a
// "select everything" K) costs what the stream holds, not what K says.
const maxPrealloc = 4096

// Heap keeps the K best in a bounded min-heap whose root is the worst kept
// candidate: a newcomer that does not rank before the root costs one
// comparison. It allocates nothing per candidate: the K-slot result when
// dst lacks room (up to 4096 slots at once, growing with the stream beyond
// that), and a constant few objects per call (ranging over an opaque
// iter.Seq lets the loop's closure escape).
// It implements pipeline.ThresholdSelector: the root is the bar.
type Heap struct{}

// Select returns the k best of seq in rank order.
func (Heap) Select(dst []pipeline.Candidate, k int, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
	return heapSelect(dst, k, nil, seq)
}

// SelectThreshold is Select that keeps *th at the heap's root once the
// heap is full (pipeline.ThresholdSelector).
func (Heap) SelectThreshold(dst []pipeline.Candidate, k int, th *pipeline.Threshold, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
	*th = pipeline.Threshold{}
	return heapSelect(dst, k, th, seq)
}

func heapSelect(dst []pipeline.Candidate, k int, th *pipeline.Threshold, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
	h := dst[:0]
	if k <= 0 {
		for range seq {
		}
		return h
	}
	if cap(h) < k {
		h = make([]pipeline.Candidate, 0, min(k, maxPrealloc))
	}
	for c := range seq {
		if len(h) < k {
			h = append(h, c)
			up(h, len(h)-1)
			if len(h) == k && th != nil {
				publish(th, &h[0])
			}
			continue
		}
		if pipeline.Compare(&c, &h[0]) < 0 {
			h[0] = c
			down(h, 0)
			if th != nil {
				publish(th, &h[0])
			}
		}
	}
	slices.SortFunc(h, func(a, b pipeline.Candidate) int { return pipeline.Compare(&a, &b) })
	return h
}

// publish makes c, the K-th best kept, the bar.
func publish(th *pipeline.Threshold, c *pipeline.Candidate) {
	th.Full, th.Score, th.Hash = true, c.Score, c.Hash
}

// worse reports whether h[i] ranks after h[j]: the heap keeps the worst at
// the root.
func worse(h []pipeline.Candidate, i, j int) bool { return pipeline.Compare(&h[i], &h[j]) > 0 }

func up(h []pipeline.Candidate, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !worse(h, i, p) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func down(h []pipeline.Candidate, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		w := l
		if r := l + 1; r < n && worse(h, r, l) {
			w = r
		}
		if !worse(h, w, i) {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}
