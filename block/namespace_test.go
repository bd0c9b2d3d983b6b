package block_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/wombatkv/prefetch/block"
)

func TestValidateNamespace(t *testing.T) {
	valid := []string{
		"tp-default", "ns-a", "a", "A", "0", "_", "-", "...", ".a", "a.", "..a", "a..b",
		"Model_7.v2-shard", strings.Repeat("x", 128),
	}
	for _, ns := range valid {
		if err := block.ValidateNamespace(ns); err != nil {
			t.Errorf("ValidateNamespace(%q) = %v, want nil", ns, err)
		}
	}

	tests := []struct {
		name, ns, wantMsg string
	}{
		{"empty", "", "empty, want 1 to 128 bytes of [A-Za-z0-9._-]"},
		{"too long", strings.Repeat("x", 129), "129 bytes, want at most 128"},
		{"much too long", strings.Repeat("x", 5000), "5000 bytes, want at most 128"},
		{"dot", ".", "a path element that names a directory"},
		{"dotdot", "..", "a path element that names a directory"},
		{"slash", "a/b", `byte '/' at offset 1, want only [A-Za-z0-9._-]`},
		{"leading slash", "/etc", `byte '/' at offset 0`},
		{"climb", "../x", `byte '/' at offset 2`},
		{"backslash", `a\b`, `byte '\\' at offset 1`},
		{"NUL", "ns\x00", `byte '\x00' at offset 2`},
		{"space", "tp default", `byte ' ' at offset 2`},
		{"colon", "a:b", `byte ':' at offset 1`},
		{"newline", "a\n", `byte '\n' at offset 1`},
		{"non-ASCII", "naïve", `byte '\xc3' at offset 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := block.ValidateNamespace(tt.ns)
			if err == nil {
				t.Fatalf("ValidateNamespace(%q) = nil, want an error", tt.ns)
			}
			if !errors.Is(err, block.ErrBadNamespace) {
				t.Errorf("error %v does not wrap ErrBadNamespace", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long, want it clipped", len(err.Error()))
			}
		})
	}
}

// TestValidateNamespaceEveryByte checks each single byte against the
// allowed set, so a widened or narrowed character class shows up here.
func TestValidateNamespaceEveryByte(t *testing.T) {
	for b := 0; b < 256; b++ {
		ns := "x" + string([]byte{byte(b)})
		want := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '.' || b == '_' || b == '-'
		if got := block.ValidateNamespace(ns) == nil; got != want {
			t.Errorf("ValidateNamespace(%q) ok = %v, want %v", ns, got, want)
		}
	}
}

var namespaceRef = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// FuzzValidateNamespace compares ValidateNamespace with the regular
// expression of its doc and the two forbidden names.
func FuzzValidateNamespace(f *testing.F) {
	for _, s := range []string{"tp-default", "", ".", "..", "a/b", "ns\x00", strings.Repeat("z", 128), strings.Repeat("z", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ns string) {
		want := namespaceRef.MatchString(ns) && ns != "." && ns != ".."
		err := block.ValidateNamespace(ns)
		if got := err == nil; got != want {
			t.Fatalf("ValidateNamespace(%q) = %v, want ok = %v", ns, err, want)
		}
		if err != nil && !errors.Is(err, block.ErrBadNamespace) {
			t.Fatalf("error %v does not wrap ErrBadNamespace", err)
		}
	})
}

func ExampleValidateNamespace() {
	for _, ns := range []string{"tp-default", "../etc", ""} {
		fmt.Println(block.ValidateNamespace(ns))
	}
	// Output:
	// <nil>
	// block: bad namespace "../etc": byte '/' at offset 2, want only [A-Za-z0-9._-]
	// block: bad namespace: empty, want 1 to 128 bytes of [A-Za-z0-9._-]
}

func ExampleKey() {
	var h block.Hash
	h[0], h[1], h[31] = 0xab, 0xcd, 0xef
	key := block.Key(h)
	fmt.Println(key)
	back, err := block.ParseKey(key)
	fmt.Println(back == h, err)
	_, err = block.ParseKey(strings.ToUpper(key[len(block.KeyPrefix):]))
	fmt.Println(err)
	// Output:
	// wombatkv/v1/block/b3=abcd0000000000000000000000000000000000000000000000000000000000ef
	// true <nil>
	// block: bad key "ABCD0000000000000000000000000000000000000000000000000000000000EF": want prefix "wombatkv/v1/block/b3="
}
