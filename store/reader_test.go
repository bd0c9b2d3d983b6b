package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
)

// TestNewReader streams a block from flat (the payload whole, a read
// counted as Get's), from cold through flat (one GET, then in flat), and
// from memory when flat cannot take it; a block cold lacks is
// ErrNotFound; a flat file that shrinks under an open reader ends the read
// with io.ErrUnexpectedEOF and is dropped, to be fetched afresh.
func TestNewReader(t *testing.T) {
	ctx := context.Background()
	read := func(t *testing.T, s *Store, key string) ([]byte, *Reader) {
		t.Helper()
		r, err := s.NewReader(ctx, testNS, key)
		if err != nil {
			t.Fatalf("NewReader: %v", err)
		}
		defer r.Close()
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, r); err != nil { // through WriteTo
			t.Fatalf("copy: %v", err)
		}
		if int64(buf.Len()) != r.Size() {
			t.Errorf("read %d bytes, Size %d", buf.Len(), r.Size())
		}
		return buf.Bytes(), r
	}

	t.Run("flat", func(t *testing.T) {
		s := open(t, Config{})
		b := newBlock(t, 5000)
		if err := s.Put(ctx, testNS, b.key(), b.payload); err != nil {
			t.Fatal(err)
		}
		got, r := read(t, s, b.key())
		mustEqual(t, "NewReader", b.payload, got)
		if r.f == nil || !r.InFlat() {
			t.Errorf("a block in flat: streamed from its file %v, InFlat %v; want both", r.f != nil, r.InFlat())
		}
		if st := s.Stats(); st.ColdGets != 0 || st.Prefetch.Reads.Flat != 1 {
			t.Errorf("cold GETs %d, flat reads %d; want 0 and 1", st.ColdGets, st.Prefetch.Reads.Flat)
		}
	})

	t.Run("cold", func(t *testing.T) {
		s := open(t, Config{})
		b := newBlock(t, 5000)
		if err := s.PutCold(ctx, testNS, b.key(), b.payload); err != nil {
			t.Fatal(err)
		}
		got, r := read(t, s, b.key())
		mustEqual(t, "NewReader", b.payload, got)
		if r.f == nil || r.InFlat() {
			t.Errorf("a block fetched from cold: streamed from flat %v, InFlat %v; want true, false", r.f != nil, r.InFlat())
		}
		got, r = read(t, s, b.key())
		mustEqual(t, "second NewReader", b.payload, got)
		if !r.InFlat() {
			t.Error("the second read: InFlat false, want true (the first published it)")
		}
		if st := s.Stats(); st.ColdGets != 1 || st.FlatBlocks != 1 {
			t.Errorf("cold GETs %d, flat blocks %d; want 1 and 1", st.ColdGets, st.FlatBlocks)
		}
	})

	t.Run("larger than flat", func(t *testing.T) {
		s := open(t, Config{FlatBudget: 4096})
		b := newBlock(t, 5000)
		if err := s.PutCold(ctx, testNS, b.key(), b.payload); err != nil {
			t.Fatal(err)
		}
		got, r := read(t, s, b.key())
		mustEqual(t, "NewReader", b.payload, got)
		if r.f != nil || s.Stats().FlatBlocks != 0 {
			t.Errorf("a block larger than flat's budget: file %v, flat blocks %d; want it read into memory", r.f != nil, s.Stats().FlatBlocks)
		}
	})

	t.Run("not found", func(t *testing.T) {
		s := open(t, Config{})
		if _, err := s.NewReader(ctx, testNS, newBlock(t, 10).key()); !errors.Is(err, ErrNotFound) {
			t.Errorf("NewReader of a block no tier holds: %v, want ErrNotFound", err)
		}
		if _, err := s.NewReader(ctx, "../x", newBlock(t, 10).key()); err == nil {
			t.Error("NewReader with a bad namespace succeeded")
		}
	})

	t.Run("shrinks while open", func(t *testing.T) {
		flat := t.TempDir()
		s := open(t, Config{FlatDir: flat})
		b := newBlock(t, 5000)
		if err := s.Put(ctx, testNS, b.key(), b.payload); err != nil {
			t.Fatal(err)
		}
		r, err := s.NewReader(ctx, testNS, b.key())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(blockPath(flat, b), 1000); err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, r)
		r.Close()
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("reading a shrunk file: %v, want io.ErrUnexpectedEOF", err)
		}
		if st := s.Stats(); st.Damaged != 1 || st.FlatBlocks != 0 {
			t.Errorf("damaged %d, flat blocks %d; want the block dropped (1, 0)", st.Damaged, st.FlatBlocks)
		}
		// Get fetches it afresh from cold, which Put wrote through to.
		got, err := s.Get(ctx, testNS, b.key())
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "Get after the drop", b.payload, got)
	})
}

// TestStat tells a block's size and tier without reading it: from flat,
// from cold (flat unchanged, no GET counted), or ErrNotFound.
func TestStat(t *testing.T) {
	ctx := context.Background()
	s := open(t, Config{})
	inFlat, onlyCold := newBlock(t, 3000), newBlock(t, 7000)
	if err := s.Put(ctx, testNS, inFlat.key(), inFlat.payload); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCold(ctx, testNS, onlyCold.key(), onlyCold.payload); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		b    testBlock
		flat bool
	}{{inFlat, true}, {onlyCold, false}} {
		size, flat, err := s.Stat(ctx, testNS, tc.b.key())
		if err != nil || size != int64(len(tc.b.payload)) || flat != tc.flat {
			t.Errorf("Stat = %d, %v, %v; want %d, %v, nil", size, flat, err, len(tc.b.payload), tc.flat)
		}
	}
	if st := s.Stats(); st.FlatBlocks != 1 || st.ColdGets != 0 {
		t.Errorf("after Stat: %d flat blocks, %d cold GETs; want 1 and 0 (nothing fetched)", st.FlatBlocks, st.ColdGets)
	}
	if _, _, err := s.Stat(ctx, testNS, newBlock(t, 10).key()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat of a block no tier holds: %v, want ErrNotFound", err)
	}
}
