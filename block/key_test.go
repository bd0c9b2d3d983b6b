package block_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
)

// Mirrors the seed's block_key_for_hash_matches_cabi_format, with the exact
// bytes written out rather than only checked by prefix and suffix.
func TestKeyMatchesCABIFormat(t *testing.T) {
	var h block.Hash
	h[0], h[1], h[31] = 0xab, 0xcd, 0xef
	key := block.Key(h)

	want := "wombatkv/v1/block/b3=abcd" + strings.Repeat("00", 29) + "ef"
	if key != want {
		t.Fatalf("Key = %q, want %q", key, want)
	}
	if len(key) != block.KeyLen || block.KeyLen != len("wombatkv/v1/block/b3=")+64 {
		t.Errorf("len(Key) = %d, KeyLen = %d, want %d", len(key), block.KeyLen, len("wombatkv/v1/block/b3=")+64)
	}
	if !strings.HasPrefix(key, block.KeyPrefix) || block.KeyPrefix != "wombatkv/v1/block/b3=" {
		t.Errorf("KeyPrefix = %q, key %q", block.KeyPrefix, key)
	}
	hex := key[len(block.KeyPrefix):]
	for i, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			t.Errorf("hex digit %d = %q, want [0-9a-f]", i, c)
		}
	}
	if got := h.String(); got != hex {
		t.Errorf("Hash.String = %q, want %q", got, hex)
	}
}

func TestAppendKey(t *testing.T) {
	var h block.Hash
	for i := range h {
		h[i] = byte(i * 7)
	}
	dst := []byte("keep:")
	got := block.AppendKey(dst, h)
	if string(got) != "keep:"+block.Key(h) {
		t.Errorf("AppendKey = %q, want %q", got, "keep:"+block.Key(h))
	}
	buf := make([]byte, 0, block.KeyLen)
	if n := testing.AllocsPerRun(100, func() { buf = block.AppendKey(buf[:0], h) }); n != 0 {
		t.Errorf("AppendKey into a buffer with room: %v allocs, want 0", n)
	}
}

func TestParseKeyRoundTrip(t *testing.T) {
	hashes := []block.Hash{{}, {0xab, 0xcd, 31: 0xef}}
	var all block.Hash
	for i := range all {
		all[i] = 0xff - byte(i)
	}
	hashes = append(hashes, all)
	for _, h := range hashes {
		got, err := block.ParseKey(block.Key(h))
		if err != nil {
			t.Fatalf("ParseKey(Key(%x)): %v", h, err)
		}
		if got != h {
			t.Errorf("ParseKey(Key(h)) = %x, want %x", got, h)
		}
	}
}

func TestParseKeyStrict(t *testing.T) {
	valid := block.Key(block.Hash{0xab, 0xcd, 31: 0xef})
	hex := valid[len(block.KeyPrefix):]
	tests := []struct {
		name, key string
		// wantMsg is a part of the error that names the broken rule.
		wantMsg string
	}{
		{"empty", "", `want prefix "wombatkv/v1/block/b3="`},
		{"no prefix", hex, `want prefix "wombatkv/v1/block/b3="`},
		{"other version", "wombatkv/v2/block/b3=" + hex, `want prefix`},
		{"uppercase prefix", "WOMBATKV/v1/block/b3=" + hex, `want prefix`},
		{"leading slash", "/" + valid, `want prefix`},
		{"prefix only", block.KeyPrefix, "0 hex digits after the prefix, want 64"},
		{"one digit short", valid[:len(valid)-1], "63 hex digits after the prefix, want 64"},
		{"one digit long", valid + "0", "65 hex digits after the prefix, want 64"},
		{"trailing newline", valid + "\n", "65 hex digits after the prefix, want 64"},
		{"uppercase digit", block.KeyPrefix + "ABcd" + hex[4:], `uppercase hex digit 'A' at offset 21, want lowercase`},
		{"uppercase last digit", valid[:len(valid)-1] + "F", `uppercase hex digit 'F' at offset 84, want lowercase`},
		{"non-hex letter", block.KeyPrefix + "g" + hex[1:], `non-hex byte 'g' at offset 21`},
		{"space", block.KeyPrefix + hex[:10] + " " + hex[11:], `non-hex byte ' ' at offset 31`},
		{"NUL", block.KeyPrefix + hex[:63] + "\x00", `non-hex byte '\x00' at offset 84`},
		{"multibyte", block.KeyPrefix + "é" + hex[2:], `non-hex byte '\xc3' at offset 21`},
		{"0x", block.KeyPrefix + "0x" + hex[2:], `non-hex byte 'x' at offset 22`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := block.ParseKey(tt.key)
			if err == nil {
				t.Fatalf("ParseKey(%q) = %x, nil; want an error", tt.key, h)
			}
			if !errors.Is(err, block.ErrBadKey) {
				t.Errorf("error %v does not wrap ErrBadKey", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "block: bad key") {
				t.Errorf("error %q does not start with the package prefix", err)
			}
			if h != (block.Hash{}) {
				t.Errorf("ParseKey returned hash %x with its error, want the zero hash", h)
			}
		})
	}
}

func TestParseKeyErrorClipsLongInput(t *testing.T) {
	key := block.KeyPrefix + strings.Repeat("a", 100000)
	_, err := block.ParseKey(key)
	if err == nil {
		t.Fatal("ParseKey accepted a 100021-byte key")
	}
	if len(err.Error()) > 400 {
		t.Errorf("error is %d bytes long; a hostile key must not flood the log", len(err.Error()))
	}
	if !strings.Contains(err.Error(), "100000 hex digits") {
		t.Errorf("error %q does not give the real digit count", err)
	}
}

func TestHashCompare(t *testing.T) {
	a := block.Hash{0: 1}
	b := block.Hash{0: 1, 31: 1}
	c := block.Hash{0: 2}
	got := []int{a.Compare(a), a.Compare(b), b.Compare(a), b.Compare(c), c.Compare(b)}
	if diff := cmp.Diff([]int{0, -1, 1, -1, 1}, got); diff != "" {
		t.Errorf("Compare mismatch (-want +got):\n%s", diff)
	}
}

func TestMetaIsChainHead(t *testing.T) {
	if !(block.Meta{Seq: 0}).IsChainHead() {
		t.Error("Seq 0 is not a chain head")
	}
	if (block.Meta{Seq: 1}).IsChainHead() {
		t.Error("Seq 1 is a chain head")
	}
	if !(block.ModelDigest{}).IsZero() || (block.ModelDigest{23: 1}).IsZero() {
		t.Error("ModelDigest.IsZero is wrong")
	}
}

// FuzzParseKey checks that ParseKey and Key are inverses: anything ParseKey
// accepts re-encodes to exactly the same string, and every hash (here built
// from the fuzzer's bytes) survives Key then ParseKey.
func FuzzParseKey(f *testing.F) {
	f.Add(block.Key(block.Hash{0xab, 0xcd, 31: 0xef}))
	f.Add(block.KeyPrefix + strings.Repeat("A", 64))
	f.Add(block.KeyPrefix)
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := block.ParseKey(s)
		if err == nil {
			if got := block.Key(h); got != s {
				t.Fatalf("ParseKey(%q) accepted it, but Key of the result is %q", s, got)
			}
		} else if !errors.Is(err, block.ErrBadKey) {
			t.Fatalf("ParseKey(%q) error %v does not wrap ErrBadKey", s, err)
		}

		var h2 block.Hash
		copy(h2[:], s)
		key := block.Key(h2)
		if string(block.AppendKey(nil, h2)) != key {
			t.Fatalf("AppendKey and Key disagree for %x", h2)
		}
		back, err := block.ParseKey(key)
		if err != nil || back != h2 {
			t.Fatalf("ParseKey(Key(%x)) = %x, %v", h2, back, err)
		}
	})
}
