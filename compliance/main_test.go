package compliance

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(m.Run()) // a child: TestHelperProcess exits by itself
	}
	goleak.VerifyTestMain(m)
}
