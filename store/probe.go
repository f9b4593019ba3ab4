package store

import (
	"context"
	"fmt"
)

// ProbeWrite proves the store can still commit a write: it replaces the
// one row of the probe table (nothing but the time) with now's Unix time
// in a transaction of its own, so that a full disk, a read-only
// remount or a lost lock fails here as it would fail any other write.
// It is what lethe serve's /readyz asks of the store.
func (s *Store) ProbeWrite(ctx context.Context, unix int64) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO probe (id, written_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at`, unix)
	if err != nil {
		return fmt.Errorf("store: probe write: %w", err)
	}
	return nil
}
