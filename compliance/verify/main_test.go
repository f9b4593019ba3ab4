package verify

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary a helper process: "write PATH HEXDATA
// [delete]" writes the data to PATH (then deletes it, if asked) and waits
// for the end of its stdin before it exits, so that the test can look it
// up; "spawn ARGS..." runs itself again with ARGS, passing its stdin on,
// and waits.
const helperEnv = "LETHE_VERIFY_TEST_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(strings.Fields(h)))
	}
	goleak.VerifyTestMain(m)
}

func runHelper(args []string) int {
	switch {
	case len(args) >= 3 && args[0] == "write":
		data, err := hex.DecodeString(args[2])
		if err != nil {
			return 2
		}
		if err := os.WriteFile(args[1], data, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if len(args) == 4 && args[3] == "delete" {
			_ = os.Remove(args[1])
		}
		_, _ = io.Copy(io.Discard, os.Stdin)
		return 0
	case len(args) >= 2 && args[0] == "spawn":
		cmd := helper(args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return 1
		}
		return 0
	}
	return 2
}

// helper returns a command running this test binary as a helper.
func helper(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join(args, " "))
	return cmd
}

func sleepMS(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }

// waitFile waits up to 10 s for path to exist.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for range 1000 {
		if _, err := os.Stat(path); err == nil {
			return
		}
		sleepMS(10)
	}
	t.Fatalf("%s did not appear", path)
}
