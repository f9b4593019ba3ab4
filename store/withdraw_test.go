package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// A withdrawal holds until the token's expiry, on a real file, across a
// reopen of the store, for its app only; then it is swept.
func TestWithdrawToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DBFile)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateApp(ctx, "a", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateApp(ctx, "b", nil, Policy{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	const token = "eyJhbGciOiJIUzI1NiJ9.CANARY-TOKEN-5c1e.sig"
	h := s.TokenHash(token)
	if h == sha256.Sum256([]byte(token)) || h == s.TokenHash(token+"x") || h != s.TokenHash(token) {
		t.Fatal("TokenHash is not a keyed hash of the token")
	}
	exp := testNow.Add(time.Hour)
	if err := s.WithdrawToken(ctx, a.SDKAppID, h, exp, testNow); err != nil {
		t.Fatal(err)
	}
	withdrawn := func(s *Store, app uint32, at time.Time) bool {
		t.Helper()
		w, err := s.TokenWithdrawn(ctx, app, h, at)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	if !withdrawn(s, a.SDKAppID, testNow) || !withdrawn(s, a.SDKAppID, exp.Add(-time.Second)) {
		t.Fatal("not withdrawn before its expiry")
	}
	if withdrawn(s, a.SDKAppID, exp) || withdrawn(s, b.SDKAppID, testNow) {
		t.Fatal("withdrawn at its expiry, or in another app")
	}
	// Again, later: it lasts longer; earlier: it is not cut short.
	if err := s.WithdrawToken(ctx, a.SDKAppID, h, exp.Add(time.Hour), testNow); err != nil {
		t.Fatal(err)
	}
	if err := s.WithdrawToken(ctx, a.SDKAppID, h, exp, testNow); err != nil {
		t.Fatal(err)
	}
	if !withdrawn(s, a.SDKAppID, exp.Add(30*time.Minute)) {
		t.Fatal("a later withdrawal did not extend it, or an earlier one cut it short")
	}
	// A sub-second expiry is rounded up, never down.
	other := s.TokenHash("other")
	if err := s.WithdrawToken(ctx, a.SDKAppID, other, testNow.Add(1500*time.Millisecond), testNow); err != nil {
		t.Fatal(err)
	}
	if w, _ := s.TokenWithdrawn(ctx, a.SDKAppID, other, testNow.Add(time.Second)); !w {
		t.Fatal("an expiry of +1.5s ended at +1s")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart: the same key, the same hash, still withdrawn.
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if s.TokenHash(token) != h || !withdrawn(s, a.SDKAppID, testNow) {
		t.Fatal("the withdrawal did not survive a reopen")
	}
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if ro.TokenHash(token) != h || !withdrawn(ro, a.SDKAppID, testNow) {
		t.Fatal("a read-only store reads the withdrawal otherwise")
	}
	_ = ro.Close()

	// Swept when expired, not before.
	if n, err := s.PurgeWithdrawals(ctx, exp); err != nil || n != 1 { // the +1.5s one
		t.Fatalf("PurgeWithdrawals at +1h: %d, %v", n, err)
	}
	if n, err := s.PurgeWithdrawals(ctx, exp.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("PurgeWithdrawals at +2h: %d, %v", n, err)
	}
	if withdrawn(s, a.SDKAppID, testNow) {
		t.Fatal("withdrawn after its row was swept")
	}
	if n := withdrawalRows(t, s); n != 0 {
		t.Fatalf("%d rows left", n)
	}
}

func withdrawalRows(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM withdrawals`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWithdrawTokenRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, a := tempApp(t)
	h := s.TokenHash("t")
	for _, tc := range []struct {
		name string
		app  uint32
		exp  time.Time
		err  error
	}{
		{"no such app", 7, testNow.Add(time.Hour), ErrNotFound},
		{"beyond any token's life", a.SDKAppID, testNow.Add(MaxWithdrawal + time.Second), ErrInvalid},
	} {
		if err := s.WithdrawToken(ctx, tc.app, h, tc.exp, testNow); !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
		}
	}
	// Expired already: nothing to record.
	if err := s.WithdrawToken(ctx, a.SDKAppID, h, testNow, testNow); err != nil || withdrawalRows(t, s) != 0 {
		t.Fatalf("an expired token: %v, %d rows", err, withdrawalRows(t, s))
	}
	if err := s.WithdrawToken(ctx, a.SDKAppID, h, testNow.Add(MaxWithdrawal), testNow); err != nil {
		t.Fatal(err)
	}
	// Termination deletes the app's withdrawals with its keys; the schema
	// refuses new ones.
	if _, err := s.TerminateApp(ctx, a.SDKAppID, testNow); err != nil {
		t.Fatal(err)
	}
	if n := withdrawalRows(t, s); n != 0 {
		t.Fatalf("%d withdrawals left after termination", n)
	}
	if err := s.WithdrawToken(ctx, a.SDKAppID, h, testNow.Add(time.Hour), testNow); !errors.Is(err, ErrStatus) {
		t.Fatalf("withdrawal in a terminated app: %v, want ErrStatus", err)
	}
	if _, err := s.db.Exec(`INSERT INTO withdrawals VALUES (?, ?, ?)`, a.SDKAppID, h[:], testNow.Add(time.Hour).Unix()); err == nil {
		t.Fatal("the schema let a terminated app have a withdrawal")
	}
}

// The withdrawals table holds exactly the app, the keyed hash and the
// expiry, and the methods that reach it take no token and no user id:
// only TokenHash sees a token, and returns its hash.
func TestWithdrawalsHoldOnlyHashes(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	var cols []string
	rows, err := s.db.Query(`SELECT name FROM pragma_table_info('withdrawals') ORDER BY cid`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	_ = rows.Close()
	if want := []string{"sdk_app_id", "token_hash", "expires_at"}; !slices.Equal(cols, want) {
		t.Errorf("withdrawals columns %v, want %v", cols, want)
	}
	for name, want := range map[string][]string{
		"WithdrawToken":  {"context.Context", "uint32", "[32]uint8", "time.Time", "time.Time"},
		"TokenWithdrawn": {"context.Context", "uint32", "[32]uint8", "time.Time"},
	} {
		m, _ := reflect.TypeFor[*Store]().MethodByName(name)
		var params []string
		for i := 1; i < m.Type.NumIn(); i++ {
			params = append(params, m.Type.In(i).String())
		}
		if !slices.Equal(params, want) {
			t.Errorf("%s takes %v, want %v", name, params, want)
		}
	}
	// Two stores (two data dirs) hash one token differently.
	if s.TokenHash("t") == openTemp(t).TokenHash("t") {
		t.Error("two stores share a withdrawal key")
	}
	if bytes.Equal(s.withdrawalKey, make([]byte, withdrawalKeyLen)) {
		t.Error("the withdrawal key is zero")
	}
}
