package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// Bounds of a webhook as the store keeps it; the admin API checks the
// URL's form and the key's alphabet (package webhook).
const (
	maxWebhookURL    = 2048
	minWebhookKeyLen = 16
	maxWebhookKeyLen = 64
)

// Webhook is an application's callback: where its room events are
// posted, and the key that signs them. The key is a secret: the admin API
// shows only its fingerprint.
type Webhook struct {
	URL string
	Key []byte
}

// check bounds w; an empty URL (removal) needs no key.
func (w Webhook) check() error {
	if w.URL == "" {
		return nil
	}
	if len(w.URL) > maxWebhookURL {
		return fmt.Errorf("%w: webhook URL longer than %d bytes", ErrInvalid, maxWebhookURL)
	}
	if len(w.Key) < minWebhookKeyLen || len(w.Key) > maxWebhookKeyLen {
		return fmt.Errorf("%w: webhook key must be %d..%d bytes", ErrInvalid, minWebhookKeyLen, maxWebhookKeyLen)
	}
	return nil
}

// setWebhook stores (or, for an empty URL, deletes) application id's
// webhook inside tx.
func setWebhook(ctx context.Context, tx *sql.Tx, id uint32, w Webhook) error {
	if w.URL == "" {
		_, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE sdk_app_id = ?`, id)
		return err
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO webhooks (sdk_app_id, url, callback_key) VALUES (?, ?, ?)
		 ON CONFLICT (sdk_app_id) DO UPDATE SET url = excluded.url, callback_key = excluded.callback_key`,
		id, w.URL, w.Key)
	return err
}

// Webhook returns application id's webhook, or ErrNotFound if it has
// none (or there is no such app). A terminated app has none.
func (s *Store) Webhook(ctx context.Context, id uint32) (Webhook, error) {
	var w Webhook
	err := s.db.QueryRowContext(ctx, `SELECT url, callback_key FROM webhooks WHERE sdk_app_id = ?`, id).Scan(&w.URL, &w.Key)
	if errors.Is(err, sql.ErrNoRows) {
		return Webhook{}, fmt.Errorf("store: webhook of app %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Webhook{}, fmt.Errorf("store: webhook of app %d: %w", id, err)
	}
	w.Key = slices.Clip(w.Key)
	return w, nil
}
