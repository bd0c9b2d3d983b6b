package usefulness_test

import (
	"fmt"
	"time"

	"github.com/wombatkv/prefetch/internal/usefulness"
)

// A tier keeps one Mark beside each block it holds and tells the Tally
// each block's events: here one prefetched block is read, one is evicted
// unread, and a read joins a third block's GET in flight.
func ExampleTally() {
	var t usefulness.Tally
	t0 := time.Unix(0, 0)
	a := t.Published(t0)
	b := t.Published(t0)
	t.Hit(&a, t0.Add(2*time.Second))        // useful, 2 s of lead
	t.Hit(&a, t0.Add(3*time.Second))        // read again: a plain flat read
	t.Evicted(&b, t0.Add(time.Minute))      // wasted, after a minute unread
	t.Late(t0, t0.Add(40*time.Millisecond)) // a read waited 40 ms for the GET
	t.Read(usefulness.ReadJoined)
	s := t.Stats()
	p, _ := s.Precision()
	served, _ := s.Served()
	fmt.Printf("prefetched %d: useful %d, late %d, wasted %d\n", s.Prefetched, s.Useful, s.Late, s.Wasted())
	fmt.Printf("reads %d (flat %d, prefetched %d, joined %d, cold %d)\n", s.Reads.Total(), s.Reads.Flat, s.Reads.Prefetched, s.Reads.Joined, s.Reads.Cold)
	fmt.Printf("precision %.2f, served %.2f of reads, lead %.0f s\n", p, served, s.Lead.Sum)
	// Output:
	// prefetched 3: useful 1, late 1, wasted 1
	// reads 3 (flat 1, prefetched 1, joined 1, cold 0)
	// precision 0.67, served 0.67 of reads, lead 2 s
}
