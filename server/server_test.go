package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/server"
)

func TestBlockRoundTrip(t *testing.T) {
	n := startNode(t, nodeOptions{})
	parent := hashN(999)
	for i, size := range []int{0, 1, 4095, 1 << 20} {
		h := hashN(i)
		payload := payloadN(i, size)
		url := n.blockURL(testNS, h)
		put := do(t, http.MethodPut, url, payload,
			server.HeaderParent, parent.String(), server.HeaderPosition, strconv.Itoa(i),
			server.HeaderModel, strings.Repeat("ab", 24), server.HeaderLayout, strings.Repeat("0f", 16), server.HeaderFlags, "7")
		if put.status != http.StatusCreated {
			t.Fatalf("PUT %d bytes: %d %s", size, put.status, put.body)
		}
		var pr server.PutResult
		if err := json.Unmarshal(put.body, &pr); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(server.PutResult{Namespace: testNS, Key: block.Key(h), Bytes: int64(size), Tier: "flat"}, pr); diff != "" {
			t.Errorf("PUT answer mismatch (-want +got):\n%s", diff)
		}
		m, ok := n.idx.Get(h)
		if !ok || m.Parent != parent || m.Seq != uint32(i) || m.PayloadBytes != uint64(size) || m.Flags != 7 || m.Model[0] != 0xab || m.Layout[15] != 0x0f {
			t.Errorf("index entry after PUT = %+v, %v; want the headers' metadata and the size", m, ok)
		}
		// By key, and by the hash's 64 hex digits alone.
		for _, u := range []string{url, n.url + "/v1/blocks/" + testNS + "/" + h.String()} {
			get := do(t, http.MethodGet, u, nil)
			if get.status != http.StatusOK || !bytes.Equal(get.body, payload) {
				t.Fatalf("GET %s: %d, %d bytes; want 200 and the %d bytes put", u, get.status, len(get.body), size)
			}
			if get.header.Get(server.HeaderTier) != "flat" || get.header.Get(server.HeaderParent) != parent.String() ||
				get.header.Get(server.HeaderPosition) != strconv.Itoa(i) || get.header.Get(server.HeaderFlags) != "7" {
				t.Errorf("GET headers %v: want tier flat and the metadata put", get.header)
			}
		}
		head := do(t, http.MethodHead, url, nil)
		if head.status != http.StatusOK || len(head.body) != 0 || head.header.Get("Content-Length") != strconv.Itoa(size) {
			t.Errorf("HEAD: %d, body %d bytes, Content-Length %q; want 200, none, %d", head.status, len(head.body), head.header.Get("Content-Length"), size)
		}
	}
}

// TestGetFromCold: a block only cold holds (another node wrote it) is
// fetched, verified, published to flat and entered in the index.
func TestGetFromCold(t *testing.T) {
	n := startNode(t, nodeOptions{})
	h, payload := hashN(1), payloadN(1, 70000)
	if err := n.st.PutCold(context.Background(), testNS, block.Key(h), payload); err != nil {
		t.Fatal(err)
	}
	// A HEAD tells the size and the tier, and fetches nothing.
	head := do(t, http.MethodHead, n.blockURL(testNS, h), nil)
	if head.status != http.StatusOK || head.header.Get("Content-Length") != strconv.Itoa(len(payload)) || head.header.Get(server.HeaderTier) != "cold" {
		t.Errorf("HEAD of a block only cold holds: %d, Content-Length %q, tier %q; want 200, %d, cold", head.status, head.header.Get("Content-Length"), head.header.Get(server.HeaderTier), len(payload))
	}
	if st := n.st.Stats(); st.ColdGets != 0 || st.FlatBlocks != 0 {
		t.Errorf("after the HEAD: %d cold GETs, %d flat blocks; want nothing fetched", st.ColdGets, st.FlatBlocks)
	}
	for _, want := range []string{"cold", "flat"} {
		get := do(t, http.MethodGet, n.blockURL(testNS, h), nil)
		if get.status != http.StatusOK || !bytes.Equal(get.body, payload) || get.header.Get(server.HeaderTier) != want {
			t.Fatalf("GET: %d, %d bytes, tier %q; want 200, the payload, %s", get.status, len(get.body), get.header.Get(server.HeaderTier), want)
		}
	}
	if m, ok := n.idx.Get(h); !ok || m.PayloadBytes != uint64(len(payload)) {
		t.Errorf("index entry = %+v, %v; want one with the block's size", m, ok)
	}
	if got := n.st.Stats().ColdGets; got != 1 {
		t.Errorf("cold GETs = %d, want 1", got)
	}
	missing := do(t, http.MethodGet, n.blockURL(testNS, hashN(2)), nil)
	if code, _ := missing.errBody(t); missing.status != http.StatusNotFound || code != server.CodeNotFound {
		t.Errorf("GET of a block no tier holds: %d %s, want 404 not_found", missing.status, code)
	}
	if head := do(t, http.MethodHead, n.blockURL(testNS, hashN(2)), nil); head.status != http.StatusNotFound {
		t.Errorf("HEAD of a block no tier holds: %d, want 404", head.status)
	}
}

func TestBadRequests(t *testing.T) {
	n := startNode(t, nodeOptions{flatBudget: 1 << 20})
	key := block.Key(hashN(1))
	tests := []struct {
		name, method, path string
		body               []byte
		hdr                []string
		status             int
		code, field        string
	}{
		{"bad namespace", "GET", "/v1/blocks/bad%20ns/" + key, nil, nil, 400, server.CodeBadNamespace, "namespace"},
		{"dot namespace", "PUT", "/v1/blocks/%2E%2E/" + key, []byte("x"), nil, 400, server.CodeBadNamespace, "namespace"},
		{"bad key", "GET", "/v1/blocks/ns/wombatkv/v1/block/b3=zz", nil, nil, 400, server.CodeBadKey, "key"},
		{"uppercase hex", "PUT", "/v1/blocks/ns/" + strings.ToUpper(hashN(1).String()), []byte("x"), nil, 400, server.CodeBadKey, "key"},
		{"bad parent", "PUT", "/v1/blocks/ns/" + key, []byte("x"), []string{server.HeaderParent, "xyz"}, 400, server.CodeBadHeader, server.HeaderParent},
		{"bad position", "PUT", "/v1/blocks/ns/" + key, []byte("x"), []string{server.HeaderPosition, "-1"}, 400, server.CodeBadHeader, server.HeaderPosition},
		{"bad model", "PUT", "/v1/blocks/ns/" + key, []byte("x"), []string{server.HeaderModel, strings.Repeat("AB", 24)}, 400, server.CodeBadHeader, server.HeaderModel},
		{"larger than flat", "PUT", "/v1/blocks/ns/" + key, make([]byte, 1<<20+1), nil, 413, server.CodeTooLarge, ""},
		{"no route", "GET", "/v2/nothing", nil, nil, 404, server.CodeNoRoute, ""},
		{"wrong method", "DELETE", "/v1/blocks/ns/" + key, nil, nil, 405, server.CodeMethodNotAllowed, ""},
		{"hints by GET", "GET", "/v1/hints", nil, nil, 405, server.CodeMethodNotAllowed, ""},
		{"hints unknown field", "POST", "/v1/hints", []byte(`{"namespace":"ns","blocks":[],"bogus":1}`), nil, 400, server.CodeUnknownField, "bogus"},
		{"hints bad hex", "POST", "/v1/hints", []byte(`{"hints":[{"blocks":["` + strings.Repeat("g", 64) + `"]}]}`), nil, 400, server.CodeBadField, "hints[0].blocks[0]"},
		{"hints not JSON", "POST", "/v1/hints", []byte(`{"hints":`), nil, 400, server.CodeBadJSON, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, tt.method, n.url+tt.path, tt.body, tt.hdr...)
			code, field := a.errBody(t)
			if a.status != tt.status || code != tt.code || field != tt.field {
				t.Errorf("%s %s: %d code %q field %q (%s); want %d %q %q", tt.method, tt.path, a.status, code, field, a.body, tt.status, tt.code, tt.field)
			}
		})
	}
	if n.idx.Len() != 0 || n.st.Stats().FlatBlocks != 0 {
		t.Errorf("bad requests left %d index entries and %d flat blocks, want none", n.idx.Len(), n.st.Stats().FlatBlocks)
	}
}

// TestTooLargeRefusedBeforeRead: a PUT whose Content-Length is over the
// limit is answered 413 before a byte of its body is sent.
func TestTooLargeRefusedBeforeRead(t *testing.T) {
	n := startNode(t, nodeOptions{maxBlock: 4096})
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/blocks/ns/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", hashN(1), int64(1)<<40)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413 before the body", resp.StatusCode)
	}
}

func TestAuth(t *testing.T) {
	const token = "s3cret-token"
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("token=%v", on), func(t *testing.T) {
			tok := ""
			if on {
				tok = token
			}
			n := startNode(t, nodeOptions{token: tok})
			url := n.blockURL(testNS, hashN(1))
			hints := []byte(`{"namespace":"ns","blocks":["` + hashN(2).String() + `"]}`)
			for _, auth := range []string{"", "Bearer wrong", "Bearer " + token, token} {
				wantOK := !on || auth == "Bearer "+token
				put := do(t, http.MethodPut, url, []byte("payload"), "Authorization", auth)
				hint := do(t, http.MethodPost, n.url+"/v1/hints", hints, "Authorization", auth)
				for _, a := range []answer{put, hint} {
					if wantOK && a.status >= 400 {
						t.Errorf("Authorization %q: %d %s, want success", auth, a.status, a.body)
					}
					if !wantOK {
						if code, _ := a.errBody(t); a.status != http.StatusUnauthorized || code != server.CodeUnauthorized || a.header.Get("WWW-Authenticate") == "" {
							t.Errorf("Authorization %q: %d %s, want 401 unauthorized with WWW-Authenticate", auth, a.status, code)
						}
					}
				}
			}
			// Reads need no token.
			if get := do(t, http.MethodGet, url, nil); get.status != http.StatusOK {
				t.Errorf("GET without a token: %d, want 200", get.status)
			}
			if st := do(t, http.MethodGet, n.url+"/v1/status", nil); st.status != http.StatusOK {
				t.Errorf("status without a token: %d, want 200", st.status)
			}
		})
	}
}

// TestConcurrentSameKeys: writers and readers of the same few keys at
// once; every read is one whole payload a writer wrote, or 404 before the
// first write.
func TestConcurrentSameKeys(t *testing.T) {
	n := startNode(t, nodeOptions{flatBudget: 256 << 10}) // evictions under way
	const keys, writers, readers, rounds = 4, 4, 4, 25
	versions := func(k int) [][]byte { return [][]byte{payloadN(k, 40000), payloadN(k+100, 40000)} }
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				k := (w + r) % keys
				a := do(t, http.MethodPut, n.blockURL(testNS, hashN(k)), versions(k)[w%2])
				if a.status != http.StatusCreated {
					errs <- fmt.Sprintf("PUT: %d %s", a.status, a.body)
				}
			}
		})
	}
	for rd := range readers {
		wg.Go(func() {
			for r := range rounds {
				k := (rd + r) % keys
				a := do(t, http.MethodGet, n.blockURL(testNS, hashN(k)), nil)
				switch {
				case a.status == http.StatusNotFound:
				case a.status != http.StatusOK:
					errs <- fmt.Sprintf("GET: %d %s", a.status, a.body)
				case !bytes.Equal(a.body, versions(k)[0]) && !bytes.Equal(a.body, versions(k)[1]):
					errs <- fmt.Sprintf("GET block %d: %d bytes that no writer wrote", k, len(a.body))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for k := range keys {
		a := do(t, http.MethodGet, n.blockURL(testNS, hashN(k)), nil)
		if a.status != http.StatusOK || (!bytes.Equal(a.body, versions(k)[0]) && !bytes.Equal(a.body, versions(k)[1])) {
			t.Errorf("block %d after the writers: %d, %d bytes; want one whole version", k, a.status, len(a.body))
		}
	}
}

// TestHintsMakeFlatHits: blocks only cold holds, hinted in each shape,
// are fetched by the hint pipeline, so that the GET that follows is a
// flat hit.
func TestHintsMakeFlatHits(t *testing.T) {
	n := startNode(t, nodeOptions{})
	ctx := context.Background()
	native := []block.Hash{hashN(1), hashN(2)}
	dynamo := []uint64{42, 1<<64 - 1}
	var all []block.Hash
	for i, h := range native {
		all = append(all, h)
		if err := n.st.PutCold(ctx, testNS, block.Key(h), payloadN(i, 5000)); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range dynamo {
		h := server.HashOfUint64(v)
		if h.String() != fmt.Sprintf("%064x", v) {
			t.Fatalf("HashOfUint64(%d) = %s, want %064x", v, h, v)
		}
		all = append(all, h)
		if err := n.st.PutCold(ctx, testNS, block.Key(h), payloadN(10+i, 5000)); err != nil {
			t.Fatal(err)
		}
	}
	bodies := []string{
		`{"hints":[{"namespace":"ns","blocks":["` + block.Key(native[0]) + `"],"lead_ms":60000,"priority":2},
		           {"namespace":"other","blocks":["` + native[1].String() + `"],"lead_ms":60000}]}`,
		`{"namespace":"ns","blocks":["` + native[1].String() + `"],"due":"2999-01-01T00:00:00Z"}`,
		`{"router_hint":{"source_control_endpoint":"tcp://peer:1234","block_hashes":[42,18446744073709551615]},"namespace":"ns","lead_ms":60000}`,
	}
	want := []server.HintResult{
		{Accepted: 1, Dropped: 1, DroppedBy: map[string]int{server.DropNoHintPipeline: 1}},
		{Accepted: 1},
		{Accepted: 2},
	}
	for i, b := range bodies {
		a := do(t, http.MethodPost, n.url+"/v1/hints", []byte(b))
		var got server.HintResult
		if a.status != http.StatusAccepted || json.Unmarshal(a.body, &got) != nil {
			t.Fatalf("POST /v1/hints: %d %s, want 202", a.status, a.body)
		}
		if diff := cmp.Diff(want[i], got); diff != "" {
			t.Errorf("hint answer %d mismatch (-want +got):\n%s", i, diff)
		}
	}
	for _, h := range all {
		waitFor(t, "hinted block "+h.String()+" in flat", func() bool { return n.st.ContainsFlat(ctx, testNS, h) })
	}
	getsBefore := n.st.Stats().ColdGets
	for _, h := range all {
		a := do(t, http.MethodGet, n.blockURL(testNS, h), nil)
		if a.status != http.StatusOK || a.header.Get(server.HeaderTier) != "flat" {
			t.Errorf("GET of hinted %s: %d tier %q, want a flat hit", h, a.status, a.header.Get(server.HeaderTier))
		}
	}
	if got := n.st.Stats().ColdGets; got != getsBefore {
		t.Errorf("the GETs after the hints sent %d cold GETs, want none", got-getsBefore)
	}
	var st server.Status
	if err := json.Unmarshal(do(t, http.MethodGet, n.url+"/v1/status", nil).body, &st); err != nil {
		t.Fatal(err)
	}
	if hs := st.Hints[testNS]; hs.Added != 4 || hs.Fetched < 4 {
		t.Errorf("status hints = %+v, want 4 added and fetched", hs)
	}
	if u := st.Usefulness; u.Prefetched != 4 || u.Useful != 4 || u.Served == nil || *u.Served != 1 {
		t.Errorf("status usefulness = %+v, want the 4 hinted blocks prefetched and useful, serving every read", u)
	}
	if len(st.Policies) != 1 || st.Policies[0].Cycles == 0 || st.Policies[0].LastCycle == nil {
		t.Errorf("status policies = %+v, want the hint pipeline with its last cycle", st.Policies)
	}
}

func TestHintLimits(t *testing.T) {
	n := startNode(t, nodeOptions{maxHints: 3})
	var keys []string
	for i := range 4 {
		keys = append(keys, `"`+hashN(i).String()+`"`)
	}
	a := do(t, http.MethodPost, n.url+"/v1/hints", []byte(`{"hints":[{"blocks":[`+strings.Join(keys[:2], ",")+`]},{"blocks":[`+strings.Join(keys[2:], ",")+`]}]}`))
	if code, _ := a.errBody(t); a.status != http.StatusRequestEntityTooLarge || code != server.CodeTooManyHints {
		t.Errorf("4 hinted blocks over a limit of 3: %d %s, want 413 too_many_hints", a.status, code)
	}
	if n.hints.Len() != 0 {
		t.Errorf("a refused batch left %d hints pending, want none", n.hints.Len())
	}
	big := do(t, http.MethodPost, n.url+"/v1/hints", bytes.Repeat([]byte(" "), int(server.DefaultMaxHintBodyBytes)+1))
	if code, _ := big.errBody(t); big.status != http.StatusRequestEntityTooLarge || code != server.CodeTooLarge {
		t.Errorf("a hint body over the limit: %d %s, want 413 too_large", big.status, code)
	}
}

func TestProbesAndMetrics(t *testing.T) {
	n := startNode(t, nodeOptions{})
	for _, p := range []string{"/healthz", "/readyz"} {
		if a := do(t, http.MethodGet, n.url+p, nil); a.status != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", p, a.status)
		}
	}
	do(t, http.MethodPut, n.blockURL(testNS, hashN(1)), []byte("abc"))
	m := do(t, http.MethodGet, n.url+"/metrics", nil)
	for _, want := range []string{
		`kvprefetch_http_requests_total{code="201",method="PUT",route="/v1/blocks/{namespace}/{key...}"} 1`,
		`kvprefetch_store_flat_blocks 1`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	n.srv.Drain()
	if a := do(t, http.MethodGet, n.url+"/readyz", nil); a.status != http.StatusServiceUnavailable {
		t.Errorf("readyz after Drain: %d, want 503", a.status)
	}
	if a := do(t, http.MethodGet, n.url+"/healthz", nil); a.status != http.StatusOK {
		t.Errorf("healthz after Drain: %d, want 200", a.status)
	}
}

// TestOneColdGetPerKey: concurrent GETs of a block only cold holds share
// one cold GET, and every one gets the whole payload.
func TestOneColdGetPerKey(t *testing.T) {
	n := startNode(t, nodeOptions{})
	h, payload := hashN(7), payloadN(7, 3<<20)
	if err := n.st.PutCold(context.Background(), testNS, block.Key(h), payload); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			a := do(t, http.MethodGet, n.blockURL(testNS, h), nil)
			if a.status != http.StatusOK || !bytes.Equal(a.body, payload) {
				t.Errorf("GET: %d, %d bytes; want 200 and the %d bytes", a.status, len(a.body), len(payload))
			}
		})
	}
	wg.Wait()
	if got := n.st.Stats().ColdGets; got != 1 {
		t.Errorf("16 concurrent GETs sent %d cold GETs, want 1", got)
	}
}

// TestChunkedPutLimit: a PUT without Content-Length is cut at the limit
// (413) and stores nothing; one within it is stored.
func TestChunkedPutLimit(t *testing.T) {
	n := startNode(t, nodeOptions{maxBlock: 1000})
	for _, size := range []int{1000, 1001} {
		h := hashN(size)
		req, err := http.NewRequest(http.MethodPut, n.blockURL(testNS, h), io.MultiReader(bytes.NewReader(payloadN(1, size))))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1 // chunked
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusCreated
		if size > 1000 {
			want = http.StatusRequestEntityTooLarge
		}
		if resp.StatusCode != want {
			t.Errorf("chunked PUT of %d bytes over a 1000-byte limit: %d, want %d", size, resp.StatusCode, want)
		}
		if _, ok := n.idx.Get(h); ok != (want == http.StatusCreated) {
			t.Errorf("chunked PUT of %d bytes: in the index = %v", size, ok)
		}
	}
}
