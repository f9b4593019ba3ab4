package store

import (
	"context"
	"path/filepath"
	"testing"
)

// ProbeWrite commits its row, and fails wherever a write would: on a
// store opened read-only (which answers reads, so a ping would pass) and
// on a closed one.
func TestProbeWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DBFile)
	rw, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int64{testNow.Unix(), testNow.Unix() + 2} {
		if err := rw.ProbeWrite(ctx, at); err != nil {
			t.Fatal(err)
		}
		var got int64
		var rows int
		if err := rw.db.QueryRowContext(ctx, `SELECT written_at, (SELECT count(*) FROM probe) FROM probe`).Scan(&got, &rows); err != nil || got != at || rows != 1 {
			t.Fatalf("probe row %d (%d rows, %v), want %d in one row", got, rows, err, at)
		}
	}

	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Apps(ctx); err != nil {
		t.Fatalf("the read-only store does not even read: %v", err)
	}
	if err := ro.ProbeWrite(ctx, testNow.Unix()); err == nil {
		t.Error("ProbeWrite succeeded on a read-only store")
	}
	_ = ro.Close()

	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rw.ProbeWrite(ctx, testNow.Unix()); err == nil {
		t.Error("ProbeWrite succeeded on a closed store")
	}
}
