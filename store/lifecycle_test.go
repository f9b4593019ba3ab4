package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/auth"
)

// count returns a count(*) query's result.
func count(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTerminateSchedulesPurge(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name      string
		serverCap time.Duration // 0: none
		retention time.Duration // the app's; 0: default
		want      time.Duration
	}{
		{"default", 0, 0, 7 * day},
		{"app asks 2 days", 0, 2 * day, 2 * day},
		{"app asks 1 hour", 0, time.Hour, time.Hour},
		{"server caps at 1 day", day, 0, day},
		{"app shorter than the cap", day, 3 * time.Hour, 3 * time.Hour},
		{"cap shorter than the app", 2 * time.Hour, 2 * day, 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var opts []Option
			if tc.serverCap != 0 {
				opts = append(opts, WithRetention(tc.serverCap))
			}
			s, err := Open(ctx, filepath.Join(t.TempDir(), DBFile), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			if want := cmp(tc.serverCap, MaxRetention); s.RetentionCap() != want {
				t.Errorf("RetentionCap = %v, want %v", s.RetentionCap(), want)
			}
			a, err := s.CreateApp(ctx, "a", nil, Policy{Retention: tc.retention}, testNow)
			if err != nil {
				t.Fatal(err)
			}
			// Terminated while suspended: suspended → terminated is allowed too.
			if _, err := s.SetStatus(ctx, a.SDKAppID, StatusSuspended, testNow); err != nil {
				t.Fatal(err)
			}
			end := testNow.Add(time.Hour + 500*time.Millisecond) // deadlines are kept to the second
			got, err := s.TerminateApp(ctx, a.SDKAppID, end)
			if err != nil {
				t.Fatal(err)
			}
			due := testNow.Add(time.Hour + tc.want)
			if got.Status != StatusTerminated || !got.PurgeAt.Equal(due) {
				t.Errorf("terminated app %+v, want purge at %v", got, due)
			}
			if p, err := s.PendingPurges(ctx); err != nil || len(p) != 1 || p[0] != (Purge{a.SDKAppID, due}) {
				t.Errorf("pending %+v, %v", p, err)
			}
			if a2, err := s.App(ctx, a.SDKAppID); err != nil || !a2.PurgeAt.Equal(due) {
				t.Errorf("App after termination: %+v, %v", a2, err)
			}
			log, err := s.Log(ctx, a.SDKAppID, 1)
			if err != nil || len(log) != 1 || log[0].Operation != OpAppTerminate || log[0].Status != StatusTerminated ||
				!log[0].CreatedAt.Equal(end.Truncate(time.Second)) {
				t.Errorf("log %+v, %v", log, err)
			}
		})
	}
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), DBFile), WithRetention(8*day)); !errors.Is(err, ErrInvalid) {
		t.Errorf("WithRetention(8 days): err = %v, want ErrInvalid", err)
	}
}

// cmp returns a if it is not zero, else b.
func cmp(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

// TestPurgeNeverLater: a later termination call, even with a longer
// retention then, keeps the deadline; a shorter one brings it earlier; the
// schema itself refuses to move it later, to revive the app, to give it a
// key, or to drop its pending purge while the app remains.
func TestPurgeNeverLater(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DBFile)
	s, err := Open(ctx, path, WithRetention(2*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateApp(ctx, "a", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.TerminateApp(ctx, a.SDKAppID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	due := testNow.Add(2 * 24 * time.Hour)
	if !first.PurgeAt.Equal(due) {
		t.Fatalf("purge at %v, want %v", first.PurgeAt, due)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Restarted without the cap (7 days), a day later: the deadline stays.
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	logged := count(t, s, `SELECT count(*) FROM app_log`)
	again, err := s.TerminateApp(ctx, a.SDKAppID, testNow.Add(24*time.Hour))
	if err != nil || !again.PurgeAt.Equal(due) {
		t.Errorf("second termination: purge at %v (%v), want %v", again.PurgeAt, err, due)
	}
	if n := count(t, s, `SELECT count(*) FROM app_log`); n != logged {
		t.Errorf("a termination that changed nothing logged %d entries", n-logged)
	}
	// A shorter server-wide cap brings it earlier.
	s.retention = time.Hour // as WithRetention(time.Hour) would
	earlier, err := s.TerminateApp(ctx, a.SDKAppID, testNow.Add(24*time.Hour))
	if want := testNow.Add(25 * time.Hour); err != nil || !earlier.PurgeAt.Equal(want) {
		t.Errorf("termination under a shorter cap: purge at %v (%v), want %v", earlier.PurgeAt, err, want)
	}
	if log, _ := s.Log(ctx, a.SDKAppID, 1); len(log) != 1 || log[0].Operation != OpAppTerminate {
		t.Errorf("bringing the purge earlier logged %+v", log)
	}

	for _, tc := range []struct{ name, stmt string }{
		{"later deadline", `UPDATE purges SET due_at = due_at + 1`},
		{"other app", `UPDATE purges SET sdk_app_id = sdk_app_id + 1`},
		{"drop the purge", `DELETE FROM purges`},
		{"revive", `UPDATE apps SET status = 'active'`},
		{"suspend", `UPDATE apps SET status = 'suspended'`},
		{"key for a terminated app", `INSERT INTO keys (sdk_app_id, kid, secret, not_before, not_after, created_at)
			SELECT sdk_app_id, 'k', x'00', 0, 1, 0 FROM apps`},
		{"create terminated", `INSERT INTO apps (sdk_app_id, name, status, created_at) VALUES (1400000000, 'x', 'terminated', 0)`},
	} {
		if _, err := s.db.ExecContext(ctx, tc.stmt); err == nil {
			t.Errorf("schema allowed: %s", tc.name)
		}
	}
	// An active app cannot be marked terminated without a purge either.
	b, err := s.CreateApp(ctx, "b", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE apps SET status = 'terminated' WHERE sdk_app_id = ?`, b.SDKAppID); err == nil {
		t.Error("schema allowed a termination without a scheduled purge")
	}
	if p, _ := s.PendingPurges(ctx); len(p) != 1 || !p[0].DueAt.Equal(testNow.Add(25*time.Hour)) {
		t.Errorf("pending after the refused changes: %+v", p)
	}
}

// TestTerminatedAppRefused: a token signed before termination is refused
// right after it; the keys are gone from the table; nothing makes a new
// one; reads are still logged until the purge.
func TestTerminatedAppRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, a := tempApp(t)
	if _, err := s.RotateKey(ctx, a.SDKAppID, testNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	now := testNow.Add(2 * time.Minute)
	v := &auth.Verifier{Keys: s, Now: func() time.Time { return now }}
	k, err := s.SigningKey(ctx, a.SDKAppID, now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.SignJWT(k, auth.Claims{SDKAppID: a.SDKAppID, UserID: "u", IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok, auth.Want{SDKAppID: a.SDKAppID, UserID: "u"}); err != nil {
		t.Fatalf("before termination: %v", err)
	}
	if _, err := s.TerminateApp(ctx, a.SDKAppID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok, auth.Want{SDKAppID: a.SDKAppID, UserID: "u"}); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("right after termination: err = %v, want auth.ErrUnknownApp", err)
	}
	if n := count(t, s, `SELECT count(*) FROM keys WHERE sdk_app_id = ?`, a.SDKAppID); n != 0 {
		t.Errorf("%d key rows left after termination", n)
	}
	if _, err := s.SigningKey(ctx, a.SDKAppID, now); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("SigningKey: err = %v", err)
	}
	if rep, err := s.MaintainKeys(ctx, now.Add(time.Hour)); err != nil || rep.Created != 0 {
		t.Errorf("maintenance after termination: %+v, %v", rep, err)
	}
	name := "b"
	for what, err := range map[string]error{
		"resume":  func() error { _, err := s.SetStatus(ctx, a.SDKAppID, StatusActive, now); return err }(),
		"suspend": func() error { _, err := s.SetStatus(ctx, a.SDKAppID, StatusSuspended, now); return err }(),
		"update":  func() error { _, err := s.UpdateApp(ctx, a.SDKAppID, AppUpdate{Name: &name}, now); return err }(),
		"rotate":  func() error { _, err := s.RotateKey(ctx, a.SDKAppID, now); return err }(),
		"import":  s.AddKey(ctx, a.SDKAppID, k, now),
	} {
		if !errors.Is(err, ErrStatus) {
			t.Errorf("%s a terminated app: err = %v, want ErrStatus", what, err)
		}
	}
	if err := s.AppendLog(ctx, a.SDKAppID, OpLogRead, now); err != nil {
		t.Errorf("reading a terminated app's log is not logged: %v", err)
	}
	if _, err := s.TerminateApp(ctx, 42, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("terminate unknown app: err = %v, want ErrNotFound", err)
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	keep, err := s.CreateApp(ctx, "keep", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateApp(ctx, "a", nil, Policy{Retention: 2 * time.Hour}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, a.SDKAppID, testNow); !errors.Is(err, ErrNotFound) {
		t.Errorf("purge an active app: err = %v, want ErrNotFound", err)
	}
	if _, err := s.TerminateApp(ctx, a.SDKAppID, testNow); err != nil {
		t.Fatal(err)
	}
	due := testNow.Add(2 * time.Hour)
	if err := s.Purge(ctx, a.SDKAppID, due.Add(-time.Second)); !errors.Is(err, ErrNotDue) {
		t.Errorf("purge a second early: err = %v, want ErrNotDue", err)
	}
	if _, err := s.App(ctx, a.SDKAppID); err != nil {
		t.Fatalf("app gone before its purge: %v", err)
	}
	if err := s.Purge(ctx, a.SDKAppID, due); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"apps", "keys", "app_log", "purges", "webhooks"} {
		if n := count(t, s, `SELECT count(*) FROM `+table+` WHERE sdk_app_id = ?`, a.SDKAppID); n != 0 {
			t.Errorf("%d rows of %s left after the purge", n, table)
		}
	}
	if err := s.Purge(ctx, a.SDKAppID, due); !errors.Is(err, ErrNotFound) {
		t.Errorf("second purge: err = %v, want ErrNotFound", err)
	}
	if _, err := s.App(ctx, keep.SDKAppID); err != nil {
		t.Errorf("the other app: %v", err)
	}
	if n := count(t, s, `SELECT count(*) FROM app_log WHERE sdk_app_id = ?`, keep.SDKAppID); n != 1 {
		t.Errorf("the other app's log: %d entries", n)
	}
}

// canaryApp makes an application whose name, tag, key id, key secret and
// log are easy to find in raw bytes, and returns it with its canaries.
func canaryApp(t *testing.T, s *Store, now time.Time) (App, [][]byte) {
	t.Helper()
	ctx := context.Background()
	const name, tag, kid = "CANARY-APP-NAME-5b1e", "CANARY-TAG-77c2", "CANARY-KID-19af"
	a, err := s.CreateApp(ctx, name, []string{tag}, Policy{}, now)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("LETHE-SECRET-MARKER-0123456789ab")
	if err := s.AddKey(ctx, a.SDKAppID, auth.Key{ID: kid, Secret: secret, NotBefore: now, NotAfter: now.Add(time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	gen, err := s.SigningKey(ctx, a.SDKAppID, now)
	if err != nil {
		t.Fatal(err)
	}
	const hookURL, hookKey = "https://backend.example/CANARY-HOOK-PATH-3d0f", "CANARYHOOKKEY7e21aa"
	if _, err := s.UpdateApp(ctx, a.SDKAppID, AppUpdate{Webhook: &Webhook{URL: hookURL, Key: []byte(hookKey)}}, now); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if err := s.AppendLog(ctx, a.SDKAppID, OpKeyFetch, now); err != nil {
			t.Fatal(err)
		}
	}
	return a, [][]byte{[]byte(name), []byte(tag), []byte(kid), secret, gen.Secret, []byte(gen.ID), []byte(hookURL), []byte(hookKey)}
}

// TestRequestDeletionLeavesNoTrace: after a deletion request, nothing of
// the application — name, tag, key ids, secrets, log — is left in the
// bytes of the database file, its WAL or its shared-memory file.
func TestRequestDeletionLeavesNoTrace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DBFile)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	keep, err := s.CreateApp(ctx, "keep", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	doomed, canaries := canaryApp(t, s, testNow)
	// Some in the WAL, some in the file: checkpoint half-way.
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLog(ctx, doomed.SDKAppID, OpAppGet, testNow); err != nil {
		t.Fatal(err)
	}
	raw := readDBFiles(t, path)
	for _, c := range canaries {
		if !bytes.Contains(raw, c) {
			t.Fatalf("%q not in the database files before deletion: the test proves nothing", c)
		}
	}

	if err := s.RequestDeletion(ctx, doomed.SDKAppID, testNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.App(ctx, doomed.SDKAppID); !errors.Is(err, ErrNotFound) {
		t.Errorf("App after deletion: err = %v, want ErrNotFound", err)
	}
	for _, table := range []string{"apps", "keys", "app_log", "purges", "webhooks"} {
		if n := count(t, s, `SELECT count(*) FROM `+table+` WHERE sdk_app_id = ?`, doomed.SDKAppID); n != 0 {
			t.Errorf("%d rows of %s left", n, table)
		}
	}
	if _, err := s.Ring(ctx, doomed.SDKAppID); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("Ring after deletion: err = %v, want auth.ErrUnknownApp", err)
	}
	if r, err := s.Ring(ctx, keep.SDKAppID); err != nil || len(r.Keys) != 1 {
		t.Errorf("the other app's ring: %d keys, %v", len(r.Keys), err)
	}
	raw = readDBFiles(t, path)
	for _, c := range canaries {
		if bytes.Contains(raw, c) {
			t.Errorf("deleted %q still in the database files", c)
		}
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("WAL is %d bytes after the deletion", fi.Size())
	}
	if err := s.RequestDeletion(ctx, doomed.SDKAppID, testNow); !errors.Is(err, ErrNotFound) {
		t.Errorf("second deletion request: err = %v, want ErrNotFound", err)
	}
	// A terminated app can be deleted on request too: its purge comes at once.
	b, err := s.CreateApp(ctx, "b", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TerminateApp(ctx, b.SDKAppID, testNow); err != nil {
		t.Fatal(err)
	}
	if err := s.RequestDeletion(ctx, b.SDKAppID, testNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if p, err := s.PendingPurges(ctx); err != nil || len(p) != 0 {
		t.Errorf("pending after deleting a terminated app: %+v, %v", p, err)
	}
}

func BenchmarkRequestDeletion(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), DBFile))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		a, err := s.CreateApp(ctx, "a", nil, Policy{}, testNow)
		if err != nil {
			b.Fatal(err)
		}
		for range 20 {
			if err := s.AppendLog(ctx, a.SDKAppID, OpKeyFetch, testNow); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := s.RequestDeletion(ctx, a.SDKAppID, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
