package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// version is reported in joined replies and logs.
const version = "0.1.0-dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the control process (signaling, tokens, store) and its media workers", serveCommand},
		{"worker", "run one media worker (spawned by serve over a socketpair)", workerCommand},
		{"token", "mint a UserSig token for a user", tokenCommand},
		{"app", "manage applications, keys and rooms through the admin API", appCommand},
		{"loadtest", "drive synthetic participants against a server and report loss, latency and CPU", loadtestCommand},
		{"compliance", "status: what a running server enforces; verify: evidence that no media is stored", complianceCommand},
		{"version", "print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			_, err := fmt.Fprintln(stdout, "lethe", version)
			return err
		}},
	}
}

func main() {
	// The first SIGINT or SIGTERM ends ctx (serve drains); a second one
	// closes stopNow(ctx) (serve stops at once).
	ctx, stop := notifyStop(os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode is 0 for success and for help that was asked for, 2 for a
// usage mistake (already explained on stderr), 1 for any other failure.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case errors.As(err, &ue):
		return 2
	default:
		fmt.Fprintln(stderr, "lethe:", err)
		return 1
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return usageErrorf("no command")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return errHelpShown
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "lethe: unknown command %q\n", args[0])
	usage(stderr)
	return usageErrorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: lethe <command> [flags]")
	fmt.Fprintln(w)
	width := 0
	for _, c := range commands() {
		width = max(width, len(c.name))
	}
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'lethe <command> --help' for a command's flags.")
}

// complianceCommand dispatches `lethe compliance status|verify`.
func complianceCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "status":
			return complianceStatusCommand(ctx, args[1:], stdout, stderr)
		case "verify":
			return complianceVerifyCommand(ctx, args[1:], stdout, stderr)
		case "-h", "-help", "--help", "help":
			complianceUsage(stdout)
			return errHelpShown
		}
	}
	complianceUsage(stderr)
	if len(args) == 0 {
		return usageErrorf("compliance: status or verify?")
	}
	return usageErrorf("compliance: unknown subcommand %q", args[0])
}

func complianceUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: lethe compliance status [flags]   what a running server actually enforces")
	fmt.Fprintln(w, "       lethe compliance verify [flags]   run Lethe with canary media and prove none of it is stored")
}
