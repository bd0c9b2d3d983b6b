package usefulness

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// counts are the figures of Stats a test compares, without the buckets.
type counts struct {
	Prefetched, Useful, Late, WastedEvicted, WastedRemoved, Unread uint64
	Reads                                                          Reads
	Leads, Waits, Ages                                             uint64
	LeadSum, WaitSum, AgeSum                                       float64
}

func countsOf(s Stats) counts {
	return counts{
		Prefetched: s.Prefetched, Useful: s.Useful, Late: s.Late,
		WastedEvicted: s.WastedEvicted, WastedRemoved: s.WastedRemoved, Unread: s.Unread(),
		Reads: s.Reads,
		Leads: s.Lead.Count, Waits: s.Wait.Count, Ages: s.UnreadAge.Count,
		LeadSum: s.Lead.Sum, WaitSum: s.Wait.Sum, AgeSum: s.UnreadAge.Sum,
	}
}

func TestOutcomes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		name string
		run  func(t *Tally)
		want counts
	}{
		{"useful", func(ty *Tally) {
			m := ty.Published(at(0))
			ty.Hit(&m, at(2))
		}, counts{Prefetched: 1, Useful: 1, Reads: Reads{Prefetched: 1}, Leads: 1, LeadSum: 2}},
		{"read twice counts once", func(ty *Tally) {
			m := ty.Published(at(0))
			ty.Hit(&m, at(1))
			ty.Hit(&m, at(3))
			ty.Evicted(&m, at(4)) // read: not wasted
		}, counts{Prefetched: 1, Useful: 1, Reads: Reads{Flat: 1, Prefetched: 1}, Leads: 1, LeadSum: 1}},
		{"late", func(ty *Tally) {
			ty.Late(at(1), at(1.5))
			ty.Read(ReadJoined)
			ty.Read(ReadJoined) // a second read joined the same GET
		}, counts{Prefetched: 1, Late: 1, Reads: Reads{Joined: 2}, Waits: 1, WaitSum: 0.5}},
		{"late, joined after it landed", func(ty *Tally) {
			ty.Late(at(2), at(1))
		}, counts{Prefetched: 1, Late: 1, Waits: 1}},
		{"wasted on eviction", func(ty *Tally) {
			m := ty.Published(at(0))
			ty.Evicted(&m, at(30))
			ty.Hit(&m, at(31)) // cannot happen in a tier; counts as a plain read
		}, counts{Prefetched: 1, WastedEvicted: 1, Reads: Reads{Flat: 1}, Ages: 1, AgeSum: 30}},
		{"wasted on removal", func(ty *Tally) {
			m := ty.Published(at(0))
			ty.Removed(&m, at(5))
			ty.Removed(&m, at(6))
		}, counts{Prefetched: 1, WastedRemoved: 1, Ages: 1, AgeSum: 5}},
		{"not prefetched", func(ty *Tally) {
			var m Mark // the node wrote or read it
			ty.Hit(&m, at(1))
			ty.Evicted(&m, at(2))
			ty.Read(ReadCold)
		}, counts{Reads: Reads{Flat: 1, Cold: 1}}},
		{"unread", func(ty *Tally) {
			ty.Published(at(0))
			ty.Published(at(1))
		}, counts{Prefetched: 2, Unread: 2}},
		{"clock stepped back", func(ty *Tally) {
			m := ty.Published(at(10))
			ty.Hit(&m, at(9))
		}, counts{Prefetched: 1, Useful: 1, Reads: Reads{Prefetched: 1}, Leads: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ty Tally
			tc.run(&ty)
			if diff := cmp.Diff(tc.want, countsOf(ty.Stats())); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuckets(t *testing.T) {
	var ty Tally
	t0 := time.Unix(0, 0) // the Unix epoch is a valid instant, not "unset"
	for _, s := range []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 2 * time.Hour} {
		m := ty.Published(t0)
		if !m.Unread() {
			t.Fatal("a published block is not unread")
		}
		ty.Hit(&m, t0.Add(s))
	}
	h := ty.Stats().Lead
	want := make([]uint64, len(leadBounds)+1)
	want[0] = 2               // 0 and 1 ms: le 0.001
	want[1] = 1               // 2 ms: le 0.01
	want[len(leadBounds)] = 1 // 2 h: above every bound
	if diff := cmp.Diff(want, h.Counts); diff != "" {
		t.Errorf("lead buckets mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(leadBounds[:], h.Bounds); diff != "" {
		t.Errorf("lead bounds mismatch (-want +got):\n%s", diff)
	}
}

func TestRatios(t *testing.T) {
	var s Stats
	if _, ok := s.Precision(); ok {
		t.Error("Precision of nothing is ok")
	}
	if _, ok := s.Served(); ok {
		t.Error("Served of no reads is ok")
	}
	s = Stats{Prefetched: 10, Useful: 5, Late: 1, WastedEvicted: 1, WastedRemoved: 1, Reads: Reads{Flat: 2, Prefetched: 5, Joined: 1, Cold: 4}}
	if p, ok := s.Precision(); !ok || p != 0.75 {
		t.Errorf("Precision = %v, %v, want 0.75, true", p, ok)
	}
	if sh, ok := s.Served(); !ok || sh != 0.5 {
		t.Errorf("Served = %v, %v, want 0.5, true", sh, ok)
	}
	if u := s.Unread(); u != 2 {
		t.Errorf("Unread = %d, want 2", u)
	}
}

func TestAdd(t *testing.T) {
	var a, b Tally
	t0 := time.Unix(5, 0)
	m := a.Published(t0)
	a.Hit(&m, t0.Add(time.Second))
	b.Late(t0, t0.Add(time.Millisecond))
	m = b.Published(t0)
	b.Evicted(&m, t0.Add(time.Minute))
	var sum Stats
	sum.Add(a.Stats())
	sum.Add(b.Stats())
	got := countsOf(sum)
	want := counts{Prefetched: 3, Useful: 1, Late: 1, WastedEvicted: 1, Reads: Reads{Prefetched: 1}, Leads: 1, Waits: 1, Ages: 1, LeadSum: 1, WaitSum: 0.001, AgeSum: 60}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y float64) bool { return math.Abs(x-y) < 1e-12 })); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if len(sum.Lead.Counts) != len(leadBounds)+1 || sum.Lead.Counts[6] != 1 { // 1 s: le 1
		t.Errorf("summed lead buckets = %v, want one at 1 s", sum.Lead.Counts)
	}
}

func TestReadString(t *testing.T) {
	got := []string{ReadFlat.String(), ReadPrefetched.String(), ReadJoined.String(), ReadCold.String(), nReads.String()}
	want := []string{"flat", "prefetched", "joined", "cold", "unknown"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func BenchmarkHit(b *testing.B) {
	var ty Tally
	now := time.Unix(100, 0)
	b.ReportAllocs()
	for b.Loop() {
		m := ty.Published(now)
		ty.Hit(&m, now)
		ty.Hit(&m, now)
	}
}
