package web

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDemoErrorTexts: the demo page has a sentence for every error code of
// docs/protocol.md section 5 and for every local code of lethe.js, so no
// error reaches a person as a bare number.
func TestDemoErrorTexts(t *testing.T) {
	app, err := assets.ReadFile("app.js")
	if err != nil {
		t.Fatal(err)
	}
	src := string(app)
	start := strings.Index(src, "const ERRORS = {")
	end := strings.Index(src[start:], "\n};")
	if start < 0 || end < 0 {
		t.Fatal("app.js has no ERRORS table")
	}
	have := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\d+): \["[^"]+", "[^"]*"\],$`).FindAllStringSubmatch(src[start:start+end], -1) {
		have[m[1]] = true
	}

	proto, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(proto)
	s5 := strings.Index(doc, "\n## 5. Error codes")
	s6 := strings.Index(doc, "\n## 6.")
	if s5 < 0 || s6 < s5 {
		t.Fatal("docs/protocol.md has no section 5 before section 6")
	}
	var want []string
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(doc[s5:s6], -1) {
		if m[1] != "0" { // a normal end, not an error
			want = append(want, m[1])
		}
	}
	lethe, err := assets.ReadFile("lethe.js")
	if err != nil {
		t.Fatal(err)
	}
	local := regexp.MustCompile(`(?m)^export const Err\w+ = (\d+);`).FindAllStringSubmatch(string(lethe), -1)
	for _, m := range local {
		want = append(want, m[1])
	}
	if len(want) < 40 || len(local) < 5 {
		t.Fatalf("found only %d codes (%d local): the parsing is off", len(want), len(local))
	}
	for _, c := range want {
		if !have[c] {
			t.Errorf("app.js ERRORS has no sentence for code %s", c)
		}
	}
}
