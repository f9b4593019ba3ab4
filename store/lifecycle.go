package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Purge is a pending purge: the application whose data goes, and the time
// by which it must be gone. The purges table holds these two fields and
// nothing else.
type Purge struct {
	SDKAppID uint32
	DueAt    time.Time
}

// Points at which the test hook is called (see Store.hook).
const (
	hookTerminateBeforeCommit = "terminate/before-commit"
	hookDeletionScheduled     = "deletion/scheduled" // RequestDeletion: termination committed, purge not begun
	hookPurgeBeforeCommit     = "purge/before-commit"
	hookPurgeAfterCommit      = "purge/after-commit" // before the checkpoint
)

// TerminateApp ends the life of application id at now, in one transaction:
//   - its purge is scheduled at now + its retention (capped server-wide,
//     see WithRetention), or kept if one is already scheduled earlier: a
//     purge deadline never moves later;
//   - its status becomes terminated, which is final;
//   - its keys are deleted, so every token of it is refused from now on,
//     and so are its withdrawals (WithdrawToken), which no longer serve;
//   - OpAppTerminate is logged.
//
// Terminating a terminated application only ever brings its purge earlier
// (logging OpAppTerminate again if it did) and otherwise changes and logs
// nothing. After the commit the WAL is checkpointed (best effort; the
// sweeper checkpoints on every run) so that the deleted keys leave it too.
// It returns the application as it now is, with PurgeAt set. No such app is
// ErrNotFound.
func (s *Store) TerminateApp(ctx context.Context, id uint32, now time.Time) (App, error) {
	var app App
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := appByID(ctx, tx, id)
		if err != nil {
			return err
		}
		due := now.Unix() + seconds(min(a.Policy.Retention, s.retention))
		changed, err := s.terminate(ctx, tx, a, due)
		if err != nil {
			return err
		}
		if changed {
			if err := appendLog(ctx, tx, id, OpAppTerminate, now); err != nil {
				return err
			}
		}
		if app, err = appByID(ctx, tx, id); err != nil {
			return err
		}
		s.at(hookTerminateBeforeCommit)
		return nil
	})
	if err != nil {
		return App{}, fmt.Errorf("store: terminate app %d: %w", id, err)
	}
	_ = s.checkpointSoon(ctx)
	return app, nil
}

// terminate schedules a's purge at due unless one is due earlier, and
// terminates a (deleting its keys) unless it is already. It reports whether
// it changed anything.
func (s *Store) terminate(ctx context.Context, tx *sql.Tx, a App, due int64) (bool, error) {
	// The purge row comes first: the schema refuses a terminated app
	// without one, and a deadline that moves later.
	res, err := tx.ExecContext(ctx,
		`INSERT INTO purges (sdk_app_id, due_at) VALUES (?, ?)
		 ON CONFLICT (sdk_app_id) DO UPDATE SET due_at = excluded.due_at WHERE excluded.due_at < purges.due_at`,
		a.SDKAppID, due)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if a.Status == StatusTerminated {
		return n > 0, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE apps SET status = ? WHERE sdk_app_id = ?`, string(StatusTerminated), a.SDKAppID); err != nil {
		return false, err
	}
	for _, stmt := range []string{
		`DELETE FROM keys WHERE sdk_app_id = ?`,
		`DELETE FROM withdrawals WHERE sdk_app_id = ?`, // no token of it is accepted any more
		`DELETE FROM webhooks WHERE sdk_app_id = ?`,    // it has no more events to call back
	} {
		if _, err := tx.ExecContext(ctx, stmt, a.SDKAppID); err != nil {
			return false, err
		}
	}
	return true, nil
}

// RequestDeletion deletes application id on request: in one transaction it
// terminates the app if it is not already (its keys are deleted), makes
// its purge due at now and logs OpAppDeleteRequest; then it purges the app
// (the row, what keys are left and the whole log, that entry included) and
// checkpoints the WAL, so that nothing of the app is left in the database
// files when it returns nil. If the process dies in between, the pending
// purge, already due, is completed by the next sweep (at start-up). No such
// app is ErrNotFound. If readers kept the checkpoint from completing it
// returns an error matching ErrBusy: the purge is committed, and the next
// checkpoint (every sweep) clears the files.
func (s *Store) RequestDeletion(ctx context.Context, id uint32, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := appByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := s.terminate(ctx, tx, a, now.Unix()); err != nil {
			return err
		}
		return appendLog(ctx, tx, id, OpAppDeleteRequest, now)
	})
	if err != nil {
		return fmt.Errorf("store: deletion request for app %d: %w", id, err)
	}
	s.at(hookDeletionScheduled)
	// ErrNotFound: a concurrent sweep purged it first.
	if err := s.Purge(ctx, id, now); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := s.checkpointSoon(ctx); err != nil {
		return fmt.Errorf("store: deletion request for app %d: purged, but %w", id, err)
	}
	return nil
}

// Purge deletes application id — its row, its keys, its withdrawals, its
// webhook and its whole log — if its purge is due at now, in one transaction that
// also removes the pending purge: either all of it is gone or none. Rows
// are overwritten (secure_delete); call Checkpoint afterwards to clear the
// WAL. It returns ErrNotFound if no purge is pending for id and ErrNotDue
// if it is scheduled after now.
func (s *Store) Purge(ctx context.Context, id uint32, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var due int64
		err := tx.QueryRowContext(ctx, `SELECT due_at FROM purges WHERE sdk_app_id = ?`, id).Scan(&due)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no pending purge: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		if due > now.Unix() {
			return fmt.Errorf("%w: due at %s", ErrNotDue, unixTime(due).Format(time.RFC3339))
		}
		for _, stmt := range []string{
			`DELETE FROM app_log WHERE sdk_app_id = ?`,
			`DELETE FROM keys WHERE sdk_app_id = ?`,
			`DELETE FROM withdrawals WHERE sdk_app_id = ?`,
			`DELETE FROM webhooks WHERE sdk_app_id = ?`,
			`DELETE FROM apps WHERE sdk_app_id = ?`, // cascades to the purges row
		} {
			if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
				return err
			}
		}
		var left int
		if err := tx.QueryRowContext(ctx,
			`SELECT (SELECT count(*) FROM purges WHERE sdk_app_id = ?) + (SELECT count(*) FROM apps WHERE sdk_app_id = ?)`,
			id, id).Scan(&left); err != nil {
			return err
		}
		if left != 0 {
			return errors.New("rows left after the purge")
		}
		s.at(hookPurgeBeforeCommit)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: purge app %d: %w", id, err)
	}
	s.at(hookPurgeAfterCommit)
	return nil
}

// PendingPurges returns every scheduled purge, the earliest due first.
func (s *Store) PendingPurges(ctx context.Context) ([]Purge, error) {
	purges, err := queryAll(ctx, s.db, func(r scanner) (p Purge, err error) {
		var due int64
		err = r.Scan(&p.SDKAppID, &due)
		p.DueAt = unixTime(due)
		return p, err
	}, `SELECT sdk_app_id, due_at FROM purges ORDER BY due_at, sdk_app_id`)
	if err != nil {
		return nil, fmt.Errorf("store: pending purges: %w", err)
	}
	return purges, nil
}

// checkpointSoon checkpoints, retrying a few times while readers keep the
// checkpoint from completing.
func (s *Store) checkpointSoon(ctx context.Context) error {
	const (
		tries = 5
		pause = 20 * time.Millisecond
	)
	for i := 0; ; i++ {
		err := s.Checkpoint(ctx)
		if err == nil || i == tries-1 || !errors.Is(err, ErrBusy) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}
