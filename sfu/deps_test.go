package sfu_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps storage, auth and debug endpoints out of the media
// worker's forwarding code: media must never have a way to reach a disk
// or a database from here. Like Tailscale's tstest/deptest, it asks
// `go list -deps` for every platform the worker ships on.
func TestDeps(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found: %v", err)
	}
	// A trailing "/..." bans the package and everything under it.
	// database/sql/driver stays allowed: it is only interfaces, and
	// github.com/google/uuid (through Pion) imports it for Scanner/Valuer.
	banned := []string{
		"database/sql",
		"modernc.org/sqlite/...",
		"github.com/lethe-rtc/lethe/store/...",
		"github.com/lethe-rtc/lethe/auth/...",
		"net/http/pprof",
		"expvar",
	}
	for _, platform := range []string{"linux/amd64", "linux/arm64"} {
		t.Run(strings.ReplaceAll(platform, "/", "_"), func(t *testing.T) {
			t.Parallel()
			goos, goarch, _ := strings.Cut(platform, "/")
			cmd := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", ".")
			cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
			out, err := cmd.Output()
			if err != nil {
				var stderr string
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("go list: %v\n%s", err, stderr)
			}
			deps := strings.Fields(string(out))
			seen := make(map[string]bool, len(deps))
			for _, d := range deps {
				seen[d] = true
				for _, b := range banned {
					tree, isTree := strings.CutSuffix(b, "/...")
					if d == b || isTree && (d == tree || strings.HasPrefix(d, tree+"/")) {
						t.Errorf("sfu depends on %s (banned %s)", d, b)
					}
				}
			}
			// The list is real: it holds the package and its forwarding helpers.
			for _, want := range []string{
				"github.com/lethe-rtc/lethe/sfu",
				"github.com/lethe-rtc/lethe/internal/rtpcache",
				"github.com/pion/webrtc/v4",
			} {
				if !seen[want] {
					t.Errorf("go list -deps misses %s; got %d packages", want, len(deps))
				}
			}
		})
	}
}
