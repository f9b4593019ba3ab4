package flagfile

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// MaxFileSize bounds the configuration file: a larger one is refused
// before it is parsed.
const MaxFileSize = 1 << 20

// maxErrors bounds how many mistakes of one file are reported at once.
const maxErrors = 20

// Kind is the kind of place a flag's value came from.
type Kind int

const (
	Default     Kind = iota // the flag's default
	File                    // the configuration file
	Env                     // an environment variable
	CommandLine             // the command line
)

// Source says where a flag's effective value came from.
type Source struct {
	Kind  Kind
	Where string // File: "path:line"; Env: the variable's name
}

func (s Source) String() string {
	switch s.Kind {
	case File:
		return "file " + s.Where
	case Env:
		return "env " + s.Where
	case CommandLine:
		return "command line"
	}
	return "default"
}

// Sources maps a flag's name to where its value came from; a flag that is
// not in it has its default.
type Sources map[string]Source

// Loader reads a flag set's configuration from a file and the
// environment. The zero value reads no variables and treats no flag as a
// list or a secret.
type Loader struct {
	// Prefix of the environment variables, e.g. "LETHE_"; "" reads none.
	// A variable with the prefix that names no flag is ignored: other
	// parts of a program may use the prefix too.
	Prefix string
	// Skip names flags that have neither a key nor a variable, such as the
	// flag that names the file itself.
	Skip []string
	// List reports the flags that take a comma-separated list, and so
	// also a YAML sequence. nil: none.
	List func(*flag.Flag) bool
	// Secret reports the flags whose values Print redacts and errors never
	// repeat. nil: none.
	Secret func(*flag.Flag) bool
}

// EnvName is the variable that sets the flag called name.
func (l Loader) EnvName(name string) string {
	return l.Prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Load applies the file at path ("" for none) and the variables of
// environ (as os.Environ gives them) to fs, whose command line has been
// parsed: a flag set there keeps its value, a variable wins over the
// file. It returns where each flag's value came from.
//
// Every key of the file is checked for its flag and its shape (a boolean
// for a boolean flag, one value or a list for a list flag); a value is
// parsed by its flag only where it takes effect.
func (l Loader) Load(fs *flag.FlagSet, path string, environ []string) (Sources, error) {
	var data []byte
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		data, err = io.ReadAll(io.LimitReader(f, MaxFileSize+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		if len(data) > MaxFileSize {
			return nil, &Error{File: path, Msg: fmt.Sprintf("larger than %d bytes", MaxFileSize), Err: ErrTooLarge}
		}
	}
	return l.Apply(fs, path, data, environ)
}

// Apply is Load with the file's contents given; name is the file's name
// in errors and sources.
func (l Loader) Apply(fs *flag.FlagSet, name string, data []byte, environ []string) (Sources, error) {
	src := Sources{}
	fs.Visit(func(f *flag.Flag) {
		if !slices.Contains(l.Skip, f.Name) {
			src[f.Name] = Source{Kind: CommandLine}
		}
	})
	entries, errs := l.parse(fs, name, data)

	vars := map[string]string{}
	if l.Prefix != "" {
		for _, kv := range environ {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, l.Prefix) {
				vars[k] = v
			}
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(l.Skip, f.Name) {
			return
		}
		v, ok := vars[l.EnvName(f.Name)]
		if !ok {
			return
		}
		if _, done := src[f.Name]; done {
			return
		}
		if msg := l.set(fs, f, v); msg != "" {
			errs = append(errs, &Error{Var: l.EnvName(f.Name), Key: f.Name, Msg: msg, Err: ErrValue})
			return
		}
		src[f.Name] = Source{Kind: Env, Where: l.EnvName(f.Name)}
	})
	for _, e := range entries {
		if _, done := src[e.flag.Name]; done {
			continue
		}
		if msg := l.set(fs, e.flag, e.value); msg != "" {
			if len(errs) < maxErrors {
				errs = append(errs, &Error{File: name, Line: e.line, Key: e.flag.Name, Msg: msg, Err: ErrValue})
			}
			continue
		}
		src[e.flag.Name] = Source{Kind: File, Where: fmt.Sprintf("%s:%d", name, e.line)}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b error) int { return lineOf(a) - lineOf(b) })
		return nil, errors.Join(errs...)
	}
	return src, nil
}

// lineOf is the line of err in the file; 0 for a variable's.
func lineOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Line
	}
	return 0
}

// set gives f the value v, as set on the command line (fs.Visit sees
// it), and says what is wrong if it does not take it.
func (l Loader) set(fs *flag.FlagSet, f *flag.Flag, v string) string {
	err := fs.Set(f.Name, v)
	if err == nil {
		return ""
	}
	if l.secret(f) {
		return "invalid value (not repeated here: the flag is secret)"
	}
	want := ""
	switch typ, _ := flag.UnquoteUsage(f); typ {
	case "":
		want = " (want true or false)"
	case "duration":
		want = ` (want a duration such as "10s" or "1h30m")`
	case "int", "uint":
		want = " (want an integer)"
	case "float":
		want = " (want a number)"
	}
	return fmt.Sprintf("invalid value %q: %v%s", v, err, want)
}

func (l Loader) secret(f *flag.Flag) bool { return l.Secret != nil && l.Secret(f) }
func (l Loader) list(f *flag.Flag) bool   { return l.List != nil && l.List(f) }

// entry is one key of the file: its flag, its value as the flag's Set
// takes it, and its line.
type entry struct {
	flag  *flag.Flag
	value string
	line  int
}

// parse reads the file's keys and checks each names a flag and has a
// value of the right shape. It returns the keys that do, and the
// mistakes.
func (l Loader) parse(fs *flag.FlagSet, name string, data []byte) ([]entry, []error) {
	if len(data) == 0 {
		return nil, nil
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			return nil, []error{&Error{File: name, Line: ye.GetToken().Position.Line, Msg: ye.GetMessage(), Err: ErrSyntax}}
		}
		return nil, []error{&Error{File: name, Msg: err.Error(), Err: ErrSyntax}}
	}
	var body ast.Node
	for _, doc := range file.Docs {
		switch doc.Body.(type) {
		case nil, *ast.CommentGroupNode: // an empty document
			continue
		}
		if body != nil {
			return nil, []error{&Error{File: name, Line: line(doc.Body), Msg: "a second YAML document: keep the configuration in one", Err: ErrSyntax}}
		}
		body = doc.Body
	}
	var pairs []*ast.MappingValueNode
	switch b := body.(type) {
	case nil:
		return nil, nil
	case *ast.MappingNode:
		pairs = b.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{b}
	default:
		return nil, []error{&Error{File: name, Line: line(body), Msg: "want a mapping of keys to values (udp-port: 7882), not " + nodeKind(body), Err: ErrSyntax}}
	}

	var out []entry
	var errs []error
	fail := func(ln int, key, msg string, sentinel error) {
		if len(errs) < maxErrors {
			errs = append(errs, &Error{File: name, Line: ln, Key: key, Msg: msg, Err: sentinel})
		}
	}
	for _, p := range pairs {
		ln := line(p.Key)
		k, ok := p.Key.(*ast.StringNode)
		if !ok {
			fail(ln, "", fmt.Sprintf("a key must be a flag's name, not %s", nodeKind(p.Key)), ErrSyntax)
			continue
		}
		f := fs.Lookup(k.Value)
		switch {
		case f != nil && slices.Contains(l.Skip, f.Name):
			fail(ln, k.Value, "cannot be set in the file; give it on the command line", ErrUnknownKey)
			continue
		case f == nil:
			msg := fmt.Sprintf("unknown key %q", k.Value)
			if near := l.nearest(fs, k.Value); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			}
			fail(ln, "", msg, ErrUnknownKey)
			continue
		}
		v, msg := l.value(f, p.Value)
		if msg != "" {
			fail(line(p.Value), f.Name, msg, ErrValue)
			continue
		}
		out = append(out, entry{flag: f, value: v, line: ln})
	}
	return out, errs
}

// value turns a YAML value into the text f's Set takes, or says why it
// does not fit f.
func (l Loader) value(f *flag.Flag, n ast.Node) (string, string) {
	for {
		switch v := n.(type) {
		case *ast.TagNode:
			n = v.Value
			continue
		case *ast.AnchorNode:
			n = v.Value
			continue
		}
		break
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		if v, ok := n.(*ast.BoolNode); ok {
			return strconv.FormatBool(v.Value), ""
		}
		return "", "want true or false, not " + nodeKind(n)
	}
	if seq, ok := n.(*ast.SequenceNode); ok {
		if !l.list(f) {
			return "", "takes one value, not a list"
		}
		items := make([]string, 0, len(seq.Values))
		for _, item := range seq.Values {
			s, ok := scalar(item)
			if !ok {
				return "", "a list item must be a single value, not " + nodeKind(item)
			}
			if strings.Contains(s, ",") {
				return "", "a list item may not contain a comma"
			}
			items = append(items, s)
		}
		return strings.Join(items, ","), ""
	}
	if _, ok := n.(*ast.NullNode); ok {
		return "", `has no value (write "" for an empty one)`
	}
	if s, ok := scalar(n); ok {
		return s, ""
	}
	return "", "want a single value, not " + nodeKind(n)
}

// scalar is the text of a single YAML value: a string's contents, a
// number as written.
func scalar(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, true
	}
	return "", false
}

func line(n ast.Node) int {
	if n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

func nodeKind(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.MappingKeyNode:
		return "a complex key (? ...)"
	case *ast.MergeKeyNode:
		return "a merge key (<<)"
	case *ast.SequenceNode:
		return "a list"
	case *ast.AliasNode:
		return "an alias (*name; write the value out)"
	case *ast.NullNode:
		return "an empty value"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.IntegerNode, *ast.FloatNode:
		return "a number"
	}
	return "a string"
}

// nearest is the key closest to name, if one is close enough to be what
// was meant.
func (l Loader) nearest(fs *flag.FlagSet, name string) string {
	best, bestD := "", max(2, len(name)/3)+1
	fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(l.Skip, f.Name) {
			return
		}
		if d := distance(name, f.Name); d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

// distance is the Levenshtein distance between a and b (bytes).
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
