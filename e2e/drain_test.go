package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

// readyz fetches /readyz: its status and body.
func (s *server) readyz(t *testing.T) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(s.httpBase() + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Ready  bool `json:"ready"`
		Checks []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	if body.Ready != (resp.StatusCode == http.StatusOK) {
		t.Errorf("/readyz: status %d with ready %v", resp.StatusCode, body.Ready)
	}
	states := map[string]string{}
	for _, c := range body.Checks {
		states[c.Name] = c.State
	}
	return resp.StatusCode, states
}

// mediaFlows waits until ch has counted more packets than it has now,
// all of them intact markers.
func mediaFlows(t *testing.T, what string, ch *client.Checker) {
	t.Helper()
	n := ch.Stats().Packets
	deadline := time.Now().Add(15 * time.Second)
	for ch.Stats().Packets < n+25 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d packets, no more within 15s", what, ch.Stats().Packets)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := ch.Stats(); st.BadMarkers != 0 {
		t.Errorf("%s: %d payloads failed the marker check", what, st.BadMarkers)
	}
}

// SIGTERM drains: /readyz goes unready at once, a new join is refused
// with 3004, the participants in a room keep their media; when they have
// all left, serve exits without waiting out its --drain-timeout.
func TestDrainWaitsForTheRoomsToEmpty(t *testing.T) {
	leakCheck(t)
	s := startServer(t, "--drain-timeout", "1h")
	if code, states := s.readyz(t); code != http.StatusOK ||
		states["draining"] != "ok" || states["workers"] != "ok" || states["store"] != "ok" {
		t.Fatalf("/readyz before the drain: %d %v", code, states)
	}
	alice := s.join(t, "alice", 1, "")
	alice.publishAV(t, false, client.SourceOptions{})
	bob := s.join(t, "bob", 1, "")
	video := bob.firstVideo(t)
	mediaFlows(t, "bob before the drain", video)
	carol := s.join(t, "carol", 2, "") // a room of one, in another room
	waiting := s.dial(t)               // connected, not joined yet

	s.signal(syscall.SIGTERM)
	s.waitLog(t, "draining")
	if code, states := s.readyz(t); code != http.StatusServiceUnavailable || states["draining"] != "failing" || states["workers"] != "ok" {
		t.Errorf("/readyz once draining: %d %v", code, states)
	}
	if resp, err := http.Get(s.httpBase() + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz while draining: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// New joins are refused, on a new connection and on one made before.
	var ce *signaling.CodedError
	if _, err := s.tryJoin(t, joinOpts{user: "dave", room: 1}); !errors.As(err, &ce) || ce.Code != signaling.CodeDraining {
		t.Errorf("a join while draining: %v, want code %d", err, signaling.CodeDraining)
	}
	uid := "erin-late"
	s.keepSecret(uid)
	if _, err := waiting.Join(ctxT(t, 10*time.Second), signaling.Join{SDKAppID: s.appID, UserID: uid, UserSig: s.token(uid), RoomID: 1}); !errors.As(err, &ce) || ce.Code != signaling.CodeDraining {
		t.Errorf("a join on a connection made before the drain: %v, want code %d", err, signaling.CodeDraining)
	}

	// Those in rooms are not cut: media flows on, signaling answers.
	mediaFlows(t, "bob while draining", video)
	for _, p := range []*participant{alice, bob, carol} {
		if _, err := p.Ping(ctxT(t, 10*time.Second)); err != nil {
			t.Errorf("%s while draining: %v", p.user, err)
		}
	}
	// The admin API stays up.
	if out := s.app("list"); out == "" {
		t.Error("the admin API says nothing while draining")
	}

	// Everyone leaves; serve exits then, not an hour later.
	for _, p := range []*participant{alice, bob, carol} {
		if err := p.Leave(ctxT(t, 10*time.Second)); err != nil {
			t.Errorf("%s leave: %v", p.user, err)
		}
	}
	if code := s.waitExit(15 * time.Second); code != 0 {
		t.Errorf("serve exit code %d", code)
	}
	s.waitLog(t, "drain over: every room emptied")
}

// At --drain-timeout those still in rooms get bye 3003 ("server going
// away, reconnect"), and serve exits 0.
func TestDrainTimeout(t *testing.T) {
	leakCheck(t)
	const timeout = 2 * time.Second
	s := startServer(t, "--drain-timeout", timeout.String())
	alice := s.join(t, "alice", 1, "")
	alice.publishAV(t, false, client.SourceOptions{})
	bob := s.join(t, "bob", 1, "")
	mediaFlows(t, "bob", bob.firstVideo(t))

	signalled := time.Now()
	s.signal(syscall.SIGTERM)
	for _, p := range []*participant{alice, bob} {
		e := waitEvent(t, p.Client, signaling.TypeBye, 20*time.Second, nil)
		if b := e.Data.(*signaling.Bye); b.Code != signaling.CodeGoingAway || b.Reason != "server going away, reconnect" {
			t.Errorf("%s: bye %+v, want code %d", p.user, b, signaling.CodeGoingAway)
		}
		// A lower bound only: a timer never fires early.
		if since := time.Since(signalled); since < timeout {
			t.Errorf("%s: told to go away %v after the signal, before the %v timeout", p.user, since, timeout)
		}
		<-p.Done()
		var ce *signaling.CodedError
		if err := p.Err(); !errors.Is(err, client.ErrBye) || !errors.As(err, &ce) || ce.Code != signaling.CodeGoingAway || !client.GoingAway(err) {
			t.Errorf("%s: Err() = %v, want the going-away bye", p.user, err)
		}
	}
	if code := s.waitExit(15 * time.Second); code != 0 {
		t.Errorf("serve exit code %d", code)
	}
	s.waitLog(t, "drain over: drain timeout")
}
