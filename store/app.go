package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Application statuses. Only an active app admits users.
const (
	StatusActive = "active"
)

// SDKAppIDs are drawn at random from [MinAppID, MaxAppID].
const (
	MinAppID uint32 = 1400000000
	MaxAppID uint32 = 1499999999
)

// MaxAppNameLen is the longest application name CreateApp accepts, in bytes.
const MaxAppNameLen = 128

// App is one application (tenant): the SDKAppID its users' tokens name.
type App struct {
	SDKAppID  uint32
	Name      string
	Tags      []string
	Status    string
	CreatedAt time.Time
}

// randomAppID draws an SDKAppID uniformly from [MinAppID, MaxAppID].
func randomAppID() (uint32, error) {
	const n = uint64(MaxAppID-MinAppID) + 1
	// Reject the top partial block of the uint32 range to stay uniform.
	limit := (uint64(1) << 32) / n * n
	var b [4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("store: app id: %w", err)
		}
		if v := uint64(binary.BigEndian.Uint32(b[:])); v < limit {
			return MinAppID + uint32(v%n), nil
		}
	}
}

// CreateApp records a new active application named name, created at now,
// with a random unused SDKAppID.
func (s *Store) CreateApp(ctx context.Context, name string, now time.Time) (App, error) {
	return s.createApp(ctx, s.db, name, now)
}

func (s *Store) createApp(ctx context.Context, q querier, name string, now time.Time) (App, error) {
	if name == "" || len(name) > MaxAppNameLen || !utf8.ValidString(name) {
		return App{}, fmt.Errorf("%w: app name must be 1..%d bytes of UTF-8", ErrInvalid, MaxAppNameLen)
	}
	app := App{Name: name, Tags: []string{}, Status: StatusActive, CreatedAt: time.Unix(now.Unix(), 0).UTC()}
	const tries = 16
	for range tries {
		id, err := s.newAppID()
		if err != nil {
			return App{}, err
		}
		res, err := q.ExecContext(ctx,
			`INSERT INTO apps (sdk_app_id, name, tags, status, created_at) VALUES (?, ?, '[]', ?, ?)
			 ON CONFLICT (sdk_app_id) DO NOTHING`,
			id, name, app.Status, app.CreatedAt.Unix())
		if err != nil {
			return App{}, fmt.Errorf("store: create app: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return App{}, fmt.Errorf("store: create app: %w", err)
		} else if n == 1 {
			app.SDKAppID = id
			return app, nil
		}
	}
	return App{}, fmt.Errorf("store: create app: no free SDKAppID in %d tries", tries)
}

const appColumns = `sdk_app_id, name, tags, status, created_at`

type scanner interface{ Scan(dest ...any) error }

func scanApp(r scanner) (App, error) {
	var (
		a       App
		tags    string
		created int64
	)
	if err := r.Scan(&a.SDKAppID, &a.Name, &tags, &a.Status, &created); err != nil {
		return App{}, err
	}
	if err := json.Unmarshal([]byte(tags), &a.Tags); err != nil {
		return App{}, fmt.Errorf("tags of app %d: %w", a.SDKAppID, err)
	}
	if a.Tags == nil {
		a.Tags = []string{}
	}
	a.CreatedAt = time.Unix(created, 0).UTC()
	return a, nil
}

// Apps returns every application, oldest first.
func (s *Store) Apps(ctx context.Context) ([]App, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+appColumns+` FROM apps ORDER BY created_at, sdk_app_id`)
	if err != nil {
		return nil, fmt.Errorf("store: apps: %w", err)
	}
	defer func() { _ = rows.Close() }()
	apps := []App{}
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, fmt.Errorf("store: apps: %w", err)
		}
		apps = append(apps, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: apps: %w", err)
	}
	return apps, nil
}

// App returns the application id, or ErrNotFound.
func (s *Store) App(ctx context.Context, id uint32) (App, error) {
	a, err := scanApp(s.db.QueryRowContext(ctx, `SELECT `+appColumns+` FROM apps WHERE sdk_app_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return App{}, fmt.Errorf("store: app %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return App{}, fmt.Errorf("store: app %d: %w", id, err)
	}
	return a, nil
}

// AppByName returns the oldest application named name, or ErrNotFound.
// Names are not unique; the default application is found this way.
func (s *Store) AppByName(ctx context.Context, name string) (App, error) {
	a, err := scanApp(s.db.QueryRowContext(ctx,
		`SELECT `+appColumns+` FROM apps WHERE name = ? ORDER BY created_at, sdk_app_id LIMIT 1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return App{}, fmt.Errorf("store: app by name: %w", ErrNotFound)
	}
	if err != nil {
		return App{}, fmt.Errorf("store: app by name: %w", err)
	}
	return a, nil
}

// DeleteApp deletes the application id and, by cascade, its keys, or
// returns ErrNotFound. The rows are overwritten in the database file
// (secure_delete); call Checkpoint afterwards to purge them from the WAL.
func (s *Store) DeleteApp(ctx context.Context, id uint32) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM apps WHERE sdk_app_id = ?`, id)
	if err != nil {
		return fmt.Errorf("store: delete app %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: delete app %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("store: delete app %d: %w", id, ErrNotFound)
	}
	return nil
}
