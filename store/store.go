package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Store is the SQLite database of one data dir. It is safe for concurrent use.
type Store struct {
	db *sql.DB
	// newAppID draws a candidate SDKAppID; tests replace it.
	newAppID func() (uint32, error)
}

// dsn returns the driver name for the file at the absolute path. The
// _pragma parameters are applied by the driver to every new pooled
// connection, so none of them can be missing on a connection that
// database/sql opens later. Write transactions begin IMMEDIATE, so that two
// writers wait for each other (busy_timeout) instead of failing when a reader
// upgrades its lock.
func dsn(path string) string {
	pragmas := []string{
		"busy_timeout(5000)",
		"journal_mode(WAL)",
		"secure_delete(ON)",
		"foreign_keys(ON)",
	}
	// SQLite decodes file: URIs: escape what would end or alter the path.
	esc := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	var b strings.Builder
	b.WriteString("file:")
	b.WriteString(esc)
	b.WriteString("?_txlock=immediate")
	for _, p := range pragmas {
		b.WriteString("&_pragma=")
		b.WriteString(p)
	}
	return b.String()
}

// Open opens (creating if missing, with mode 0600) the database file at path
// and migrates its schema to the current version. The file's directory must
// exist.
func Open(ctx context.Context, path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	// Create the file ourselves so that it is private from the first byte:
	// SQLite would create it 0644, and gives its -wal and -shm files the
	// database file's mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("store: open: %w", err)
		}
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("store: open: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	s := &Store{db: db, newAppID: randomAppID}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Checkpoint copies the WAL into the database file and truncates the WAL to
// zero bytes (PRAGMA wal_checkpoint(TRUNCATE)). Call it after purging rows.
// It returns ErrBusy if a reader kept it from completing.
func (s *Store) Checkpoint(ctx context.Context) error {
	var busy, logFrames, done int
	err := s.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
	if err != nil {
		return fmt.Errorf("store: checkpoint: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("store: checkpoint: %w", ErrBusy)
	}
	return nil
}

// migrations()[i] takes the schema from user_version i to i+1. Append only.
func migrations() [][]string {
	return [][]string{
		{ // 1: applications and their key rings
			`CREATE TABLE apps (
				sdk_app_id INTEGER PRIMARY KEY,
				name       TEXT NOT NULL,
				tags       TEXT NOT NULL DEFAULT '[]',
				status     TEXT NOT NULL DEFAULT 'active',
				created_at INTEGER NOT NULL
			)`,
			`CREATE TABLE keys (
				sdk_app_id INTEGER NOT NULL REFERENCES apps ON DELETE CASCADE,
				kid        TEXT NOT NULL,
				secret     BLOB NOT NULL,
				not_before INTEGER NOT NULL,
				not_after  INTEGER NOT NULL DEFAULT 0,
				PRIMARY KEY (sdk_app_id, kid)
			)`,
		},
	}
}

// SchemaVersion is the user_version this binary migrates to.
func SchemaVersion() int { return len(migrations()) }

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	steps := migrations()
	if version > len(steps) {
		return fmt.Errorf("%w (v%d, this binary knows v%d)", ErrSchemaTooNew, version, len(steps))
	}
	if version == len(steps) {
		return nil
	}
	for v := version; v < len(steps); v++ {
		for _, stmt := range steps[v] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("store: migrate to v%d: %w", v+1, err)
			}
		}
	}
	// PRAGMA takes no parameters; the value is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(steps))); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx share, so helpers run in either.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
