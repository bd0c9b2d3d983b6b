//go:build unix

package index_test

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wombatkv/prefetch/index"
)

// TestSnapshotNotAFile: a snapshot path that is a fifo (whose open would
// block for ever) or a directory is refused at once with ErrBadSnapshot.
func TestSnapshotNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no fifo here: %v", err)
	}
	for _, path := range []string{fifo, dir} {
		done := make(chan error, 1)
		go func() {
			_, err := index.LoadSnapshot(path, index.NewMemory(nil))
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, index.ErrBadSnapshot) || !strings.Contains(err.Error(), "not a plain file") {
				t.Errorf("LoadSnapshot(%s) = %v, want ErrBadSnapshot: not a plain file", path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("LoadSnapshot(%s) still blocked after 10 s", path)
		}
	}
}
