package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lethe-rtc/lethe/auth"
)

var _ auth.KeyLookup = (*Store)(nil)

// Key ring rules, for every application:
//
//   - a key's signing window is NotBefore ≤ t < NotAfter; the signing key at
//     t is the newest (latest NotBefore, then latest made) key whose window
//     holds t;
//   - a key stays in the ring, verifying the tokens signed in its window,
//     until NotAfter + the app's MaxTokenTTL + keyLeeway; then MaintainKeys
//     destroys it (deletes its row; secure_delete overwrites it);
//   - MaintainKeys makes the next key, valid from now for the app's
//     KeyLifetime, as soon as no key would still be signing one renewal
//     margin (min(1h, KeyLifetime/4)) from now, so the next key always
//     exists before the current one stops signing;
//   - RotateKey ends every window at now and makes a new key; RevokeKey
//     deletes the key at once.
//
// Times are kept to the second.

// KeyState is what a key does at a given time.
type KeyState string

// Key states, as Keys reports them.
const (
	KeySigning   KeyState = "signing"   // the key SigningKey returns
	KeyVerifying KeyState = "verifying" // verifies tokens, no longer the one to sign with
	KeyPending   KeyState = "pending"   // its window has not begun
	KeyExpired   KeyState = "expired"   // no token of it can be valid; MaintainKeys will destroy it
)

// KeyInfo is a key's metadata; it never holds the secret.
type KeyInfo struct {
	ID        string
	NotBefore time.Time // signing window
	NotAfter  time.Time
	CreatedAt time.Time
	// VerifyUntil is NotAfter + the app's MaxTokenTTL: no token signed with
	// the key is valid later, and the key is destroyed soon after.
	VerifyUntil time.Time
	State       KeyState
}

// KeyReport counts what MaintainKeys did.
type KeyReport struct {
	Created   int // new signing keys
	Destroyed int // keys deleted because no token of theirs can still be valid
	Shortened int // signing windows cut to the app's current key lifetime
}

// AddKey adds k, a key made elsewhere, to the ring of application app and
// logs OpKeyImport, in one transaction. Its window must be 1 s .. the app's
// KeyLifetime long. It returns ErrNotFound if there is no such app,
// ErrStatus if it is terminated, ErrExists if the kid is taken and
// ErrInvalid for a bad kid, secret or window.
func (s *Store) AddKey(ctx context.Context, app uint32, k auth.Key, now time.Time) error {
	if !auth.ValidKeyID(k.ID) || len(k.Secret) < auth.MinSecretLen {
		return fmt.Errorf("store: add key: %w: key id or secret", ErrInvalid)
	}
	nb, na := k.NotBefore.Unix(), k.NotAfter.Unix()
	_, err := s.inAppTx(ctx, app, func(tx *sql.Tx, a *App) error {
		if k.NotBefore.IsZero() || na <= nb || na-nb > seconds(a.Policy.KeyLifetime) {
			return fmt.Errorf("%w: key window must be 1s..the app's key lifetime", ErrInvalid)
		}
		if err := insertKey(ctx, tx, app, k.ID, k.Secret, nb, na, now.Unix()); err != nil {
			return err
		}
		return appendLog(ctx, tx, app, OpKeyImport, now)
	})
	if err != nil {
		return fmt.Errorf("store: add key: %w", err)
	}
	return nil
}

func insertKey(ctx context.Context, q querier, app uint32, kid string, secret []byte, nb, na, created int64) error {
	res, err := q.ExecContext(ctx,
		`INSERT INTO keys (sdk_app_id, kid, secret, not_before, not_after, created_at) VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (sdk_app_id, kid) DO NOTHING`,
		app, kid, secret, nb, na, created)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrExists
	}
	return nil
}

// insertNewKey makes a key signing from now for lifetime and stores it.
func insertNewKey(ctx context.Context, q querier, app uint32, lifetime time.Duration, now time.Time) (auth.Key, error) {
	k, err := auth.NewKey(now, lifetime)
	if err != nil {
		return auth.Key{}, err
	}
	nb := now.Unix()
	na := nb + seconds(lifetime)
	k.NotBefore, k.NotAfter = unixTime(nb), unixTime(na)
	if err := insertKey(ctx, q, app, k.ID, k.Secret, nb, na, nb); err != nil {
		return auth.Key{}, err
	}
	return k, nil
}

// signingAt is the SQL condition "the key's window holds ?".
const signingAt = `not_before <= ? AND ? < not_after`

// ensureSigningKey makes a new key for app unless one is signing at now
// and one still will be a renewal margin later.
func ensureSigningKey(ctx context.Context, q querier, app uint32, lifetime time.Duration, now time.Time) (bool, error) {
	t, later := now.Unix(), now.Add(renewMargin(lifetime)).Unix()
	var covered bool
	err := q.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM keys WHERE sdk_app_id = ? AND `+signingAt+`)
		    AND EXISTS (SELECT 1 FROM keys WHERE sdk_app_id = ? AND `+signingAt+`)`,
		app, t, t, app, later, later).Scan(&covered)
	if err != nil || covered {
		return false, err
	}
	if _, err := insertNewKey(ctx, q, app, lifetime, now); err != nil {
		return false, err
	}
	return true, nil
}

// signingKeyID is the kid of app's signing key at now; ok is false if none.
func signingKeyID(ctx context.Context, q querier, app uint32, now time.Time) (kid string, ok bool, err error) {
	t := now.Unix()
	err = q.QueryRowContext(ctx,
		`SELECT kid FROM keys WHERE sdk_app_id = ? AND `+signingAt+`
		  ORDER BY not_before DESC, rowid DESC LIMIT 1`, app, t, t).Scan(&kid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return kid, true, nil
}

// shortenKeys cuts every signing window of app (of every app if app is 0)
// that ends more than the app's key lifetime after now down to that, never
// before the window's start. Tokens already signed stay valid: the new end
// is after now.
func shortenKeys(ctx context.Context, q querier, app uint32, now time.Time) (int, error) {
	const lifetime = `(SELECT key_lifetime_s FROM apps WHERE apps.sdk_app_id = keys.sdk_app_id)`
	res, err := q.ExecContext(ctx,
		`UPDATE keys SET not_after = max(not_before, ? + `+lifetime+`)
		  WHERE (? = 0 OR sdk_app_id = ?) AND not_after > ? + `+lifetime,
		now.Unix(), app, app, now.Unix())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// SigningKey returns the signing key of application app at now: the newest
// key whose signing window holds now. It returns an error matching
// auth.ErrUnknownApp if there is no such active app and auth.ErrUnknownKey
// if no key is signing at now (MaintainKeys has not run in time).
func (s *Store) SigningKey(ctx context.Context, app uint32, now time.Time) (auth.Key, error) {
	var status Status
	err := s.db.QueryRowContext(ctx, `SELECT status FROM apps WHERE sdk_app_id = ?`, app).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return auth.Key{}, fmt.Errorf("store: signing key: %w", auth.ErrUnknownApp)
	case err != nil:
		return auth.Key{}, fmt.Errorf("store: signing key: %w", err)
	case status != StatusActive:
		return auth.Key{}, fmt.Errorf("store: signing key: app not active: %w", auth.ErrUnknownApp)
	}
	var (
		k      auth.Key
		nb, na int64
	)
	t := now.Unix()
	err = s.db.QueryRowContext(ctx,
		`SELECT kid, secret, not_before, not_after FROM keys
		  WHERE sdk_app_id = ? AND `+signingAt+`
		  ORDER BY not_before DESC, rowid DESC LIMIT 1`, app, t, t).Scan(&k.ID, &k.Secret, &nb, &na)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Key{}, fmt.Errorf("store: signing key: none valid now: %w", auth.ErrUnknownKey)
	}
	if err != nil {
		return auth.Key{}, fmt.Errorf("store: signing key: %w", err)
	}
	k.NotBefore, k.NotAfter = unixTime(nb), unixTime(na)
	return k, nil
}

// Ring returns the key ring of application app for verification: every key
// in its ring (newest first) and the app's token policy. It returns an
// error matching auth.ErrUnknownApp if there is no such app or it is not
// active. Revoked keys are deleted, so none is ever in a Ring.
func (s *Store) Ring(ctx context.Context, app uint32) (auth.Ring, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT a.status, a.max_token_ttl_s, a.require_private_map_key, k.kid, k.secret, k.not_before, k.not_after
		   FROM apps a LEFT JOIN keys k ON k.sdk_app_id = a.sdk_app_id
		  WHERE a.sdk_app_id = ?
		  ORDER BY k.not_before DESC, k.rowid DESC`, app)
	if err != nil {
		return auth.Ring{}, fmt.Errorf("store: ring: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var (
		ring  auth.Ring
		found bool
	)
	for rows.Next() {
		var (
			status Status
			ttl    int64
			kid    sql.NullString
			secret []byte
			nb, na sql.NullInt64
		)
		if err := rows.Scan(&status, &ttl, &ring.RequirePrivateMapKey, &kid, &secret, &nb, &na); err != nil {
			return auth.Ring{}, fmt.Errorf("store: ring: %w", err)
		}
		if status != StatusActive {
			return auth.Ring{}, fmt.Errorf("store: ring: app not active: %w", auth.ErrUnknownApp)
		}
		found = true
		ring.MaxTokenTTL = time.Duration(ttl) * time.Second
		if kid.Valid {
			ring.Keys = append(ring.Keys, auth.Key{
				ID: kid.String, Secret: secret, NotBefore: unixTime(nb.Int64), NotAfter: unixTime(na.Int64),
			})
		}
	}
	if err := rows.Err(); err != nil {
		return auth.Ring{}, fmt.Errorf("store: ring: %w", err)
	}
	if !found {
		return auth.Ring{}, fmt.Errorf("store: ring: %w", auth.ErrUnknownApp)
	}
	return ring, nil
}

// Keys returns the metadata of every key of application app, newest first,
// with its state at now. It never returns a secret. No such app is
// ErrNotFound.
func (s *Store) Keys(ctx context.Context, app uint32, now time.Time) ([]KeyInfo, error) {
	a, err := appByID(ctx, s.db, app)
	if err != nil {
		return nil, fmt.Errorf("store: keys: %w", err)
	}
	signing, _, err := signingKeyID(ctx, s.db, app, now)
	if err != nil {
		return nil, fmt.Errorf("store: keys: %w", err)
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT kid, not_before, not_after, created_at FROM keys WHERE sdk_app_id = ?
		  ORDER BY not_before DESC, rowid DESC`, app)
	if err != nil {
		return nil, fmt.Errorf("store: keys: %w", err)
	}
	defer func() { _ = rows.Close() }()
	infos := []KeyInfo{}
	for rows.Next() {
		var (
			ki              KeyInfo
			nb, na, created int64
		)
		if err := rows.Scan(&ki.ID, &nb, &na, &created); err != nil {
			return nil, fmt.Errorf("store: keys: %w", err)
		}
		ki.NotBefore, ki.NotAfter, ki.CreatedAt = unixTime(nb), unixTime(na), unixTime(created)
		ki.VerifyUntil = ki.NotAfter.Add(a.Policy.MaxTokenTTL)
		switch t := now.Unix(); {
		case a.Status == StatusActive && signing != "" && ki.ID == signing:
			ki.State = KeySigning
		case t < nb:
			ki.State = KeyPending
		case t > ki.VerifyUntil.Unix():
			ki.State = KeyExpired
		default:
			ki.State = KeyVerifying
		}
		infos = append(infos, ki)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: keys: %w", err)
	}
	return infos, nil
}

// RotateKey ends the signing window of every key of application app at now
// (they keep verifying their tokens until those expire, and are destroyed
// after), makes a new signing key valid from now for the app's
// KeyLifetime, logs OpKeyRotate, all in one transaction, and returns the
// new key. No such app is ErrNotFound; a terminated one is ErrStatus.
func (s *Store) RotateKey(ctx context.Context, app uint32, now time.Time) (auth.Key, error) {
	var k auth.Key
	_, err := s.inAppTx(ctx, app, func(tx *sql.Tx, a *App) error {
		t := now.Unix()
		if _, err := tx.ExecContext(ctx,
			`UPDATE keys SET not_after = max(not_before, ?) WHERE sdk_app_id = ? AND not_after > ?`, t, app, t); err != nil {
			return err
		}
		var err error
		if k, err = insertNewKey(ctx, tx, app, a.Policy.KeyLifetime, now); err != nil {
			return err
		}
		return appendLog(ctx, tx, app, OpKeyRotate, now)
	})
	if err != nil {
		return auth.Key{}, fmt.Errorf("store: rotate key of app %d: %w", app, err)
	}
	return k, nil
}

// RevokeKey deletes key kid of application app at once (secure_delete
// overwrites it; Checkpoint purges the WAL), so tokens signed with it are
// refused from now on, and logs OpKeyRevoke. If the app is active and the
// key was its signing key, or no key is left signing, a new signing key is
// made in the same transaction. No such app or key is ErrNotFound (the kid
// never appears in the error).
func (s *Store) RevokeKey(ctx context.Context, app uint32, kid string, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := appByID(ctx, tx, app)
		if err != nil {
			return err
		}
		if !auth.ValidKeyID(kid) {
			return fmt.Errorf("key: %w", ErrNotFound)
		}
		signing, _, err := signingKeyID(ctx, tx, app, now)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE sdk_app_id = ? AND kid = ?`, app, kid)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("key: %w", ErrNotFound)
		}
		if a.Status == StatusActive {
			if kid == signing {
				if _, err := insertNewKey(ctx, tx, app, a.Policy.KeyLifetime, now); err != nil {
					return err
				}
			} else if _, err := ensureSigningKey(ctx, tx, app, a.Policy.KeyLifetime, now); err != nil {
				return err
			}
		}
		return appendLog(ctx, tx, app, OpKeyRevoke, now)
	})
	if err != nil {
		return fmt.Errorf("store: revoke key of app %d: %w", app, err)
	}
	return nil
}

// MaintainKeys keeps every key ring in shape at now, in one transaction:
// it shortens signing windows longer than the app's key lifetime (keys
// from a v1 database, or after the lifetime was lowered), destroys every
// key with now > NotAfter + MaxTokenTTL + a minute of leeway, and gives
// every active app a new key when none would still be signing a renewal
// margin from now. Each key made or destroyed is logged (OpKeyCreate,
// OpKeyDestroy). Running it twice at the same now does nothing the second
// time. Call it at start-up (Bootstrap does) and at least every
// MaintainEvery; call Checkpoint after it destroyed keys to purge the WAL.
func (s *Store) MaintainKeys(ctx context.Context, now time.Time) (KeyReport, error) {
	var r KeyReport
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r = KeyReport{}
		var err error
		if r.Shortened, err = shortenKeys(ctx, tx, 0, now); err != nil {
			return err
		}
		type appKey struct {
			app uint32
			kid string
		}
		doomed, err := queryAll(ctx, tx, func(r scanner) (ak appKey, err error) {
			return ak, r.Scan(&ak.app, &ak.kid)
		}, `SELECT k.sdk_app_id, k.kid FROM keys k JOIN apps a ON a.sdk_app_id = k.sdk_app_id
			  WHERE k.not_after + a.max_token_ttl_s + ? < ?`, seconds(keyLeeway), now.Unix())
		if err != nil {
			return err
		}
		for _, ak := range doomed {
			if _, err := tx.ExecContext(ctx, `DELETE FROM keys WHERE sdk_app_id = ? AND kid = ?`, ak.app, ak.kid); err != nil {
				return err
			}
			if err := appendLog(ctx, tx, ak.app, OpKeyDestroy, now); err != nil {
				return err
			}
			r.Destroyed++
		}

		type appLife struct {
			app  uint32
			life int64
		}
		active, err := queryAll(ctx, tx, func(r scanner) (al appLife, err error) {
			return al, r.Scan(&al.app, &al.life)
		}, `SELECT sdk_app_id, key_lifetime_s FROM apps WHERE status = ?`, string(StatusActive))
		if err != nil {
			return err
		}
		for _, al := range active {
			created, err := ensureSigningKey(ctx, tx, al.app, time.Duration(al.life)*time.Second, now)
			if err != nil {
				return err
			}
			if created {
				if err := appendLog(ctx, tx, al.app, OpKeyCreate, now); err != nil {
					return err
				}
				r.Created++
			}
		}
		return nil
	})
	if err != nil {
		return KeyReport{}, fmt.Errorf("store: maintain keys: %w", err)
	}
	return r, nil
}
