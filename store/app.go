package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Status is an application's service status. Only an active app admits
// users and gets new keys.
type Status string

// Application statuses. The lifecycle is active ⇄ suspended, and either →
// terminated, which is final: TerminateApp ends an app's life (its keys are
// deleted at once and its purge scheduled), RequestDeletion purges it at
// once, and Purge deletes what is left when the purge is due.
const (
	StatusActive     Status = "active"
	StatusSuspended  Status = "suspended"
	StatusTerminated Status = "terminated"
)

// SDKAppIDs are drawn at random from [MinAppID, MaxAppID].
const (
	MinAppID uint32 = 1400000000
	MaxAppID uint32 = 1499999999
)

// App is one application (tenant): the SDKAppID its users' tokens name.
type App struct {
	SDKAppID  uint32
	Name      string
	Tags      []string // never nil
	Status    Status
	CreatedAt time.Time
	Policy    Policy
	// PurgeAt is when a terminated app's data is purged; zero otherwise.
	PurgeAt time.Time
}

// AppUpdate names the fields UpdateApp changes; nil leaves one as it is.
type AppUpdate struct {
	Name   *string
	Tags   *[]string
	Policy *Policy // zero KeyLifetime, MaxTokenTTL or Retention: the default
	// Webhook sets the app's callback URL and key; an empty URL removes them.
	Webhook *Webhook
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

// CreateApp records a new active application with a random unused
// SDKAppID, created at now, and its first signing key, and logs
// OpAppCreate, all in one transaction. A zero KeyLifetime, MaxTokenTTL or
// Retention in p means the default; tags may be nil. Invalid arguments are ErrInvalid.
func (s *Store) CreateApp(ctx context.Context, name string, tags []string, p Policy, now time.Time) (App, error) {
	var app App
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		app, err = s.createApp(ctx, tx, name, tags, p, now)
		return err
	})
	if err != nil {
		return App{}, fmt.Errorf("store: create app: %w", err)
	}
	return app, nil
}

// createApp does CreateApp's work inside tx.
func (s *Store) createApp(ctx context.Context, tx *sql.Tx, name string, tags []string, p Policy, now time.Time) (App, error) {
	p = p.withDefaults()
	if err := checkName(name); err != nil {
		return App{}, err
	}
	if err := checkTags(tags); err != nil {
		return App{}, err
	}
	if err := p.Validate(); err != nil {
		return App{}, err
	}
	app := App{Name: name, Tags: slices.Clone(tags), Status: StatusActive, CreatedAt: unixTime(now.Unix()), Policy: p}
	if app.Tags == nil {
		app.Tags = []string{}
	}
	tagsJSON, err := json.Marshal(app.Tags)
	if err != nil {
		return App{}, err
	}
	const tries = 16
	for range tries {
		id, err := s.newAppID()
		if err != nil {
			return App{}, err
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO apps (sdk_app_id, name, tags, status, created_at,
			                   key_lifetime_s, max_token_ttl_s, require_private_map_key, max_anchors, max_participants, retention_s,
			                   require_consent)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			 ON CONFLICT (sdk_app_id) DO NOTHING`,
			id, name, string(tagsJSON), string(app.Status), app.CreatedAt.Unix(),
			seconds(p.KeyLifetime), seconds(p.MaxTokenTTL), p.RequirePrivateMapKey, p.MaxAnchors, p.MaxParticipants,
			seconds(p.Retention), p.RequireConsent)
		if err != nil {
			return App{}, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return App{}, err
		} else if n == 1 {
			app.SDKAppID = id
			if _, err := insertNewKey(ctx, tx, id, p.KeyLifetime, now); err != nil {
				return App{}, err
			}
			if err := appendLog(ctx, tx, id, OpAppCreate, now); err != nil {
				return App{}, err
			}
			return app, nil
		}
	}
	return App{}, fmt.Errorf("no free SDKAppID in %d tries", tries)
}

// UpdateApp changes the name, tags, policy and/or webhook of application id and logs
// OpAppUpdate, in one transaction, and returns the application as it now
// is. A shorter key lifetime also shortens the signing windows of the
// app's keys to end at most one new lifetime after now. It returns
// ErrInvalid for an empty update or an invalid field, ErrNotFound for no
// such app and ErrStatus for a terminated one.
func (s *Store) UpdateApp(ctx context.Context, id uint32, u AppUpdate, now time.Time) (App, error) {
	if u.Name == nil && u.Tags == nil && u.Policy == nil && u.Webhook == nil {
		return App{}, fmt.Errorf("store: update app: %w: nothing to update", ErrInvalid)
	}
	if u.Name != nil {
		if err := checkName(*u.Name); err != nil {
			return App{}, fmt.Errorf("store: update app: %w", err)
		}
	}
	if u.Tags != nil {
		if err := checkTags(*u.Tags); err != nil {
			return App{}, fmt.Errorf("store: update app: %w", err)
		}
	}
	if u.Webhook != nil {
		if err := u.Webhook.check(); err != nil {
			return App{}, fmt.Errorf("store: update app: %w", err)
		}
	}
	var p Policy
	if u.Policy != nil {
		p = u.Policy.withDefaults()
		if err := p.Validate(); err != nil {
			return App{}, fmt.Errorf("store: update app: %w", err)
		}
	}
	app, err := s.inAppTx(ctx, id, func(tx *sql.Tx, a *App) error {
		if u.Name != nil {
			a.Name = *u.Name
		}
		if u.Tags != nil {
			a.Tags = slices.Clone(*u.Tags)
			if a.Tags == nil {
				a.Tags = []string{}
			}
		}
		if u.Policy != nil {
			a.Policy = p
		}
		tagsJSON, err := json.Marshal(a.Tags)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE apps SET name = ?, tags = ?, key_lifetime_s = ?, max_token_ttl_s = ?,
			                 require_private_map_key = ?, max_anchors = ?, max_participants = ?, retention_s = ?,
			                 require_consent = ?
			  WHERE sdk_app_id = ?`,
			a.Name, string(tagsJSON), seconds(a.Policy.KeyLifetime), seconds(a.Policy.MaxTokenTTL),
			a.Policy.RequirePrivateMapKey, a.Policy.MaxAnchors, a.Policy.MaxParticipants,
			seconds(a.Policy.Retention), a.Policy.RequireConsent, id); err != nil {
			return err
		}
		if _, err := shortenKeys(ctx, tx, id, now); err != nil {
			return err
		}
		if u.Webhook != nil {
			if err := setWebhook(ctx, tx, id, *u.Webhook); err != nil {
				return err
			}
		}
		return appendLog(ctx, tx, id, OpAppUpdate, now)
	})
	if err != nil {
		return App{}, fmt.Errorf("store: update app %d: %w", id, err)
	}
	return app, nil
}

// SetStatus moves application id to status and logs the change, in one
// transaction, and returns the application as it now is: active →
// suspended (OpAppSuspend; its users are refused at once) and suspended →
// active (OpAppResume; a signing key is made if none is valid). Setting the
// status it already has changes and logs nothing. StatusTerminated is
// refused with ErrStatus: TerminateApp does that, with its purge; an
// unknown status is ErrInvalid; no such app is ErrNotFound.
func (s *Store) SetStatus(ctx context.Context, id uint32, status Status, now time.Time) (App, error) {
	switch status {
	case StatusActive, StatusSuspended:
	case StatusTerminated:
		return App{}, fmt.Errorf("store: set status: %w: terminate with TerminateApp", ErrStatus)
	default:
		return App{}, fmt.Errorf("store: set status: %w: unknown status", ErrInvalid)
	}
	app, err := s.inAppTx(ctx, id, func(tx *sql.Tx, a *App) error {
		if a.Status == status {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE apps SET status = ? WHERE sdk_app_id = ?`, string(status), id); err != nil {
			return err
		}
		a.Status = status
		op := OpAppSuspend
		if status == StatusActive {
			op = OpAppResume
			if _, err := ensureSigningKey(ctx, tx, id, a.Policy.KeyLifetime, now); err != nil {
				return err
			}
		}
		return appendLog(ctx, tx, id, op, now)
	})
	if err != nil {
		return App{}, fmt.Errorf("store: set status of app %d: %w", id, err)
	}
	return app, nil
}

// selectApps selects the apps (as a) with their pending purge (p), for scanApp.
const selectApps = `SELECT a.sdk_app_id, a.name, a.tags, a.status, a.created_at,
	a.key_lifetime_s, a.max_token_ttl_s, a.require_private_map_key, a.max_anchors, a.max_participants,
	a.retention_s, a.require_consent, p.due_at
	FROM apps a LEFT JOIN purges p ON p.sdk_app_id = a.sdk_app_id`

type scanner interface{ Scan(dest ...any) error }

func scanApp(r scanner) (App, error) {
	var (
		a                             App
		tags                          string
		created, life, ttl, retention int64
		purge                         sql.NullInt64
	)
	if err := r.Scan(&a.SDKAppID, &a.Name, &tags, &a.Status, &created,
		&life, &ttl, &a.Policy.RequirePrivateMapKey, &a.Policy.MaxAnchors, &a.Policy.MaxParticipants,
		&retention, &a.Policy.RequireConsent, &purge); err != nil {
		return App{}, err
	}
	if err := json.Unmarshal([]byte(tags), &a.Tags); err != nil {
		return App{}, fmt.Errorf("tags of app %d: %w", a.SDKAppID, err)
	}
	if a.Tags == nil {
		a.Tags = []string{}
	}
	a.CreatedAt = unixTime(created)
	a.Policy.KeyLifetime = time.Duration(life) * time.Second
	a.Policy.MaxTokenTTL = time.Duration(ttl) * time.Second
	a.Policy.Retention = time.Duration(retention) * time.Second
	if purge.Valid {
		a.PurgeAt = unixTime(purge.Int64)
	}
	return a, nil
}

// appByID reads application id through q, or returns ErrNotFound.
func appByID(ctx context.Context, q querier, id uint32) (App, error) {
	a, err := scanApp(q.QueryRowContext(ctx, selectApps+` WHERE a.sdk_app_id = ?`, id))
	if err != nil {
		return App{}, notFound("app", id, err)
	}
	return a, nil
}

// notFound turns sql.ErrNoRows into ErrNotFound, prefixing what and id.
func notFound(what string, id uint32, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %d: %w", what, id, ErrNotFound)
	}
	return fmt.Errorf("%s %d: %w", what, id, err)
}

// Apps returns every application, oldest first.
func (s *Store) Apps(ctx context.Context) ([]App, error) {
	apps, err := queryAll(ctx, s.db, scanApp, selectApps+` ORDER BY a.created_at, a.sdk_app_id`)
	if err != nil {
		return nil, fmt.Errorf("store: apps: %w", err)
	}
	return apps, nil
}

// App returns the application id, or ErrNotFound.
func (s *Store) App(ctx context.Context, id uint32) (App, error) {
	a, err := appByID(ctx, s.db, id)
	if err != nil {
		return App{}, fmt.Errorf("store: %w", err)
	}
	return a, nil
}

// AppByName returns the oldest application named name, or ErrNotFound.
// Names are not unique; the default application is found this way.
func (s *Store) AppByName(ctx context.Context, name string) (App, error) {
	a, err := scanApp(s.db.QueryRowContext(ctx,
		selectApps+` WHERE a.name = ? ORDER BY a.created_at, a.sdk_app_id LIMIT 1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return App{}, fmt.Errorf("store: app by name: %w", ErrNotFound)
	}
	if err != nil {
		return App{}, fmt.Errorf("store: app by name: %w", err)
	}
	return a, nil
}

// unixTime is the UTC time of unix seconds s.
func unixTime(s int64) time.Time { return time.Unix(s, 0).UTC() }

// seconds is d in whole seconds.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }
