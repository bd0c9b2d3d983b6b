package replay

import (
	"testing"

	"go.uber.org/goleak"
)

// Run starts a pool of goroutines and the v3 fetch stage its own: none
// may outlive a replay.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
