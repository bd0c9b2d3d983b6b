package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPythonExample runs examples/python/kvprefetch_client.py, which
// uses urllib alone, against a real server with a token.
func TestPythonExample(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the Python example (examples/python) is not run")
	}
	const token = "py-token"
	n := startNode(t, nodeOptions{token: token})
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "../examples/python/kvprefetch_client.py", n.url, "--token-file", tok, "--namespace", testNS).CombinedOutput()
	if err != nil {
		t.Fatalf("the Python example failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"put 100000 bytes to flat, read them back from flat",
		"missing block: 404 not_found",
		"bad hint: 400 bad_field hints[0].blocks[0]",
		`hint: {"accepted": 1, "dropped": 0}`,
		`dynamo hint: {"accepted": 1, "dropped": 0}`,
		"status: ready=True index=1",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the Python example's output lacks %q:\n%s", want, out)
		}
	}
}
