package wire_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/server/wire"
)

// TestMetaRoundTrip: the headers SetMeta writes parse back to the same
// metadata; every bad header is reported, each a *HeaderError naming it.
func TestMetaRoundTrip(t *testing.T) {
	m := block.Meta{Parent: block.Hash{1, 2}, Seq: 7, Model: block.ModelDigest{0xab}, Layout: block.LayoutTag{0x0f}, Flags: 3}
	hdr := http.Header{}
	wire.SetMeta(hdr, m)
	got, err := wire.ParseMeta(hdr)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
	bad := http.Header{}
	bad.Set(wire.HeaderPosition, "-1")
	bad.Set(wire.HeaderModel, "AB")
	_, err = wire.ParseMeta(bad)
	var names []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var he *wire.HeaderError
		if !errors.As(e, &he) {
			t.Fatalf("%v is not a *HeaderError", e)
		}
		names = append(names, he.Header)
	}
	if diff := cmp.Diff([]string{wire.HeaderPosition, wire.HeaderModel}, names); diff != "" {
		t.Errorf("bad headers reported (-want +got):\n%s", diff)
	}
}
