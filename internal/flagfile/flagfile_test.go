package flagfile

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testFlags is a flag set of every kind the loader meets, with the
// values it parsed into.
type testFlags struct {
	fs       *flag.FlagSet
	listen   string
	port     int
	on       bool
	timeout  time.Duration
	hosts    string // a list
	password string // a secret
	config   string // skipped
}

func newTestFlags() *testFlags {
	t := &testFlags{fs: flag.NewFlagSet("test", flag.ContinueOnError)}
	t.fs.SetOutput(io.Discard)
	t.fs.StringVar(&t.listen, "listen", "127.0.0.1:1", "address")
	t.fs.IntVar(&t.port, "udp-port", 7882, "port")
	t.fs.BoolVar(&t.on, "batch-writes", true, "switch")
	t.fs.DurationVar(&t.timeout, "join-timeout", 10*time.Second, "timeout")
	t.fs.StringVar(&t.hosts, "allowed-hosts", "localhost", "comma-separated hosts")
	t.fs.StringVar(&t.password, "turn-secret", "", "a secret")
	t.fs.StringVar(&t.config, "config", "", "the file")
	return t
}

var testLoader = Loader{
	Prefix: "TEST_",
	Skip:   []string{"config"},
	List:   func(f *flag.Flag) bool { return strings.HasPrefix(f.Usage, "comma-separated") },
	Secret: func(f *flag.Flag) bool { return f.Name == "turn-secret" },
}

func TestApplyValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want func(*testFlags) bool
	}{
		{"string", "listen: 0.0.0.0:443\n", func(f *testFlags) bool { return f.listen == "0.0.0.0:443" }},
		{"quoted string", "listen: \"[::1]:80\"\n", func(f *testFlags) bool { return f.listen == "[::1]:80" }},
		{"integer", "udp-port: 9000\n", func(f *testFlags) bool { return f.port == 9000 }},
		{"hex integer", "udp-port: 0x10\n", func(f *testFlags) bool { return f.port == 16 }},
		{"boolean", "batch-writes: false\n", func(f *testFlags) bool { return !f.on }},
		{"duration", "join-timeout: 1m30s\n", func(f *testFlags) bool { return f.timeout == 90*time.Second }},
		{"list as string", "allowed-hosts: a.example,b.example\n", func(f *testFlags) bool { return f.hosts == "a.example,b.example" }},
		{"list as flow sequence", "allowed-hosts: [a.example, b.example]\n", func(f *testFlags) bool { return f.hosts == "a.example,b.example" }},
		{"list as block sequence", "allowed-hosts:\n  - a.example\n  - 10.0.0.1\n", func(f *testFlags) bool { return f.hosts == "a.example,10.0.0.1" }},
		{"empty list", "allowed-hosts: []\n", func(f *testFlags) bool { return f.hosts == "" }},
		{"empty string", "allowed-hosts: \"\"\n", func(f *testFlags) bool { return f.hosts == "" }},
		{"comments and a document marker", "# lethe\n---\nudp-port: 1 # inline\n", func(f *testFlags) bool { return f.port == 1 }},
		{"empty file", "", func(f *testFlags) bool { return f.port == 7882 }},
		{"only comments", "# nothing set\n", func(f *testFlags) bool { return f.port == 7882 }},
		{"tagged", "listen: !!str 10\n", func(f *testFlags) bool { return f.listen == "10" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newTestFlags()
			src, err := testLoader.Apply(f.fs, "t.yaml", []byte(tt.yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(f) {
				t.Errorf("%q: got %+v", tt.yaml, *f)
			}
			for name, s := range src {
				if s.Kind != File || !strings.HasPrefix(s.Where, "t.yaml:") {
					t.Errorf("source of %s = %v, want the file", name, s)
				}
			}
		})
	}
}

// TestErrorsNameTheLine: every mistake in a file is an error that names
// the file, the line and, for a key that is no flag, the nearest one.
func TestErrorsNameTheLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		yaml     string
		sentinel error
		want     []string // substrings of the error
	}{
		{"unknown key", "listen: 127.0.0.1:1\nudp-prot: 9000\n", ErrUnknownKey, []string{"t.yaml:2:", `unknown key "udp-prot"`, `did you mean "udp-port"?`}},
		{"unknown key, underscores", "\n\njoin_timeout: 5s\n", ErrUnknownKey, []string{"t.yaml:3:", `"join-timeout"`}},
		{"unknown key, nothing near", "frobnicate: 1\n", ErrUnknownKey, []string{"t.yaml:1:", `unknown key "frobnicate"`}},
		{"skipped key", "config: other.yaml\n", ErrUnknownKey, []string{"t.yaml:1: config: cannot be set in the file"}},
		{"integer not a number", "udp-port: 9000\nudp-host: x\n", ErrUnknownKey, []string{"t.yaml:2:"}},
		{"bad integer", "listen: a\nudp-port: lots\n", ErrValue, []string{"t.yaml:2: udp-port:", `"lots"`, "want an integer"}},
		{"duration without a unit", "join-timeout: 10\n", ErrValue, []string{"t.yaml:1: join-timeout:", "want a duration"}},
		{"boolean as a string", "batch-writes: \"no\"\n", ErrValue, []string{"t.yaml:1: batch-writes: want true or false"}},
		{"boolean as a number", "batch-writes: 1\n", ErrValue, []string{"t.yaml:1:", "want true or false, not a number"}},
		{"list for a single flag", "listen: [a, b]\n", ErrValue, []string{"t.yaml:1: listen: takes one value, not a list"}},
		{"mapping for a value", "listen:\n  host: a\n", ErrValue, []string{"t.yaml:2: listen: want a single value, not a mapping"}},
		{"null value", "listen:\nudp-port: 1\n", ErrValue, []string{"t.yaml:1: listen: has no value"}},
		{"nested list item", "allowed-hosts: [[a]]\n", ErrValue, []string{"t.yaml:1:", "a list item must be a single value"}},
		{"list item with a comma", "allowed-hosts: [\"a,b\"]\n", ErrValue, []string{"a list item may not contain a comma"}},
		{"alias", "listen: &a x\nallowed-hosts: *a\n", ErrValue, []string{"t.yaml:2:", "alias"}},
		{"duplicate key", "udp-port: 1\nudp-port: 2\n", ErrSyntax, []string{"t.yaml:2:", "already defined"}},
		{"unclosed sequence", "udp-port: 1\nallowed-hosts: [a,\n", ErrSyntax, []string{"t.yaml:"}},
		{"bad indentation", "  listen: a\n udp-port: 1\n", ErrSyntax, []string{"t.yaml:2:"}},
		{"not a mapping", "- listen\n- udp-port\n", ErrSyntax, []string{"t.yaml:1:", "want a mapping"}},
		{"a scalar document", "hello\n", ErrSyntax, []string{"want a mapping"}},
		{"two documents", "udp-port: 1\n---\nlisten: a\n", ErrSyntax, []string{"t.yaml:3:", "second YAML document"}},
		{"number as a key", "7882: udp-port\n", ErrSyntax, []string{"t.yaml:1:", "a key must be a flag's name"}},
		{"complex key", "? listen\n: a\n", ErrSyntax, []string{"t.yaml:1:", "not a complex key"}},
		{"merge key", "base: &b {listen: a}\n<<: *b\n", ErrUnknownKey, []string{`t.yaml:1: unknown key "base"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newTestFlags()
			_, err := testLoader.Apply(f.fs, "t.yaml", []byte(tt.yaml), nil)
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("%q: err = %v, want %v", tt.yaml, err, tt.sentinel)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q: error %q lacks %q", tt.yaml, err, w)
				}
			}
		})
	}
}

// TestAllMistakesAtOnce: an operator fixing a file sees every mistake,
// not one per start.
func TestAllMistakesAtOnce(t *testing.T) {
	t.Parallel()
	f := newTestFlags()
	_, err := testLoader.Apply(f.fs, "t.yaml", []byte("udp-prot: 1\nlisten: [a]\nbatch-writes: yes\nudp-port: lots\n"), nil)
	for _, w := range []string{"t.yaml:1:", "t.yaml:2:", "t.yaml:3:", "t.yaml:4:"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
}

// TestPrecedence: command line > environment > file > default, flag by
// flag, and the sources say so.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	f := newTestFlags()
	if err := f.fs.Parse([]string{"--udp-port", "1"}); err != nil {
		t.Fatal(err)
	}
	file := "udp-port: 3\njoin-timeout: 3s\nlisten: file:3\n"
	env := []string{"TEST_UDP_PORT=2", "TEST_JOIN_TIMEOUT=2s", "OTHER_LISTEN=x", "TEST_UNRELATED=1", "TEST_CONFIG=ignored"}
	src, err := testLoader.Apply(f.fs, "t.yaml", []byte(file), env)
	if err != nil {
		t.Fatal(err)
	}
	if f.port != 1 || f.timeout != 2*time.Second || f.listen != "file:3" || !f.on || f.config != "" {
		t.Errorf("got port %d timeout %v listen %q on %v config %q; want 1 (flag), 2s (env), file:3 (file), true (default), \"\" (skipped)",
			f.port, f.timeout, f.listen, f.on, f.config)
	}
	want := Sources{
		"udp-port":     {Kind: CommandLine},
		"join-timeout": {Kind: Env, Where: "TEST_JOIN_TIMEOUT"},
		"listen":       {Kind: File, Where: "t.yaml:3"},
	}
	if len(src) != len(want) {
		t.Errorf("sources %v, want %v", src, want)
	}
	for k, v := range want {
		if src[k] != v {
			t.Errorf("source of %s = %v, want %v", k, src[k], v)
		}
	}
	// The last of a repeated variable counts, as in a shell.
	g := newTestFlags()
	if _, err := testLoader.Apply(g.fs, "", nil, []string{"TEST_UDP_PORT=5", "TEST_UDP_PORT=6", "TEST_BATCH_WRITES=false"}); err != nil {
		t.Fatal(err)
	}
	if g.port != 6 || g.on {
		t.Errorf("env only: port %d on %v, want 6 false", g.port, g.on)
	}
}

func TestBadEnvironmentValue(t *testing.T) {
	t.Parallel()
	f := newTestFlags()
	_, err := testLoader.Apply(f.fs, "", nil, []string{"TEST_UDP_PORT=lots"})
	if !errors.Is(err, ErrValue) || !strings.Contains(err.Error(), "TEST_UDP_PORT: invalid value \"lots\"") {
		t.Errorf("err = %v", err)
	}
}

// TestSecretsStayOut: neither Print nor an error repeats a secret's value.
func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-s3cr3t"
	f := newTestFlags()
	src, err := testLoader.Apply(f.fs, "t.yaml", []byte("turn-secret: "+secret+"\nudp-port: 9\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.password != secret {
		t.Fatalf("secret not set: %q", f.password)
	}
	var out bytes.Buffer
	if err := testLoader.Print(&out, f.fs, src); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), secret) || !strings.Contains(out.String(), "turn-secret: "+quote(Redacted)) {
		t.Errorf("print-config output shows the secret or no redaction:\n%s", out.String())
	}
	// An unset secret shows that it is unset.
	g := newTestFlags()
	out.Reset()
	if err := testLoader.Print(&out, g.fs, Sources{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `turn-secret: ""`) {
		t.Errorf("unset secret not shown empty:\n%s", out.String())
	}

	// A secret flag whose Set refuses the value: the error does not echo it.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var n int
	fs.IntVar(&n, "turn-secret", 0, "a secret number")
	for _, in := range []struct{ file, env string }{{"turn-secret: " + secret + "\n", ""}, {"", "TEST_TURN_SECRET=" + secret}} {
		_, err = testLoader.Apply(fs, "t.yaml", []byte(in.file), []string{in.env})
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("error %v repeats the secret", err)
		}
	}
}

// TestPrintReadsBack: Print's output is a configuration file that sets
// the same values, and says where each came from.
func TestPrintReadsBack(t *testing.T) {
	t.Parallel()
	f := newTestFlags()
	if err := f.fs.Parse([]string{"--listen", "[::]:443"}); err != nil {
		t.Fatal(err)
	}
	src, err := testLoader.Apply(f.fs, "t.yaml", []byte("allowed-hosts: [\"true\", \"a: b\", \"#c\"]\nbatch-writes: false\n"),
		[]string{"TEST_JOIN_TIMEOUT=1h2m3s"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := testLoader.Print(&out, f.fs, src); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"# command line", "# file t.yaml:1", "# env TEST_JOIN_TIMEOUT", "# default"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "config:") {
		t.Errorf("output shows the skipped flag:\n%s", out.String())
	}
	g := newTestFlags()
	if _, err := testLoader.Apply(g.fs, "printed.yaml", out.Bytes(), nil); err != nil {
		t.Fatalf("output does not read back: %v\n%s", err, out.String())
	}
	if g.listen != f.listen || g.hosts != f.hosts || g.on != f.on || g.timeout != f.timeout || g.port != f.port {
		t.Errorf("read back %+v, printed from %+v", *g, *f)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "lethe.yaml")
	if err := os.WriteFile(path, []byte("udp-port: 42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newTestFlags()
	src, err := testLoader.Load(f.fs, path, nil)
	if err != nil || f.port != 42 || src["udp-port"].Where != path+":1" {
		t.Errorf("Load: port %d, sources %v, err %v", f.port, src, err)
	}
	if _, err := testLoader.Load(newTestFlags().fs, filepath.Join(dir, "missing.yaml"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), MaxFileSize/10+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := testLoader.Load(newTestFlags().fs, big, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big file: err = %v", err)
	}
}

func TestDistance(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"a", "", 1}, {"udp-prot", "udp-port", 2}, {"kitten", "sitting", 3}} {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzApply: no file makes the loader panic, and a file it accepts
// prints to one it accepts again.
func FuzzApply(f *testing.F) {
	for _, s := range []string{
		"udp-port: 1\n", "allowed-hosts: [a, b]\n", "a: [\n", "- x\n", "? a\n: b\n", "listen: &a x\nallowed-hosts: *a\n",
		"listen: !!binary aGk=\n", "udp-port: .inf\n", "listen: |\n  x\n", "{listen: a, udp-port: 2}\n", "---\n---\n", "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fl := newTestFlags()
		src, err := testLoader.Apply(fl.fs, "f.yaml", data, nil)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := testLoader.Print(&out, fl.fs, src); err != nil {
			t.Fatal(err)
		}
		if _, err := testLoader.Apply(newTestFlags().fs, "p.yaml", out.Bytes(), nil); err != nil && !strings.Contains(out.String(), Redacted) {
			t.Fatalf("printed config does not read back: %v\n%s", err, out.String())
		}
	})
}
