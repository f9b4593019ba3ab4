package webhook

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// dispatcher must be closed, every app goroutine stopped.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
