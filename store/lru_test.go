package store

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/internal/slru"
)

func TestRecency(t *testing.T) {
	type op struct {
		do   string // "admit", "touch", "trim"
		key  string
		size int64
		at   place
	}
	admit := func(key string, at place) op { return op{do: "admit", key: key, size: 10, at: at} }
	touch := func(key string) op { return op{do: "touch", key: key} }
	tests := []struct {
		name        string
		budget      int64
		probBudget  int64
		ops         []op
		wantEvicted []string
		wantOrder   []string // next to be evicted first
		wantBytes   int64
	}{
		{
			name:        "mru: the least recently admitted goes",
			budget:      30,
			ops:         []op{admit("a", placeFront), admit("b", placeFront), admit("c", placeFront), admit("d", placeFront)},
			wantEvicted: []string{"a"},
			wantOrder:   []string{"b", "c", "d"},
			wantBytes:   30,
		},
		{
			name:        "a touch protects a block",
			budget:      30,
			ops:         []op{admit("a", placeFront), admit("b", placeFront), admit("c", placeFront), touch("a"), admit("d", placeFront)},
			wantEvicted: []string{"b"},
			wantOrder:   []string{"c", "a", "d"},
			wantBytes:   30,
		},
		{
			name:        "lru admission: an unread prefetched block goes first",
			budget:      30,
			ops:         []op{admit("a", placeFront), admit("b", placeFront), admit("p", placeBack), admit("q", placeBack)},
			wantEvicted: []string{"p"},
			wantOrder:   []string{"q", "a", "b"},
			wantBytes:   30,
		},
		{
			name:        "lru admission: a prefetched block read since stays",
			budget:      30,
			ops:         []op{admit("a", placeFront), admit("b", placeFront), admit("p", placeBack), touch("p"), admit("c", placeFront)},
			wantEvicted: []string{"a"},
			wantOrder:   []string{"b", "p", "c"},
			wantBytes:   30,
		},
		{
			name:       "probation: prefetched blocks hold at most their share",
			budget:     100,
			probBudget: 20,
			ops: []op{
				admit("a", placeFront), admit("p1", placeProbation), admit("p2", placeProbation), admit("p3", placeProbation),
			},
			wantEvicted: []string{"p1"},
			wantOrder:   []string{"p2", "p3", "a"},
			wantBytes:   30,
		},
		{
			name:       "probation: budget eviction takes probation first",
			budget:     40,
			probBudget: 20,
			ops: []op{
				admit("p1", placeProbation), admit("a", placeFront), admit("b", placeFront), admit("c", placeFront), admit("d", placeFront),
			},
			wantEvicted: []string{"p1"},
			wantOrder:   []string{"a", "b", "c", "d"},
			wantBytes:   40,
		},
		{
			name:       "probation: a read promotes to the main segment",
			budget:     40,
			probBudget: 20,
			ops: []op{
				admit("a", placeFront), admit("p1", placeProbation), admit("p2", placeProbation), touch("p1"),
				admit("b", placeFront), admit("c", placeFront),
			},
			wantEvicted: []string{"p2"},
			wantOrder:   []string{"a", "p1", "b", "c"},
			wantBytes:   40,
		},
		{
			name:        "re-admitting a key replaces it",
			budget:      30,
			ops:         []op{admit("a", placeFront), admit("b", placeFront), {do: "admit", key: "a", size: 20, at: placeFront}},
			wantEvicted: nil,
			wantOrder:   []string{"b", "a"},
			wantBytes:   30,
		},
		{
			name:        "trim after the budget shrank",
			budget:      20,
			ops:         []op{{do: "load", key: "a", size: 10}, {do: "load", key: "b", size: 10}, {do: "load", key: "c", size: 10}, {do: "trim"}},
			wantEvicted: []string{"a"},
			wantOrder:   []string{"b", "c"},
			wantBytes:   20,
		},
		{
			name:      "touching an unknown key changes nothing",
			budget:    20,
			ops:       []op{admit("a", placeFront), touch("zz")},
			wantOrder: []string{"a"},
			wantBytes: 10,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecency(tc.budget, tc.probBudget)
			now := time.Unix(1000, 0)
			var evicted []string
			for _, o := range tc.ops {
				now = now.Add(time.Second)
				var ev []*entry
				switch o.do {
				case "admit":
					ev, _ = r.admit(o.key, o.size, o.at, now)
				case "touch":
					r.touch(o.key, now)
				case "load":
					r.load(o.key, o.size, now)
				case "trim":
					ev = r.trim()
				}
				for _, e := range ev {
					evicted = append(evicted, e.key)
				}
			}
			if diff := cmp.Diff(tc.wantEvicted, evicted); diff != "" {
				t.Errorf("evicted mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantOrder, r.order()); diff != "" {
				t.Errorf("order mismatch (-want +got):\n%s", diff)
			}
			if r.bytes() != tc.wantBytes {
				t.Errorf("bytes = %d, want %d", r.bytes(), tc.wantBytes)
			}
			checkRecency(t, r)
		})
	}
}

// checkRecency checks that the keys, the handles and the order agree: every
// key indexed is in the order under its handle, with its entry's size.
func checkRecency(t *testing.T, r *recency) {
	t.Helper()
	var sum int64
	for key, h := range r.ids {
		e := r.ents[h]
		if e == nil || e.key != key || r.o.Segment(h) == slru.None {
			t.Errorf("key %q: handle %d holds %+v, segment %d", key, h, e, r.o.Segment(h))
			continue
		}
		sum += e.size
	}
	if sum != r.bytes() || len(r.ids) != r.o.Len() {
		t.Errorf("accounting: %d keys of %d bytes, the order holds %d of %d", len(r.ids), sum, r.o.Len(), r.bytes())
	}
}

func TestRecencyBackStampsOrderOnReopen(t *testing.T) {
	r := newRecency(100, 0)
	now := time.Unix(1000, 0)
	r.admit("a", 10, placeFront, now)
	r.admit("b", 10, placeFront, now.Add(time.Second))
	_, stamp := r.admit("p", 10, placeBack, now.Add(2*time.Second))
	if !stamp.Before(now) {
		t.Errorf("stamp of a block admitted at the back = %v, want before the tail's %v", stamp, now)
	}
}

// flatNames returns the test names of the blocks in flat, sorted.
func flatNames(t *testing.T, dir string, names map[string]string) []string {
	t.Helper()
	var got []string
	for h := range flatBlocks(t, dir) {
		got = append(got, names[h.String()])
	}
	slices.Sort(got)
	return got
}

// TestEvictionOnDisk checks that the budget holds on disk, across reopen,
// with the recency order rebuilt from mtimes.
func TestEvictionOnDisk(t *testing.T) {
	ctx := context.Background()
	const size = 1000
	type step struct {
		do       string // "put", "get", "prefetch", "reopen"
		name     string
		tooLarge bool   // the prefetch fails with ReasonTooLarge
		cfg      Config // for "reopen": budget and admission
	}
	tests := []struct {
		name     string
		cfg      Config
		steps    []step
		wantFlat []string
	}{
		{
			name:     "put past the budget evicts the oldest",
			cfg:      Config{FlatBudget: 3 * size},
			steps:    []step{{do: "put", name: "a"}, {do: "put", name: "b"}, {do: "put", name: "c"}, {do: "put", name: "d"}},
			wantFlat: []string{"b", "c", "d"},
		},
		{
			name: "a get survives reopen",
			cfg:  Config{FlatBudget: 3 * size},
			steps: []step{
				{do: "put", name: "a"}, {do: "put", name: "b"}, {do: "put", name: "c"}, {do: "get", name: "a"},
				{do: "reopen", cfg: Config{FlatBudget: 3 * size}}, {do: "put", name: "d"},
			},
			wantFlat: []string{"a", "c", "d"},
		},
		{
			name: "lru admission survives reopen",
			cfg:  Config{FlatBudget: 3 * size, Admission: "lru"},
			steps: []step{
				{do: "put", name: "a"}, {do: "put", name: "b"}, {do: "prefetch", name: "p"},
				{do: "reopen", cfg: Config{FlatBudget: 3 * size}}, {do: "put", name: "c"},
			},
			wantFlat: []string{"a", "b", "c"},
		},
		{
			name: "mru admission: prefetched blocks rank as read",
			cfg:  Config{FlatBudget: 3 * size},
			steps: []step{
				{do: "put", name: "a"}, {do: "put", name: "b"}, {do: "prefetch", name: "p"}, {do: "put", name: "c"},
			},
			wantFlat: []string{"b", "c", "p"},
		},
		{
			name: "probation: prefetches evict each other, not read blocks",
			cfg:  Config{FlatBudget: 4 * size, Admission: "probation:0.5"},
			steps: []step{
				{do: "put", name: "a"}, {do: "put", name: "b"},
				{do: "prefetch", name: "p"}, {do: "prefetch", name: "q"}, {do: "prefetch", name: "r"},
				{do: "get", name: "q"}, {do: "prefetch", name: "s"}, {do: "prefetch", name: "u"},
			},
			wantFlat: []string{"a", "b", "q", "u"},
		},
		{
			// The lab took "probation:1" and the store refused it: the
			// probation segment may take the whole budget, and its blocks
			// still go before the blocks that were read.
			name: "probation:1: prefetches may fill flat, and go first",
			cfg:  Config{FlatBudget: 3 * size, Admission: "probation:1"},
			steps: []step{
				{do: "prefetch", name: "p"}, {do: "prefetch", name: "q"}, {do: "prefetch", name: "r"},
				{do: "put", name: "a"}, {do: "get", name: "r"}, {do: "put", name: "b"},
			},
			wantFlat: []string{"a", "b", "r"},
		},
		{
			// A block larger than the probation segment is never fetched
			// into it, so it evicts nothing (the lab used to evict for it,
			// then drop it).
			name: "probation: a prefetch larger than the segment is refused",
			cfg:  Config{FlatBudget: 3 * size, Admission: "probation:0.3"},
			steps: []step{
				{do: "put", name: "a"}, {do: "put", name: "b"}, {do: "put", name: "c"}, {do: "prefetch", name: "p", tooLarge: true},
			},
			wantFlat: []string{"a", "b", "c"},
		},
		{
			name: "a smaller budget at reopen evicts at once",
			cfg:  Config{FlatBudget: 3 * size},
			steps: []step{
				{do: "put", name: "a"}, {do: "put", name: "b"}, {do: "put", name: "c"},
				{do: "reopen", cfg: Config{FlatBudget: 2 * size}},
			},
			wantFlat: []string{"b", "c"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cold := t.TempDir()
			cfg := tc.cfg
			cfg.FlatDir, cfg.ColdURL = t.TempDir(), "file://"+cold+"?no_tmp_dir=true"
			// A writer with its own flat dir puts the prefetchable blocks.
			w := open(t, Config{ColdURL: cfg.ColdURL})
			s, err := Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.Close() }()
			blocks := map[string]testBlock{}
			names := map[string]string{}
			blockOf := func(name string) testBlock {
				b, ok := blocks[name]
				if !ok {
					b = newBlock(t, size)
					blocks[name], names[b.hash.String()] = b, name
				}
				return b
			}
			for _, st := range tc.steps {
				b := blockOf(st.name)
				switch st.do {
				case "put":
					err = s.Put(ctx, testNS, b.key(), b.payload)
				case "get":
					var got []byte
					got, err = s.Get(ctx, testNS, b.key())
					mustEqual(t, "Get "+st.name, b.payload, got)
				case "prefetch":
					if err = w.Put(ctx, testNS, b.key(), b.payload); err == nil {
						_, _, err = s.Materialize(ctx, testNS, b.hash, b.meta())
					}
					if st.tooLarge {
						if reason := failureReason(err); reason != ReasonTooLarge {
							t.Fatalf("prefetch %s: err = %v (reason %q), want reason %q", st.name, err, reason, ReasonTooLarge)
						}
						err = nil
					}
				case "reopen":
					s.Close()
					c := st.cfg
					c.FlatDir, c.ColdURL = cfg.FlatDir, cfg.ColdURL
					s, err = Open(ctx, c)
				}
				if err != nil {
					t.Fatalf("%s %s: %v", st.do, st.name, err)
				}
			}
			if diff := cmp.Diff(tc.wantFlat, flatNames(t, cfg.FlatDir, names)); diff != "" {
				t.Errorf("flat mismatch (-want +got):\n%s", diff)
			}
			for _, name := range tc.wantFlat {
				mustEqual(t, "flat "+name, blocks[name].payload, flatBlocks(t, cfg.FlatDir)[blocks[name].hash])
			}
			st := s.Stats()
			if st.FlatBlocks != len(tc.wantFlat) || st.FlatBytes != int64(len(tc.wantFlat)*size) || st.FlatBytes > st.FlatBudget {
				t.Errorf("Stats = %d blocks, %d bytes (budget %d); want %d blocks, %d bytes", st.FlatBlocks, st.FlatBytes, st.FlatBudget, len(tc.wantFlat), len(tc.wantFlat)*size)
			}
		})
	}
}

// TestOpenCleansUp checks what Open does with a flat dir left by a crash
// or shared with other files.
func TestOpenCleansUp(t *testing.T) {
	ctx := context.Background()
	flat := t.TempDir()
	cold := "file://" + t.TempDir() + "?no_tmp_dir=true"
	s := open(t, Config{FlatDir: flat, ColdURL: cold})
	b := newBlock(t, 4000)
	if err := s.Put(ctx, testNS, b.key(), b.payload); err != nil {
		t.Fatal(err)
	}
	s.Close()

	hx := b.hash.String()
	write := func(rel, data string) {
		p := filepath.Join(flat, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stale := testNS + "/" + hx[:2] + "/" + tmpPrefix + hx + "-123"
	write(stale, "partial")
	write("other-ns/ff/"+tmpPrefix+"x", "partial")
	kept := []string{
		"README",                                  // not a namespace dir
		testNS + "/notes.txt",                     // not a fan-out dir
		testNS + "/zz/" + hx,                      // fan-out dir not hex
		testNS + "/" + hx[:2] + "/x",              // not a block name
		testNS + "/00/" + strings.Repeat("1", 64), // block name not under its prefix
		"bad%ns/00/" + "00" + strings.Repeat("1", 62),
	}
	for _, k := range kept {
		write(k, "keep")
	}
	s2 := open(t, Config{FlatDir: flat, ColdURL: cold})
	files := flatFiles(t, flat)
	for _, gone := range []string{stale, "other-ns/ff/" + tmpPrefix + "x"} {
		if _, ok := files[gone]; ok {
			t.Errorf("stale temporary file %s still there after Open", gone)
		}
	}
	for _, k := range kept {
		if _, ok := files[k]; !ok {
			t.Errorf("Open removed %s, which is not the store's", k)
		}
	}
	if st := s2.Stats(); st.FlatBlocks != 1 || st.FlatBytes != int64(len(b.payload)) {
		t.Errorf("Stats after reopen = %d blocks, %d bytes; want 1 block, %d bytes", st.FlatBlocks, st.FlatBytes, len(b.payload))
	}
}

func TestFlatDirLock(t *testing.T) {
	ctx := context.Background()
	flat := t.TempDir()
	s := open(t, Config{FlatDir: flat})
	_, err := Open(ctx, Config{FlatDir: flat, ColdURL: "mem://"})
	if err == nil || !strings.Contains(err.Error(), "in use by another store") {
		t.Fatalf("second Open of a flat dir: err = %v, want an in-use error", err)
	}
	s.Close()
	s2, err := Open(ctx, Config{FlatDir: flat, ColdURL: "mem://"})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}
