package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// dbFiles reads the database file and, if present, its -wal and -shm.
func dbFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// A read-only store reads what is committed, refuses every write — through
// the API and in raw SQL — and leaves the database file as it was, with
// no server (no other connection) around.
func TestOpenReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DBFile)
	rw, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	app, err := rw.CreateApp(ctx, "a", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	before := dbFiles(t, path)
	if len(before) != 1 {
		t.Fatalf("after close: %d files, want the database alone", len(before))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ro.App(ctx, app.SDKAppID)
	if err != nil || got.Name != "a" {
		t.Fatalf("App: %+v, %v", got, err)
	}
	if _, err := ro.SigningKey(ctx, app.SDKAppID, testNow); err != nil {
		t.Fatalf("SigningKey: %v", err)
	}
	if _, err := ro.CreateApp(ctx, "b", nil, Policy{}, testNow); err == nil {
		t.Fatal("CreateApp through a read-only store")
	}
	if err := ro.AppendLog(ctx, app.SDKAppID, OpKeyFetch, testNow); err == nil {
		t.Fatal("AppendLog through a read-only store")
	}
	if _, err := ro.MaintainKeys(ctx, testNow.Add(30*24*time.Hour)); err == nil {
		t.Fatal("MaintainKeys through a read-only store")
	}
	for _, stmt := range []string{
		`DELETE FROM app_log`,
		`PRAGMA user_version = 99`,
		`PRAGMA query_only = 0; DELETE FROM app_log`,
	} {
		if _, err := ro.db.ExecContext(ctx, stmt); err == nil {
			t.Errorf("%s: no error through a read-only store", stmt)
		}
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	after := dbFiles(t, path)
	if !bytes.Equal(after[DBFile], before[DBFile]) {
		t.Fatal("the database file changed")
	}
	if fi2, err := os.Stat(path); err != nil || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("the database file's mtime changed: %v → %v (%v)", fi.ModTime(), fi2.ModTime(), err)
	}
	// SQLite made the WAL index it reads a WAL database through; it holds
	// no row (the WAL is empty) and is private like the database.
	if wal, ok := after[DBFile+"-wal"]; ok && len(wal) != 0 {
		t.Fatalf("-wal of %d bytes after a read-only open", len(wal))
	}
	for _, f := range []string{path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(f); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", f, fi.Mode().Perm())
		}
	}
	n := countLog(t, path, app.SDKAppID)
	// A read-write open afterwards finds everything as it was.
	if n != 1 {
		t.Fatalf("log of the app: %d entries, want 1 (app.create)", n)
	}
}

// countLog counts an app's log entries with a read-write store.
func countLog(t *testing.T, path string, app uint32) int {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	log, err := s.Log(context.Background(), app, MaxLogLimit)
	if err != nil {
		t.Fatal(err)
	}
	return len(log)
}

// A read-only store beside a writer that keeps the database open (as
// lethe serve does) reads each commit of the writer, and writes nothing.
func TestOpenReadOnlyBesideAWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DBFile)
	rw, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rw.Close() }()
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ro.Close() }()
	for i := range 5 {
		a, err := rw.CreateApp(ctx, "app-"+strconv.Itoa(i), nil, Policy{}, testNow)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ro.App(ctx, a.SDKAppID)
		if err != nil || got.Name != a.Name {
			t.Fatalf("read-only store after commit %d: %+v, %v", i, got, err)
		}
		if _, err := ro.SigningKey(ctx, a.SDKAppID, testNow); err != nil {
			t.Fatalf("SigningKey after commit %d: %v", i, err)
		}
		if _, err := ro.RotateKey(ctx, a.SDKAppID, testNow); err == nil {
			t.Fatal("RotateKey through a read-only store")
		}
	}
	// The writer still checkpoints: the reader holds no lock that stops it.
	if err := rw.Checkpoint(ctx); err != nil {
		t.Fatalf("checkpoint beside a read-only store: %v", err)
	}
}

// A read-only store never migrates: an older schema is refused and left
// as it is, a newer one too, and a missing file is not created.
func TestOpenReadOnlySchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()

	missing := filepath.Join(dir, "missing.db")
	if _, err := OpenReadOnly(ctx, missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("OpenReadOnly created the file")
	}

	old := filepath.Join(dir, "v1.db")
	v1, err := sql.Open("sqlite", "file:"+old+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v1.ExecContext(ctx, v1Schema); err != nil {
		t.Fatal(err)
	}
	if err := v1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(ctx, old); !errors.Is(err, ErrSchemaOld) {
		t.Fatalf("v1 schema: %v, want ErrSchemaOld", err)
	}
	if v := userVersion(t, old); v != 1 {
		t.Fatalf("user_version %d after a read-only open, want 1", v)
	}

	newer := filepath.Join(dir, "new.db")
	s, err := Open(ctx, newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(ctx, newer); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", roDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
