package adminserver

import (
	"context"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

// The admin API's data types are the store's plain ones.
type (
	// App is an application: SDKAppID, name, tags, status, creation time, policy.
	App = store.App
	// Policy is an application's key ring and room configuration.
	Policy = store.Policy
	// AppUpdate changes the non-nil fields of an application.
	AppUpdate = store.AppUpdate
	// KeyInfo describes a key of a ring without its secret.
	KeyInfo = store.KeyInfo
	// Operation is an application-log operation.
	Operation = store.Operation
	// LogEntry is one line of an application's log.
	LogEntry = store.LogEntry
	// Purge is a pending purge: an SDKAppID and its deadline.
	Purge = store.Purge
)

// Apps keeps the applications. Each mutation logs its own operation
// (app.create, app.update, app.suspend, app.resume) in the transaction that
// does it. Errors: store.ErrNotFound (no such app), store.ErrInvalid (a
// value out of bounds), store.ErrStatus (not allowed in the app's status).
type Apps interface {
	CreateApp(ctx context.Context, name string, tags []string, p Policy, now time.Time) (App, error)
	Apps(ctx context.Context) ([]App, error)
	App(ctx context.Context, id uint32) (App, error)
	UpdateApp(ctx context.Context, id uint32, u AppUpdate, now time.Time) (App, error)
	SetStatus(ctx context.Context, id uint32, status store.Status, now time.Time) (App, error)
	// Webhook returns an app's callback URL and key (set by UpdateApp), or
	// store.ErrNotFound if it has none.
	Webhook(ctx context.Context, id uint32) (store.Webhook, error)
}

// KeyRing keeps each application's signing keys. RotateKey and RevokeKey
// log key.rotate and key.revoke themselves. SigningKey returns an error
// matching auth.ErrUnknownApp for an app that is not active and
// auth.ErrUnknownKey when no key is valid at now; RevokeKey returns
// store.ErrNotFound for a kid not in the ring.
type KeyRing interface {
	Keys(ctx context.Context, id uint32, now time.Time) ([]KeyInfo, error)
	RotateKey(ctx context.Context, id uint32, now time.Time) (auth.Key, error)
	RevokeKey(ctx context.Context, id uint32, kid string, now time.Time) error
	SigningKey(ctx context.Context, id uint32, now time.Time) (auth.Key, error)
}

// AppLog is the application log. AppendLog takes only the operations the
// admin API records itself (key.fetch, usersig.mint, room and log reads,
// room control); the store copies SDKAppID, name, tags and status from the
// application's row.
type AppLog interface {
	AppendLog(ctx context.Context, id uint32, op Operation, now time.Time) error
	Log(ctx context.Context, id uint32, limit int) ([]LogEntry, error)
}

// Lifecycle ends applications' lives. TerminateApp makes an app
// terminated (final), deletes its keys and schedules its purge, logging
// app.terminate; RequestDeletion purges it at once (logging
// app.delete-request, which the purge then deletes with the rest) and
// returns an error matching store.ErrBusy if the purge committed but the
// WAL checkpoint could not complete yet. PendingPurges lists the scheduled
// purges, earliest first; RetentionCap is the server-wide retention cap.
type Lifecycle interface {
	TerminateApp(ctx context.Context, id uint32, now time.Time) (App, error)
	RequestDeletion(ctx context.Context, id uint32, now time.Time) error
	PendingPurges(ctx context.Context) ([]Purge, error)
	RetentionCap() time.Duration
}

// Store is everything the admin API needs of the store; *store.Store
// implements it.
type Store interface {
	Apps
	KeyRing
	AppLog
	Lifecycle
}
