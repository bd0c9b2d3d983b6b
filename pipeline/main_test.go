package pipeline_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The worker starts goroutines and the fetch stage may too: none may
// outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
