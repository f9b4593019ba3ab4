package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/signaling"
	"github.com/lethe-rtc/lethe/store"
)

// A user removed with `lethe app remove-user` stays out after lethe serve
// restarts on the same data dir: the same token is refused with 2007,
// while a new token admits the user. The data dir holds neither the user
// id nor the token. (The tokens are minted with `lethe token`, which opens
// the store read-only, once while the server runs and once while it is
// stopped.)
func TestWithdrawalSurvivesRestart(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	app := strconv.FormatUint(uint64(s.appID), 10)
	uid := "removed-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	sig := s.token(uid)
	c := s.dial(t)
	if _, err := c.Join(ctxT(t, 10*time.Second), signaling.Join{SDKAppID: s.appID, UserID: uid, UserSig: sig, RoomID: 8}); err != nil {
		t.Fatal(err)
	}
	s.app("remove-user", app, "--room", "8", "--user", uid)
	if bye := waitEvent(t, c, signaling.TypeBye, 5*time.Second, nil); bye.Data.(*signaling.Bye).Code != signaling.CodeRemoved {
		t.Fatalf("removed user's bye: %+v", bye.Data)
	}
	s.stop()

	// Minted while no server runs: read-only beside no one.
	fresh := strings.TrimSpace(s.run("token", "--data-dir", s.dataDir, "--user", uid, "--ttl", "2h"))
	s2 := startServerIn(t, s.dataDir)
	for _, v := range []string{uid, sig, fresh} {
		s2.keepSecret(v)
	}
	if s2.appID != s.appID {
		t.Fatalf("restarted server's default app %d, want %d", s2.appID, s.appID)
	}
	for _, room := range []uint32{8, 9} {
		again := s2.dial(t)
		_, err := again.Join(ctxT(t, 10*time.Second), signaling.Join{SDKAppID: s.appID, UserID: uid, UserSig: sig, RoomID: room})
		if codeOf(err) != signaling.CodeTokenRevoked {
			t.Fatalf("room %d: rejoin with the removed token after a restart: %v, want code 2007", room, err)
		}
	}
	back := s2.dial(t)
	if _, err := back.Join(ctxT(t, 10*time.Second), signaling.Join{SDKAppID: s.appID, UserID: uid, UserSig: fresh, RoomID: 8}); err != nil {
		t.Fatalf("join with a new token: %v", err)
	}

	// Nothing of the user in clear in the data dir, server running.
	for _, f := range []string{store.DBFile, store.DBFile + "-wal", store.DBFile + "-shm"} {
		b, err := os.ReadFile(filepath.Join(s.dataDir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, v := range []string{uid, sig, fresh} {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds a user id or token (%.12s...)", f, v)
			}
		}
	}
}
