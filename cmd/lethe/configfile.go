package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/lethe-rtc/lethe/internal/flagfile"
)

// configFlags are serve's flags about its configuration file: --config
// names it, --print-config shows the outcome. Every other flag of the set
// is a key of the file and has a LETHE_ variable (internal/flagfile).
type configFlags struct {
	path  string
	print bool
	src   flagfile.Sources // where each value came from, once loaded
}

const (
	configFlag      = "config"
	printConfigFlag = "print-config"
)

func registerConfigFlags(fs *cmdFlags) *configFlags {
	c := &configFlags{}
	fs.StringVar(&c.path, configFlag, "",
		"YAML file of settings, one key per flag (udp-port: 7882); flags, then LETHE_<FLAG> variables, win over it (default: $"+envPrefix+"CONFIG)")
	fs.BoolVar(&c.print, printConfigFlag, false,
		"print the effective configuration as YAML, each value with where it came from and secrets redacted, then exit (2 if it is not valid)")
	return c
}

// load applies the configuration file and the LETHE_ variables of
// environ to the flags the command line left alone, and with
// --print-config prints the result to stdout.
func (c *configFlags) load(fs *cmdFlags, environ []string, stdout, stderr io.Writer) error {
	l := fs.configLoader(configFlag, printConfigFlag)
	from := "--config"
	if c.path == "" {
		from = "$" + l.EnvName(configFlag)
		for _, kv := range environ {
			if v, ok := strings.CutPrefix(kv, l.EnvName(configFlag)+"="); ok {
				c.path = v
			}
		}
	}
	src, err := l.Load(fs.FlagSet, c.path, environ)
	if err != nil {
		return fs.refuse(stderr, err)
	}
	c.src = src
	if !c.print {
		return nil
	}
	fmt.Fprintf(stdout, "# lethe %s: the effective configuration (--print-config).\n", fs.Name())
	if c.path != "" {
		fmt.Fprintf(stdout, "# Configuration file: %s (from %s). Each comment says where the value came from.\n", c.path, from)
	} else {
		fmt.Fprintln(stdout, "# No configuration file. Each comment says where the value came from.")
	}
	return l.Print(stdout, fs.FlagSet, src)
}

// fail reports an invalid setting. Usage follows only when every value
// came from the command line; otherwise it would hide the message.
func (c *configFlags) fail(fs *cmdFlags, stderr io.Writer, err error) error {
	for _, s := range c.src {
		if s.Kind == flagfile.File || s.Kind == flagfile.Env {
			return fs.refuse(stderr, err)
		}
	}
	return fs.fail(stderr, "%v", err)
}
