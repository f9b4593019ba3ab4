package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// The command-line conventions every command keeps: help on request goes
// to stdout and succeeds; a mistake goes to stderr with the usage and
// exits 2; flags are written --flag, as the README writes them.
func TestCLIConventions(t *testing.T) {
	t.Parallel()
	singleDash := regexp.MustCompile(`(^|\s)-[a-z][a-z-]+`)
	commands := [][]string{
		{"serve"}, {"worker"}, {"token"}, {"loadtest"}, {"compliance", "status"}, {"compliance", "verify"},
		{"app"}, {"app", "list"}, {"app", "create"}, {"app", "usersig"}, {"app", "block"}, {"app", "log"},
	}
	for _, cmd := range commands {
		name := strings.Join(cmd, " ")
		t.Run(name+" --help", func(t *testing.T) {
			t.Parallel()
			for _, h := range []string{"--help", "-h"} {
				var stdout, stderr bytes.Buffer
				err := run(context.Background(), append(append([]string{}, cmd...), h), &stdout, &stderr)
				if code := exitCode(err, &stderr); code != 0 {
					t.Fatalf("%s %s: exit %d (%v), want 0", name, h, code, err)
				}
				if stderr.Len() != 0 {
					t.Errorf("%s %s wrote to stderr: %q", name, h, stderr.String())
				}
				out := stdout.String()
				if !strings.HasPrefix(out, "usage: lethe "+name) || !strings.Contains(out, "\n  --") {
					t.Errorf("%s %s: help is not a usage with --flags:\n%s", name, h, out)
				}
				for _, line := range strings.Split(out, "\n") {
					if strings.HasPrefix(strings.TrimSpace(line), "--") {
						continue
					}
					if m := singleDash.FindString(line); m != "" && strings.HasPrefix(line, "  ") {
						t.Errorf("%s: help shows a single-dash flag %q in %q", name, m, line)
					}
				}
			}
		})
		t.Run(name+" bad flag", func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append(append([]string{}, cmd...), "--no-such-flag"), &stdout, &stderr)
			var errOut bytes.Buffer
			if code := exitCode(err, &errOut); code != 2 {
				t.Fatalf("exit %d (%v), want 2", code, err)
			}
			if stdout.Len() != 0 {
				t.Errorf("a usage error wrote to stdout: %q", stdout.String())
			}
			if !strings.Contains(stderr.String(), "--no-such-flag") || !strings.Contains(stderr.String(), "usage: lethe "+name) {
				t.Errorf("stderr does not name the flag and show the usage:\n%s", stderr.String())
			}
		})
	}
}

func TestTopLevelUsage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args      []string
		code      int
		toStdout  bool
		wantInErr string
	}{
		{[]string{"--help"}, 0, true, ""},
		{[]string{"-h"}, 0, true, ""},
		{[]string{"help"}, 0, true, ""},
		{nil, 2, false, ""},
		{[]string{"frobnicate"}, 2, false, `unknown command "frobnicate"`},
		{[]string{"compliance"}, 2, false, "lethe compliance status"},
		{[]string{"compliance", "--help"}, 0, true, ""},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if code := exitCode(err, &stderr); code != tt.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.code)
			}
			got, other := stdout.String(), stderr.String()
			if !tt.toStdout {
				got, other = other, got
			}
			if !strings.Contains(got, "usage: lethe") || other != "" {
				t.Errorf("usage on the wrong stream: stdout %q, stderr %q", stdout.String(), stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantInErr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.wantInErr)
			}
		})
	}
	// The command list is aligned: every summary starts in the same column.
	var stdout bytes.Buffer
	_ = run(context.Background(), []string{"--help"}, &stdout, &bytes.Buffer{})
	col := -1
	for _, line := range strings.Split(stdout.String(), "\n") {
		if !strings.HasPrefix(line, "  ") {
			continue
		}
		name := strings.Fields(line)[0]
		rest := strings.TrimPrefix(line, "  "+name)
		c := len("  "+name) + len(rest) - len(strings.TrimLeft(rest, " "))
		if col == -1 {
			col = c
		} else if c != col {
			t.Errorf("summary of %s starts at column %d, others at %d", name, c, col)
		}
	}
}
