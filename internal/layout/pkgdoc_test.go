package layout

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// whereItRuns are the phrases with which a package comment says where its
// code runs. Each package's comment must use at least one.
var whereItRuns = []string{
	"control process", "media worker", "every process", "any process", "client", "test",
}

// TestPackageDocs: every package has a package comment, in one file only,
// that starts as Go's conventions say and tells where the code runs.
func TestPackageDocs(t *testing.T) {
	t.Parallel()
	for _, p := range goList(t, "", "", "./...") {
		t.Run(strings.TrimPrefix(p.ImportPath, module+"/"), func(t *testing.T) {
			t.Parallel()
			var docs []string
			for _, f := range p.GoFiles {
				af, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
				if err != nil {
					t.Fatal(err)
				}
				if af.Doc != nil {
					docs = append(docs, f+": "+af.Doc.Text())
				}
			}
			switch {
			case len(docs) == 0:
				t.Fatalf("%s has no package comment", p.ImportPath)
			case len(docs) > 1:
				t.Fatalf("%s has %d package comments; keep one, in doc.go:\n%s", p.ImportPath, len(docs), strings.Join(docs, "\n"))
			}
			_, doc, _ := strings.Cut(docs[0], ": ")
			prefix := "Package " + p.Name + " "
			if p.Name == "main" {
				prefix = "Command "
			}
			if !strings.HasPrefix(doc, prefix) {
				t.Errorf("package comment of %s starts %q, want %q", p.ImportPath, firstLine(doc), prefix)
			}
			flat := strings.Join(strings.Fields(doc), " ")
			found := false
			for _, w := range whereItRuns {
				if strings.Contains(flat, w) {
					found = true
				}
			}
			if !found {
				t.Errorf("package comment of %s does not say where it runs (one of %q):\n%s", p.ImportPath, whereItRuns, doc)
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
