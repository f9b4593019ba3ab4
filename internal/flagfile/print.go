package flagfile

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
)

// Redacted stands in for a secret's value in Print's output.
const Redacted = "<redacted>"

// Print writes fs's effective configuration as YAML, one key per flag
// but the skipped ones, in name order, each with a comment saying where
// its value came from (src, as Load returned it). A list shows as a YAML
// sequence (its empty items dropped); a secret flag that has a value
// shows Redacted instead. Without the redactions, Load reads the
// output back to the same values.
func (l Loader) Print(w io.Writer, fs *flag.FlagSet, src Sources) error {
	type row struct{ kv, from string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(l.Skip, f.Name) {
			return
		}
		r := row{kv: f.Name + ": " + l.render(f), from: src[f.Name].String()}
		rows = append(rows, r)
		width = max(width, len(r.kv))
	})
	bw := bufio.NewWriter(w)
	for _, r := range rows {
		fmt.Fprintf(bw, "%-*s  # %s\n", width, r.kv, r.from)
	}
	return bw.Flush()
}

// render is f's value as a YAML value.
func (l Loader) render(f *flag.Flag) string {
	v := f.Value.String()
	if l.secret(f) && v != "" {
		return quote(Redacted)
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return v
	}
	if l.list(f) {
		var items []string
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, quote(item))
			}
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	if g, ok := f.Value.(flag.Getter); ok {
		if _, isString := g.Get().(string); !isString {
			return v // a number or a duration: plain as it prints
		}
	}
	return quote(v)
}

// quote is s as a YAML string, quoted where it would otherwise read as
// something else.
func quote(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil || strings.Contains(strings.TrimSuffix(string(out), "\n"), "\n") {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(out), "\n")
}
