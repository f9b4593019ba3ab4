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

// tempApp opens a fresh store holding one active app, "a", made at testNow.
func tempApp(t *testing.T) (*Store, App) {
	t.Helper()
	s := openTemp(t)
	a, err := s.CreateApp(context.Background(), "a", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return s, a
}

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
	if !info.Created || info.Keys != (KeyReport{}) {
		t.Errorf("first bootstrap: Created = %v, keys %+v", info.Created, info.Keys)
	}
	if info.DBPath != filepath.Join(dir, DBFile) || info.AdminKeyPath != filepath.Join(dir, AdminKeyFile) || info.DataDir != dir ||
		info.AuditorKeyPath != filepath.Join(dir, AuditorKeyFile) {
		t.Errorf("paths %+v", info)
	}
	app := info.DefaultApp
	if app.Name != DefaultAppName || app.Status != StatusActive || app.SDKAppID < MinAppID || app.SDKAppID > MaxAppID ||
		!app.CreatedAt.Equal(testNow) || app.Tags == nil || len(app.Tags) != 0 || app.Policy != DefaultPolicy() {
		t.Errorf("default app %+v", app)
	}
	k, err := s.SigningKey(ctx, app.SDKAppID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Secret) != auth.SecretLen || !k.NotBefore.Equal(testNow) || !k.NotAfter.Equal(testNow.Add(DefaultKeyLifetime)) {
		t.Errorf("signing key %v: %d-byte secret, %v..%v", k, len(k.Secret), k.NotBefore, k.NotAfter)
	}
	// The WAL exists while the store is open; its mode follows the database's.
	for path, want := range map[string]os.FileMode{
		dir: 0o700, info.DBPath: 0o600, info.AdminKeyPath: 0o600, info.AuditorKeyPath: 0o600, info.DBPath + "-wal": 0o600, info.DBPath + "-shm": 0o600,
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
	auditorKey, err := os.ReadFile(info.AuditorKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSuffix(string(auditorKey), "\n")); err != nil || len(raw) != 32 {
		t.Errorf("auditor key file: %d bytes, decode err %v", len(auditorKey), err)
	}
	if bytes.Equal(auditorKey, adminKey) {
		t.Error("the auditor key is the admin key")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, info2, err := Bootstrap(ctx, dir, testNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s2.Close() }()
	if info2.Created || info2.Keys != (KeyReport{}) {
		t.Errorf("second bootstrap: Created = %v, keys %+v", info2.Created, info2.Keys)
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
	if again, _ := os.ReadFile(info.AuditorKeyPath); !bytes.Equal(again, auditorKey) {
		t.Error("auditor key rewritten")
	}
}

func TestBootstrapRefusesOpenKeys(t *testing.T) {
	t.Parallel()
	for _, name := range []string{AdminKeyFile, AuditorKeyFile} {
		t.Run(name, func(t *testing.T) { testBootstrapRefusesOpenKey(t, name) })
	}
}

func testBootstrapRefusesOpenKey(t *testing.T, name string) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, name)
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
		t.Fatal("error shows the key")
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
			secureDelete, foreignKeys, busy, tempStore int
			journal                                    string
		)
		for q, dst := range map[string]any{
			"PRAGMA secure_delete": &secureDelete,
			"PRAGMA foreign_keys":  &foreignKeys,
			"PRAGMA busy_timeout":  &busy,
			"PRAGMA journal_mode":  &journal,
			"PRAGMA temp_store":    &tempStore,
		} {
			if err := c.QueryRowContext(ctx, q).Scan(dst); err != nil {
				t.Fatalf("conn %d: %s: %v", i, q, err)
			}
		}
		if secureDelete != 1 || foreignKeys != 1 || busy != 5000 || journal != "wal" || tempStore != 2 {
			t.Errorf("conn %d: secure_delete=%d foreign_keys=%d busy_timeout=%d journal_mode=%s temp_store=%d",
				i, secureDelete, foreignKeys, busy, journal, tempStore)
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

func TestCreateAppRetriesOnCollision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	seq := []uint32{MinAppID, MinAppID, MinAppID, MaxAppID}
	s.newAppID = func() (uint32, error) { id := seq[0]; seq = seq[1:]; return id, nil }
	a, err := s.CreateApp(ctx, "a", nil, Policy{}, testNow)
	if err != nil || a.SDKAppID != MinAppID {
		t.Fatalf("first: %+v, %v", a, err)
	}
	b, err := s.CreateApp(ctx, "b", nil, Policy{}, testNow)
	if err != nil || b.SDKAppID != MaxAppID {
		t.Fatalf("second: %+v, %v; want %d after two collisions", b, err, MaxAppID)
	}
	s.newAppID = func() (uint32, error) { return MinAppID, nil }
	if _, err := s.CreateApp(ctx, "c", nil, Policy{}, testNow); err == nil {
		t.Fatal("endless collisions: no error")
	}
	if apps, _ := s.Apps(ctx); len(apps) != 2 {
		t.Errorf("%d apps after a failed create, want 2", len(apps))
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

// readDBFiles returns the bytes of the database file, its WAL and its
// shared-memory file, concatenated.
func readDBFiles(t testing.TB, path string) []byte {
	t.Helper()
	var all []byte
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		raw, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, raw...)
	}
	return all
}

// TestVerifierAgainstStore: tokens signed with the store's signing key
// verify with the store as the verifier's KeyLookup, through a rotation;
// a revoked key's token is refused at once; a suspended app admits no one.
func TestVerifierAgainstStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, info, err := Bootstrap(ctx, t.TempDir(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	app := info.DefaultApp.SDKAppID
	now := testNow
	v := &auth.Verifier{Keys: s, Now: func() time.Time { return now }}
	sign := func(user string) string {
		t.Helper()
		k, err := s.SigningKey(ctx, app, now)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := auth.SignJWT(k, auth.Claims{SDKAppID: app, UserID: user, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	check := func(tok, user string, want error) {
		t.Helper()
		_, err := v.Verify(ctx, tok, auth.Want{SDKAppID: app, UserID: user})
		if (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("%s at +%v: err = %v, want %v", user, now.Sub(testNow), err, want)
		}
	}
	before := sign("u1")
	check(before, "u1", nil)

	now = now.Add(10 * time.Minute)
	if _, err := s.RotateKey(ctx, app, now); err != nil {
		t.Fatal(err)
	}
	after := sign("u2")
	check(before, "u1", nil) // the old key still verifies its tokens
	check(after, "u2", nil)

	keys, err := s.Keys(ctx, app, now)
	if err != nil || len(keys) != 2 || keys[0].State != KeySigning || keys[1].State != KeyVerifying {
		t.Fatalf("keys after rotation: %+v, %v", keys, err)
	}
	if err := s.RevokeKey(ctx, app, keys[1].ID, now); err != nil {
		t.Fatal(err)
	}
	check(before, "u1", auth.ErrUnknownKey) // refused at once
	check(after, "u2", nil)

	if _, err := s.SetStatus(ctx, app, StatusSuspended, now); err != nil {
		t.Fatal(err)
	}
	check(after, "u2", auth.ErrUnknownApp)
	if _, err := s.SetStatus(ctx, app, StatusActive, now); err != nil {
		t.Fatal(err)
	}
	check(after, "u2", nil)

	other, err := s.CreateApp(ctx, "other", nil, Policy{}, now)
	if err != nil {
		t.Fatal(err)
	}
	// The same key id and secret in another app admit no one to that app
	// with this app's token.
	k, err := s.SigningKey(ctx, app, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(ctx, other.SDKAppID, k, now); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, after, auth.Want{SDKAppID: other.SDKAppID, UserID: "u2"}); !errors.Is(err, auth.ErrUnknownApp) {
		t.Fatalf("token of app A at app B: err = %v, want auth.ErrUnknownApp", err)
	}
}

func BenchmarkRing(b *testing.B) {
	ctx := context.Background()
	s, info, err := Bootstrap(ctx, b.TempDir(), testNow)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	// A typical ring: the signing key, its successor and a retired one.
	for i := 1; i <= 2; i++ {
		if _, err := s.RotateKey(ctx, info.DefaultApp.SDKAppID, testNow.Add(time.Duration(i)*time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := s.Ring(ctx, info.DefaultApp.SDKAppID)
		if err != nil || len(r.Keys) != 3 {
			b.Fatal(len(r.Keys), err)
		}
	}
}
