package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "lethe:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		return flag.ErrHelp
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: lethe <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'lethe <command> -h' for a command's flags.")
}

// complianceCommand dispatches `lethe compliance status|verify`.
func complianceCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "status":
			return complianceStatusCommand(ctx, args[1:], stdout, stderr)
		case "verify":
			return complianceVerifyCommand(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, "usage: lethe compliance status [flags]   what a running server actually enforces")
	fmt.Fprintln(stderr, "       lethe compliance verify [flags]   run Lethe with canary media and prove none of it is stored")
	return flag.ErrHelp
}
