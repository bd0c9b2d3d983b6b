package topk

import (
	"iter"
	"math"
	"math/bits"
	"slices"

	"github.com/wombatkv/prefetch/pipeline"
)

// Quickselect keeps the K best with a buffer of 2K candidates (at least
// minQuickselectBuf): when the buffer fills, a quickselect partition keeps
// its K best and the K-th becomes the bar a newcomer must beat to enter the
// buffer at all. Each refill costs O(K), so a stream of N costs O(N)
// expected whatever its order, where [Heap] pays O(log K) for every
// newcomer that enters the top K. It allocates the buffer (O(K)) unless dst
// has room for it. It implements pipeline.ThresholdSelector.
type Quickselect struct{}

// minQuickselectBuf is the smallest buffer Quickselect uses, so that small
// K does not partition every few candidates.
const minQuickselectBuf = 64

// Select returns the k best of seq in rank order.
func (Quickselect) Select(dst []pipeline.Candidate, k int, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
	var th pipeline.Threshold
	return quickselect(dst, k, &th, seq)
}

// SelectThreshold is Select that publishes the K-th best after each
// partition (pipeline.ThresholdSelector).
func (Quickselect) SelectThreshold(dst []pipeline.Candidate, k int, th *pipeline.Threshold, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
	*th = pipeline.Threshold{}
	return quickselect(dst, k, th, seq)
}

func quickselect(dst []pipeline.Candidate, k int, th *pipeline.Threshold, seq iter.Seq[pipeline.Candidate]) []pipeline.Candidate {
	buf := dst[:0]
	if k <= 0 {
		for range seq {
		}
		return buf
	}
	size := math.MaxInt // 2K would overflow: the stream ends first
	if k <= math.MaxInt/2 {
		size = max(2*k, minQuickselectBuf)
	}
	if cap(buf) < size {
		buf = make([]pipeline.Candidate, 0, min(size, maxPrealloc))
	}
	kth := pipeline.Candidate{}
	for c := range seq {
		if th.Full && pipeline.Compare(&c, &kth) >= 0 {
			continue
		}
		if len(buf) == size {
			nthElement(buf, k-1)
			buf = buf[:k]
			kth = buf[k-1]
			publish(th, &kth)
			if pipeline.Compare(&c, &kth) >= 0 {
				continue
			}
		}
		buf = append(buf, c)
	}
	if len(buf) > k {
		nthElement(buf, k-1)
		buf = buf[:k]
	}
	slices.SortFunc(buf, func(a, b pipeline.Candidate) int { return pipeline.Compare(&a, &b) })
	return buf
}

// nthElement reorders s so that s[n] is the candidate that would be there
// if s were sorted by rank, every candidate before it ranks before or with
// it, and every one after ranks after or with it. It falls back to sorting
// a range that partitions badly too often, so it is O(len(s) log len(s))
// at worst and O(len(s)) expected.
func nthElement(s []pipeline.Candidate, n int) {
	lo, hi := 0, len(s) // s[lo:hi] holds position n
	budget := 2 * bits.Len(uint(len(s)))
	for hi-lo > 16 {
		if budget--; budget < 0 {
			slices.SortFunc(s[lo:hi], func(a, b pipeline.Candidate) int { return pipeline.Compare(&a, &b) })
			return
		}
		p := partition(s[lo:hi]) + lo
		switch {
		case n < p:
			hi = p
		case n > p:
			lo = p + 1
		default:
			return
		}
	}
	// Insertion sort finishes a short range.
	for i := lo + 1; i < hi; i++ {
		for j := i; j > lo && pipeline.Compare(&s[j], &s[j-1]) < 0; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// partition partitions s (len >= 3) around a median-of-three pivot and
// returns the pivot's final index: s[:p] rank before or with it, s[p+1:]
// after or with it.
func partition(s []pipeline.Candidate) int {
	n := len(s)
	a, b, c := 0, n/2, n-1
	// Order s[a] <= s[b] <= s[c]; the median goes to the end as the pivot.
	if pipeline.Compare(&s[b], &s[a]) < 0 {
		s[a], s[b] = s[b], s[a]
	}
	if pipeline.Compare(&s[c], &s[b]) < 0 {
		s[b], s[c] = s[c], s[b]
		if pipeline.Compare(&s[b], &s[a]) < 0 {
			s[a], s[b] = s[b], s[a]
		}
	}
	s[b], s[c] = s[c], s[b]
	pivot := &s[c]
	// Hoare-style scan from both ends; candidates equal to the pivot may go
	// either way, which keeps runs of equal candidates balanced.
	i, j := 0, c-1
	for {
		for i <= j && pipeline.Compare(&s[i], pivot) < 0 {
			i++
		}
		for i <= j && pipeline.Compare(&s[j], pivot) > 0 {
			j--
		}
		if i >= j {
			break
		}
		s[i], s[j] = s[j], s[i]
		i++
		j--
	}
	s[i], s[c] = s[c], s[i]
	return i
}
