package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Withdrawals. When an operator removes a user from a room, the tokens the
// user joined with are refused until they expire, also after a restart of
// the server. The store keeps, for each, a row of exactly three fields:
// the SDKAppID, the token's keyed hash (TokenHash) and the token's expiry.
// Never the token, never the user id: the hash is an HMAC-SHA256 keyed
// with 32 random bytes made for this store, so that it tells nothing of
// a token to whoever does not hold it already. A row goes when its token
// expires (PurgeWithdrawals), when its app is terminated (TerminateApp:
// with its keys gone no token of it is accepted anyway), and with the
// app's purge.

// MaxWithdrawal bounds how far after now a withdrawal may expire: no token
// lives longer than MaxMaxTokenTTL; the margin covers clock leeway.
const MaxWithdrawal = MaxMaxTokenTTL + 5*time.Minute

// withdrawalKeyLen is the length of the key of TokenHash, in bytes.
const withdrawalKeyLen = 32

// loadWithdrawalKey reads the key of TokenHash, making it first if create
// is set and the store has none (its first read-write open).
func (s *Store) loadWithdrawalKey(ctx context.Context, create bool) error {
	if create {
		key := make([]byte, withdrawalKeyLen)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("store: withdrawal key: %w", err)
		}
		_, err := s.db.ExecContext(ctx,
			`INSERT INTO store_secret (id, withdrawal_key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`, key)
		clear(key)
		if err != nil {
			return fmt.Errorf("store: withdrawal key: %w", err)
		}
	}
	err := s.db.QueryRowContext(ctx, `SELECT withdrawal_key FROM store_secret WHERE id = 1`).Scan(&s.withdrawalKey)
	if errors.Is(err, sql.ErrNoRows) && !create {
		return nil // a read-only store of a database no server has opened since v4: nothing is withdrawn in it
	}
	if err != nil {
		return fmt.Errorf("store: withdrawal key: %w", err)
	}
	if len(s.withdrawalKey) != withdrawalKeyLen {
		return fmt.Errorf("store: withdrawal key of %d bytes", len(s.withdrawalKey))
	}
	return nil
}

// TokenHash is the keyed hash under which a token is withdrawn:
// HMAC-SHA256 of the token, keyed with this store's withdrawal key. It is
// all the store ever keeps of a token.
func (s *Store) TokenHash(token string) [32]byte {
	m := hmac.New(sha256.New, s.withdrawalKey)
	m.Write([]byte(token))
	var h [32]byte
	m.Sum(h[:0])
	return h
}

// WithdrawToken records that the token whose TokenHash is h, of
// application app, is refused until expires (kept to the second, rounded
// up). Withdrawing it again can only make that later; an expiry not after
// now records nothing. It returns ErrNotFound for no such app, ErrStatus
// for a terminated one, and ErrInvalid for an expiry more than
// MaxWithdrawal after now.
func (s *Store) WithdrawToken(ctx context.Context, app uint32, h [32]byte, expires, now time.Time) error {
	exp := expires.Unix()
	if expires.Nanosecond() != 0 {
		exp++
	}
	switch {
	case exp <= now.Unix():
		return nil
	case expires.After(now.Add(MaxWithdrawal)):
		return fmt.Errorf("store: withdraw token: %w: expiry more than %v away", ErrInvalid, MaxWithdrawal)
	}
	_, err := s.inAppTx(ctx, app, func(tx *sql.Tx, _ *App) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO withdrawals (sdk_app_id, token_hash, expires_at) VALUES (?, ?, ?)
			 ON CONFLICT (sdk_app_id, token_hash) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
			app, h[:], exp)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: withdraw token of app %d: %w", app, err)
	}
	return nil
}

// TokenWithdrawn reports whether the token whose TokenHash is h is
// withdrawn for application app at now.
func (s *Store) TokenWithdrawn(ctx context.Context, app uint32, h [32]byte, now time.Time) (bool, error) {
	var withdrawn bool
	err := s.db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM withdrawals WHERE sdk_app_id = ? AND token_hash = ? AND expires_at > ?)`,
		app, h[:], now.Unix()).Scan(&withdrawn)
	if err != nil {
		return false, fmt.Errorf("store: token withdrawn: %w", err)
	}
	return withdrawn, nil
}

// PurgeWithdrawals deletes every withdrawal whose token has expired at now
// and returns how many it deleted. lethe serve runs it with MaintainKeys.
func (s *Store) PurgeWithdrawals(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM withdrawals WHERE expires_at <= ?`, now.Unix())
	if err != nil {
		return 0, fmt.Errorf("store: purge withdrawals: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: purge withdrawals: %w", err)
	}
	return int(n), nil
}
