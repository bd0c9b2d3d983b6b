package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/index"
	"github.com/wombatkv/prefetch/presets"
	"github.com/wombatkv/prefetch/server"
	"github.com/wombatkv/prefetch/stages/snapshot"
	"github.com/wombatkv/prefetch/store"
)

// A Go node mounts the handler in its own mux, over its store, its index
// and the hint intake of its hint pipeline.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "kvprefetch-server-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{FlatDir: filepath.Join(dir, "flat"), ColdURL: "file://" + filepath.Join(dir, "cold") + "?create_dir=true"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	idx := index.NewMemory(nil)
	hints := snapshot.NewHints(snapshot.HintsConfig{})
	w, err := presets.Worker(presets.NameHints, presets.Options{Store: st, Hints: hints})
	if err != nil {
		fmt.Println(err)
		return
	}
	w.Start(ctx)
	defer w.Stop()

	h, err := server.New(server.Config{Store: st, Index: idx, Hints: map[string]*snapshot.Hints{"tp-default": hints}})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/", h) // beside the node's own routes
	ts := httptest.NewServer(mux)
	defer ts.Close()

	key := block.Key(block.Hash{0xab})
	req, _ := http.NewRequest(http.MethodPut, ts.URL+"/v1/blocks/tp-default/"+key, bytes.NewReader([]byte("kv bytes")))
	req.Header.Set(server.HeaderPosition, "0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("PUT", resp.StatusCode)

	resp, err = http.Get(ts.URL + "/v1/blocks/tp-default/" + key)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("GET", resp.StatusCode, resp.Header.Get(server.HeaderTier), string(body))

	resp, err = http.Post(ts.URL+"/v1/hints", "application/json",
		bytes.NewReader([]byte(`{"router_hint": {"block_hashes": [42]}, "lead_ms": 500}`)))
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print("POST /v1/hints ", resp.StatusCode, " ", string(body))
	// Output:
	// PUT 201
	// GET 200 flat kv bytes
	// POST /v1/hints 202 {
	//   "accepted": 1,
	//   "dropped": 0
	// }
}
