package store

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestDataMap pins every table of the store and every column of each: the
// data map of docs/compliance.md. A table or a column added without a
// line there (and a retention rule) fails here first.
func TestDataMap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	want := map[string]string{
		"apps": "sdk_app_id name tags status created_at key_lifetime_s max_token_ttl_s require_private_map_key " +
			"max_anchors max_participants retention_s require_consent",
		"keys":         "sdk_app_id kid secret not_before not_after created_at",
		"app_log":      "id sdk_app_id app_name tags status created_at operation",
		"purges":       "sdk_app_id due_at",
		"withdrawals":  "sdk_app_id token_hash expires_at",
		"store_secret": "id withdrawal_key",
		"probe":        "id written_at",
		"webhooks":     "sdk_app_id url callback_key",
	}
	tables, err := queryAll(ctx, s.db, func(r scanner) (name string, err error) { return name, r.Scan(&name) },
		`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	if w := slices.Sorted(maps.Keys(want)); !slices.Equal(tables, w) {
		t.Fatalf("tables %v, want %v", tables, w)
	}
	for _, table := range tables {
		cols, err := queryAll(ctx, s.db, func(r scanner) (name string, err error) { return name, r.Scan(&name) },
			`SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(cols, " "); got != want[table] {
			t.Errorf("table %s has columns %q, want %q", table, got, want[table])
		}
	}
}
