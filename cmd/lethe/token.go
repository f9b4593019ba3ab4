package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

// maxTokenTTL is the longest lifetime `lethe token` issues.
const maxTokenTTL = 24 * time.Hour

// tokenConfig is what `lethe token` was asked for.
type tokenConfig struct {
	DataDir string
	App     string // SDKAppID; "": the app named store.DefaultAppName
	User    string
	Room    string // numeric room binding; "": none
	StrRoom string // string room binding; "": none
	TTL     time.Duration

	appID  uint32 // parsed by validate
	roomID uint32
}

func (c *tokenConfig) validate() error {
	if c.User == "" {
		return errors.New("--user is required")
	}
	if c.Room != "" && c.StrRoom != "" {
		return errors.New("--room and --str-room are exclusive")
	}
	if c.Room != "" {
		n, err := strconv.ParseUint(c.Room, 10, 32)
		if err != nil || n == 0 {
			return fmt.Errorf("--room must be a number from 1 to %d", uint32(math.MaxUint32))
		}
		c.roomID = uint32(n)
	}
	if c.App != "" {
		n, err := strconv.ParseUint(c.App, 10, 32)
		if err != nil || n == 0 {
			return errors.New("--app must be an SDKAppID (a positive 32-bit number)")
		}
		c.appID = uint32(n)
	}
	if c.TTL < time.Second || c.TTL > maxTokenTTL {
		return fmt.Errorf("--ttl must be between 1s and %s", maxTokenTTL)
	}
	return nil
}

// tokenCommand runs `lethe token`: it prints a UserSig JWT for --user,
// signed with the application's current signing key, and a newline, to
// stdout, and nothing else there. Diagnostics go to stderr.
func tokenCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runToken(ctx, args, stdout, stderr, time.Now)
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) error {
	var cfg tokenConfig
	flags := flag.NewFlagSet("token", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		_, _ = fmt.Fprintln(flags.Output(), "usage: lethe token --user ID [--app SDKAppID] [--room N | --str-room S] [--ttl 1h] [--data-dir DIR]")
		flags.PrintDefaults()
	}
	flags.StringVar(&cfg.DataDir, "data-dir", "./lethe-data", "data dir that lethe serve created")
	flags.StringVar(&cfg.App, "app", "", "SDKAppID (default: the app named \""+store.DefaultAppName+"\")")
	flags.StringVar(&cfg.User, "user", "", "user id the token admits (required)")
	flags.StringVar(&cfg.Room, "room", "", "bind the token to this numeric roomId")
	flags.StringVar(&cfg.StrRoom, "str-room", "", "bind the token to this string strRoomId")
	flags.DurationVar(&cfg.TTL, "ttl", time.Hour, "token lifetime, at most 24h")
	if err := flags.Parse(args); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("token: unexpected argument %q", flags.Arg(0))
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	tok, err := issueToken(ctx, cfg, now())
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if _, err := fmt.Fprintln(stdout, tok); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	return nil
}

// issueToken opens the existing store of cfg.DataDir and signs the token.
func issueToken(ctx context.Context, cfg tokenConfig, now time.Time) (string, error) {
	dbPath := filepath.Join(cfg.DataDir, store.DBFile)
	if _, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no data dir at %s: run `lethe serve` first", cfg.DataDir)
	} else if err != nil {
		return "", err
	}
	s, err := store.Open(ctx, dbPath)
	if err != nil {
		return "", err
	}
	defer func() { _ = s.Close() }()

	appID := cfg.appID
	if appID == 0 {
		app, err := s.AppByName(ctx, store.DefaultAppName)
		if errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("no application named %q in %s: pass --app", store.DefaultAppName, cfg.DataDir)
		} else if err != nil {
			return "", err
		}
		appID = app.SDKAppID
	}
	key, err := s.SigningKey(ctx, appID, now)
	switch {
	case errors.Is(err, auth.ErrUnknownApp):
		return "", fmt.Errorf("no active application %d in %s", appID, cfg.DataDir)
	case errors.Is(err, auth.ErrUnknownKey):
		return "", fmt.Errorf("application %d has no signing key valid now", appID)
	case err != nil:
		return "", err
	}
	return auth.SignJWT(key, auth.Claims{
		SDKAppID:  appID,
		UserID:    cfg.User,
		RoomID:    cfg.roomID,
		StrRoomID: cfg.StrRoom,
		IssuedAt:  now,
		ExpiresAt: now.Add(cfg.TTL),
	})
}
