package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/auth"
)

var testNow = time.Unix(1_750_000_000, 0).UTC()

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), DBFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestBootstrapTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")

	s, info, err := Bootstrap(ctx, dir, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Created {
		t.Error("first bootstrap: Created = false")
	}
	if info.DBPath != filepath.Join(dir, DBFile) || info.AdminKeyPath != filepath.Join(dir, AdminKeyFile) || info.DataDir != dir {
		t.Errorf("paths %+v", info)
	}
	app := info.DefaultApp
	if app.Name != DefaultAppName || app.Status != StatusActive || app.SDKAppID < MinAppID || app.SDKAppID > MaxAppID ||
		!app.CreatedAt.Equal(testNow) || app.Tags == nil || len(app.Tags) != 0 {
		t.Errorf("default app %+v", app)
	}
	k, err := s.SigningKey(ctx, app.SDKAppID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Secret) != auth.SecretLen || !k.NotBefore.Equal(testNow) || !k.NotAfter.IsZero() {
		t.Errorf("signing key %v: %d-byte secret, %v..%v", k, len(k.Secret), k.NotBefore, k.NotAfter)
	}
	// The WAL exists while the store is open; its mode follows the database's.
	for path, want := range map[string]os.FileMode{
		dir: 0o700, info.DBPath: 0o600, info.AdminKeyPath: 0o600, info.DBPath + "-wal": 0o600, info.DBPath + "-shm": 0o600,
	} {
		if got := mode(t, path); got != want {
			t.Errorf("mode of %s = %04o, want %04o", filepath.Base(path), got, want)
		}
	}
	adminKey, err := os.ReadFile(info.AdminKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSuffix(string(adminKey), "\n")); err != nil ||
		len(raw) != 32 || !bytes.HasSuffix(adminKey, []byte("\n")) || bytes.Count(adminKey, []byte("\n")) != 1 {
		t.Errorf("admin key file: %d bytes, decode err %v", len(adminKey), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, info2, err := Bootstrap(ctx, dir, testNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s2.Close() }()
	if info2.Created {
		t.Error("second bootstrap: Created = true")
	}
	if info2.DefaultApp.SDKAppID != app.SDKAppID || !info2.DefaultApp.CreatedAt.Equal(app.CreatedAt) {
		t.Errorf("second bootstrap default app %+v, want %+v", info2.DefaultApp, app)
	}
	apps, err := s2.Apps(ctx)
	if err != nil || len(apps) != 1 {
		t.Fatalf("apps after second bootstrap: %d, %v", len(apps), err)
	}
	k2, err := s2.SigningKey(ctx, app.SDKAppID, testNow.Add(time.Hour))
	if err != nil || k2.ID != k.ID || !bytes.Equal(k2.Secret, k.Secret) {
		t.Errorf("signing key changed: %v, %v", k2, err)
	}
	var nkeys int
	if err := s2.db.QueryRowContext(ctx, `SELECT count(*) FROM keys`).Scan(&nkeys); err != nil || nkeys != 1 {
		t.Errorf("keys after second bootstrap: %d, %v", nkeys, err)
	}
	if again, _ := os.ReadFile(info.AdminKeyPath); !bytes.Equal(again, adminKey) {
		t.Error("admin key rewritten")
	}
}

func TestBootstrapRefusesOpenAdminKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, AdminKeyFile)
	const secret = "c2VjcmV0LWFkbWluLWtleS10aGF0LW11c3Qtbm90LWxlYWs\n"
	if err := os.WriteFile(path, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, _, err := Bootstrap(context.Background(), dir, testNow)
	if !errors.Is(err, ErrUnsafeFile) {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("err = %v, want ErrUnsafeFile", err)
	}
	if strings.Contains(err.Error(), strings.TrimSpace(secret)) {
		t.Fatal("error shows the admin key")
	}
}

func TestBootstrapConcurrent(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	var wg sync.WaitGroup
	ids := make([]uint32, 4)
	errs := make([]error, len(ids))
	for i := range ids {
		wg.Go(func() {
			s, info, err := Bootstrap(context.Background(), dir, testNow)
			if err != nil {
				errs[i] = err
				return
			}
			ids[i] = info.DefaultApp.SDKAppID
			errs[i] = s.Close()
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("default apps differ: %v", ids)
		}
	}
}

func TestPragmasOnEveryConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	// Hold several connections at once, so the pool must open distinct ones.
	for i := range 3 {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		var (
			secureDelete, foreignKeys, busy int
			journal                         string
		)
		for q, dst := range map[string]any{
			"PRAGMA secure_delete": &secureDelete,
			"PRAGMA foreign_keys":  &foreignKeys,
			"PRAGMA busy_timeout":  &busy,
			"PRAGMA journal_mode":  &journal,
		} {
			if err := c.QueryRowContext(ctx, q).Scan(dst); err != nil {
				t.Fatalf("conn %d: %s: %v", i, q, err)
			}
		}
		if secureDelete != 1 || foreignKeys != 1 || busy != 5000 || journal != "wal" {
			t.Errorf("conn %d: secure_delete=%d foreign_keys=%d busy_timeout=%d journal_mode=%s",
				i, secureDelete, foreignKeys, busy, journal)
		}
	}
	if got := s.db.Stats().OpenConnections; got < 3 {
		t.Errorf("%d open connections, want >= 3", got)
	}
}

func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DBFile)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != SchemaVersion() || v < 1 {
		t.Fatalf("user_version = %d (%v), want %d", v, err, SchemaVersion())
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, path); !errors.Is(err, ErrSchemaTooNew) {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("err = %v, want ErrSchemaTooNew", err)
	}
}

func TestOpenOddPath(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a?b#c%20d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := os.Stat(filepath.Join(dir, DBFile)); err != nil {
		t.Fatal(err)
	}
}

func key(t *testing.T, id string, fill byte, notBefore, notAfter time.Time) auth.Key {
	t.Helper()
	return auth.Key{ID: id, Secret: bytes.Repeat([]byte{fill}, 32), NotBefore: notBefore, NotAfter: notAfter}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	a, err := s.CreateApp(ctx, "a", testNow)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateApp(ctx, "b", testNow)
	if err != nil {
		t.Fatal(err)
	}
	old := key(t, "old", 1, testNow.Add(-48*time.Hour), time.Time{})
	cur := key(t, "cur", 2, testNow.Add(-time.Hour), testNow.Add(time.Hour))
	next := key(t, "next", 3, testNow.Add(30*time.Minute), time.Time{})
	gone := key(t, "gone", 4, testNow.Add(-72*time.Hour), testNow.Add(-24*time.Hour))
	for _, k := range []auth.Key{old, cur, next, gone} {
		if err := s.AddKey(ctx, a.SDKAppID, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddKey(ctx, b.SDKAppID, key(t, "bkey", 5, testNow, time.Time{})); err != nil {
		t.Fatal(err)
	}

	got, err := s.Key(ctx, a.SDKAppID, "cur")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != cur.ID || !bytes.Equal(got.Secret, cur.Secret) || !got.NotBefore.Equal(cur.NotBefore) || !got.NotAfter.Equal(cur.NotAfter) {
		t.Errorf("Key = %v %v..%v, want %v %v..%v", got, got.NotBefore, got.NotAfter, cur, cur.NotBefore, cur.NotAfter)
	}
	if got, _ := s.Key(ctx, a.SDKAppID, "old"); !got.NotAfter.IsZero() {
		t.Errorf("no-expiry key came back with NotAfter %v", got.NotAfter)
	}

	for _, tc := range []struct {
		name string
		app  uint32
		kid  string
		err  error
	}{
		{"unknown app", 1400000000 - 1, "cur", auth.ErrUnknownApp},
		{"zero app", 0, "cur", auth.ErrUnknownApp},
		{"unknown kid", a.SDKAppID, "nope", auth.ErrUnknownKey},
		{"other app's kid", a.SDKAppID, "bkey", auth.ErrUnknownKey},
		{"this app's kid under the other app", b.SDKAppID, "cur", auth.ErrUnknownKey},
		{"injection", a.SDKAppID, "' OR 1=1--", auth.ErrUnknownKey},
		{"traversal", a.SDKAppID, "../../etc/passwd", auth.ErrUnknownKey},
	} {
		if _, err := s.Key(ctx, tc.app, tc.kid); !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
		} else if strings.Contains(err.Error(), tc.kid) {
			t.Errorf("%s: error shows the kid", tc.name)
		}
	}

	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{testNow, "cur"},
		{testNow.Add(45 * time.Minute), "next"},
		{testNow.Add(-60 * time.Hour), "gone"},
		{testNow.Add(-30 * time.Hour), "old"},
	} {
		k, err := s.SigningKey(ctx, a.SDKAppID, tc.at)
		if err != nil || k.ID != tc.want {
			t.Errorf("SigningKey at %v = %q, %v; want %q", tc.at, k.ID, err, tc.want)
		}
	}
	if _, err := s.SigningKey(ctx, a.SDKAppID, testNow.Add(-100*time.Hour)); !errors.Is(err, auth.ErrUnknownKey) {
		t.Errorf("SigningKey before all keys: err = %v, want auth.ErrUnknownKey", err)
	}
	if _, err := s.SigningKey(ctx, 42, testNow); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("SigningKey of unknown app: err = %v, want auth.ErrUnknownApp", err)
	}

	if err := s.AddKey(ctx, a.SDKAppID, cur); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate kid: err = %v, want ErrExists", err)
	}
	if err := s.AddKey(ctx, b.SDKAppID, cur); err != nil {
		t.Errorf("same kid in another app: %v", err)
	}
	if err := s.AddKey(ctx, 42, key(t, "x", 6, testNow, time.Time{})); !errors.Is(err, ErrNotFound) {
		t.Errorf("key for unknown app: err = %v, want ErrNotFound", err)
	}
	if err := s.AddKey(ctx, a.SDKAppID, auth.Key{ID: "short", Secret: []byte("123")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("short secret: err = %v, want ErrInvalid", err)
	}
}

func TestInactiveAppAdmitsNobody(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	a, err := s.CreateApp(ctx, "a", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, a.SDKAppID, key(t, "k", 1, testNow, time.Time{})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE apps SET status = 'terminated' WHERE sdk_app_id = ?`, a.SDKAppID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Key(ctx, a.SDKAppID, "k"); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("Key: err = %v, want auth.ErrUnknownApp", err)
	}
	if _, err := s.SigningKey(ctx, a.SDKAppID, testNow); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("SigningKey: err = %v, want auth.ErrUnknownApp", err)
	}
}

func TestApps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	if apps, err := s.Apps(ctx); err != nil || apps == nil || len(apps) != 0 {
		t.Fatalf("empty store: %v, %v", apps, err)
	}
	x, err := s.CreateApp(ctx, "x", testNow.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	y, err := s.CreateApp(ctx, "x", testNow)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := s.Apps(ctx)
	if err != nil || len(apps) != 2 || apps[0].SDKAppID != y.SDKAppID || apps[1].SDKAppID != x.SDKAppID {
		t.Fatalf("Apps = %+v, %v; want y then x", apps, err)
	}
	if got, err := s.App(ctx, x.SDKAppID); err != nil || got.Name != "x" || !got.CreatedAt.Equal(x.CreatedAt) {
		t.Errorf("App = %+v, %v", got, err)
	}
	if got, err := s.AppByName(ctx, "x"); err != nil || got.SDKAppID != y.SDKAppID {
		t.Errorf("AppByName = %+v, %v; want the oldest", got, err)
	}
	if _, err := s.App(ctx, 7); !errors.Is(err, ErrNotFound) {
		t.Errorf("App(7): err = %v, want ErrNotFound", err)
	}
	if _, err := s.AppByName(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("AppByName: err = %v, want ErrNotFound", err)
	}
	for _, name := range []string{"", strings.Repeat("n", MaxAppNameLen+1), "\xff"} {
		if _, err := s.CreateApp(ctx, name, testNow); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateApp(%q): err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestCreateAppRetriesOnCollision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	seq := []uint32{MinAppID, MinAppID, MinAppID, MaxAppID}
	s.newAppID = func() (uint32, error) { id := seq[0]; seq = seq[1:]; return id, nil }
	a, err := s.CreateApp(ctx, "a", testNow)
	if err != nil || a.SDKAppID != MinAppID {
		t.Fatalf("first: %+v, %v", a, err)
	}
	b, err := s.CreateApp(ctx, "b", testNow)
	if err != nil || b.SDKAppID != MaxAppID {
		t.Fatalf("second: %+v, %v; want %d after two collisions", b, err, MaxAppID)
	}
	s.newAppID = func() (uint32, error) { return MinAppID, nil }
	if _, err := s.CreateApp(ctx, "c", testNow); err == nil {
		t.Fatal("endless collisions: no error")
	}
}

func TestRandomAppIDRange(t *testing.T) {
	t.Parallel()
	for range 1000 {
		id, err := randomAppID()
		if err != nil {
			t.Fatal(err)
		}
		if id < MinAppID || id > MaxAppID {
			t.Fatalf("id %d out of range", id)
		}
	}
}

func TestDeleteAppPurgesKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, DBFile)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	keep, err := s.CreateApp(ctx, "keep", testNow)
	if err != nil {
		t.Fatal(err)
	}
	doomed, err := s.CreateApp(ctx, "doomed", testNow)
	if err != nil {
		t.Fatal(err)
	}
	// A secret that is easy to find in the raw file.
	marker := []byte("LETHE-SECRET-MARKER-0123456789ab")
	if err := s.AddKey(ctx, doomed.SDKAppID, auth.Key{ID: "k1", Secret: marker, NotBefore: testNow}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, keep.SDKAppID, key(t, "k1", 7, testNow, time.Time{})); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(path); !bytes.Contains(raw, marker) {
		t.Fatal("marker not in the database file before deletion: the test proves nothing")
	}

	if err := s.DeleteApp(ctx, doomed.SDKAppID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, doomed.SDKAppID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM keys WHERE sdk_app_id = ?`, doomed.SDKAppID).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d keys left for the deleted app (%v)", n, err)
	}
	if _, err := s.Key(ctx, doomed.SDKAppID, "k1"); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("Key after delete: err = %v, want auth.ErrUnknownApp", err)
	}
	if _, err := s.Key(ctx, keep.SDKAppID, "k1"); err != nil {
		t.Errorf("the other app's key went too: %v", err)
	}
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		raw, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(raw, marker) {
			t.Errorf("deleted secret still in %s", filepath.Base(f))
		}
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("WAL is %d bytes after a TRUNCATE checkpoint", fi.Size())
	}
}

// TestVerifierAgainstStore: a token signed with the store's signing key
// verifies with the store as the verifier's KeyLookup.
func TestVerifierAgainstStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, info, err := Bootstrap(ctx, t.TempDir(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	k, err := s.SigningKey(ctx, info.DefaultApp.SDKAppID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.SignJWT(k, auth.Claims{SDKAppID: info.DefaultApp.SDKAppID, UserID: "u1", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	v := &auth.Verifier{Keys: s, Now: func() time.Time { return testNow.Add(time.Minute) }}
	if _, err := v.Verify(ctx, tok, auth.Want{SDKAppID: info.DefaultApp.SDKAppID, UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateApp(ctx, "other", testNow)
	if err != nil {
		t.Fatal(err)
	}
	// The same key id (and even the same secret) in another app admits no one
	// to that app with this app's token.
	if err := s.AddKey(ctx, other.SDKAppID, k); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok, auth.Want{SDKAppID: other.SDKAppID, UserID: "u1"}); !errors.Is(err, auth.ErrUnknownApp) {
		t.Fatalf("token of app A at app B: err = %v, want auth.ErrUnknownApp", err)
	}
}

func BenchmarkKey(b *testing.B) {
	ctx := context.Background()
	s, info, err := Bootstrap(ctx, b.TempDir(), testNow)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	k, err := s.SigningKey(ctx, info.DefaultApp.SDKAppID, testNow)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Key(ctx, info.DefaultApp.SDKAppID, k.ID); err != nil {
			b.Fatal(err)
		}
	}
}
