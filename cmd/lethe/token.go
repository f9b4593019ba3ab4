package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/lethe-rtc/lethe/store"
)

// Token formats `lethe token --format` knows.
const (
	formatJWT = "jwt"
	formatTLS = "tls"
)

// tokenConfig is what `lethe token` was asked for.
type tokenConfig struct {
	DataDir       string
	App           string // SDKAppID; "": the app named store.DefaultAppName
	User          string
	Room          string // numeric room binding; "": none
	StrRoom       string // string room binding; "": none
	TTL           time.Duration
	TTLSet        bool   // --ttl was given: beyond the app's cap it is an error, not clamped
	Format        string // formatJWT or formatTLS
	Privileges    string // privilege bits 0..255; "": none
	PrivateMapKey bool   // print a privateMapKey (room binding + privileges)
	Consent       string // auth.ConsentAdult or auth.ConsentParental; "": none
	NoData        bool   // a data claim false: may not send data messages

	appID      uint32 // parsed by validate
	roomID     uint32
	privileges auth.Privilege
	hasPriv    bool
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
		if err != nil || n == 0 || n > signaling.MaxRoomID {
			return fmt.Errorf("--room must be a number from 1 to %d", signaling.MaxRoomID)
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
	if c.Format != formatJWT && c.Format != formatTLS {
		return errors.New("--format must be jwt or tls")
	}
	if c.Privileges != "" {
		n, err := strconv.ParseUint(c.Privileges, 10, 8)
		if err != nil {
			return errors.New("--privileges must be a number from 0 to 255")
		}
		c.privileges, c.hasPriv = auth.Privilege(n), true
	}
	bound := c.Room != "" || c.StrRoom != ""
	if c.hasPriv && !bound {
		return errors.New("--privileges needs --room or --str-room")
	}
	if c.PrivateMapKey && !bound {
		return errors.New("--private-map-key needs --room or --str-room")
	}
	if !auth.ValidConsent(c.Consent) {
		return fmt.Errorf("--consent must be %s or %s", auth.ConsentAdult, auth.ConsentParental)
	}
	if c.NoData && c.Format != formatJWT {
		return errors.New("--no-data needs --format jwt: a TLSSigAPIv2 token has no bit for it")
	}
	if c.Consent != "" && c.Format != formatJWT {
		return errors.New("--consent needs --format jwt: a TLSSigAPIv2 token has no room for it")
	}
	if c.TTL < time.Second || c.TTL > store.MaxMaxTokenTTL {
		return fmt.Errorf("--ttl must be between 1s and %s", store.MaxMaxTokenTTL)
	}
	return nil
}

// tokenCommand runs `lethe token`: it prints a UserSig (or privateMapKey)
// for --user, signed with the application's current signing key, and a
// newline, to stdout, and nothing else there. Diagnostics go to stderr.
func tokenCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runToken(ctx, args, stdout, stderr, time.Now)
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) error {
	var cfg tokenConfig
	flags := newFlags("token", "lethe token --user ID [--app SDKAppID] [--format jwt|tls] [--room N | --str-room S]\n"+
		"                   [--privileges 0..255] [--private-map-key] [--consent adult|parental] [--no-data] [--ttl 1h] [--data-dir DIR]",
		"Prints a UserSig signed with the application's current key, read from the store of a data dir (read-only).\n"+
			"A room-bound tls token carries a TLS.userbuf (privileges 255 unless --privileges): it is its own privateMapKey.")
	flags.StringVar(&cfg.DataDir, "data-dir", "./lethe-data", "data dir that lethe serve created")
	flags.StringVar(&cfg.App, "app", "", "SDKAppID (default: the app named \""+store.DefaultAppName+"\")")
	flags.StringVar(&cfg.User, "user", "", "user id the token admits (required)")
	flags.StringVar(&cfg.Format, "format", formatJWT, "token format: jwt (HS256) or tls (TRTC TLSSigAPIv2)")
	flags.StringVar(&cfg.Room, "room", "", "bind the token to this numeric roomId")
	flags.StringVar(&cfg.StrRoom, "str-room", "", "bind the token to this string strRoomId")
	flags.StringVar(&cfg.Privileges, "privileges", "", "privilege bits 0..255 (1 create, 2 enter, 4/8 send/recv audio, 16/32 video, 64/128 sub-stream); needs a room")
	flags.BoolVar(&cfg.PrivateMapKey, "private-map-key", false, "print a privateMapKey (room binding and privileges, 255 unless --privileges)")
	flags.DurationVar(&cfg.TTL, "ttl", time.Hour, "token lifetime, at most the app's max token TTL (the default is cut to it)")
	flags.BoolVar(&cfg.NoData, "no-data", false, "the token forbids sending data messages (a JWT data claim false; jwt only)")
	flags.StringVar(&cfg.Consent, "consent", "", "adult or parental: state, in the signed token, that the user's consent was obtained on that basis (jwt only)")
	if err := flags.parse(args, 0, stdout, stderr); err != nil {
		return err
	}
	flags.Visit(func(f *flag.Flag) { cfg.TTLSet = cfg.TTLSet || f.Name == "ttl" })
	if err := cfg.validate(); err != nil {
		return flags.fail(stderr, "%v", err)
	}
	tok, err := issueToken(ctx, cfg, now().Truncate(time.Second), stderr)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if _, err := fmt.Fprintln(stdout, tok); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	return nil
}

// issueToken opens the existing store of cfg.DataDir, read-only (it only
// reads: the app, its policy and its signing key), and signs the token.
func issueToken(ctx context.Context, cfg tokenConfig, now time.Time, stderr io.Writer) (string, error) {
	dbPath := filepath.Join(cfg.DataDir, store.DBFile)
	if _, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no data dir at %s: run `lethe serve` first", cfg.DataDir)
	} else if err != nil {
		return "", err
	}
	s, err := store.OpenReadOnly(ctx, dbPath)
	if err != nil {
		return "", err
	}
	defer func() { _ = s.Close() }()

	var app store.App
	if cfg.appID == 0 {
		app, err = s.AppByName(ctx, store.DefaultAppName)
		if errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("no application named %q in %s: pass --app", store.DefaultAppName, cfg.DataDir)
		}
	} else {
		app, err = s.App(ctx, cfg.appID)
	}
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && app.Status != store.StatusActive):
		id := cfg.appID
		if id == 0 {
			id = app.SDKAppID
		}
		return "", fmt.Errorf("no active application %d in %s", id, cfg.DataDir)
	case err != nil:
		return "", err
	}
	limit := app.Policy.MaxTokenTTL
	if limit <= 0 {
		limit = auth.DefaultMaxTokenTTL
	}
	ttl := cfg.TTL
	if ttl > limit {
		if cfg.TTLSet {
			return "", fmt.Errorf("--ttl must be between 1s and %s (the max token TTL of application %d)", limit, app.SDKAppID)
		}
		ttl = limit
	}

	key, err := s.SigningKey(ctx, app.SDKAppID, now)
	switch {
	case errors.Is(err, auth.ErrUnknownApp):
		return "", fmt.Errorf("no active application %d in %s", app.SDKAppID, cfg.DataDir)
	case errors.Is(err, auth.ErrUnknownKey):
		return "", fmt.Errorf("application %d has no signing key valid now", app.SDKAppID)
	case err != nil:
		return "", err
	}

	c := auth.Claims{
		SDKAppID:  app.SDKAppID,
		UserID:    cfg.User,
		RoomID:    cfg.roomID,
		StrRoomID: cfg.StrRoom,
		IssuedAt:  now,
		ExpiresAt: now.Add(ttl),
		Consent:   cfg.Consent,
		NoData:    cfg.NoData,
	}
	bound := c.RoomID != 0 || c.StrRoomID != ""
	// A privateMapKey, and any room-bound TLSSigAPIv2 token (whose only room
	// binding is its userbuf), carries privileges: 255 unless given.
	if cfg.hasPriv || cfg.PrivateMapKey || (cfg.Format == formatTLS && bound) {
		c.Privileges, c.HasPrivateMap = auth.PrivAll, true
		if cfg.hasPriv {
			c.Privileges = cfg.privileges
		}
	}
	if app.Policy.RequirePrivateMapKey && !c.HasPrivateMap {
		_, _ = fmt.Fprintf(stderr, "note: application %d requires a privateMapKey; this token alone will not admit anyone\n", app.SDKAppID)
	}
	if app.Policy.RequireConsent && c.Consent == "" {
		_, _ = fmt.Fprintf(stderr, "note: application %d requires a statement of consent (--consent); this token alone will not admit anyone\n", app.SDKAppID)
	}
	if cfg.Format == formatJWT {
		return auth.SignJWT(key, c)
	}
	var pm *auth.PrivateMap
	if c.HasPrivateMap {
		pm = &auth.PrivateMap{RoomID: c.RoomID, StrRoomID: c.StrRoomID, Privileges: c.Privileges}
	}
	return auth.SignTLS(key, c, pm)
}
