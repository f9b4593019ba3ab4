package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/lethe-rtc/lethe/web"
	"github.com/pion/webrtc/v4"
)

// TestBrowser runs the demo page and lethe.js in a real headless
// Chromium against the real server: media between browsers, between a
// browser and the Go client in both directions, leaving, reconnecting,
// ICE restart, and the dev-token endpoint.
func TestBrowser(t *testing.T) {
	if !needBrowser(t) {
		return
	}
	t.Run("CameraToPage", testBrowserCameraToPage)
	t.Run("GoClientToPage", testBrowserGoClientToPage)
	t.Run("PageToGoClient", testBrowserPageToGoClient)
	t.Run("LeaveReconnectRestart", testBrowserLeaveReconnectRestart)
	t.Run("DevToken", testBrowserDevToken)
	t.Run("ParticipantsBurst", testBrowserParticipantsBurst)
	t.Run("ICERestart", testBrowserICERestart)
	t.Run("ObserverThroughTurnover", testBrowserObserverThroughTurnover)
	t.Run("GoingAway", testBrowserGoingAway)
}

// (h) A server that drains: the page in a room keeps receiving until the
// drain timeout, then lethe.js says "goingaway" (bye 3003, or 3004 for a
// rejoin the page began first) and tries to rejoin; serve exits 0.
func testBrowserGoingAway(t *testing.T) {
	leakCheck(t)
	s := startServer(t, "--drain-timeout", "8s")
	b := newBrowser(t)
	room := newRoomName()
	pg, _ := s.joinPage(t, b, "leaving", room, false)
	p := s.join(t, "anchor", 0, room)
	p.publishAV(t, false, client.SourceOptions{KeyframeInterval: time.Second})
	pg.waitReceiving(p.ParticipantID(), 5, true, 20*time.Second)
	s.signal(syscall.SIGTERM)
	s.waitLog(t, "draining")
	// Still in the room while the server drains: frames keep coming.
	pg.waitReceiving(p.ParticipantID(), 5, true, 8*time.Second)
	// bye 3003; or, should the page have begun a rejoin before its bye
	// came (the publisher's session ends first, and the page's media with
	// it), the draining server's refusal of that rejoin (3004).
	pg.waitJS(`letheDemo.events.some(e => e.type === "goingaway" && (e.code === 3003 || e.code === 3004))`, 20*time.Second)
	pg.waitJS(`letheDemo.events.some(e => e.type === "reconnecting")`, 10*time.Second)
	if code := s.waitExit(15 * time.Second); code != 0 {
		t.Errorf("serve exit code %d", code)
	}
}

// (g) A page stays in a room while 20 Go publishers come, publish audio
// and video, and go (leaving, or dropping their connection) in turn: each
// round's new tracks arrive on the page's reused m-sections and are
// decoded, without the page rejoining or resubscribing.
func testBrowserObserverThroughTurnover(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()
	pg, _ := s.joinPage(t, b, "observer", room, false)
	const rounds = 20
	for i := range rounds {
		func() {
			p := s.join(t, fmt.Sprint("turn", i), 0, room)
			tracks := p.publishAV(t, false, client.SourceOptions{KeyframeInterval: time.Second})
			pg.waitReceiving(p.ParticipantID(), 5, true, 20*time.Second)
			for _, tr := range tracks {
				_ = tr.Close()
			}
			if i%2 == 0 {
				_ = p.Leave(ctxT(t, 5*time.Second))
			}
			_ = p.Close() // odd rounds: the connection just drops
			pg.waitJS(fmt.Sprintf(`!letheDemo.room.participants.has(%q)`, p.ParticipantID()), 15*time.Second)
		}()
	}
	// The freed m-sections were reused: one audio and one video, as a
	// publisher is gone before the next one comes.
	var sections int
	pg.mustEval(`letheDemo.room.subscriberPC.getTransceivers().length`, &sections)
	t.Logf("after %d publishers the page's subscriber PeerConnection has %d transceivers", rounds, sections)
	if sections > 2 {
		t.Errorf("%d transceivers after %d publishers in turn, want 2 (reused)", sections, rounds)
	}
}

// (f) Anchors joining and leaving at once reach lethe.js as participants
// messages (several events in one): the page's room ends up with exactly
// those still there.
func testBrowserParticipantsBurst(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()
	pg, _ := s.joinPage(t, b, "watcher", room, false)
	anchors := make([]*participant, 6)
	var wg sync.WaitGroup
	for i := range anchors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := s.tryJoin(t, joinOpts{user: fmt.Sprint("burst", i), strRoom: room})
			if err != nil {
				t.Error(err)
				return
			}
			anchors[i] = p
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	pg.waitJS(`letheDemo.room.participants.size === 6`, 15*time.Second)
	for _, p := range anchors[:3] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.Close()
		}()
	}
	wg.Wait()
	var ids []string
	for _, p := range anchors[3:] {
		ids = append(ids, p.ParticipantID())
	}
	want, _ := json.Marshal(ids)
	pg.waitJS(fmt.Sprintf(`JSON.stringify([...letheDemo.room.participants.keys()].sort()) === JSON.stringify(%s.sort())`, want), 15*time.Second)
}

// browserUser is a fresh user id that the server must never print.
func (s *server) browserUser(name string) string {
	uid := name + "-" + strings.ToLower(rand.Text()[:6])
	s.keepSecret(uid)
	return uid
}

// joinPage opens the demo page with a token in its URL fragment and joins.
func (s *server) joinPage(t *testing.T, b *browser, name, room string, publish bool) (*page, string) {
	t.Helper()
	uid := s.browserUser(name)
	p := b.newPage(t, name)
	p.open(s.pageURL(s.token(uid), uid, room))
	p.join(uid, room, publish)
	return p, p.participantID()
}

func newRoomName() string { return "web-" + strings.ToLower(rand.Text()[:8]) }

// (a) A page publishes its fake camera and microphone; another page
// decodes the video and receives the audio. Both publish, so this is also
// the two-participant call of the screenshot.
func testBrowserCameraToPage(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()
	alice, aliceID := s.joinPage(t, b, "alice", room, true)
	bob, bobID := s.joinPage(t, b, "bob", room, true)

	video := bob.waitReceiving(aliceID, 10, true, 30*time.Second)
	if len(video) == 0 || (video[0].Mime != "video/VP8" && video[0].Mime != "video/H264") {
		t.Errorf("bob receives alice's video as %+v, want VP8 or H.264", video)
	}
	alice.waitReceiving(bobID, 10, true, 30*time.Second)

	// Two tiles on alice's page, both showing pictures, stats filled in.
	alice.waitJS(`[...document.querySelectorAll(".tile video")].filter(v => v.videoWidth > 0).length === 2`, 15*time.Second)
	alice.waitJS(`[...document.querySelectorAll(".tile .stats")].every(e => e.textContent.includes("kbit/s"))`, 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // one more stats round for the picture
	alice.screenshot()
}

// (b) The Go client publishes synthetic VP8 and Opus; the page decodes
// the video (so the synthetic VP8 is decodable) and receives the audio.
func testBrowserGoClientToPage(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()
	gp := s.join(t, "gopub", 0, room)
	gp.publishAV(t, false, client.SourceOptions{KeyframeInterval: time.Second})

	pg, _ := s.joinPage(t, b, "viewer", room, false)
	video := pg.waitReceiving(gp.ParticipantID(), 10, true, 30*time.Second)
	if len(video) == 0 || video[0].Mime != "video/VP8" {
		t.Errorf("page receives the Go client's video as %+v, want video/VP8", video)
	}
	t.Logf("page decodes the Go client's synthetic VP8: %+v", video)

	// Unsubscribe from the video and subscribe again: it stops, then
	// comes back and is decoded.
	vid := video[0].TrackID
	var ok bool
	pg.mustEval(fmt.Sprintf(`letheDemo.room.unsubscribe([%q]).then(() => true)`, vid), &ok)
	pg.waitJS(fmt.Sprintf(`letheDemo.events.some(e => e.type === "trackunsubscribed" && e.trackId === %q)`, vid), 10*time.Second)
	pg.mustEval(fmt.Sprintf(`letheDemo.room.subscribe([%q]).then(() => true)`, vid), &ok)
	pg.waitJS(fmt.Sprintf(`letheDemo.events.filter(e => e.type === "tracksubscribed" && e.trackId === %q).length === 2`, vid), 10*time.Second)
	pg.waitReceiving(gp.ParticipantID(), 10, false, 20*time.Second)
}

// (c) The page publishes camera and microphone, then a canvas as a
// screen share; a Go client receives the tracks with the expected codecs
// and sees the screen announced as one.
func testBrowserPageToGoClient(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()
	pg, pageID := s.joinPage(t, b, "camera", room, true)
	gc := s.join(t, "gorecv", 0, room)

	got := map[string]*webrtc.TrackRemote{} // kind → track
	for len(got) < 2 {
		select {
		case tr := <-gc.tracks:
			if tr.StreamID() != pageID {
				t.Fatalf("Go client got a track of %s, want the page's %s", tr.StreamID(), pageID)
			}
			got[tr.Kind().String()] = tr
		case <-time.After(20 * time.Second):
			t.Fatalf("Go client received %d of 2 tracks from the page", len(got))
		}
	}
	if m := got["video"].Codec().MimeType; m != webrtc.MimeTypeVP8 && m != webrtc.MimeTypeH264 {
		t.Errorf("page video arrives as %s, want VP8 or H.264", m)
	}
	if m := got["audio"].Codec().MimeType; !strings.EqualFold(m, webrtc.MimeTypeOpus) {
		t.Errorf("page audio arrives as %s, want Opus", m)
	}
	for kind, tr := range got {
		readPackets(t, tr, kind, 20)
	}

	// The page's mute button pauses its microphone for everyone.
	if err := chromedp.Do(pg.ctx, chromedp.Click(chromedp.CSS("#mic"))); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, gc.Client, signaling.TypeTrackMuted, 10*time.Second, func(e client.Event) bool {
		m, _ := e.Data.(*signaling.TrackMuted)
		return m != nil && m.ParticipantID == pageID && m.TrackID == got["audio"].ID() && m.Muted
	})

	// A screen share (a canvas, since headless Chromium has no screen to
	// pick) is announced with screenTrackIds and seen as one by everyone.
	var ok bool
	pg.mustEval(`(async () => {
	  const c = document.createElement("canvas"); c.width = 320; c.height = 180;
	  const g = c.getContext("2d"); let n = 0;
	  setInterval(() => { g.fillStyle = n++ % 2 ? "#264653" : "#e9c46a"; g.fillRect(0, 0, 320, 180); }, 100);
	  const lts = await letheDemo.room.publish(c.captureStream(10), {screen: true});
	  return lts.length === 1 && lts[0].screen;
	})()`, &ok)
	if !ok {
		t.Fatal("publishing a canvas as a screen failed")
	}
	e := waitEvent(t, gc.Client, signaling.TypeTrackPublished, 15*time.Second, func(e client.Event) bool {
		tp, _ := e.Data.(*signaling.TrackPublished)
		return tp != nil && tp.Track.ParticipantID == pageID && tp.Track.Kind == "video" && tp.Track.Screen
	})
	screenID := e.Data.(*signaling.TrackPublished).Track.TrackID
	select {
	case tr := <-gc.tracks:
		if tr.ID() != screenID {
			t.Errorf("third track %s, want the screen %s", tr.ID(), screenID)
		}
		readPackets(t, tr, "screen", 5)
	case <-time.After(15 * time.Second):
		t.Fatal("Go client did not receive the page's screen track")
	}
	pg.waitJS(`letheDemo.events.some(e => e.type === "localtrackpublished" && e.screen)`, 5*time.Second)
}

// readPackets reads n RTP packets of tr within 10 s.
func readPackets(t *testing.T, tr *webrtc.TrackRemote, what string, n int) {
	t.Helper()
	if err := tr.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, _, err := tr.ReadRTP(); err != nil {
			t.Fatalf("%s: read packet %d: %v", what, i, err)
		}
	}
}

// (d) A page that restarts its publisher's ICE keeps its media flowing; a
// page whose WebSocket drops rejoins and media resumes both ways; a page
// that closes is removed for the others.
func testBrowserLeaveReconnectRestart(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()
	alice, aliceID := s.joinPage(t, b, "alice", room, true)
	bob, bobID := s.joinPage(t, b, "bob", room, true)
	bob.waitReceiving(aliceID, 5, true, 30*time.Second)
	alice.waitReceiving(bobID, 5, true, 30*time.Second)

	// ICE restart on alice's publisher: new credentials, same participant,
	// bob keeps decoding.
	ufrag := `(letheDemo.room.publisherPC.localDescription.sdp.match(/a=ice-ufrag:(\S+)/) || [])[1]`
	var before, after string
	alice.mustEval(ufrag, &before)
	var restarted bool
	alice.mustEval(`letheDemo.room.restartIce().then(() => true)`, &restarted)
	alice.mustEval(ufrag, &after)
	if before == after {
		t.Errorf("ICE restart kept the ufrag")
	}
	alice.waitJS(`letheDemo.room.publisherPC.iceConnectionState === "connected" || letheDemo.room.publisherPC.iceConnectionState === "completed"`, 15*time.Second)
	bob.waitReceiving(aliceID, 30, true, 20*time.Second)
	if id := alice.participantID(); id != aliceID {
		t.Errorf("alice is %s after the ICE restart, want %s", id, aliceID)
	}

	// Bob's WebSocket drops: he rejoins as a new participant and
	// republishes; alice sees the old one leave and the new one's media.
	bob.mustEval(`letheDemo.room.socket.close(), true`, &restarted)
	bob.waitJS(`letheDemo.events.some(e => e.type === "reconnected")`, 30*time.Second)
	newBobID := bob.participantID()
	if newBobID == bobID || newBobID == "" {
		t.Fatalf("bob rejoined as %q, want a new participant id", newBobID)
	}
	alice.waitJS(fmt.Sprintf(`letheDemo.events.some(e => e.type === "participantleft" && e.participantId === %q)`, bobID), 10*time.Second)
	alice.waitReceiving(newBobID, 10, true, 30*time.Second)
	bob.waitReceiving(aliceID, 10, true, 30*time.Second)

	// Bob closes his page: alice sees him leave, and his tile goes.
	bob.closePage()
	alice.waitJS(fmt.Sprintf(`letheDemo.events.some(e => e.type === "participantleft" && e.participantId === %q)`, newBobID), 15*time.Second)
	alice.waitJS(`letheDemo.room.participants.size === 0 && document.querySelectorAll(".tile").length === 1`, 5*time.Second)
}

// The dev-token endpoint: absent without --dev; with it, it answers
// loopback requests only, its tokens admit the Go client, and the demo
// page joins with one by itself.
func testBrowserDevToken(t *testing.T) {
	leakCheck(t)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(t *testing.T, s *server, query, host, origin string) (*http.Response, []byte) {
		t.Helper()
		u := strings.Replace(strings.TrimSuffix(s.url, "/v1/signal"), "ws://", "http://", 1) + "/v1/dev/token?" + query
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}

	off := startServer(t)
	if resp, _ := get(t, off, "user=devuser&room=1", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("without --dev: %s, want 404", resp.Status)
	}

	s := startServer(t, "--dev")
	uid := s.browserUser("dev")
	port := s.url[strings.LastIndex(s.url, ":")+1 : strings.Index(s.url, "/v1/")]
	q := url.Values{"user": {uid}, "room": {"lobby-dev"}}.Encode()
	for _, c := range []struct {
		name, host, origin string
		want               int
	}{
		// The Host check in front of every endpoint answers first; the
		// dev-token endpoint's own loopback check stays behind it.
		{"rebound DNS name", "rebound.example:" + port, "", http.StatusMisdirectedRequest},
		{"other origin", "", "http://evil.example", http.StatusForbidden},
		{"localhost", "localhost:" + port, "", http.StatusOK},
	} {
		if resp, _ := get(t, s, q, c.host, c.origin); resp.StatusCode != c.want {
			t.Errorf("%s: %s, want %d", c.name, resp.Status, c.want)
		}
	}
	if resp, _ := get(t, s, "user=has+space&room=1", "", ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad user: %s, want 400", resp.Status)
	}
	resp, body := get(t, s, q, "", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("dev token: %s, Cache-Control %q", resp.Status, resp.Header.Get("Cache-Control"))
	}
	var tok struct {
		SDKAppID  uint32 `json:"sdkAppId"`
		UserID    string `json:"userId"`
		UserSig   string `json:"userSig"`
		StrRoomID string `json:"strRoomId"`
		ExpiresAt int64  `json:"expiresAt"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatal(err)
	}
	s.keepSecret(tok.UserSig)
	if tok.SDKAppID != s.appID || tok.UserID != uid || tok.StrRoomID != "lobby-dev" {
		t.Errorf("dev token for app %d user ok=%v room %q", tok.SDKAppID, tok.UserID == uid, tok.StrRoomID)
	}
	if ttl := time.Until(time.Unix(tok.ExpiresAt, 0)); ttl > time.Hour+5*time.Second || ttl < 50*time.Minute {
		t.Errorf("dev token lives %v, want about 1h", ttl)
	}
	c := s.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Join(ctx, signaling.Join{SDKAppID: tok.SDKAppID, UserID: tok.UserID, UserSig: tok.UserSig, StrRoomID: tok.StrRoomID}); err != nil {
		t.Fatalf("join with a dev token: %v", err)
	}
	// The bound token admits no other room.
	c2 := s.dial(t)
	if _, err := c2.Join(ctx, signaling.Join{SDKAppID: tok.SDKAppID, UserID: tok.UserID, UserSig: tok.UserSig, StrRoomID: "elsewhere"}); err == nil {
		t.Error("a dev token bound to lobby-dev admitted another room")
	}

	// The page, with no token in its URL, gets one by itself.
	b := newBrowser(t)
	pg := b.newPage(t, "dev")
	pg.open(s.pageURL("", "", ""))
	pg.waitJS(`letheDemo.dev === true && document.getElementById("token-box").hidden`, 5*time.Second)
	// lethe.js reads rooms as the server does.
	rooms := []string{"1", "42", "4294967294", "4294967295", "0", "042", "lobby", "12a", "99999999999"}
	in, _ := json.Marshal(rooms)
	var parsed []struct {
		RoomID    uint32 `json:"roomId"`
		StrRoomID string `json:"strRoomId"`
	}
	pg.mustEval(`import("/lethe.js").then(m => `+string(in)+`.map(m.parseRoom))`, &parsed)
	for i, r := range rooms {
		num, str, _ := web.ParseRoom(r)
		if i >= len(parsed) || parsed[i].RoomID != num || parsed[i].StrRoomID != str {
			t.Errorf("room %q: lethe.js and web.ParseRoom disagree (%+v)", r, parsed)
		}
	}
	pageUID := s.browserUser("devpage")
	pg.join(pageUID, "lobby-dev", false)
	waitEvent(t, c, signaling.TypeParticipantJoined, 10*time.Second, nil)
}

// (g) The pages' network changes: every UDP socket they had stops working,
// both ways, for good. The server restarts each page's subscriber ICE with
// an offer and asks each to restart its publisher's; lethe.js answers and
// offers with new credentials, the browser gathers new sockets, and media
// resumes both ways with the same participants: no rejoin.
func testBrowserICERestart(t *testing.T) {
	if os.Getenv(browserNetnsEnv) == "" {
		t.Skip("needs the test's own network namespace (run as root) to cut UDP")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not found (apt-get install nftables)")
	}
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t)
	room := newRoomName()
	alice, aliceID := s.joinPage(t, b, "alice", room, true)
	bob, bobID := s.joinPage(t, b, "bob", room, true)
	bob.waitReceiving(aliceID, 5, true, 30*time.Second)
	alice.waitReceiving(bobID, 5, true, 30*time.Second)

	const ufrags = `(() => { const u = (d) => ((d?.sdp ?? "").match(/a=ice-ufrag:(\S+)/) || [])[1] ?? "";
	  return [u(letheDemo.room.publisherPC.localDescription), u(letheDemo.room.subscriberPC.remoteDescription)]; })()`
	var aliceBefore, bobBefore []string
	alice.mustEval(ufrags, &aliceBefore)
	bob.mustEval(ufrags, &bobBefore)

	fw := newFirewall(t)
	fw.drop(udpPortsBut(t, s.workerPort(t)), true)
	cut := time.Now()
	bob.waitReceiving(aliceID, 10, true, 25*time.Second)
	t.Logf("bob decodes alice again %v after the cut", time.Since(cut).Round(100*time.Millisecond))
	alice.waitReceiving(bobID, 10, true, 15*time.Second)

	for _, pg := range []struct {
		p      *page
		id     string
		before []string
	}{{alice, aliceID, aliceBefore}, {bob, bobID, bobBefore}} {
		if id := pg.p.participantID(); id != pg.id {
			t.Errorf("%s is %s after the outage, want %s: it rejoined", pg.p.name, id, pg.id)
		}
		var after []string
		pg.p.mustEval(ufrags, &after)
		if len(after) != 2 || after[0] == pg.before[0] || after[1] == pg.before[1] {
			t.Errorf("%s: ICE credentials (publisher local, subscriber remote) %v, before %v: want both new", pg.p.name, after, pg.before)
		}
		var rejoins bool
		pg.p.mustEval(`letheDemo.events.some(e => e.type === "reconnecting")`, &rejoins)
		if rejoins {
			t.Errorf("%s reconnected; events: %s", pg.p.name, pg.p.events())
		}
		pg.p.waitJS(`letheDemo.events.some(e => e.type === "icerestart" && e.target === "subscriber" && e.by === "server")`, time.Second)
		pg.p.waitJS(`letheDemo.events.some(e => e.type === "icerestart" && e.target === "publisher")`, time.Second)
	}
}
