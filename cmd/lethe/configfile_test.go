package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// serveFlag is one flag of lethe serve, as its --help lists it.
type serveFlag struct{ name, typ, usage string }

var usageLineRE = regexp.MustCompile(`^  --([a-z0-9-]+)( [a-z]+)?  +(.*)$`)

// serveFlags lists serve's flags from its --help, so that the tests see
// every flag that any part of serve registers.
func serveFlags(t *testing.T) []serveFlag {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := serve(context.Background(), []string{"--help"}, nil, &out, &errOut); err != errHelpShown {
		t.Fatalf("serve --help: %v", err)
	}
	var flags []serveFlag
	for line := range strings.SplitSeq(out.String(), "\n") {
		if m := usageLineRE.FindStringSubmatch(line); m != nil {
			flags = append(flags, serveFlag{m[1], strings.TrimSpace(m[2]), m[3]})
		}
	}
	if len(flags) < 20 {
		t.Fatalf("found %d flags in serve --help:\n%s", len(flags), out.String())
	}
	return flags
}

// printedConfig is serve --print-config's output: each key's value as
// YAML reads it, and the comment saying where it came from.
type printedConfig struct {
	values  map[string]any
	sources map[string]string
}

func printConfig(t *testing.T, environ []string, args ...string) (printedConfig, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := serve(context.Background(), append(args, "--print-config"), environ, &out, &errOut)
	p := printedConfig{values: map[string]any{}, sources: map[string]string{}}
	if yerr := yaml.Unmarshal(out.Bytes(), &p.values); yerr != nil {
		t.Fatalf("print-config output is not YAML: %v\n%s", yerr, out.String())
	}
	for line := range strings.SplitSeq(out.String(), "\n") {
		if key, rest, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(key, "#") {
			_, from, _ := strings.Cut(rest, "  # ")
			p.sources[key] = from
		}
	}
	if err != nil {
		err = fmt.Errorf("%w: %s", err, errOut.String())
	}
	return p, err
}

// TestServeEveryFlagHasAKey walks serve's flags: for each, the test sets
// a value other than its default through a configuration file, and
// --print-config must show that value, from that line; then the same
// through LETHE_ variables. A flag the file or the environment cannot set
// fails here.
func TestServeEveryFlagHasAKey(t *testing.T) {
	t.Parallel()
	defaults, err := printConfig(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	var file strings.Builder
	var env []string
	want := map[string]any{}
	lines := map[string]int{}
	for _, f := range serveFlags(t) {
		if f.name == configFlag || f.name == printConfigFlag {
			continue
		}
		def, ok := defaults.values[f.name]
		if !ok {
			t.Errorf("--%s: no key in --print-config", f.name)
			continue
		}
		var text string // the value, as YAML
		switch {
		case f.typ == "":
			b, _ := def.(bool)
			text, want[f.name] = strconv.FormatBool(!b), !b
		case f.typ == "int" || f.typ == "uint":
			n, _ := strconv.Atoi(fmt.Sprint(def))
			text, want[f.name] = strconv.Itoa(n+1), uint64(n+1)
		case f.typ == "duration":
			d, err := time.ParseDuration(fmt.Sprint(def))
			if err != nil {
				t.Errorf("--%s: default %v is no duration", f.name, def)
				continue
			}
			text, want[f.name] = (d + time.Second).String(), (d + time.Second).String()
		case strings.Contains(f.usage, "comma-separated"):
			text, want[f.name] = "[one.example, two.example]", []any{"one.example", "two.example"}
		case f.typ == "string":
			text, want[f.name] = "changed-"+f.name, "changed-"+f.name
		default:
			t.Errorf("--%s has a type (%s) this test cannot make a value for: teach it one", f.name, f.typ)
			continue
		}
		lines[f.name] = strings.Count(file.String(), "\n") + 1
		fmt.Fprintf(&file, "%s: %s\n", f.name, text)
		envText := strings.NewReplacer("[", "", "]", "", ", ", ",").Replace(text) // a list as one value
		env = append(env, "LETHE_"+strings.ToUpper(strings.ReplaceAll(f.name, "-", "_"))+"="+envText)
	}
	path := filepath.Join(t.TempDir(), "every.yaml")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// The values are of the right type but not a valid configuration
	// (--listen changed-listen): --print-config still prints them.
	got, _ := printConfig(t, nil, "--config", path)
	for name, w := range want {
		if v := got.values[name]; fmt.Sprint(v) != fmt.Sprint(w) {
			t.Errorf("%s: the file set %v, --print-config shows %v (default %v)", name, w, v, defaults.values[name])
		}
		if from := fmt.Sprintf("file %s:%d", path, lines[name]); got.sources[name] != from {
			t.Errorf("%s: from %q, want %q", name, got.sources[name], from)
		}
	}
	got, _ = printConfig(t, env)
	for name, w := range want {
		if v := got.values[name]; fmt.Sprint(v) != fmt.Sprint(w) {
			t.Errorf("%s: the environment set %v, --print-config shows %v", name, w, v)
		}
		if from := "env LETHE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")); got.sources[name] != from {
			t.Errorf("%s: from %q, want %q", name, got.sources[name], from)
		}
	}
}

// TestServeConfigPrecedence: a flag beats a LETHE_ variable, which beats
// the file, which beats the default; and LETHE_CONFIG names the file.
func TestServeConfigPrecedence(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lethe.yaml")
	file := "udp-port: 1001\njoin-timeout: 3s\nworkers: 2\nallowed-origins: [https://a.example, https://b.example]\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"LETHE_UDP_PORT=1002", "LETHE_JOIN_TIMEOUT=4s", "LETHE_CONFIG=" + path, "LETHE_CONTROL_LANDLOCK=not-a-flag"}
	got, err := printConfig(t, env, "--udp-port", "1003")
	if err != nil {
		t.Fatal(err)
	}
	for key, w := range map[string]struct{ value, from string }{
		"udp-port":        {"1003", "command line"},
		"join-timeout":    {"4s", "env LETHE_JOIN_TIMEOUT"},
		"workers":         {"2", "file " + path + ":3"},
		"allowed-origins": {"[https://a.example https://b.example]", "file " + path + ":4"},
		"worker-procs":    {"1", "default"},
	} {
		if v := fmt.Sprint(got.values[key]); v != w.value || got.sources[key] != w.from {
			t.Errorf("%s = %s from %q, want %s from %q", key, v, got.sources[key], w.value, w.from)
		}
	}
	// --config wins over LETHE_CONFIG.
	other := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(other, []byte("workers: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err = printConfig(t, env, "--config", other); err != nil || fmt.Sprint(got.values["workers"]) != "5" {
		t.Errorf("--config over LETHE_CONFIG: workers %v, err %v", got.values["workers"], err)
	}
}

// TestServeConfigMistakes: a bad file or variable stops serve before it
// starts anything (no data dir is made), with exit 2 and the line.
func TestServeConfigMistakes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, file string
		env        []string
		want       []string
	}{
		{"unknown key", "workers: 1\nudp-prot: 9000\n", nil, []string{":2: unknown key \"udp-prot\" (did you mean \"udp-port\"?)"}},
		{"wrong type", "workers: 1\n\nudp-port: high\n", nil, []string{":3: udp-port: invalid value \"high\"", "want an integer"}},
		{"boolean as a string", "mlock: \"off\"\n", nil, []string{":1: mlock: want true or false"}},
		{"malformed", "workers: 1\nallowed-hosts: [a,\n", nil, []string{"lethe.yaml:"}},
		{"the file names itself", "config: other.yaml\n", nil, []string{":1: config: cannot be set in the file"}},
		{"bad variable", "", []string{"LETHE_WORKERS=many"}, []string{"LETHE_WORKERS: invalid value \"many\""}},
		{"invalid setting from the file", "workers: 65\n", nil, []string{"--workers must be 1..64"}},
		{"missing file", "", []string{"LETHE_CONFIG=/nonexistent/lethe.yaml"}, []string{"/nonexistent/lethe.yaml", "no such file"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			path := filepath.Join(dir, "lethe.yaml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"--data-dir", data}
			if !strings.Contains(strings.Join(tt.env, " "), "LETHE_CONFIG") {
				args = append(args, "--config", path)
			}
			var out, errOut bytes.Buffer
			err := serve(context.Background(), args, tt.env, &out, &errOut)
			if code := exitCode(err, &errOut); code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
				}
			}
			if strings.Contains(errOut.String(), "usage:") {
				t.Errorf("a configuration mistake buried under the usage:\n%s", errOut.String())
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("data dir made before the configuration was checked (stat: %v)", err)
			}
		})
	}
}

// TestSecretFlagsRedacted: a flag marked secret next to its declaration
// never shows its value in --print-config or in an error. serve has no
// secret flag of its own (yet), so the test declares one.
func TestSecretFlagsRedacted(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-turn-key"
	fs := newFlags("test", "test", "")
	key := fs.String("turn-secret", "", "shared secret of the TURN relay")
	fs.Int("turn-port", 3478, "TURN port")
	fs.String("hosts", "", "comma-separated names")
	fs.markSecret("turn-secret")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	l := fs.configLoader()
	src, err := l.Apply(fs.FlagSet, "t.yaml", []byte("turn-secret: "+secret+"\nhosts: [a, b]\n"), nil)
	if err != nil || *key != secret {
		t.Fatalf("apply: %v (secret set: %v)", err, *key == secret)
	}
	var out bytes.Buffer
	if err := l.Print(&out, fs.FlagSet, src); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), secret) || !strings.Contains(out.String(), "turn-secret: <redacted>") ||
		!strings.Contains(out.String(), "hosts: [a, b]") {
		t.Errorf("print-config:\n%s", out.String())
	}
	// A secret that fails to parse is not echoed either.
	num := newFlags("test", "test", "")
	num.Int("turn-secret", 0, "a numeric secret")
	num.markSecret("turn-secret")
	_, err = num.configLoader().Apply(num.FlagSet, "", nil, []string{"LETHE_TURN_SECRET=" + secret})
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("error %v", err)
	}
}

// TestDeployExampleConfig: deploy/lethe.yaml, the annotated example of
// docs/deploy.md, is read by the real loader as a valid configuration;
// so is every key it leaves commented out ("#key: value"), uncommented;
// and it names every serve flag, one way or the other (an alternative to
// other keys, such as ACME to certificate files, as "##key: value").
func TestDeployExampleConfig(t *testing.T) {
	t.Parallel()
	const example = "../../deploy/lethe.yaml"
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	got, err := printConfig(t, nil, "--config", example)
	if err != nil {
		t.Fatalf("%s: %v", example, err)
	}
	commented := regexp.MustCompile(`(?m)^#([a-z0-9-]+): `)
	active := regexp.MustCompile(`(?m)^([a-z0-9-]+):`)
	named := map[string]bool{}
	for _, m := range active.FindAllStringSubmatch(string(data), -1) {
		named[m[1]] = true
		if !strings.HasPrefix(got.sources[m[1]], "file "+example+":") {
			t.Errorf("%s: from %q, want the example", m[1], got.sources[m[1]])
		}
	}
	uncommented := commented.ReplaceAllString(string(data), "$1: ")
	for _, m := range commented.FindAllStringSubmatch(string(data), -1) {
		named[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`(?m)^##([a-z0-9-]+): `).FindAllStringSubmatch(string(data), -1) {
		named[m[1]] = true
	}
	path := filepath.Join(t.TempDir(), "uncommented.yaml")
	if err := os.WriteFile(path, []byte(uncommented), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := printConfig(t, nil, "--config", path); err != nil {
		t.Errorf("%s with its commented keys uncommented: %v", example, err)
	}
	for _, f := range serveFlags(t) {
		if f.name != configFlag && f.name != printConfigFlag && !named[f.name] {
			t.Errorf("%s does not name --%s: add the key, with a comment saying what it does", example, f.name)
		}
	}
}

// TestREADMENamesEveryServeFlag: the README's flags table has a row for
// every serve flag, so a flag added without a word for the operator
// fails here.
func TestREADMENamesEveryServeFlag(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range serveFlags(t) {
		// A row may name several flags: | `--tls-cert`, `--tls-key` |
		if !regexp.MustCompile("(?m)^\\| (`--[a-z0-9-]+`, )*`--" + regexp.QuoteMeta(f.name) + "`").Match(readme) {
			t.Errorf("README.md has no row for --%s in the serve flags table", f.name)
		}
	}
}
