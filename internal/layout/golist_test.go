package layout

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/lethe-rtc/lethe"

// pkg is what `go list -json` says of one package.
type pkg struct {
	ImportPath string
	Dir        string
	Name       string
	Imports    []string
	Deps       []string
	GoFiles    []string
}

// goList runs `go list -json` on patterns from the module root for
// goos/goarch ("" for the host's), in the style of Tailscale's deptest.
func goList(t *testing.T, goos, goarch string, patterns ...string) []pkg {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found: %v", err)
	}
	args := append([]string{"list", "-json=ImportPath,Dir,Name,Imports,Deps,GoFiles"}, patterns...)
	cmd := exec.Command(goBin, args...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if goos != "" {
		cmd.Env = append(cmd.Env, "GOOS="+goos, "GOARCH="+goarch)
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list %v: no packages", patterns)
	}
	return pkgs
}

// matches reports whether import path d is pattern b: a path, or a tree
// when b ends in "/...".
func matches(d, b string) bool {
	tree, isTree := strings.CutSuffix(b, "/...")
	return d == b || isTree && (d == tree || strings.HasPrefix(d, tree+"/"))
}
