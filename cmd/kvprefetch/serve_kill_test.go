//go:build unix

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wombatkv/prefetch/block"
	"github.com/wombatkv/prefetch/store"
)

// serveProcess is `kvprefetch serve` in a process of its own.
type serveProcess struct {
	cmd  *exec.Cmd
	url  string
	logs *lockedBuffer
}

func startServeProcess(t *testing.T, args ...string) *serveProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperArgs+"="+strings.Join(append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), "\n"))
	p := &serveProcess{cmd: cmd, logs: new(lockedBuffer)}
	cmd.Stderr = p.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), "listening on "); ok {
			p.url, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if p.url == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("serve did not say where it listens:\n%s", p.logs)
	}
	go io.Copy(io.Discard, stdout)
	return p
}

// kill sends SIGKILL and waits for the process.
func (p *serveProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

// term sends SIGTERM and returns the exit status.
func (p *serveProcess) term(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := p.cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// TestServeKill9: SIGKILL in the middle of a PUT and of the hint
// pipeline's fetches loses at most the index updates after the last
// snapshot and never leaves a partial block: after a restart every
// block acknowledged reads back byte for byte, the ones acknowledged
// before the last snapshot with their metadata from the restored index,
// the half-sent PUT is absent, and the flat tier holds no temporary file.
func TestServeKill9(t *testing.T) {
	dir := t.TempDir()
	flat, coldURL := filepath.Join(dir, "flat"), "file://"+dir+"/cold?create_dir=true"
	// A hint policy that fetches without a GET budget, so that its
	// fetches run back to back while the process is killed.
	spec := filepath.Join(dir, "hints.json")
	if err := os.WriteFile(spec, []byte(`{"interval": "10ms", "top_k": 2, "sources": ["hints"], "scorer": "deadline",
		"pre_filters": ["already-flat", "not-in-flight"], "fetcher": {"stage": "parallel", "params": {"limit": 2}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--flat", flat, "--cold", coldURL, "--snapshot-interval", "20ms", "--background", "none", "--hints", spec}
	const snapshotted, after, coldOnly, coldSize = 20, 5, 48, 2 << 20

	// Blocks another node wrote: only in cold, for the hints to fetch.
	ctx := context.Background()
	other, err := store.Open(ctx, store.Config{FlatDir: filepath.Join(dir, "other-flat"), ColdURL: coldURL})
	if err != nil {
		t.Fatal(err)
	}
	for i := range coldOnly {
		h, p := serveBlock(1000+i, coldSize)
		if err := other.PutCold(ctx, "tp-default", block.Key(h), p); err != nil {
			t.Fatal(err)
		}
	}
	other.Close()

	p := startServeProcess(t, args...)
	c := newServeClient(t, p.url)
	for i := range snapshotted {
		c.put(i, 10000+i)
	}
	// Two snapshots renamed after the last acknowledgement: the second
	// began after the first ended, so after every PUT above.
	snap := filepath.Join(flat, snapshotName)
	var seen os.FileInfo
	for renames := 0; renames < 2; {
		waitCond(t, "a new snapshot", func() bool {
			fi, err := os.Stat(snap)
			return err == nil && (seen == nil || !os.SameFile(seen, fi))
		})
		seen, _ = os.Stat(snap)
		renames++
	}
	for i := range after {
		c.put(snapshotted+i, 7000)
	}

	// A PUT cut after half its body.
	half, hp := serveBlock(500, 1<<20)
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/blocks/tp-default/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", half, len(hp))
	if _, err := conn.Write(hp[:len(hp)/2]); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "the half PUT's handler to run", func() bool {
		_, _, m := c.do(http.MethodGet, "/metrics", nil)
		return strings.Contains(string(m), `kvprefetch_http_requests_in_flight{route="/v1/blocks/{namespace}/{key...}"} 1`)
	})
	// Hint every cold-only block; kill once some are fetched and not all.
	var keys []string
	for i := range coldOnly {
		h, _ := serveBlock(1000+i, 0)
		keys = append(keys, `"`+h.String()+`"`)
	}
	if code, _, body := c.do(http.MethodPost, "/v1/hints", strings.NewReader(`{"blocks":[`+strings.Join(keys, ",")+`],"lead_ms":600000}`)); code != http.StatusAccepted {
		t.Fatalf("hints: %d %s", code, body)
	}
	waitCond(t, "the hint pipeline to fetch", func() bool { return c.status().Hints["tp-default"].Fetched > 0 })
	mid := c.status().Hints["tp-default"].Fetched
	p.kill(t)
	c.http.CloseIdleConnections()
	// The temporary files the kill left: blocks being fetched (".tmp-")
	// and perhaps a snapshot being written (".@kvprefetch.index.tmp-").
	var left []string
	filepath.WalkDir(flat, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".") {
			left = append(left, path)
		}
		return nil
	})
	t.Logf("killed with %d of %d hinted blocks fetched, %d temporary files in flat", mid, coldOnly, len(left))

	// Restart: everything acknowledged is whole.
	p2 := startServeProcess(t, args...)
	c2 := newServeClient(t, p2.url)
	if !strings.Contains(p2.logs.String(), "index restored") {
		t.Errorf("the restart did not restore the index:\n%s", p2.logs)
	}
	if got := c2.status().Index.Entries; got < snapshotted {
		t.Errorf("index after the restart: %d entries, want at least the %d snapshotted", got, snapshotted)
	}
	for i := range snapshotted {
		c2.check(i, 10000+i, true)
	}
	for i := range after {
		c2.check(snapshotted+i, 7000, false)
	}
	for i := range coldOnly {
		c2.check(1000+i, coldSize, false)
	}
	if code, _, _ := c2.do(http.MethodGet, "/v1/blocks/tp-default/"+half.String(), nil); code != http.StatusNotFound {
		t.Errorf("the half-sent PUT: %d, want 404 (never stored)", code)
	}
	for _, path := range left {
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the temporary file %s the kill left is still there after the restart (%v)", path, err)
		}
	}
	// No block is being fetched now (no hints, no background policy):
	// the flat tier holds no block temporary file. (The restarted
	// server's own snapshots come and go beside them.)
	filepath.WalkDir(flat, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("flat holds %s after the restart, want no temporary file", path)
		}
		return nil
	})
	if code := p2.term(t); code != 0 {
		t.Errorf("serve after SIGTERM: exit status %d, want 0\n%s", code, p2.logs)
	}
}
