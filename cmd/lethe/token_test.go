package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

// bootstrapped returns a fresh data dir with a default app, and a second
// active app whose id is other.
func bootstrapped(t *testing.T) (dir string, def, other uint32) {
	t.Helper()
	ctx := context.Background()
	dir = filepath.Join(t.TempDir(), "data")
	s, info, err := store.Bootstrap(ctx, dir, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	app, err := s.CreateApp(ctx, "second", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k, err := auth.NewKey(time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, app.SDKAppID, k); err != nil {
		t.Fatal(err)
	}
	return dir, info.DefaultApp.SDKAppID, app.SDKAppID
}

func verifyWith(t *testing.T, dir, tok string, want auth.Want) (auth.Claims, error) {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(dir, store.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	v := &auth.Verifier{Keys: s}
	return v.Verify(context.Background(), tok, want)
}

func TestTokenCommand(t *testing.T) {
	t.Parallel()
	dir, def, other := bootstrapped(t)
	for _, tc := range []struct {
		name string
		args []string
		want auth.Want
		ttl  time.Duration
	}{
		{"default app", []string{"--user", "alice"}, auth.Want{SDKAppID: def, UserID: "alice"}, time.Hour},
		{"explicit app", []string{"--app", u32(other), "--user", "bob", "--ttl", "5m"}, auth.Want{SDKAppID: other, UserID: "bob"}, 5 * time.Minute},
		{"room", []string{"--user", "carol", "--room", "123", "--ttl=24h"}, auth.Want{SDKAppID: def, UserID: "carol", RoomID: 123}, 24 * time.Hour},
		{"str room", []string{"-user=dave", "-str-room", "123"}, auth.Want{SDKAppID: def, UserID: "dave", StrRoomID: "123"}, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			args := append([]string{"--data-dir", dir}, tc.args...)
			if err := tokenCommand(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("tokenCommand: %v (stderr %q)", err, stderr.String())
			}
			out := stdout.String()
			if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 || strings.Count(out, ".") != 2 {
				t.Fatalf("stdout is not one token line: %q", out)
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr not empty: %q", stderr.String())
			}
			tok := strings.TrimSuffix(out, "\n")
			c, err := verifyWith(t, dir, tok, tc.want)
			if err != nil {
				t.Fatalf("printed token does not verify: %v", err)
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt); got != tc.ttl {
				t.Errorf("lifetime %v, want %v", got, tc.ttl)
			}
			// The room binding holds: the token admits no one to another room.
			if tc.want.RoomID != 0 || tc.want.StrRoomID != "" {
				w := tc.want
				w.RoomID, w.StrRoomID = 0, ""
				if _, err := verifyWith(t, dir, tok, w); !errors.Is(err, auth.ErrRoomMismatch) {
					t.Errorf("room binding: err = %v, want auth.ErrRoomMismatch", err)
				}
			}
		})
	}
}

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

func TestTokenCommandErrors(t *testing.T) {
	t.Parallel()
	dir, _, _ := bootstrapped(t)
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
		{"ttl too long", []string{"--data-dir", dir, "--user", "a", "--ttl", "25h"}, "--ttl must be"},
		{"bad app", []string{"--data-dir", dir, "--user", "a", "--app", "x"}, "--app must be"},
		{"unknown app", []string{"--data-dir", dir, "--user", "a", "--app", "7"}, "no active application 7"},
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
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "usage: lethe token") {
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
