package control

import (
	"os"
	"runtime"
	"testing"

	"github.com/lethe-rtc/lethe/internal/wiretest"
	"go.uber.org/goleak"
)

var (
	msg      = wiretest.Msg
	joinData = wiretest.JoinData
)

// secret stands for a token that must never be echoed or logged.
const secret = wiretest.Secret

// TestMain fails the package if any test leaves a goroutine behind: every
// server connection, host session and fake must be stopped and waited for.
func TestMain(m *testing.M) {
	// Keep the main thread to this goroutine: no test goroutine then runs
	// on it, and one that exits locked to its thread really ends that
	// thread (the main thread would only wedge), as
	// TestForkThreadOutlivesTheAskingThread needs.
	runtime.LockOSThread()
	if how := os.Getenv(crashHelperEnv); how != "" {
		runCrashHelper(how) // never returns
	}
	goleak.VerifyTestMain(m)
}
