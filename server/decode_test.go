package server

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/server/wire"
)

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testLimits() hintLimits {
	return hintLimits{now: testNow, namespace: "tp-default", lead: time.Second, maxBlocks: 8}
}

func h64(b byte) string { return strings.Repeat(string("0123456789abcdef"[b%16]), 64) }

func TestDecodeHints(t *testing.T) {
	hashOf := func(s string) block.Hash {
		h, err := parseBlockRef(s)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	tests := []struct {
		name string
		body string
		want []hintGroup
	}{
		{"one group, lead", `{"namespace":"a","blocks":["` + h64(1) + `"],"lead_ms":250}`,
			[]hintGroup{{ns: "a", hashes: []block.Hash{hashOf(h64(1))}, due: testNow.Add(250 * time.Millisecond)}}},
		{"default namespace and lead", `{"blocks":["` + block.KeyPrefix + h64(2) + `"]}`,
			[]hintGroup{{ns: "tp-default", hashes: []block.Hash{hashOf(h64(2))}, due: testNow.Add(time.Second)}}},
		{"due", `{"blocks":[],"due":"2026-01-02T03:04:06.5Z"}`,
			[]hintGroup{{ns: "tp-default", hashes: []block.Hash{}, due: testNow.Add(1500 * time.Millisecond)}}},
		{"batch by priority", `{"hints":[{"blocks":["` + h64(1) + `"],"priority":1},{"blocks":["` + h64(2) + `"],"priority":5},{"blocks":["` + h64(3) + `"],"priority":1}]}`,
			[]hintGroup{
				{ns: "tp-default", hashes: []block.Hash{hashOf(h64(2))}, due: testNow.Add(time.Second), priority: 5},
				{ns: "tp-default", hashes: []block.Hash{hashOf(h64(1))}, due: testNow.Add(time.Second), priority: 1},
				{ns: "tp-default", hashes: []block.Hash{hashOf(h64(3))}, due: testNow.Add(time.Second), priority: 1},
			}},
		{"dynamo", `{"router_hint":{"source_control_endpoint":"x","block_hashes":[1,18446744073709551615]},"lead_ms":0}`,
			[]hintGroup{{ns: "tp-default", hashes: []block.Hash{HashOfUint64(1), HashOfUint64(1<<64 - 1)}, due: testNow}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeHints([]byte(tt.body), testLimits())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(hintGroup{})); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeHintsErrors(t *testing.T) {
	tests := []struct {
		name, body  string
		code, field string
	}{
		{"empty", ``, CodeBadJSON, ""},
		{"array", `[1]`, CodeBadJSON, ""},
		{"null", `null`, CodeBadJSON, ""},
		{"truncated", `{"blocks":["`, CodeBadJSON, ""},
		{"trailing data", `{"blocks":[]} {}`, CodeBadJSON, ""},
		{"unknown top field", `{"blocks":[],"lead":5}`, CodeUnknownField, "lead"},
		{"unknown group field", `{"hints":[{"blocks":[],"nmespace":"a"}]}`, CodeUnknownField, "nmespace"},
		{"unknown router field", `{"router_hint":{"block_hashes":[],"x":1}}`, CodeUnknownField, "x"},
		{"blocks missing", `{"namespace":"a"}`, CodeBadField, "blocks"},
		{"bad hex", `{"hints":[{"blocks":[],"lead_ms":1},{"blocks":["` + h64(1) + `","xyz"]}]}`, CodeBadField, "hints[1].blocks[1]"},
		{"block not a string", `{"blocks":[7]}`, CodeBadField, "blocks"},
		{"bad namespace", `{"hints":[{"namespace":"a/b","blocks":[]}]}`, CodeBadField, "hints[0].namespace"},
		{"due and lead", `{"blocks":[],"due":"2026-01-02T03:04:06Z","lead_ms":5}`, CodeBadField, "due"},
		{"bad due", `{"blocks":[],"due":"tomorrow"}`, CodeBadField, "due"},
		{"negative lead", `{"blocks":[],"lead_ms":-1}`, CodeBadField, "lead_ms"},
		{"fractional lead", `{"blocks":[],"lead_ms":1.5}`, CodeBadField, "lead_ms"},
		{"negative dynamo hash", `{"router_hint":{"block_hashes":[-1]}}`, CodeBadField, "router_hint.block_hashes"},
		{"dynamo hash too big", `{"router_hint":{"block_hashes":[18446744073709551616]}}`, CodeBadField, "router_hint.block_hashes"},
		{"dynamo without hashes", `{"router_hint":{}}`, CodeBadField, "router_hint.block_hashes"},
		{"too many", `{"hints":[{"blocks":["` + strings.Repeat(h64(1)+`","`, 5) + h64(1) + `"]},{"blocks":["` + h64(2) + `","` + h64(2) + `","` + h64(2) + `"]}]}`, CodeTooManyHints, ""},
		{"too many dynamo", `{"router_hint":{"block_hashes":[1,2,3,4,5,6,7,8,9]}}`, CodeTooManyHints, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeHints([]byte(tt.body), testLimits())
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("decodeHints = %v, want an apiError", err)
			}
			if ae.code != tt.code || ae.field != tt.field || ae.msg == "" {
				t.Errorf("code %q field %q (%s), want %q %q", ae.code, ae.field, ae.msg, tt.code, tt.field)
			}
			if tt.field != "" && !strings.Contains(ae.msg, tt.field) {
				t.Errorf("message %q does not name the field %q", ae.msg, tt.field)
			}
		})
	}
}

func TestParseMeta(t *testing.T) {
	hdr := http.Header{}
	hdr.Set(HeaderParent, h64(3))
	hdr.Set(HeaderPosition, "4294967295")
	hdr.Set(HeaderModel, strings.Repeat("01", 24))
	hdr.Set(HeaderLayout, strings.Repeat("ff", 16))
	hdr.Set(HeaderFlags, "3")
	m, err := parseMeta(hdr)
	if err != nil {
		t.Fatal(err)
	}
	back := http.Header{}
	wire.SetMeta(back, m)
	if diff := cmp.Diff(hdr, back); diff != "" {
		t.Errorf("headers after a round trip mismatch (-want +got):\n%s", diff)
	}
	for name, v := range map[string]string{HeaderPosition: "4294967296", HeaderFlags: "x", HeaderLayout: strings.Repeat("f", 31), HeaderParent: strings.Repeat("G", 64)} {
		bad := http.Header{}
		bad.Set(name, v)
		_, err := parseMeta(bad)
		var ae *apiError
		if !errors.As(firstAPIError(err), &ae) || ae.field != name || ae.code != CodeBadHeader {
			t.Errorf("%s: %q: %v, want bad_header naming it", name, v, err)
		}
	}
}

// FuzzDecodeHints: no body panics the decoder; one it accepts respects
// the limits, names valid namespaces, and is ordered by priority; one it
// refuses gets a code and a message.
func FuzzDecodeHints(f *testing.F) {
	for _, s := range []string{
		`{"namespace":"a","blocks":["` + h64(1) + `"],"lead_ms":250}`,
		`{"hints":[{"blocks":["` + block.KeyPrefix + h64(2) + `"],"priority":3},{"blocks":[],"due":"2026-01-02T03:04:06Z"}]}`,
		`{"router_hint":{"source_control_endpoint":"tcp://x","block_hashes":[1,2,18446744073709551615]},"namespace":"ns"}`,
		`{"blocks":["zz"]}`, `{"hints":null}`, `{"router_hint":null}`, `[]`, `{`, `{"blocks":[],"lead_ms":9223372036854775807}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		groups, err := decodeHints(data, testLimits())
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.code == "" || ae.msg == "" || ae.status < 400 || ae.status > 499 {
				t.Fatalf("error %v is not a 4xx apiError with a code and a message", err)
			}
			if !utf8.ValidString(ae.field) && utf8.Valid(data) {
				t.Fatalf("field %q is not UTF-8", ae.field)
			}
			return
		}
		n := 0
		for i, g := range groups {
			n += len(g.hashes)
			if block.ValidateNamespace(g.ns) != nil {
				t.Fatalf("group %d: namespace %q accepted", i, g.ns)
			}
			if i > 0 && groups[i-1].priority < g.priority {
				t.Fatalf("groups not ordered by priority: %d then %d", groups[i-1].priority, g.priority)
			}
		}
		if n > testLimits().maxBlocks {
			t.Fatalf("%d blocks accepted, over the limit %d", n, testLimits().maxBlocks)
		}
	})
}

// FuzzParseMeta: any header values parse or fail with bad_header naming
// the header; what parses writes back to headers that parse to the same.
func FuzzParseMeta(f *testing.F) {
	f.Add(h64(1), "0", strings.Repeat("ab", 24), strings.Repeat("01", 16), "0")
	f.Add("", "", "", "", "")
	f.Add("x", "-1", "AB", "zz", "4294967296")
	f.Fuzz(func(t *testing.T, parent, pos, model, layout, flags string) {
		hdr := http.Header{}
		for k, v := range map[string]string{HeaderParent: parent, HeaderPosition: pos, HeaderModel: model, HeaderLayout: layout, HeaderFlags: flags} {
			hdr.Set(k, v)
		}
		m, err := parseMeta(hdr)
		if err != nil {
			var ae *apiError
			if !errors.As(firstAPIError(err), &ae) || ae.code != CodeBadHeader || !strings.HasPrefix(ae.field, "X-Kv-") {
				t.Fatalf("error %v is not a bad_header naming its header", err)
			}
			return
		}
		back := http.Header{}
		wire.SetMeta(back, m)
		m2, err := parseMeta(back)
		if err != nil || m2 != m {
			t.Fatalf("round trip: %+v -> %v -> %+v, %v", m, back, m2, err)
		}
	})
}
