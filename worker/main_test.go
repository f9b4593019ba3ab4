package worker

import (
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/wiretest"
	"go.uber.org/goleak"
)

// wait bounds every wait for something the code under test must do.
const wait = 10 * time.Second

// secret stands for a token or SDP that must never be echoed or logged.
const secret = wiretest.Secret

var msg = wiretest.Msg

// TestMain fails the package if any test leaves a goroutine behind: every
// host session and fake must be stopped and waited for.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
