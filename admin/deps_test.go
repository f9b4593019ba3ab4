package admin_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDeps: a backend importing the SDK builds none of the server. The
// package imports nothing of Lethe, no SQLite, no database/sql: only the
// standard library (Tailscale's tstest/deptest, by hand).
func TestDeps(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 10 || !slices.Contains(lines, "net/http true") {
		t.Fatalf("go list listed %d packages, without net/http: %q", len(lines), lines)
	}
	for _, line := range lines {
		dep, std, _ := strings.Cut(line, " ")
		switch {
		case dep == "github.com/lethe-rtc/lethe/admin":
		case strings.HasPrefix(dep, "github.com/lethe-rtc/lethe/"),
			strings.HasPrefix(dep, "modernc.org/sqlite"),
			dep == "database/sql", strings.HasPrefix(dep, "database/sql/"):
			t.Errorf("admin imports %s", dep)
		case std != "true":
			t.Errorf("admin imports %s, which is not in the standard library", dep)
		}
	}
}
