package policy_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Spec.Worker's workers and the parallel fetcher run goroutines in these
// tests: none may outlive one.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
