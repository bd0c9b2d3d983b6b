package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLoad drives a real server on 127.0.0.1 with concurrent
// clients doing PUT, GET and hints (6 GETs, 3 PUTs, 1 hint of 4 blocks in
// every 10 operations) over 512 keys of 64 KiB with a 4 MiB flat budget
// (an eighth of the keys' bytes: GETs miss flat and go to cold, PUTs and
// fetches evict). It fails on any 5xx, any GET whose bytes are not its
// key's, and any block acknowledged and then lost; it reports each
// operation's p50 and p99 latency and the throughput.
//
//	go test ./server/ -run '^$' -bench BenchmarkLoad -benchtime 4000x -count 1
func BenchmarkLoad(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchLoad(b, clients) })
	}
}

func benchLoad(b *testing.B, clients int) {
	const keys, size = 512, 64 << 10
	n := startNode(b, nodeOptions{flatBudget: 4 << 20})
	payloads := make([][]byte, keys)
	for k := range payloads {
		payloads[k] = payloadN(k, size)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var (
		acked    [keys]atomic.Bool
		next     atomic.Int64
		failures atomic.Int64
		mu       sync.Mutex
		lat      = map[string][]time.Duration{}
		failMsg  []string
	)
	fail := func(format string, args ...any) {
		failures.Add(1)
		mu.Lock()
		if len(failMsg) < 5 {
			failMsg = append(failMsg, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	send := func(req *http.Request) (int, []byte, time.Duration) {
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			fail("%s: %v", req.Method, err)
			return 0, nil, 0
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil {
			fail("%s: reading: %v", req.Method, err)
		}
		return resp.StatusCode, body, d
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			local := map[string][]time.Duration{}
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					break
				}
				k := int(uint64(i)*0x9e3779b97f4a7c15>>40) % keys
				h := hashN(k)
				var op string
				var req *http.Request
				switch i % 10 {
				case 0, 1, 2:
					op = "put"
					req, _ = http.NewRequest(http.MethodPut, n.blockURL(testNS, h), bytes.NewReader(payloads[k]))
				case 3:
					op = "hint"
					var bs []string
					for j := range 4 {
						bs = append(bs, `"`+hashN((k+j)%keys).String()+`"`)
					}
					req, _ = http.NewRequest(http.MethodPost, n.url+"/v1/hints", bytes.NewReader([]byte(`{"namespace":"ns","lead_ms":200,"blocks":[`+join(bs)+`]}`)))
				default:
					op = "get"
					req, _ = http.NewRequest(http.MethodGet, n.blockURL(testNS, h), nil)
				}
				wasAcked := acked[k].Load()
				code, body, d := send(req)
				local[op] = append(local[op], d)
				switch {
				case code >= 500 || code == 0:
					fail("client %d: %s block %d: %d %s", c, op, k, code, body)
				case op == "put" && code == http.StatusCreated:
					acked[k].Store(true)
				case op == "get" && code == http.StatusOK && !bytes.Equal(body, payloads[k]):
					fail("GET block %d: %d bytes that are not its payload", k, len(body))
				case op == "get" && code == http.StatusNotFound && wasAcked:
					fail("GET block %d: 404 after its PUT was acknowledged", k)
				case op == "get" && code != http.StatusOK && code != http.StatusNotFound,
					op == "put" && code != http.StatusCreated, op == "hint" && code != http.StatusAccepted:
					fail("%s block %d: %d %s", op, k, code, body)
				}
			}
			mu.Lock()
			for op, ds := range local {
				lat[op] = append(lat[op], ds...)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	// Nothing acknowledged is lost, nothing is corrupt.
	for k := range keys {
		if !acked[k].Load() {
			continue
		}
		req, _ := http.NewRequest(http.MethodGet, n.blockURL(testNS, hashN(k)), nil)
		if code, body, _ := send(req); code != http.StatusOK || !bytes.Equal(body, payloads[k]) {
			fail("block %d after the run: %d, %d bytes; want its payload", k, code, len(body))
		}
	}
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d failures, first: %v", f, failMsg)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(b.N)*0.9*size/elapsed.Seconds()/(1<<20), "MiB/s")
	for _, op := range []string{"get", "put", "hint"} {
		ds := lat[op]
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), op+"-p50-µs")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), op+"-p99-µs")
	}
	st := n.st.Stats()
	b.ReportMetric(float64(st.Evicted), "evictions")
	b.ReportMetric(float64(st.ColdGets), "cold-gets")
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x)
	}
	return b.String()
}
