package signaling

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// server connection, host session and fake must be stopped and waited for.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
