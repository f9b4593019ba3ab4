package control

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/signaling"
	"github.com/lethe-rtc/lethe/store"
)

// TestRemoveUserSurvivesRestart: a removed user's token is refused (2007)
// by a server started afresh on the same store, as lethe serve restarted
// on its data dir would be; a fresh token still admits the user; and the
// store holds no token and no user id.
func TestRemoveUserSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), store.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	app, err := st.CreateApp(ctx, "app", nil, store.Policy{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	inApp := func(d map[string]any) { d["sdkAppId"] = app.SDKAppID }
	withStore := func(c *ServerConfig) { c.Withdrawals = st }
	tok := "good-alice-" + secret

	first := newHarness(t, withStore)
	ws, op := first.admitted(t, "alice", inApp)
	if err := first.srv.RemoveUser(ctx, app.SDKAppID, 123, "", "alice"); err != nil {
		t.Fatalf("RemoveUser: %v", err)
	}
	if c := nextControl(t, op); c.Action != signaling.ControlRemove {
		t.Fatalf("alice got %+v", c)
	}
	op.sink.Closed(signaling.Closed{Code: signaling.CodeRemoved})
	expectClosed(t, ws)
	if withdrawn, err := st.TokenWithdrawn(ctx, app.SDKAppID, st.TokenHash(tok), time.Now()); err != nil || !withdrawn {
		t.Fatalf("the store does not hold the withdrawal: %v, %v", withdrawn, err)
	}

	// A new server on the same store: the token stays refused, in any room.
	second := newHarness(t, withStore)
	refused(t, second.joinAs(t, "alice", tok, inApp), signaling.CodeTokenRevoked)
	refused(t, second.joinAs(t, "alice", tok, func(d map[string]any) { inApp(d); d["roomId"] = 7 }), signaling.CodeTokenRevoked)
	second.joinAs(t, "alice", "good-alice-2-"+secret, inApp)
	second.nextOpen(t)

	// Without the store, a new server would have forgotten it.
	forgetful := newHarness(t, nil)
	forgetful.joinAs(t, "alice", tok, inApp)
	forgetful.nextOpen(t)
}

// fakeWithdrawals is a Withdrawals whose behaviour the test sets.
type fakeWithdrawals struct {
	memoryWithdrawals
	WithdrawTokenFunc  func(ctx context.Context, app uint32, h [32]byte, expires, now time.Time) error
	TokenWithdrawnFunc func(ctx context.Context, app uint32, h [32]byte, now time.Time) (bool, error)
}

func (f *fakeWithdrawals) WithdrawToken(ctx context.Context, app uint32, h [32]byte, expires, now time.Time) error {
	return f.WithdrawTokenFunc(ctx, app, h, expires, now)
}

func (f *fakeWithdrawals) TokenWithdrawn(ctx context.Context, app uint32, h [32]byte, now time.Time) (bool, error) {
	return f.TokenWithdrawnFunc(ctx, app, h, now)
}

// A store that fails: a join it cannot check is refused (3000), never let
// in; a removal it cannot store removes no one, so it can be retried.
func TestWithdrawalsStoreFails(t *testing.T) {
	t.Parallel()
	broken := errors.New("disk on fire")
	var (
		exps       []time.Time
		unreadable atomic.Bool // TokenWithdrawn fails too
	)
	fw := &fakeWithdrawals{
		WithdrawTokenFunc: func(_ context.Context, _ uint32, _ [32]byte, expires, _ time.Time) error {
			exps = append(exps, expires)
			return broken
		},
		TokenWithdrawnFunc: func(context.Context, uint32, [32]byte, time.Time) (bool, error) {
			if unreadable.Load() {
				return false, broken
			}
			return false, nil
		},
	}
	h := newHarness(t, func(c *ServerConfig) { c.Withdrawals = fw })
	_, op := h.admitted(t, "alice", nil)
	err := h.srv.RemoveUser(context.Background(), testApp, 123, "", "alice")
	if !errors.Is(err, ErrWithdrawalNotStored) || !errors.Is(err, broken) {
		t.Fatalf("RemoveUser with a failing store: %v", err)
	}
	noControl(t, op)
	// The expiry asked for is the token's, a margin later (the fake
	// verifier's tokens expire an hour from now).
	if len(exps) != 1 || time.Until(exps[0]) < time.Hour || time.Until(exps[0]) > time.Hour+withdrawalMargin+time.Minute {
		t.Fatalf("withdrawal expiries %v", exps)
	}
	// The same token may still join: nothing was withdrawn.
	h.joinAs(t, "alice", "good-alice-"+secret, nil)
	h.nextOpen(t)

	unreadable.Store(true)
	refused(t, h.joinAs(t, "bob", "good-bob-"+secret, nil), signaling.CodeInternal)
}
