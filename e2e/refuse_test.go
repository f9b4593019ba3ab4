package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/lethe-rtc/lethe/store"
)

func codeOf(err error) signaling.Code {
	var ce *signaling.CodedError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// Forged, expired, wrong-app and malformed tokens are refused with their
// codes, and the room never hears of them.
func TestBadTokensRefused(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	watcher := s.join(t, "watcher", 42, "")

	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(s.dataDir, store.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	key, err := st.SigningKey(ctx, s.appID, now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.CreateApp(ctx, "other", nil, store.DefaultPolicy(), now)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := auth.NewKey(now.Add(-time.Minute), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddKey(ctx, other.SDKAppID, otherKey, now); err != nil {
		t.Fatal(err)
	}
	forgedKey, _ := auth.NewKey(now, 24*time.Hour)
	forgedKey.ID = key.ID // right kid, wrong secret

	sign := func(k auth.Key, app uint32, user string, iat, exp time.Time) string {
		tok, err := auth.SignJWT(k, auth.Claims{SDKAppID: app, UserID: user, IssuedAt: iat, ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hour := time.Hour
	cases := []struct {
		name string
		app  uint32
		user string
		sig  string
		want signaling.Code
	}{
		{"malformed", s.appID, "mallory", "not-a-token", signaling.CodeTokenMalformed},
		{"garbage segments", s.appID, "mallory", "a.b.c", signaling.CodeTokenMalformed},
		{"forged signature", s.appID, "mallory", sign(forgedKey, s.appID, "mallory", now, now.Add(hour)), signaling.CodeTokenSignature},
		{"expired", s.appID, "mallory", sign(key, s.appID, "mallory", now.Add(-2*hour), now.Add(-hour)), signaling.CodeTokenExpired},
		{"issued in the future", s.appID, "mallory", sign(key, s.appID, "mallory", now.Add(hour), now.Add(2*hour)), signaling.CodeTokenExpired},
		{"another app's token", s.appID, "mallory", sign(otherKey, other.SDKAppID, "mallory", now, now.Add(hour)), signaling.CodeUnknownKey},
		{"another app's token for its own app", other.SDKAppID, "mallory", sign(key, s.appID, "mallory", now, now.Add(hour)), signaling.CodeUnknownKey},
		{"unknown app", 1234, "mallory", sign(key, 1234, "mallory", now, now.Add(hour)), signaling.CodeUnknownApp},
		{"someone else's token", s.appID, "mallory", s.token("watcher"), signaling.CodeUserMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := s.dial(t)
			_, err := c.Join(ctxT(t, 5*time.Second), signaling.Join{SDKAppID: tc.app, UserID: tc.user, UserSig: tc.sig, RoomID: 42})
			if got := codeOf(err); got != tc.want {
				t.Fatalf("join: got %v (code %d), want code %d", err, got, tc.want)
			}
			if strings.Contains(err.Error(), tc.sig) {
				t.Fatal("error echoes the token")
			}
			select { // the server closes the connection after a refused join
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("connection still open after a refused join")
			}
		})
	}

	// No trace in the room: the watcher heard nothing, and a newcomer sees
	// only the watcher.
	select {
	case e := <-watcher.Events():
		t.Fatalf("watcher saw %s after refused joins", e.Type)
	default:
	}
	n := s.join(t, "newcomer", 42, "")
	if len(n.joined.Room.Participants) != 1 || !strings.HasPrefix(n.joined.Room.Participants[0].UserID, "watcher-") {
		t.Fatalf("room snapshot after refusals: %+v", n.joined.Room.Participants)
	}
}

// Malformed, unknown, oversized and out-of-order messages get clear errors;
// the sender's connection keeps working and other participants notice
// nothing.
func TestProtocolAbuse(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	pub := s.join(t, "pub", 3, "")
	pub.publishAV(t, false, client.SourceOptions{})
	sub := s.join(t, "sub", 3, "")
	video := sub.firstVideo(t)

	// Before joining.
	early := s.dial(t)
	if _, err := early.Request(ctxT(t, 5*time.Second), signaling.TypeOffer,
		signaling.SDP{Target: signaling.TargetPublisher, SDP: "v=0"}); codeOf(err) != signaling.CodeWrongState {
		t.Errorf("offer before join: %v", err)
	}

	abuser := s.join(t, "abuser", 3, "")
	expectError := func(name string, raw []byte, want signaling.Code) {
		t.Helper()
		if err := abuser.SendRaw(raw); err != nil {
			t.Fatalf("%s: send: %v", name, err)
		}
		e := waitEvent(t, abuser.Client, signaling.TypeError, 5*time.Second, nil)
		if got := e.Data.(*signaling.Error).Code; got != want {
			t.Errorf("%s: code %d, want %d", name, got, want)
		}
	}
	expectError("malformed JSON", []byte(`{"type":"offer",`), signaling.CodeBadMessage)
	expectError("not an object", []byte(`[1,2,3]`), signaling.CodeBadMessage)
	expectError("unknown type", []byte(`{"type":"teleport"}`), signaling.CodeUnknownType)
	expectError("oversized", []byte(`{"type":"ping","data":"`+strings.Repeat("x", 70<<10)+`"}`), signaling.CodeTooLarge)
	expectError("bad field", []byte(`{"type":"mute","data":{"trackId":"","muted":true}}`), signaling.CodeInvalidField)

	requests := []struct {
		name string
		typ  string
		data any
		want signaling.Code
	}{
		{"second join", signaling.TypeJoin, signaling.Join{SDKAppID: s.appID, UserID: "abuser", UserSig: "x", RoomID: 3}, signaling.CodeWrongState},
		{"offer on the subscriber", signaling.TypeOffer, signaling.SDP{Target: signaling.TargetSubscriber, SDP: "v=0"}, signaling.CodeWrongState},
		{"answer without an offer", signaling.TypeAnswer, signaling.SDP{Target: signaling.TargetSubscriber, SDP: "v=0"}, signaling.CodeBadSDP},
		{"garbage SDP", signaling.TypeOffer, signaling.SDP{Target: signaling.TargetPublisher, SDP: "v=0\r\nm=nonsense\r\n"}, signaling.CodeBadSDP},
		{"hostile SDP", signaling.TypeOffer, signaling.SDP{Target: signaling.TargetPublisher, SDP: hostileSDP(40)}, signaling.CodeNotAllowed},
		{"unknown track", signaling.TypeSubscribe, signaling.TrackIDs{TrackIDs: []string{"TR_nope"}}, signaling.CodeUnknownTrack},
		{"mute someone else's track", signaling.TypeMute, signaling.Mute{TrackID: pub.trackID(t), Muted: true}, signaling.CodeUnknownTrack},
	}
	for _, r := range requests {
		if _, err := abuser.Request(ctxT(t, 5*time.Second), r.typ, r.data); codeOf(err) != r.want {
			t.Errorf("%s: got %v, want code %d", r.name, err, r.want)
		}
	}
	if _, err := abuser.Ping(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("abuser's connection broke: %v", err)
	}

	// The others carry on.
	before := video.Stats().Packets
	time.Sleep(time.Second)
	if after := video.Stats().Packets; after <= before {
		t.Fatalf("subscriber stopped receiving: %d → %d packets", before, after)
	}
	if _, err := pub.Ping(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("publisher's connection broke: %v", err)
	}
}

// hostileSDP is an offer with n video sections.
func hostileSDP(n int) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE")
	for i := range n {
		b.WriteString(" " + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
	}
	b.WriteString("\r\n")
	for i := range n {
		b.WriteString("m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) +
			"\r\na=sendonly\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
			"a=fingerprint:sha-256 00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00\r\n" +
			"a=setup:actpass\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n")
	}
	return b.String()
}
