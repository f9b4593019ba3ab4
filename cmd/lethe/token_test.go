package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

// tokenApps are the applications of a bootstrapped data dir.
type tokenApps struct {
	def        uint32 // the default app
	short      uint32 // max token TTL 30 minutes
	strict     uint32 // requires a privateMapKey
	consenting uint32 // requires consent
	suspended  uint32
}

// bootstrapped returns a fresh data dir with a default app and the others of
// tokenApps, each with its first signing key.
func bootstrapped(t *testing.T) (string, tokenApps) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	now := time.Now().Add(-time.Minute)
	s, info, err := store.Bootstrap(ctx, dir, now)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	apps := tokenApps{def: info.DefaultApp.SDKAppID}
	for _, a := range []struct {
		id   *uint32
		name string
		p    store.Policy
	}{
		{&apps.short, "short", store.Policy{MaxTokenTTL: 30 * time.Minute}},
		{&apps.strict, "strict", store.Policy{RequirePrivateMapKey: true}},
		{&apps.consenting, "consenting", store.Policy{RequireConsent: true}},
		{&apps.suspended, "suspended", store.Policy{}},
	} {
		app, err := s.CreateApp(ctx, a.name, nil, a.p, now)
		if err != nil {
			t.Fatal(err)
		}
		*a.id = app.SDKAppID
	}
	if _, err := s.SetStatus(ctx, apps.suspended, store.StatusSuspended, now); err != nil {
		t.Fatal(err)
	}
	return dir, apps
}

// verifyWith verifies tok with the store of dir as the verifier's key
// lookup, as a privateMapKey when pm is set.
func verifyWith(t *testing.T, dir, tok string, want auth.Want, pm bool) (auth.Claims, error) {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(dir, store.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	v := &auth.Verifier{Keys: s}
	if pm {
		return v.VerifyPrivateMapKey(context.Background(), tok, want)
	}
	return v.Verify(context.Background(), tok, want)
}

func TestTokenCommand(t *testing.T) {
	t.Parallel()
	dir, apps := bootstrapped(t)
	def := apps.def
	for _, tc := range []struct {
		name   string
		args   []string
		want   auth.Want
		ttl    time.Duration
		format string
		priv   auth.Privilege
		pm     bool // carries privileges: verifies as a privateMapKey
	}{
		{"default app", []string{"--user", "alice"}, auth.Want{SDKAppID: def, UserID: "alice"}, time.Hour, auth.FormatJWT, auth.PrivAll, false},
		{"explicit app", []string{"--app", u32(apps.short), "--user", "bob", "--ttl", "5m"}, auth.Want{SDKAppID: apps.short, UserID: "bob"}, 5 * time.Minute, auth.FormatJWT, auth.PrivAll, false},
		{"default ttl cut to the app's cap", []string{"--app", u32(apps.short), "--user", "bob"}, auth.Want{SDKAppID: apps.short, UserID: "bob"}, 30 * time.Minute, auth.FormatJWT, auth.PrivAll, false},
		{"ttl at the app's cap", []string{"--app", u32(apps.short), "--user", "bob", "--ttl", "30m"}, auth.Want{SDKAppID: apps.short, UserID: "bob"}, 30 * time.Minute, auth.FormatJWT, auth.PrivAll, false},
		{"room", []string{"--user", "carol", "--room", "123", "--ttl=24h"}, auth.Want{SDKAppID: def, UserID: "carol", RoomID: 123}, 24 * time.Hour, auth.FormatJWT, auth.PrivAll, false},
		{"str room", []string{"-user=dave", "-str-room", "123"}, auth.Want{SDKAppID: def, UserID: "dave", StrRoomID: "123"}, time.Hour, auth.FormatJWT, auth.PrivAll, false},
		{"jwt privileges", []string{"--user", "erin", "--room", "7", "--privileges", "42"}, auth.Want{SDKAppID: def, UserID: "erin", RoomID: 7}, time.Hour, auth.FormatJWT, 42, true},
		{"jwt privateMapKey", []string{"--user", "erin", "--str-room", "7", "--private-map-key"}, auth.Want{SDKAppID: def, UserID: "erin", StrRoomID: "7"}, time.Hour, auth.FormatJWT, auth.PrivAll, true},
		{"tls", []string{"--user", "frank", "--format", "tls", "--ttl", "2h"}, auth.Want{SDKAppID: def, UserID: "frank"}, 2 * time.Hour, auth.FormatTLS, auth.PrivAll, false},
		{"tls room", []string{"--user", "frank", "--format=tls", "--room", "9"}, auth.Want{SDKAppID: def, UserID: "frank", RoomID: 9}, time.Hour, auth.FormatTLS, auth.PrivAll, true},
		{"tls privateMapKey", []string{"--user", "frank", "--format", "tls", "--str-room", "9", "--privileges", "0", "--private-map-key"},
			auth.Want{SDKAppID: def, UserID: "frank", StrRoomID: "9"}, time.Hour, auth.FormatTLS, 0, true},
		{"tls for a strict app", []string{"--app", u32(apps.strict), "--user", "gina", "--format", "tls", "--room", "1", "--privileges", "2"},
			auth.Want{SDKAppID: apps.strict, UserID: "gina", RoomID: 1}, time.Hour, auth.FormatTLS, auth.PrivEnter, true},
		{"consent", []string{"--app", u32(apps.consenting), "--user", "hana", "--consent", "parental"},
			auth.Want{SDKAppID: apps.consenting, UserID: "hana"}, time.Hour, auth.FormatJWT, auth.PrivAll, false},
		{"consent in a privateMapKey", []string{"--user", "ivan", "--room", "3", "--private-map-key", "--consent", "adult"},
			auth.Want{SDKAppID: def, UserID: "ivan", RoomID: 3}, time.Hour, auth.FormatJWT, auth.PrivAll, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			args := append([]string{"--data-dir", dir}, tc.args...)
			if err := tokenCommand(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("tokenCommand: %v (stderr %q)", err, stderr.String())
			}
			out := stdout.String()
			dots := 2
			if tc.format == auth.FormatTLS {
				dots = 0
			}
			if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 || strings.Count(out, ".") != dots {
				t.Fatalf("stdout is not one %s token line: %q", tc.format, out)
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr not empty: %q", stderr.String())
			}
			tok := strings.TrimSuffix(out, "\n")
			c, err := verifyWith(t, dir, tok, tc.want, tc.pm)
			if err != nil {
				t.Fatalf("printed token does not verify: %v", err)
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt); got != tc.ttl {
				t.Errorf("lifetime %v, want %v", got, tc.ttl)
			}
			if c.Format != tc.format || c.Privileges != tc.priv || c.HasPrivateMap != tc.pm {
				t.Errorf("claims %+v, want format %s privileges %v private map %v", c, tc.format, tc.priv, tc.pm)
			}
			if want := flagValue(tc.args, "--consent"); c.Consent != want {
				t.Errorf("consent %q, want %q", c.Consent, want)
			}
			// The room binding holds: the token admits no one to another room.
			if tc.want.RoomID != 0 || tc.want.StrRoomID != "" {
				w := tc.want
				w.RoomID, w.StrRoomID = 0, ""
				if _, err := verifyWith(t, dir, tok, w, false); !errors.Is(err, auth.ErrRoomMismatch) {
					t.Errorf("room binding: err = %v, want auth.ErrRoomMismatch", err)
				}
			}
		})
	}
}

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// flagValue is the value after name in args, or "".
func flagValue(args []string, name string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
}

// TestTokenCommandConsentApp: a token without --consent for an app that
// requires one is printed, with a note on stderr.
func TestTokenCommandConsentApp(t *testing.T) {
	t.Parallel()
	dir, apps := bootstrapped(t)
	var stdout, stderr bytes.Buffer
	if err := tokenCommand(context.Background(), []string{"--data-dir", dir, "--app", u32(apps.consenting), "--user", "a"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "requires a statement of consent (--consent)") || strings.Count(stdout.String(), "\n") != 1 {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	stderr.Reset()
	if err := tokenCommand(context.Background(), []string{"--data-dir", dir, "--app", u32(apps.consenting), "--user", "a", "--consent", "adult"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr with --consent: %q", stderr.String())
	}
}

// TestTokenCommandStrictApp: a plain token for an app that requires a
// privateMapKey is printed, with a note on stderr, and does not admit.
func TestTokenCommandStrictApp(t *testing.T) {
	t.Parallel()
	dir, apps := bootstrapped(t)
	var stdout, stderr bytes.Buffer
	if err := tokenCommand(context.Background(), []string{"--data-dir", dir, "--app", u32(apps.strict), "--user", "a"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "requires a privateMapKey") {
		t.Errorf("stderr %q", stderr.String())
	}
	tok := strings.TrimSpace(stdout.String())
	if _, err := verifyWith(t, dir, tok, auth.Want{SDKAppID: apps.strict, UserID: "a"}, false); !errors.Is(err, auth.ErrPrivateMapKeyRequired) {
		t.Fatalf("err = %v, want auth.ErrPrivateMapKeyRequired", err)
	}
}

func TestTokenCommandErrors(t *testing.T) {
	t.Parallel()
	dir, apps := bootstrapped(t)
	missing := filepath.Join(t.TempDir(), "nowhere")
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no user", []string{"--data-dir", dir}, "--user is required"},
		{"both rooms", []string{"--data-dir", dir, "--user", "a", "--room", "1", "--str-room", "1"}, "exclusive"},
		{"room zero", []string{"--data-dir", dir, "--user", "a", "--room", "0"}, "--room must be"},
		{"room too big", []string{"--data-dir", dir, "--user", "a", "--room", "4294967296"}, "--room must be"},
		{"room not a number", []string{"--data-dir", dir, "--user", "a", "--room", "lobby"}, "--room must be"},
		{"ttl zero", []string{"--data-dir", dir, "--user", "a", "--ttl", "0s"}, "--ttl must be"},
		{"ttl negative", []string{"--data-dir", dir, "--user", "a", "--ttl", "-1h"}, "--ttl must be"},
		{"ttl beyond the default cap", []string{"--data-dir", dir, "--user", "a", "--ttl", "25h"}, "--ttl must be between 1s and 24h0m0s"},
		{"ttl beyond the app's cap", []string{"--data-dir", dir, "--app", u32(apps.short), "--user", "a", "--ttl", "31m"}, "--ttl must be between 1s and 30m0s"},
		{"ttl beyond any cap", []string{"--data-dir", dir, "--user", "a", "--ttl", "1000h"}, "--ttl must be"},
		{"bad format", []string{"--data-dir", dir, "--user", "a", "--format", "paseto"}, "--format must be jwt or tls"},
		{"privileges 256", []string{"--data-dir", dir, "--user", "a", "--room", "1", "--privileges", "256"}, "--privileges must be"},
		{"privileges not a number", []string{"--data-dir", dir, "--user", "a", "--room", "1", "--privileges", "all"}, "--privileges must be"},
		{"privileges without room", []string{"--data-dir", dir, "--user", "a", "--privileges", "255"}, "--privileges needs --room"},
		{"privateMapKey without room", []string{"--data-dir", dir, "--user", "a", "--format", "tls", "--private-map-key"}, "--private-map-key needs --room"},
		{"unknown consent", []string{"--data-dir", dir, "--user", "a", "--consent", "child"}, "--consent must be adult or parental"},
		{"consent in tls", []string{"--data-dir", dir, "--user", "a", "--format", "tls", "--consent", "adult"}, "--consent needs --format jwt"},
		{"tls user with a control character", []string{"--data-dir", dir, "--user", "a\tb", "--format", "tls"}, "invalid claims"},
		{"bad app", []string{"--data-dir", dir, "--user", "a", "--app", "x"}, "--app must be"},
		{"unknown app", []string{"--data-dir", dir, "--user", "a", "--app", "7"}, "no active application 7"},
		{"suspended app", []string{"--data-dir", dir, "--user", "a", "--app", u32(apps.suspended)}, "no active application " + u32(apps.suspended)},
		{"no data dir", []string{"--data-dir", missing, "--user", "a"}, "no data dir at " + missing + ": run `lethe serve` first"},
		{"extra argument", []string{"--data-dir", dir, "--user", "a", "extra"}, "unexpected argument"},
		{"unknown flag", []string{"--data-dir", dir, "--user", "a", "--nope"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := tokenCommand(context.Background(), tc.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want it to say %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty on error: %q", stdout.String())
			}
		})
	}
	if got, _ := filepath.Glob(filepath.Join(missing, "*")); len(got) != 0 {
		t.Errorf("token created files in a missing data dir: %v", got)
	}
}

func TestTokenCommandHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := tokenCommand(context.Background(), []string{"-h"}, &stdout, &stderr)
	if !errors.Is(err, errHelpShown) {
		t.Fatalf("err = %v, want errHelpShown", err)
	}
	if stderr.Len() != 0 || !strings.Contains(stdout.String(), "usage: lethe token") || !strings.Contains(stdout.String(), "--format") {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

func TestTokenCommandNoSigningKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Unix(1_750_000_000, 0)
	s, info, err := store.Bootstrap(ctx, dir, now)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	var stdout, stderr bytes.Buffer
	// Before the default key's NotBefore.
	err = runToken(ctx, []string{"--data-dir", dir, "--user", "a"}, &stdout, &stderr, func() time.Time { return now.Add(-time.Hour) })
	if err == nil || !strings.Contains(err.Error(), "no signing key valid now") || !strings.Contains(err.Error(), u32(info.DefaultApp.SDKAppID)) {
		t.Fatalf("err = %v", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout not empty: %q", stdout.String())
	}
}

// TestTokenCommandOnlyReads: lethe token opens the store read-only. It
// leaves the database file as it was, and a store whose schema is older
// than the binary's (which a read-write open would migrate, a write) is
// refused with the way out, untouched.
func TestTokenCommandOnlyReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, _ := bootstrapped(t)
	db := filepath.Join(dir, store.DBFile)
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := tokenCommand(ctx, []string{"--data-dir", dir, "--user", "a"}, &stdout, &stderr); err != nil {
		t.Fatalf("token: %v (%s)", err, stderr.String())
	}
	if after, err := os.ReadFile(db); err != nil || !bytes.Equal(after, before) {
		t.Fatalf("lethe token changed the database file (%v)", err)
	}

	// A data dir of schema v1, as the first Lethe wrote it.
	old := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(old, 0o700); err != nil {
		t.Fatal(err)
	}
	oldDB := filepath.Join(old, store.DBFile)
	v1, err := sql.Open("sqlite", "file:"+oldDB+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE apps (sdk_app_id INTEGER PRIMARY KEY, name TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]',
			status TEXT NOT NULL DEFAULT 'active', created_at INTEGER NOT NULL)`,
		`CREATE TABLE keys (sdk_app_id INTEGER NOT NULL REFERENCES apps ON DELETE CASCADE, kid TEXT NOT NULL,
			secret BLOB NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (sdk_app_id, kid))`,
		`INSERT INTO apps VALUES (1400000001, 'default', '[]', 'active', 1700000000)`,
		`INSERT INTO keys VALUES (1400000001, 'legacy', '` + strings.Repeat("ab", 32) + `', 1700000000, 0)`,
		`PRAGMA user_version = 1`,
	} {
		if _, err := v1.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := v1.Close(); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	err = tokenCommand(ctx, []string{"--data-dir", old, "--user", "a"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "older than this binary") || !strings.Contains(err.Error(), "start lethe serve once to migrate it") {
		t.Fatalf("token on a v1 store: err = %v, stdout %q", err, stdout.String())
	}
	ro, err := sql.Open("sqlite", "file:"+oldDB+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ro.Close() }()
	var v int
	if err := ro.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != 1 {
		t.Fatalf("user_version %d (%v) after lethe token, want 1: it migrated", v, err)
	}
}
