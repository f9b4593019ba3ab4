package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/lethe-rtc/lethe/client"
	"github.com/pion/webrtc/v4"
)

// TestBrowserWHIP runs WHIP and WHEP with a real headless Chromium: a Go
// WHIP client publishes into a room and the demo page decodes its video;
// the WHEP player page (/whep.html) plays a participant's video.
func TestBrowserWHIP(t *testing.T) {
	if !needBrowser(t) {
		return
	}
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()

	// The WHIP ingest.
	uid := s.browserUser("obs")
	w := &whipClient{pc: newLoopbackPC(t), http: s.httpClient(), base: s.httpBase(), token: s.token(uid)}
	v, err := client.NewVP8Track("video-whip", "stream-whip", client.SourceOptions{KeyframeInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a, err := client.NewOpusTrack("audio-whip", "stream-whip", client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*client.Track{v, a} {
		x, err := w.pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			t.Fatal(err)
		}
		go answerRTCP(x.Sender(), tr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.Start(ctx)
	a.Start(ctx)
	t.Cleanup(func() { cancel(); _ = v.Close(); _ = a.Close() })
	w.publish(t, "?strRoom="+room)
	var whipID string
	deadline := time.Now().Add(10 * time.Second)
	for whipID == "" && time.Now().Before(deadline) {
		rooms, err := s.adminClient(t).ListRooms(ctxT(t, 5*time.Second), s.appID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rooms {
			for _, p := range r.Participants {
				if r.StrRoomID == room && p.UserID == uid && len(p.Tracks) == 2 {
					whipID = p.ParticipantID
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if whipID == "" {
		t.Fatal("the WHIP session's tracks are not in the room listing")
	}

	// The demo page in the room decodes the WHIP video.
	pg, _ := s.joinPage(t, b, "viewer", room, false)
	video := pg.waitReceiving(whipID, 10, true, 30*time.Second)
	t.Logf("the demo page decodes the WHIP ingest: %+v", video)

	// The WHEP player page plays it too, picked by ?participant=.
	puid := s.browserUser("player")
	player := openWHEP(t, s, b, url.Values{"token": {s.token(puid)}, "strRoom": {room}, "participant": {whipID}})
	player.waitJS(`(async () => { let n = 0; (await whep.pc.getStats()).forEach(r => { if (r.type === "inbound-rtp" && r.kind === "video") n = r.framesDecoded || 0; }); return n > 10; })()`, 20*time.Second)
	player.waitJS(`document.getElementById("video").videoWidth > 0`, 10*time.Second)
	var loc string
	player.mustEval(`whep.location`, &loc)
	if !strings.HasPrefix(loc, "/v1/whep/") {
		t.Fatalf("WHEP Location %q", loc)
	}
	player.closePage()
	pg.closePage()
	_ = w.pc.Close()
}

// openWHEP opens the WHEP player page with the settings f and waits
// until it is connected.
func openWHEP(t *testing.T, s *server, b *browser, f url.Values) *page {
	t.Helper()
	player := b.newPage(t, "player")
	ctxNav, cancelNav := context.WithTimeout(player.ctx, 20*time.Second)
	defer cancelNav()
	if err := chromedp.Do(ctxNav, chromedp.Navigate(s.httpBase()+"/whep.html#"+f.Encode()), chromedp.WaitReady(chromedp.CSS("#video"))); err != nil {
		t.Fatalf("open the WHEP player: %v", err)
	}
	player.waitJS(`window.whep && whep.state === "connected"`, 20*time.Second)
	return player
}

// TestBrowserWHEPFollowsSpeaker: the WHEP player page, naming nobody,
// follows the room's speaker in Chromium. Two Go publishers send VP8 of
// different sizes, so the decoded width tells whose picture it is; each
// change of speaker changes the picture, and Chromium's decoder keeps
// decoding across every switch of source in the one stream.
func TestBrowserWHEPFollowsSpeaker(t *testing.T) {
	if !needBrowser(t) {
		return
	}
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()
	publish := func(user string, w, h, dBov int) *client.Track {
		p := s.join(t, s.browserUser(user), 0, room)
		tracks := p.publishAV(t, false, client.SourceOptions{Width: w, Height: h})
		tracks[1].SetAudioLevel(dBov)
		return tracks[1]
	}
	alice := publish("alice", 320, 240, -20)
	bob := publish("bob", 640, 480, -127)

	player := openWHEP(t, s, b, url.Values{"token": {s.token(s.browserUser("player"))}, "strRoom": {room}})
	decoded := func() int {
		var n int
		player.mustEval(`(async () => { let n = 0; (await whep.pc.getStats()).forEach(r => { if (r.type === "inbound-rtp" && r.kind === "video") n = r.framesDecoded || 0; }); return n; })()`, &n)
		return n
	}
	// shows waits until the page decodes frames width pixels wide, and
	// keeps decoding them.
	shows := func(who string, width int) {
		t.Helper()
		player.waitJS(fmt.Sprintf(`document.getElementById("video").videoWidth === %d`, width), 30*time.Second)
		n := decoded()
		deadline := time.Now().Add(20 * time.Second)
		for decoded() < n+10 {
			if time.Now().After(deadline) {
				t.Fatalf("the player stopped decoding once it showed %s (%d frames)", who, decoded())
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("showing %s: %d frames decoded", who, decoded())
	}
	shows("alice, the speaker", 320)
	alice.SetAudioLevel(-127)
	bob.SetAudioLevel(-20)
	shows("bob once he speaks", 640)
	bob.SetAudioLevel(-127)
	alice.SetAudioLevel(-20)
	shows("alice again", 320)
	var tracks int
	player.mustEval(`whep.pc.getReceivers().filter((r) => r.track).length`, &tracks)
	if tracks != 2 {
		t.Errorf("the player has %d receivers with a track, want 2", tracks)
	}
	player.closePage()
}
