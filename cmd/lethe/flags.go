package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/lethe-rtc/lethe/internal/flagfile"
)

// errHelpShown says that help was asked for and printed to stdout: the
// command succeeded (exit 0).
var errHelpShown = errors.New("help shown")

// usageError is a mistake on the command line. Its message and the
// command's usage are printed to stderr; lethe exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// cmdFlags is a command's flag set and its usage text. The flag package
// prints nothing itself; parse decides where help and errors go.
//
// A flag whose usage says "comma-separated" takes a list: in a
// configuration file, also a YAML sequence.
type cmdFlags struct {
	*flag.FlagSet
	synopsis string          // after "usage: ", e.g. "lethe serve [flags]"
	notes    string          // printed after the synopsis, may be empty
	secrets  map[string]bool // flags whose values are never shown (markSecret)
}

// markSecret marks flags whose values are secrets (a key, a password):
// --print-config redacts them and configuration errors never repeat
// them. Declare the mark next to the flag.
func (f *cmdFlags) markSecret(names ...string) {
	if f.secrets == nil {
		f.secrets = map[string]bool{}
	}
	for _, n := range names {
		f.secrets[n] = true
	}
}

// envPrefix starts the environment variable of every flag that a
// configuration file can set: LETHE_UDP_PORT sets --udp-port.
const envPrefix = "LETHE_"

// configLoader reads the command's configuration file and variables;
// skip names the flags that have no key (those about the file itself).
func (f *cmdFlags) configLoader(skip ...string) flagfile.Loader {
	return flagfile.Loader{
		Prefix: envPrefix,
		Skip:   skip,
		List:   func(fl *flag.Flag) bool { return strings.Contains(fl.Usage, "comma-separated") },
		Secret: func(fl *flag.Flag) bool { return f.secrets[fl.Name] },
	}
}

func newFlags(name, synopsis, notes string) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cmdFlags{FlagSet: fs, synopsis: synopsis, notes: notes}
}

// parse parses args. -h or --help prints the usage to stdout and returns
// errHelpShown; a bad flag, or a positional argument when maxArgs is 0,
// prints the error and the usage to stderr and returns a *usageError.
func (f *cmdFlags) parse(args []string, maxArgs int, stdout, stderr io.Writer) error {
	err := f.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		f.printUsage(stdout)
		return errHelpShown
	case err != nil:
		// The flag package names flags with one dash; lethe's docs use two.
		msg := strings.NewReplacer(": -", ": --", "flag -", "flag --").Replace(err.Error())
		return f.fail(stderr, "%s", msg)
	case f.NArg() > maxArgs:
		return f.fail(stderr, "unexpected argument %q", f.Arg(maxArgs))
	}
	return nil
}

// fail reports a usage mistake found after parsing.
func (f *cmdFlags) fail(stderr io.Writer, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(stderr, "lethe %s: %s\n", f.Name(), msg)
	f.printUsage(stderr)
	return &usageError{msg: f.Name() + ": " + msg}
}

// refuse reports a mistake that is not the command line's (a
// configuration file's, a variable's): no usage follows it.
func (f *cmdFlags) refuse(stderr io.Writer, err error) error {
	msg := strings.ReplaceAll(err.Error(), "\n", "\n  ")
	fmt.Fprintf(stderr, "lethe %s: %s\n", f.Name(), msg)
	return &usageError{msg: f.Name() + ": " + msg}
}

// printUsage writes the synopsis, the notes and every flag, as --name,
// in aligned columns.
func (f *cmdFlags) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n", f.synopsis)
	if f.notes != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(f.notes, "\n"))
	}
	type row struct{ left, right string }
	var rows []row
	width := 0
	f.VisitAll(func(fl *flag.Flag) {
		name, usage := flag.UnquoteUsage(fl)
		left := "--" + fl.Name
		if name != "" {
			left += " " + name
		}
		if d := fl.DefValue; d != "" && d != "false" && d != "0" && d != "[]" {
			usage += fmt.Sprintf(" (default %s)", d)
		}
		rows = append(rows, row{left, usage})
		width = max(width, len(left))
	})
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nflags:")
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r.left, r.right)
	}
}
