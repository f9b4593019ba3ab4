package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// roDSN is the driver name opening the file at the absolute path for
// reading only: SQLite's mode=ro (no write reaches the file, whatever is
// asked) and query_only (every statement that would write is refused
// before it runs). No journal_mode is set: a read-only connection cannot
// change it, and the database is in WAL mode already.
func roDSN(path string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	return "file:" + esc + "?mode=ro" +
		"&_pragma=busy_timeout(5000)&_pragma=query_only(1)&_pragma=temp_store(MEMORY)"
}

// OpenReadOnly opens the existing database at path for reading only, as a
// command that only reads must (lethe token): nothing is created,
// migrated or written, and every method that writes fails (SQLite
// refuses it). The schema must be exactly this binary's: an older one is
// ErrSchemaOld (lethe serve migrates it on start), a newer one
// ErrSchemaTooNew. A missing file is an error matching fs.ErrNotExist.
//
// It may run while lethe serve has the database open, and reads what
// serve has committed. The database is in WAL mode, and SQLite reads a
// WAL database through its -wal and -shm files: when no server is
// running, those may be absent, and then opening the database creates
// them, empty (the -shm holds the WAL's index, never row data), with the
// database file's mode. They are left in place, as a reader cannot tell
// whether a server has started meanwhile; the next server uses them.
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open read-only: %w", err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("store: open read-only: %w", err)
	}
	db, err := sql.Open("sqlite", roDSN(abs))
	if err != nil {
		return nil, fmt.Errorf("store: open read-only: %w", err)
	}
	s := &Store{db: db, newAppID: randomAppID, retention: MaxRetention}
	if err := s.checkVersion(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.loadWithdrawalKey(ctx, false); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// checkVersion makes sure the schema is this binary's, without changing it.
func (s *Store) checkVersion(ctx context.Context) error {
	conn, err := s.firstConn(ctx)
	if err != nil {
		return fmt.Errorf("store: open read-only: %w", err)
	}
	defer func() { _ = conn.Close() }()
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("store: open read-only: %w", err)
	}
	switch want := SchemaVersion(); {
	case version > want:
		return fmt.Errorf("%w (v%d, this binary knows v%d)", ErrSchemaTooNew, version, want)
	case version < want:
		return fmt.Errorf("%w (v%d, this binary's is v%d): start lethe serve once to migrate it", ErrSchemaOld, version, want)
	}
	return nil
}
