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

	"time"

	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
)

// Store is the SQLite database of one data dir. It is safe for concurrent use.
type Store struct {
	db *sql.DB
	// newAppID draws a candidate SDKAppID; tests replace it.
	newAppID func() (uint32, error)
	// retention caps every application's retention (WithRetention).
	retention time.Duration
	// hook, if set (by tests only), is called at the named points of the
	// lifecycle transactions, so that a test can kill the process there.
	hook func(point string)
	// withdrawalKey keys TokenHash; read from the store at Open.
	withdrawalKey []byte
}

// Option configures a Store at Open.
type Option func(*Store) error

// WithRetention caps the retention of every application at d
// (MinRetention..MaxRetention, whole seconds): a terminated application is
// purged at most d after its termination, sooner if its own policy says
// so. Without it the cap is MaxRetention.
func WithRetention(d time.Duration) Option {
	return func(s *Store) error {
		if !validRetention(d) {
			return fmt.Errorf("%w: retention must be whole seconds in %v..%v", ErrInvalid, MinRetention, MaxRetention)
		}
		s.retention = d
		return nil
	}
}

// RetentionCap is the server-wide cap on retention (see WithRetention).
func (s *Store) RetentionCap() time.Duration { return s.retention }

// at calls the test hook, if any, at point.
func (s *Store) at(point string) {
	if s.hook != nil {
		s.hook(point)
	}
}

// dsn returns the driver name for the file at the absolute path. The
// _pragma parameters are applied by the driver to every new pooled
// connection, so none of them can be missing on a connection that
// database/sql opens later. Write transactions begin IMMEDIATE, so that two
// writers wait for each other (busy_timeout) instead of failing when a reader
// upgrades its lock. Temporary tables and indices (sorts) stay in memory,
// so SQLite writes no temporary file.
func dsn(path string) string {
	pragmas := []string{
		"busy_timeout(5000)",
		"journal_mode(WAL)",
		"secure_delete(ON)",
		"foreign_keys(ON)",
		"temp_store(MEMORY)",
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
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	s := &Store{newAppID: randomAppID, retention: MaxRetention}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("store: open: %w", err)
		}
	}
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
	s.db = db
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.loadWithdrawalKey(ctx, true); err != nil {
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

// openEnded is the not_after given by the v2 migration to the v1 keys that
// had none (not_after 0): 9999-12-31T23:59:59Z. MaintainKeys shortens it to
// the app's key lifetime the first time it runs.
const openEnded int64 = 253402300799

// migrations()[i] takes the schema from user_version i to i+1. Append only.
// They run with foreign keys off (so that a table can be rebuilt without
// cascading), and PRAGMA foreign_key_check must pass before they commit.
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
		{ // 2: app policies and status set, finite key windows with created_at, application log
			`CREATE TABLE apps_v2 (
				sdk_app_id              INTEGER PRIMARY KEY,
				name                    TEXT NOT NULL,
				tags                    TEXT NOT NULL DEFAULT '[]',
				status                  TEXT NOT NULL DEFAULT 'active'
				                        CHECK (status IN ('active', 'suspended', 'terminated')),
				created_at              INTEGER NOT NULL,
				key_lifetime_s          INTEGER NOT NULL DEFAULT 86400
				                        CHECK (key_lifetime_s BETWEEN 600 AND 604800),
				max_token_ttl_s         INTEGER NOT NULL DEFAULT 86400
				                        CHECK (max_token_ttl_s BETWEEN 1 AND 604800),
				require_private_map_key INTEGER NOT NULL DEFAULT 0
				                        CHECK (require_private_map_key IN (0, 1)),
				max_anchors             INTEGER NOT NULL DEFAULT 0 CHECK (max_anchors >= 0),
				max_participants        INTEGER NOT NULL DEFAULT 0 CHECK (max_participants >= 0)
			)`,
			// A v1 status outside the new set cannot admit anyone: suspend it.
			`INSERT INTO apps_v2 (sdk_app_id, name, tags, status, created_at)
			 SELECT sdk_app_id, name, tags,
			        CASE WHEN status IN ('active', 'suspended', 'terminated') THEN status ELSE 'suspended' END,
			        created_at
			   FROM apps ORDER BY sdk_app_id`,
			`CREATE TABLE keys_v2 (
				sdk_app_id INTEGER NOT NULL REFERENCES apps ON DELETE CASCADE,
				kid        TEXT NOT NULL,
				secret     BLOB NOT NULL,
				not_before INTEGER NOT NULL,
				not_after  INTEGER NOT NULL CHECK (not_after >= not_before),
				created_at INTEGER NOT NULL,
				PRIMARY KEY (sdk_app_id, kid)
			)`,
			// v1 keys without expiry (0) get openEnded; MaintainKeys shortens it.
			`INSERT INTO keys_v2 (sdk_app_id, kid, secret, not_before, not_after, created_at)
			 SELECT sdk_app_id, kid, secret, not_before,
			        CASE WHEN not_after = 0 THEN ` + fmt.Sprint(openEnded) + ` ELSE max(not_after, not_before) END,
			        not_before
			   FROM keys ORDER BY rowid`,
			`DROP TABLE keys`,
			`DROP TABLE apps`,
			`ALTER TABLE apps_v2 RENAME TO apps`,
			`ALTER TABLE keys_v2 RENAME TO keys`,
			// Exactly the six permitted fields, and the row id. Purged with the app.
			`CREATE TABLE app_log (
				id         INTEGER PRIMARY KEY,
				sdk_app_id INTEGER NOT NULL REFERENCES apps ON DELETE CASCADE,
				app_name   TEXT NOT NULL,
				tags       TEXT NOT NULL,
				status     TEXT NOT NULL,
				created_at INTEGER NOT NULL,
				operation  TEXT NOT NULL
			)`,
			`CREATE INDEX app_log_by_app ON app_log (sdk_app_id, id)`,
		},
		{ // 3: termination and retention: per-app retention, pending purges, lifecycle rules
			`ALTER TABLE apps ADD COLUMN retention_s INTEGER NOT NULL DEFAULT 604800
			 CHECK (retention_s BETWEEN 3600 AND 604800)`,
			// A pending purge: which app, and by when its data must be gone.
			// Nothing else. Committed with the termination; deleted only
			// with the app itself, in the purge's transaction.
			`CREATE TABLE purges (
				sdk_app_id INTEGER PRIMARY KEY REFERENCES apps ON DELETE CASCADE,
				due_at     INTEGER NOT NULL
			)`,
			// Before v3 nothing terminated an app, but a v1 status could say
			// so: such an app's time is unknown, so it is due at once.
			`INSERT INTO purges (sdk_app_id, due_at)
			 SELECT sdk_app_id, unixepoch() FROM apps WHERE status = 'terminated'`,
			`DELETE FROM keys WHERE sdk_app_id IN (SELECT sdk_app_id FROM apps WHERE status = 'terminated')`,
			// The lifecycle rules, enforced by the schema itself.
			`CREATE TRIGGER purge_never_later BEFORE UPDATE OF due_at ON purges
			 WHEN NEW.due_at > OLD.due_at
			 BEGIN SELECT RAISE(ABORT, 'a purge deadline never moves later'); END`,
			`CREATE TRIGGER purge_keeps_app BEFORE UPDATE OF sdk_app_id ON purges
			 BEGIN SELECT RAISE(ABORT, 'a pending purge cannot change application'); END`,
			`CREATE TRIGGER purge_goes_with_app BEFORE DELETE ON purges
			 WHEN EXISTS (SELECT 1 FROM apps WHERE sdk_app_id = OLD.sdk_app_id)
			 BEGIN SELECT RAISE(ABORT, 'a pending purge goes only with its application'); END`,
			`CREATE TRIGGER terminated_is_final BEFORE UPDATE OF status ON apps
			 WHEN OLD.status = 'terminated' AND NEW.status <> 'terminated'
			 BEGIN SELECT RAISE(ABORT, 'a terminated application stays terminated'); END`,
			`CREATE TRIGGER terminated_has_purge BEFORE UPDATE OF status ON apps
			 WHEN NEW.status = 'terminated' AND NOT EXISTS (SELECT 1 FROM purges WHERE sdk_app_id = NEW.sdk_app_id)
			 BEGIN SELECT RAISE(ABORT, 'termination without a scheduled purge'); END`,
			`CREATE TRIGGER terminated_not_created BEFORE INSERT ON apps
			 WHEN NEW.status = 'terminated'
			 BEGIN SELECT RAISE(ABORT, 'an application is not created terminated'); END`,
			`CREATE TRIGGER terminated_has_no_keys BEFORE INSERT ON keys
			 WHEN (SELECT status FROM apps WHERE sdk_app_id = NEW.sdk_app_id) = 'terminated'
			 BEGIN SELECT RAISE(ABORT, 'a terminated application has no keys'); END`,
		},
		{ // 4: withdrawn tokens of removed users, as keyed hashes
			// The key of those hashes: 32 random bytes, one row, made by Open.
			`CREATE TABLE store_secret (
				id             INTEGER PRIMARY KEY CHECK (id = 1),
				withdrawal_key BLOB NOT NULL CHECK (length(withdrawal_key) = 32)
			)`,
			// A withdrawn token: its app, its keyed hash, when it expires.
			// Nothing else: no user id, no token. Deleted when it expires,
			// when its app is terminated, and with the app's purge.
			`CREATE TABLE withdrawals (
				sdk_app_id INTEGER NOT NULL REFERENCES apps ON DELETE CASCADE,
				token_hash BLOB NOT NULL CHECK (length(token_hash) = 32),
				expires_at INTEGER NOT NULL,
				PRIMARY KEY (sdk_app_id, token_hash)
			) WITHOUT ROWID`,
			`CREATE INDEX withdrawals_by_expiry ON withdrawals (expires_at)`,
			`CREATE TRIGGER terminated_has_no_withdrawals BEFORE INSERT ON withdrawals
			 WHEN (SELECT status FROM apps WHERE sdk_app_id = NEW.sdk_app_id) = 'terminated'
			 BEGIN SELECT RAISE(ABORT, 'a terminated application has no withdrawals'); END`,
		},
		{ // 5: the consent policy: every join must carry a signed statement of consent
			`ALTER TABLE apps ADD COLUMN require_consent INTEGER NOT NULL DEFAULT 0
			 CHECK (require_consent IN (0, 1))`,
		},
		{ // 6: the readiness probe's row (ProbeWrite): when it last wrote
			`CREATE TABLE probe (
				id         INTEGER PRIMARY KEY CHECK (id = 1),
				written_at INTEGER NOT NULL
			)`,
		},
		{ // 7: an application's webhook: its callback URL and the key that signs the callbacks
			// One row per app at most; purged with the app, deleted at its
			// termination. The events themselves are never stored.
			`CREATE TABLE webhooks (
				sdk_app_id   INTEGER PRIMARY KEY REFERENCES apps ON DELETE CASCADE,
				url          TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
				callback_key BLOB NOT NULL CHECK (length(callback_key) BETWEEN 16 AND 64)
			)`,
			`CREATE TRIGGER terminated_has_no_webhook BEFORE INSERT ON webhooks
			 WHEN (SELECT status FROM apps WHERE sdk_app_id = NEW.sdk_app_id) = 'terminated'
			 BEGIN SELECT RAISE(ABORT, 'a terminated application has no webhook'); END`,
		},
	}
}

// SchemaVersion is the user_version this binary migrates to.
func SchemaVersion() int { return len(migrations()) }

// migrate brings the schema to SchemaVersion. It holds one connection with
// foreign keys off for the duration (PRAGMA foreign_keys is a no-op inside
// a transaction, and a table rebuild must not cascade), checks the foreign
// keys before committing, and turns them back on before the connection
// returns to the pool.
func (s *Store) migrate(ctx context.Context) (err error) {
	conn, err := s.firstConn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer func() {
		if _, ferr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON"); ferr != nil && err == nil {
			err = fmt.Errorf("store: migrate: %w", ferr)
		}
	}()

	tx, err := conn.BeginTx(ctx, nil)
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
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	bad := rows.Next()
	if cerr := rows.Close(); cerr != nil {
		return fmt.Errorf("store: migrate: %w", cerr)
	}
	if bad {
		return fmt.Errorf("store: migrate: foreign key check failed")
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

// firstConn opens the store's first connection. Two processes opening a
// new database at once race to switch it to WAL, and the loser gets
// SQLITE_BUSY without SQLite waiting (busy_timeout does not cover a
// journal-mode change), so a busy open is retried for up to about the
// busy timeout.
func (s *Store) firstConn(ctx context.Context) (*sql.Conn, error) {
	const (
		tries = 50
		pause = 100 * time.Millisecond
	)
	for i := 0; ; i++ {
		conn, err := s.db.Conn(ctx)
		var se *sqlite.Error
		if err == nil || i == tries-1 || !errors.As(err, &se) || se.Code()&0xff != sqliteBusy {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// sqliteBusy is SQLITE_BUSY, the primary result code of a locked database.
const sqliteBusy = 5

// inTx runs f in one write transaction (BEGIN IMMEDIATE, see dsn) and
// commits if f returns nil.
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// inAppTx runs f in one write transaction (as inTx) on application id, read
// at its start: no such app is ErrNotFound, a terminated one ErrStatus. It
// returns the app as f left it.
func (s *Store) inAppTx(ctx context.Context, id uint32, f func(tx *sql.Tx, app *App) error) (App, error) {
	var app App
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if app, err = appByID(ctx, tx, id); err != nil {
			return err
		}
		if app.Status == StatusTerminated {
			return fmt.Errorf("%w: application is terminated", ErrStatus)
		}
		return f(tx, &app)
	})
	if err != nil {
		return App{}, err
	}
	return app, nil
}

// querier is what *sql.DB and *sql.Tx share, so helpers run in either.
// queryAll runs query and scans every row with scan, closing the rows and
// reporting any error met while iterating.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
