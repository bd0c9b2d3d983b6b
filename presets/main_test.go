package presets_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The presets' workers run goroutines in these tests: none may outlive one.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
