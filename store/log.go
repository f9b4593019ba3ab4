package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Operation names what was done to or for an application, in its log.
// Only the constants below are accepted.
type Operation string

// Operations the store logs itself, inside the transaction that does them.
// AppendLog refuses them, so that no caller can record one that did not
// happen.
const (
	OpAppCreate  Operation = "app.create"
	OpAppUpdate  Operation = "app.update"  // name, tags or policy
	OpAppSuspend Operation = "app.suspend" // active → suspended
	OpAppResume  Operation = "app.resume"  // suspended → active
	OpKeyRotate  Operation = "key.rotate"  // manual rotation
	OpKeyRevoke  Operation = "key.revoke"  // manual revocation (row deleted)
	OpKeyImport  Operation = "key.import"  // AddKey: a key made elsewhere
	OpKeyCreate  Operation = "key.create"  // automatic, by MaintainKeys
	OpKeyDestroy Operation = "key.destroy" // automatic, by MaintainKeys
	// OpAppTerminate: active or suspended → terminated; keys deleted, purge
	// scheduled. Logged again only if a later call brings the purge earlier.
	OpAppTerminate Operation = "app.terminate"
	// OpAppDeleteRequest: deletion on request; the purge follows at once and
	// takes this entry with it. There is no "app.purge" entry: a purge
	// deletes the log it would go in.
	OpAppDeleteRequest Operation = "app.delete-request"
)

// Operations a caller (the admin API) logs with AppendLog.
const (
	OpAppGet      Operation = "app.get"
	OpKeyList     Operation = "key.list"
	OpKeyFetch    Operation = "key.fetch" // the signing key handed to an app backend
	OpUserSigMint Operation = "usersig.mint"
	OpRoomList    Operation = "room.list" // rooms and participants
	OpRoomDismiss Operation = "room.dismiss"
	OpUserRemove  Operation = "user.remove"
	OpUserBlock   Operation = "user.block"   // audio and/or video
	OpUserUnblock Operation = "user.unblock" // audio and/or video
	OpLogRead     Operation = "log.read"
)

// Valid reports whether op is one of the constants.
func (op Operation) Valid() bool {
	known, _ := op.kind()
	return known
}

// Logged reports whether the store records op itself (AppendLog refuses it).
func (op Operation) Logged() bool {
	_, byStore := op.kind()
	return byStore
}

func (op Operation) kind() (known, byStore bool) {
	switch op {
	case OpAppCreate, OpAppUpdate, OpAppSuspend, OpAppResume,
		OpKeyRotate, OpKeyRevoke, OpKeyImport, OpKeyCreate, OpKeyDestroy,
		OpAppTerminate, OpAppDeleteRequest:
		return true, true
	case OpAppGet, OpKeyList, OpKeyFetch, OpUserSigMint, OpRoomList,
		OpRoomDismiss, OpUserRemove, OpUserBlock, OpUserUnblock, OpLogRead:
		return true, false
	}
	return false, false
}

// LogEntry is one line of an application's log: exactly the six permitted
// fields (SDK APPID, application name, tags, service status, creation time
// of the entry, operation) and its sequence number. The name, tags and
// status are those of the application when the entry was made.
type LogEntry struct {
	ID        int64
	SDKAppID  uint32
	AppName   string
	Tags      []string
	Status    Status
	CreatedAt time.Time
	Operation Operation
}

// Log limits.
const (
	DefaultLogLimit = 100
	MaxLogLimit     = 1000
)

// AppendLog records that op was done for application app at now. The name,
// tags and status are copied from the application's row, so nothing else
// can enter the log. It returns ErrInvalid for an unknown operation or one
// the store logs itself (see Operation.Logged), and ErrNotFound if there is
// no such application.
func (s *Store) AppendLog(ctx context.Context, app uint32, op Operation, now time.Time) error {
	if !op.Valid() || op.Logged() {
		return fmt.Errorf("store: append log: %w: operation not accepted here", ErrInvalid)
	}
	return appendLog(ctx, s.db, app, op, now)
}

// appendLog inserts the entry; callers in a transaction pass it.
func appendLog(ctx context.Context, q querier, app uint32, op Operation, now time.Time) error {
	if !op.Valid() {
		return fmt.Errorf("store: append log: %w: unknown operation", ErrInvalid)
	}
	res, err := q.ExecContext(ctx,
		`INSERT INTO app_log (sdk_app_id, app_name, tags, status, created_at, operation)
		 SELECT sdk_app_id, name, tags, status, ?, ? FROM apps WHERE sdk_app_id = ?`,
		now.Unix(), string(op), app)
	if err != nil {
		return fmt.Errorf("store: append log: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: append log: %w", err)
	} else if n != 1 {
		return fmt.Errorf("store: append log: app %d: %w", app, ErrNotFound)
	}
	return nil
}

// Log returns the newest limit entries of application app's log, newest
// first. A limit of 0 or less means DefaultLogLimit; more than MaxLogLimit
// is MaxLogLimit. It returns ErrNotFound if there is no such application.
func (s *Store) Log(ctx context.Context, app uint32, limit int) ([]LogEntry, error) {
	if limit <= 0 {
		limit = DefaultLogLimit
	}
	limit = min(limit, MaxLogLimit)
	if err := s.db.QueryRowContext(ctx, `SELECT 1 FROM apps WHERE sdk_app_id = ?`, app).Scan(new(int)); err != nil {
		return nil, notFound("store: log", app, err)
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, sdk_app_id, app_name, tags, status, created_at, operation FROM app_log
		  WHERE sdk_app_id = ? ORDER BY id DESC LIMIT ?`, app, limit)
	if err != nil {
		return nil, fmt.Errorf("store: log: %w", err)
	}
	defer func() { _ = rows.Close() }()
	entries := []LogEntry{}
	for rows.Next() {
		var (
			e       LogEntry
			tags    string
			created int64
		)
		if err := rows.Scan(&e.ID, &e.SDKAppID, &e.AppName, &tags, &e.Status, &created, &e.Operation); err != nil {
			return nil, fmt.Errorf("store: log: %w", err)
		}
		if err := json.Unmarshal([]byte(tags), &e.Tags); err != nil {
			return nil, fmt.Errorf("store: log: tags of entry %d: %w", e.ID, err)
		}
		if e.Tags == nil {
			e.Tags = []string{}
		}
		e.CreatedAt = time.Unix(created, 0).UTC()
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: log: %w", err)
	}
	return entries, nil
}
