package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/lethe-rtc/lethe/compliance/verify"
)

// positiveControlFlag runs `lethe compliance verify` as the verifier's
// deliberately leaking child. It is not in the usage: nobody else has a
// reason to run it.
const positiveControlFlag = "--positive-control"

// errVerifyFailed is returned when the verdict is FAIL, for a non-zero
// exit status; the report says why.
var errVerifyFailed = errors.New("compliance verify: verdict FAIL")

// complianceVerifyCommand runs `lethe compliance verify`: the auditor's one
// command. It prints the human-readable report on stdout, progress on
// stderr, optionally the JSON report to --json, and fails on a FAIL verdict.
func complianceVerifyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && args[0] == positiveControlFlag {
		return verify.RunPositiveControl(ctx, os.Stdin, stdout, stderr)
	}
	var (
		cfg      verify.Config
		attach   verify.Attach
		jsonPath string
		app      uint
		quiet    bool
	)
	fs := newFlags("compliance verify", "lethe compliance verify [--duration 20s] [--json FILE] [--allow-partial] [--e2ee]\n"+
		"                              [--pid PID --url ws://127.0.0.1:PORT/v1/signal --data-dir DIR [--app SDKAppID]]",
		"Starts Lethe with a fresh data dir (or attaches to a running one), drives media carrying a random\n"+
			"canary through several rooms at two volumes 10x apart, watches the server's processes from outside\n"+
			"(fanotify, /proc/<pid>/io, /proc/<pid>/fd), scans every file written and everything printed for the\n"+
			"canary, and checks that a deliberately leaking positive control is caught by every scanner.\n"+
			"Verdict PASS, FAIL (exit status 1) or PARTIAL (--allow-partial without root). Needs root.")
	fs.DurationVar(&cfg.Duration, "duration", verify.DefaultDuration, "media time in total, split equally between the two volumes")
	fs.StringVar(&jsonPath, "json", "", "also write the JSON report to this file")
	fs.BoolVar(&cfg.AllowPartial, "allow-partial", false, "when not root, run without the fanotify watcher; the verdict is then PARTIAL at best")
	fs.IntVar(&cfg.Rooms, "rooms", verify.DefaultRooms, "rooms driven at once, two publishers each")
	fs.IntVar(&cfg.LowVideoBitrate, "video-bitrate", verify.DefaultLowVideoBitrate, "video bitrate of the low volume (the high one is 10x)")
	fs.IntVar(&attach.PID, "pid", 0, "attach to this running `lethe serve` instead of starting one (needs --url and --data-dir)")
	fs.StringVar(&attach.URL, "url", "", "signaling URL of the attached server")
	fs.StringVar(&attach.DataDir, "data-dir", "", "data dir of the attached server (tokens are minted from it)")
	fs.UintVar(&app, "app", 0, "SDKAppID to join on the attached server (default: its default application)")
	fs.StringVar(&cfg.TempDir, "temp-dir", "", "where the fresh data dir and the control's files go (default: the system temp dir)")
	fs.BoolVar(&cfg.E2EE, "e2ee", false, "participants encrypt their media end to end (a secret the server never gets); adds a scan of the server's memory, which must not hold the canary")
	fs.BoolVar(&quiet, "quiet", false, "no progress on stderr")
	if err := fs.parse(args, 0, stdout, stderr); err != nil {
		return err
	}
	if attach.PID != 0 || attach.URL != "" || attach.DataDir != "" || app != 0 {
		if app > 1<<32-1 {
			return fs.fail(stderr, "--app must be a 32-bit SDKAppID")
		}
		attach.AppID = uint32(app)
		cfg.Attach = &attach
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("compliance verify: find own binary: %w", err)
	}
	cfg.Exe = exe
	cfg.ControlArgs = []string{"compliance", "verify", positiveControlFlag}
	cfg.Version = version
	cfg.Now = time.Now
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	if quiet {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	rep, err := verify.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("compliance verify: %w", err)
	}
	if err := rep.WriteText(stdout); err != nil {
		return fmt.Errorf("compliance verify: %w", err)
	}
	if jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("compliance verify: %w", err)
		}
		if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("compliance verify: %w", err)
		}
	}
	if rep.Verdict == verify.Fail {
		return errVerifyFailed
	}
	return nil
}
