package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/auth"
)

// v1Schema is the schema of user_version 1, written out here so that the
// test does not depend on the migration code it checks.
const v1Schema = `
CREATE TABLE apps (
	sdk_app_id INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	tags       TEXT NOT NULL DEFAULT '[]',
	status     TEXT NOT NULL DEFAULT 'active',
	created_at INTEGER NOT NULL
);
CREATE TABLE keys (
	sdk_app_id INTEGER NOT NULL REFERENCES apps ON DELETE CASCADE,
	kid        TEXT NOT NULL,
	secret     BLOB NOT NULL,
	not_before INTEGER NOT NULL,
	not_after  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (sdk_app_id, kid)
);
PRAGMA user_version = 1;
`

func TestMigrateFromV1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DBFile)
	v1, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	created := testNow.Add(-10 * 24 * time.Hour)
	legacy := bytes.Repeat([]byte{0xa5}, 32) // v1 secrets were 32 random bytes
	stmts := []string{v1Schema,
		`INSERT INTO apps VALUES (1400000001, 'default', '[]', 'active', ?)`,
		`INSERT INTO apps VALUES (1400000002, 'tagged', '["a","b"]', 'active', ?)`,
		`INSERT INTO apps VALUES (1400000003, 'odd', '[]', 'paused', ?)`,
		`INSERT INTO apps VALUES (1400000004, 'ended', '[]', 'terminated', ?)`,
		`INSERT INTO keys VALUES (1400000001, 'legacy', ?, ?, 0)`,
		`INSERT INTO keys VALUES (1400000004, 'ended', ?, ?, 0)`,
		`INSERT INTO keys VALUES (1400000002, 'finite', ?, ?, ?)`,
		`INSERT INTO keys VALUES (1400000002, 'backwards', ?, ?, ?)`,
	}
	args := [][]any{nil,
		{created.Unix()}, {created.Unix()}, {created.Unix()}, {created.Unix()},
		{legacy, created.Unix()},
		{bytes.Repeat([]byte{'e'}, 32), created.Unix()},
		{bytes.Repeat([]byte{'f'}, 32), testNow.Add(-time.Hour).Unix(), testNow.Add(time.Hour).Unix()},
		{bytes.Repeat([]byte{'b'}, 32), testNow.Unix(), testNow.Add(-time.Hour).Unix()},
	}
	for i, stmt := range stmts {
		if _, err := v1.ExecContext(ctx, stmt, args[i]...); err != nil {
			t.Fatalf("v1 setup %d: %v", i, err)
		}
	}
	if err := v1.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != SchemaVersion() || v != 7 {
		t.Fatalf("user_version %d (%v), want 7", v, err)
	}
	apps, err := s.Apps(ctx)
	if err != nil || len(apps) != 4 {
		t.Fatalf("apps: %+v, %v", apps, err)
	}
	for _, a := range apps {
		if a.Policy != DefaultPolicy() || !a.CreatedAt.Equal(created) {
			t.Errorf("migrated app %+v", a)
		}
	}
	if apps[1].Name != "tagged" || strings.Join(apps[1].Tags, ",") != "a,b" {
		t.Errorf("tags lost: %+v", apps[1])
	}
	if apps[2].Status != StatusSuspended {
		t.Errorf("unknown v1 status became %q, want suspended", apps[2].Status)
	}
	// A v1 app marked terminated, whose termination time is unknown, is
	// due for purging at once and has lost its keys.
	if a := apps[3]; a.Status != StatusTerminated || a.PurgeAt.IsZero() || time.Since(a.PurgeAt) < 0 || time.Since(a.PurgeAt) > time.Minute {
		t.Errorf("terminated v1 app %+v, want a purge due now", a)
	}
	if keys, err := s.Keys(ctx, 1400000004, testNow); err != nil || len(keys) != 0 {
		t.Errorf("keys of the terminated v1 app: %+v, %v", keys, err)
	}
	if p, err := s.PendingPurges(ctx); err != nil || len(p) != 1 || p[0].SDKAppID != 1400000004 {
		t.Errorf("pending purges %+v, %v", p, err)
	}

	// The open-ended v1 key keeps signing (and verifying its tokens) until
	// the first maintenance run gives it a window of one lifetime from then.
	r, err := s.Ring(ctx, 1400000001)
	if err != nil || len(r.Keys) != 1 || !bytes.Equal(r.Keys[0].Secret, legacy) || !r.Keys[0].NotBefore.Equal(created) ||
		r.Keys[0].NotAfter.Unix() != openEnded || r.MaxTokenTTL != DefaultMaxTokenTTL {
		t.Fatalf("legacy ring %+v, %v", r, err)
	}
	old := signed{1400000001, "legacy", testNow.Add(-time.Hour), testNow.Add(23 * time.Hour)}
	keys, err := s.Keys(ctx, 1400000002, testNow)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys of the tagged app: %+v, %v", keys, err)
	}
	for _, k := range keys {
		if !k.CreatedAt.Equal(k.NotBefore) || k.NotAfter.Before(k.NotBefore) {
			t.Errorf("migrated key %+v", k)
		}
	}

	rep, err := s.MaintainKeys(ctx, testNow)
	if err != nil || rep.Shortened != 1 || rep.Created != 1 || rep.Destroyed != 0 {
		t.Fatalf("first maintenance: %+v, %v", rep, err)
	}
	r, err = s.Ring(ctx, 1400000001)
	if err != nil || !r.Keys[0].NotAfter.Equal(testNow.Add(DefaultKeyLifetime)) {
		t.Fatalf("legacy key after maintenance: %+v, %v", r.Keys, err)
	}
	if err := verifiable(r, old, testNow.Add(22*time.Hour)); err != nil {
		t.Errorf("token signed with the legacy key before the upgrade: %v", err)
	}
	// The tagged app's finite key runs out an hour after testNow: a
	// successor was made, since none would be signing a margin later.
	if k, err := s.SigningKey(ctx, 1400000002, testNow); err != nil || k.ID == "finite" || !k.NotBefore.Equal(testNow) {
		t.Errorf("tagged app signing key %v, %v", k, err)
	}
	for _, app := range []uint32{1400000001, 1400000002} {
		log, err := s.Log(ctx, app, 0)
		if err != nil {
			t.Fatal(err)
		}
		if app == 1400000002 && (len(log) != 1 || log[0].Operation != OpKeyCreate) {
			t.Errorf("log of app %d: %+v", app, log)
		}
	}

	// Foreign keys survived the table rebuild: deleting an app cascades.
	var fk int
	if err := s.db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d after migration (%v)", fk, err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM apps WHERE sdk_app_id = 1400000002`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM keys WHERE sdk_app_id = 1400000002`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d keys left after deleting a migrated app (%v)", n, err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM app_log WHERE sdk_app_id = 1400000002`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d log entries left after deleting a migrated app (%v)", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening a migrated database changes nothing.
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s2.Close() }()
	if apps, err := s2.Apps(ctx); err != nil || len(apps) != 3 {
		t.Errorf("after reopening: %d apps, %v", len(apps), err)
	}
	if _, err := s2.Ring(ctx, 1400000003); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("Ring of the suspended app: err = %v", err)
	}
}
