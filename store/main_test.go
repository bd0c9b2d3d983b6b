package store

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The crash tests re-run this binary as a child that publishes a block
	// and is killed mid-way; see crash_test.go.
	if scenario := os.Getenv(childEnv); scenario != "" {
		os.Exit(crashChild(scenario))
	}
	goleak.VerifyTestMain(m)
}
