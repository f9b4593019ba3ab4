package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/pion/webrtc/v4"
)

// newTrack makes a started synthetic track of kind "audio" or "video",
// closed with the test.
func newTrack(t *testing.T, kind, id string) *client.Track {
	t.Helper()
	mk := client.NewOpusTrack
	if kind == "video" {
		mk = client.NewVP8Track
	}
	tr, err := mk(id, "s-"+id, client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func (p *participant) publish(t *testing.T, tracks ...*client.Track) error {
	t.Helper()
	locals := make([]webrtc.TrackLocal, len(tracks))
	for i, tr := range tracks {
		locals[i] = tr
	}
	if err := p.Publish(ctxT(t, 10*time.Second), locals...); err != nil {
		return err
	}
	for _, tr := range tracks {
		tr.Start(t.Context())
	}
	return nil
}

// kindsWithin collects the kinds of the tracks p receives within d.
func (p *participant) kindsWithin(d time.Duration) map[string]int {
	got := map[string]int{}
	deadline := time.After(d)
	for {
		select {
		case tr := <-p.tracks:
			got[tr.Kind().String()]++
		case <-deadline:
			return got
		}
	}
}

func privs(n int) []string { return []string{"--room", "77", "--privileges", strconv.Itoa(n)} }

// The privilege bits of a token and the role decide what a participant may
// do, enforced by the real server: send (4 audio, 16 video), receive
// (8 audio, 32 video), enter (2), be the first in a room (1); an audience
// member publishes nothing until it switches role.
func TestPrivilegesAndRoles(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	const all = 255

	// Bit 1 missing: may not open the room, but may enter it once open.
	if _, err := s.tryJoin(t, joinOpts{user: "late", room: 77, tokenArgs: privs(all &^ 1)}); codeOf(err) != signaling.CodeNoPrivilege {
		t.Fatalf("first entry without create-room: %v", err)
	}
	// Bit 16 missing: audio yes, video no.
	alice, err := s.tryJoin(t, joinOpts{user: "alice", room: 77, tokenArgs: privs(all &^ 16)})
	if err != nil {
		t.Fatal(err)
	}
	if got := alice.Permissions().Send; strings.Join(got, ",") != "audio,screen" {
		t.Fatalf("joined.permissions.send = %v, want [audio screen] (bit 64 is the sub-stream)", got)
	}
	// The server enforces it, whatever a client does: an offer with video
	// straight on the wire is refused.
	if _, err := alice.Request(ctxT(t, 5*time.Second), signaling.TypeOffer, signaling.SDP{
		Target: signaling.TargetPublisher, SDP: offerSDP(t, "video", "audio"),
	}); codeOf(err) != signaling.CodeNotAllowed {
		t.Fatalf("video offer without bit 16: %v", err)
	}
	if err := alice.publish(t, newTrack(t, "audio", "aa2")); err != nil {
		t.Fatalf("audio with bit 4: %v", err)
	}
	if _, err := s.tryJoin(t, joinOpts{user: "late", room: 77, tokenArgs: privs(all &^ 1)}); err != nil {
		t.Fatalf("entry without create-room into an open room: %v", err)
	}
	// Bit 2 missing: may not enter at all.
	if _, err := s.tryJoin(t, joinOpts{user: "ghost", room: 77, tokenArgs: privs(all &^ 2)}); codeOf(err) != signaling.CodeNoPrivilege {
		t.Fatalf("entry without bit 2: %v", err)
	}

	// dave publishes both kinds; carol (no bit 32) receives audio only.
	dave, err := s.tryJoin(t, joinOpts{user: "dave", room: 77})
	if err != nil {
		t.Fatal(err)
	}
	if err := dave.publish(t, newTrack(t, "video", "dv"), newTrack(t, "audio", "da")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		waitEvent(t, dave.Client, signaling.TypeTrackPublished, 10*time.Second, nil)
	}
	carol, err := s.tryJoin(t, joinOpts{user: "carol", room: 77, tokenArgs: privs(all &^ 32)})
	if err != nil {
		t.Fatal(err)
	}
	if got := carol.kindsWithin(3 * time.Second); got["video"] != 0 || got["audio"] != 2 {
		t.Errorf("carol without bit 32 received %v, want audio from alice and dave only", got)
	}

	// An audience member publishes nothing; after switchRole it may.
	bob, err := s.tryJoin(t, joinOpts{user: "bob", room: 77, role: signaling.RoleAudience})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Request(ctxT(t, 5*time.Second), signaling.TypeOffer, signaling.SDP{
		Target: signaling.TargetPublisher, SDP: offerSDP(t, "audio"),
	}); codeOf(err) != signaling.CodeNotAllowed {
		t.Fatalf("audience offering audio: %v", err)
	}
	if err := bob.SwitchRole(ctxT(t, 5*time.Second), signaling.RoleAnchor, ""); err != nil {
		t.Fatalf("switchRole: %v", err)
	}
	// An audience member is not announced: the first alice hears of bob
	// is his stepping up, as a join; bob hears of his own new role.
	e := waitEvent(t, alice.Client, signaling.TypeParticipantJoined, 5*time.Second, func(e client.Event) bool {
		return e.Data.(*signaling.ParticipantInfo).ParticipantID == bob.joined.ParticipantID
	})
	if p := e.Data.(*signaling.ParticipantInfo); p.Role != signaling.RoleAnchor {
		t.Fatalf("alice heard of bob as %q first, want only his stepping up to anchor", p.Role)
	}
	waitEvent(t, bob.Client, signaling.TypeParticipantUpdated, 5*time.Second, func(e client.Event) bool {
		p := e.Data.(*signaling.ParticipantInfo)
		return p.ParticipantID == bob.joined.ParticipantID && p.Role == signaling.RoleAnchor
	})
	if err := bob.publish(t, newTrack(t, "audio", "ba2")); err != nil {
		t.Fatalf("anchor after switchRole publishing: %v", err)
	}
}

// createApp makes an application through the admin API with the real CLI
// and returns its SDKAppID.
func (s *server) createApp(t *testing.T, args ...string) uint32 {
	t.Helper()
	var app struct {
		SDKAppID uint32 `json:"sdkAppId"`
	}
	out := s.app(append([]string{"create", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &app); err != nil || app.SDKAppID == 0 {
		t.Fatalf("app create: %v: %s", err, out)
	}
	return app.SDKAppID
}

// Per-app limits on participants and anchors per room, and an app that
// requires a privateMapKey for every entry — TRTC style (a TLSSigAPIv2
// UserSig plus a separate privateMapKey) or one JWT carrying both.
func TestRoomLimitsAndPrivateMapKey(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	limited := s.createApp(t, "--name", "limited", "--max-anchors", "1", "--max-participants", "2")
	if _, err := s.tryJoin(t, joinOpts{user: "a", room: 5, app: limited}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.tryJoin(t, joinOpts{user: "b", room: 5, app: limited}); codeOf(err) != signaling.CodeTooManyAnchors {
		t.Fatalf("second anchor: %v", err)
	}
	b, err := s.tryJoin(t, joinOpts{user: "b", room: 5, app: limited, role: signaling.RoleAudience})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.tryJoin(t, joinOpts{user: "c", room: 5, app: limited, role: signaling.RoleAudience}); codeOf(err) != signaling.CodeRoomFull {
		t.Fatalf("third participant: %v", err)
	}
	if _, err := b.Request(ctxT(t, 5*time.Second), signaling.TypeSwitchRole, signaling.SwitchRole{Role: signaling.RoleAnchor}); codeOf(err) != signaling.CodeTooManyAnchors {
		t.Fatalf("switchRole to a second anchor: %v", err)
	}

	strict := s.createApp(t, "--name", "strict", "--require-private-map-key")
	if _, err := s.tryJoin(t, joinOpts{user: "d", room: 9, app: strict}); codeOf(err) != signaling.CodePrivateMapKeyRequired {
		t.Fatalf("strict app without privateMapKey: %v", err)
	}
	// TRTC style: a plain TLSSigAPIv2 UserSig and a separate privateMapKey.
	uid := "trtc-user"
	if _, err := s.tryJoin(t, joinOpts{
		user: uid, room: 9, app: strict,
		userSig:       s.tokenFor(strict, uid+"-x", "--format", "tls"),
		privateMapKey: s.tokenFor(strict, uid+"-x", "--format", "tls", "--room", "9", "--private-map-key"),
	}); codeOf(err) != signaling.CodeUserMismatch {
		// The harness adds its own suffix to the user id; tokens minted for
		// another id must be refused...
		t.Fatalf("tokens of another user: %v", err)
	}
	// ...so mint them through tryJoin's own id: a JWT bound to the room
	// with privileges is its own privateMapKey.
	if _, err := s.tryJoin(t, joinOpts{user: "e", room: 9, app: strict, tokenArgs: []string{"--room", "9", "--privileges", "255"}}); err != nil {
		t.Fatalf("strict app with a room-bound JWT: %v", err)
	}
	if _, err := s.tryJoin(t, joinOpts{user: "f", room: 9, app: strict, tokenArgs: []string{"--format", "tls", "--room", "9"}}); err != nil {
		t.Fatalf("strict app with a TLSSigAPIv2 UserSig carrying a userbuf: %v", err)
	}
	// A privateMapKey for another room (123 is not "123") is refused.
	if _, err := s.tryJoin(t, joinOpts{user: "g", strRoom: "9", app: strict, tokenArgs: []string{"--format", "tls", "--room", "9"}}); codeOf(err) != signaling.CodeRoomMismatch {
		t.Fatalf("numeric-room privateMapKey for string room \"9\": %v", err)
	}
}

// A UserSig in TRTC's TLSSigAPIv2 format admits its user like a JWT.
func TestTLSSigJoin(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	p, err := s.tryJoin(t, joinOpts{user: "tls", room: 3, tokenArgs: []string{"--format", "tls"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Ping(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// offerSDP is a real offer from a Pion PeerConnection sending the given
// kinds, for putting on the wire without a client's own checks.
func offerSDP(t *testing.T, kinds ...string) string {
	t.Helper()
	api, err := client.NewLoopbackAPI()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for i, k := range kinds {
		tr := newTrack(t, k, k+strconv.Itoa(i))
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// A screen share is the sub-stream: announced with screen=true, sent only
// with bit 64 and received only with bit 128.
func TestScreenSubStream(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	pub, err := s.tryJoin(t, joinOpts{user: "presenter", room: 12})
	if err != nil {
		t.Fatal(err)
	}
	noSub, err := s.tryJoin(t, joinOpts{user: "nosub", room: 12, tokenArgs: []string{"--room", "12", "--privileges", strconv.Itoa(255 &^ 128)}})
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := s.tryJoin(t, joinOpts{user: "viewer", room: 12})
	if err != nil {
		t.Fatal(err)
	}
	scr := newTrack(t, "video", "screen")
	if err := pub.PublishScreen(ctxT(t, 10*time.Second), scr); err != nil {
		t.Fatal(err)
	}
	scr.Start(t.Context())
	e := waitEvent(t, viewer.Client, signaling.TypeTrackPublished, 10*time.Second, nil)
	if tr := e.Data.(*signaling.TrackPublished).Track; !tr.Screen || tr.Kind != "video" {
		t.Fatalf("screen track announced as %+v", tr)
	}
	if got := viewer.kindsWithin(3 * time.Second); got["video"] != 1 {
		t.Errorf("viewer with bit 128 received %v, want the screen", got)
	}
	if got := noSub.kindsWithin(time.Second); len(got) != 0 {
		t.Errorf("participant without bit 128 received %v", got)
	}
	// Without bit 64, sharing a screen is refused before anything is offered.
	cam, err := s.tryJoin(t, joinOpts{user: "cam", room: 12, tokenArgs: []string{"--room", "12", "--privileges", strconv.Itoa(255 &^ 64)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.PublishScreen(ctxT(t, 5*time.Second), newTrack(t, "video", "s2")); codeOf(err) != signaling.CodeNotAllowed {
		t.Fatalf("screen without bit 64: %v", err)
	}
}
