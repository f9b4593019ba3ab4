package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

// The admin API with the real CLI against the real server: list a room,
// block a user's video, remove a user (whose token then stays refused),
// dismiss the room — and nothing on the admin API works without the key.
func TestAdminRoomControl(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	app := strconv.FormatUint(uint64(s.appID), 10)

	pub, err := s.tryJoin(t, joinOpts{user: "pub", room: 8})
	if err != nil {
		t.Fatal(err)
	}
	pub.publishAV(t, false, client.SourceOptions{})
	for range 2 {
		waitEvent(t, pub.Client, signaling.TypeTrackPublished, 10*time.Second, nil)
	}
	// A second participant whose token we keep, to try it again later.
	uid := "kicked-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	pubSig := s.token(uid)
	kc := s.dial(t)
	if _, err := kc.Join(ctxT(t, 10*time.Second), signaling.Join{SDKAppID: s.appID, UserID: uid, UserSig: pubSig, RoomID: 8}); err != nil {
		t.Fatal(err)
	}

	out := s.app("rooms", app)
	if !strings.Contains(out, pub.uid) || !strings.Contains(out, uid) {
		t.Fatalf("rooms does not list both participants:\n%s", out)
	}
	// The worker's account of pub's tracks reached the control process.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, pub.uid) && !strings.Contains(line, "audio,video") {
			t.Fatalf("rooms does not list pub's audio and video tracks:\n%s", out)
		}
	}

	// Block pub's video: everyone is told, and pub cannot unmute it.
	s.app("block", app, "--room", "8", "--user", pub.uid, "--video")
	e := waitEvent(t, kc, signaling.TypeTrackMuted, 5*time.Second, nil)
	if m := e.Data.(*signaling.TrackMuted); !m.Muted || !m.Blocked {
		t.Fatalf("trackMuted after block: %+v", m)
	}
	if err := pub.Mute(ctxT(t, 5*time.Second), e.Data.(*signaling.TrackMuted).TrackID, false); codeOf(err) != signaling.CodeNotAllowed {
		t.Fatalf("unmuting a blocked track: %v", err)
	}
	s.app("unblock", app, "--room", "8", "--user", pub.uid, "--video")
	e = waitEvent(t, kc, signaling.TypeTrackMuted, 5*time.Second, nil)
	if m := e.Data.(*signaling.TrackMuted); m.Muted || m.Blocked {
		t.Fatalf("trackMuted after unblock: %+v", m)
	}

	// Remove the second user: it is told, and its token no longer admits it.
	s.app("remove-user", app, "--room", "8", "--user", uid)
	bye := waitEvent(t, kc, signaling.TypeBye, 5*time.Second, nil)
	if c := bye.Data.(*signaling.Bye).Code; c != signaling.CodeRemoved {
		t.Fatalf("removed user's bye: %d", c)
	}
	again := s.dial(t)
	if _, err := again.Join(ctxT(t, 10*time.Second), signaling.Join{SDKAppID: s.appID, UserID: uid, UserSig: pubSig, RoomID: 8}); codeOf(err) != signaling.CodeTokenRevoked {
		t.Fatalf("rejoin with the removed user's token: %v", err)
	}
	// A new token (another lifetime, so other bytes) admits the user again.
	fresh := s.dial(t)
	if _, err := fresh.Join(ctxT(t, 10*time.Second), signaling.Join{SDKAppID: s.appID, UserID: uid, UserSig: s.token(uid, "--ttl", "2h"), RoomID: 8}); err != nil {
		t.Fatalf("rejoin with a new token: %v", err)
	}

	// Dismiss: everyone gets bye 5001.
	s.app("dismiss", app, "--room", "8")
	for _, c := range []*client.Client{pub.Client, fresh} {
		bye := waitEvent(t, c, signaling.TypeBye, 5*time.Second, nil)
		if code := bye.Data.(*signaling.Bye).Code; code != signaling.CodeRoomDismissed {
			t.Fatalf("bye after dismiss: %d", code)
		}
	}

	// The admin API refuses requests without the admin key, with a wrong
	// one, and with a user's token in its place.
	base := strings.TrimSuffix(strings.Replace(s.url, "ws://", "http://", 1), "/v1/signal")
	key, err := os.ReadFile(filepath.Join(s.dataDir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	for name, auth := range map[string]string{
		"none": "", "wrong": "Bearer " + strings.Repeat("x", 43), "user token": "Bearer " + s.token("someone"),
		"right": "Bearer " + strings.TrimSpace(string(key)),
	} {
		req, _ := http.NewRequest("GET", base+"/v1/admin/apps", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusUnauthorized
		if name == "right" {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("admin API with %s key: %d, want %d", name, resp.StatusCode, want)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}
