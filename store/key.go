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

// unixOrZero stores a zero time as 0 ("unset"), anything else as unix seconds.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func timeOrZero(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// AddKey adds k to the key ring of application sdkAppID. It returns
// ErrNotFound if there is no such app and ErrExists if the kid is taken.
// Times are kept to the second.
func (s *Store) AddKey(ctx context.Context, sdkAppID uint32, k auth.Key) error {
	return addKey(ctx, s.db, sdkAppID, k)
}

func addKey(ctx context.Context, q querier, sdkAppID uint32, k auth.Key) error {
	if k.ID == "" || len(k.ID) > auth.MaxKeyIDLen || len(k.Secret) < auth.MinSecretLen {
		return fmt.Errorf("store: add key: %w: key id or secret", ErrInvalid)
	}
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM apps WHERE sdk_app_id = ?`, sdkAppID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: add key: app %d: %w", sdkAppID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: add key: %w", err)
	}
	res, err := q.ExecContext(ctx,
		`INSERT INTO keys (sdk_app_id, kid, secret, not_before, not_after) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (sdk_app_id, kid) DO NOTHING`,
		sdkAppID, k.ID, k.Secret, unixOrZero(k.NotBefore), unixOrZero(k.NotAfter))
	if err != nil {
		return fmt.Errorf("store: add key: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: add key: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: add key: %w", ErrExists)
	}
	return nil
}

// Key returns the key kid of application sdkAppID, whatever its validity
// window (the verifier checks that). It returns an error matching
// auth.ErrUnknownApp if there is no such active app and auth.ErrUnknownKey
// if the app has no such key. The kid never appears in the error.
func (s *Store) Key(ctx context.Context, sdkAppID uint32, kid string) (auth.Key, error) {
	var (
		status              string
		secret              []byte
		notBefore, notAfter sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx,
		`SELECT a.status, k.secret, k.not_before, k.not_after
		   FROM apps a LEFT JOIN keys k ON k.sdk_app_id = a.sdk_app_id AND k.kid = ?
		  WHERE a.sdk_app_id = ?`, kid, sdkAppID).Scan(&status, &secret, &notBefore, &notAfter)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return auth.Key{}, fmt.Errorf("store: key: %w", auth.ErrUnknownApp)
	case err != nil:
		return auth.Key{}, fmt.Errorf("store: key: %w", err)
	case status != StatusActive:
		return auth.Key{}, fmt.Errorf("store: key: app not active: %w", auth.ErrUnknownApp)
	case secret == nil:
		return auth.Key{}, fmt.Errorf("store: key: %w", auth.ErrUnknownKey)
	}
	return auth.Key{ID: kid, Secret: secret, NotBefore: timeOrZero(notBefore.Int64), NotAfter: timeOrZero(notAfter.Int64)}, nil
}

// SigningKey returns the newest key (latest NotBefore) of application
// sdkAppID that is valid at now. It returns an error matching
// auth.ErrUnknownApp if there is no such active app and auth.ErrUnknownKey
// if no key is valid at now.
func (s *Store) SigningKey(ctx context.Context, sdkAppID uint32, now time.Time) (auth.Key, error) {
	var status string
	err := s.db.QueryRowContext(ctx, `SELECT status FROM apps WHERE sdk_app_id = ?`, sdkAppID).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return auth.Key{}, fmt.Errorf("store: signing key: %w", auth.ErrUnknownApp)
	case err != nil:
		return auth.Key{}, fmt.Errorf("store: signing key: %w", err)
	case status != StatusActive:
		return auth.Key{}, fmt.Errorf("store: signing key: app not active: %w", auth.ErrUnknownApp)
	}
	var (
		k                   auth.Key
		notBefore, notAfter int64
	)
	t := now.Unix()
	err = s.db.QueryRowContext(ctx,
		`SELECT kid, secret, not_before, not_after FROM keys
		  WHERE sdk_app_id = ? AND not_before <= ? AND (not_after = 0 OR not_after > ?)
		  ORDER BY not_before DESC, kid DESC LIMIT 1`, sdkAppID, t, t).Scan(&k.ID, &k.Secret, &notBefore, &notAfter)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Key{}, fmt.Errorf("store: signing key: none valid now: %w", auth.ErrUnknownKey)
	}
	if err != nil {
		return auth.Key{}, fmt.Errorf("store: signing key: %w", err)
	}
	k.NotBefore, k.NotAfter = timeOrZero(notBefore), timeOrZero(notAfter)
	return k, nil
}
