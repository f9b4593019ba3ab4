package e2e

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/client"
	"github.com/pion/webrtc/v4"
)

// whipClient is a minimal WHIP client (RFC 9725) for the tests: net/http
// and a Pion PeerConnection, loopback candidates, no mDNS, no STUN.
type whipClient struct {
	pc       *webrtc.PeerConnection
	http     *http.Client
	base     string
	token    string
	location string
	etag     string
	answer   string // the last remote description
}

func newLoopbackPC(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	api, err := client.NewLoopbackAPI() // loopback candidates, no mDNS, no STUN
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

// answerRTCP hands what the sender receives to its track's source, which
// answers PLI and FIR with a keyframe, until the sender is closed.
func answerRTCP(s *webrtc.RTPSender, tr *client.Track) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		tr.HandleRTCP(pkts)
	}
}

// do sends one WHIP request and returns the response and its body.
func (w *whipClient) do(t *testing.T, method, url, ctype, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := w.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// publish offers the PeerConnection's tracks at query (e.g. "?strRoom=x")
// without waiting for candidates, trickles them with PATCH, and returns
// once the POST is answered.
func (w *whipClient) publish(t *testing.T, query string) {
	t.Helper()
	offer, err := w.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	cands := make(chan string, 16)
	w.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			cands <- c.ToJSON().Candidate
		}
	})
	if err := w.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, body := w.do(t, http.MethodPost, w.base+"/v1/whip"+query, "application/sdp", offer.SDP)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	t.Logf("WHIP POST answered 201 in %v (admission, join, the worker's answer and its candidates)", time.Since(start).Round(time.Millisecond))
	w.location, w.etag = resp.Header.Get("Location"), resp.Header.Get("ETag")
	if w.location == "" || w.etag == "" || resp.Header.Get("Content-Type") != "application/sdp" {
		t.Fatalf("POST: Location %q, ETag %q, Content-Type %q", w.location, w.etag, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, "a=candidate:") {
		t.Fatalf("the answer carries no candidates")
	}
	if err := w.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
	w.answer = body
	ufrag := ""
	for _, l := range strings.Split(offer.SDP, "\r\n") {
		if v, ok := strings.CutPrefix(l, "a=ice-ufrag:"); ok {
			ufrag = v
			break
		}
	}
	// Trickle what has been gathered by now (RFC 8840 fragment).
	timeout := time.After(2 * time.Second)
	var frag strings.Builder
	frag.WriteString("a=ice-ufrag:" + ufrag + "\r\n")
	pwd := ""
	for _, l := range strings.Split(offer.SDP, "\r\n") {
		if v, ok := strings.CutPrefix(l, "a=ice-pwd:"); ok {
			pwd = v
			break
		}
	}
	frag.WriteString("a=ice-pwd:" + pwd + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n")
	n := 0
collect:
	for {
		select {
		case c := <-cands:
			frag.WriteString("a=" + c + "\r\n")
			n++
		case <-timeout:
			break collect
		}
	}
	if n == 0 {
		t.Fatal("no local candidates to trickle")
	}
	resp, body = w.do(t, http.MethodPatch, w.base+w.location, "application/trickle-ice-sdpfrag", frag.String(), "If-Match", w.etag)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH trickle: %d %s", resp.StatusCode, body)
	}
}

// sdpValue is the value of the first "a=<key>:" line of s.
func sdpValue(s, key string) string {
	for _, l := range strings.Split(s, "\r\n") {
		if v, ok := strings.CutPrefix(l, "a="+key+":"); ok {
			return v
		}
	}
	return ""
}

// restartICE restarts ICE as RFC 9725 4.4 says: an offer with new
// credentials, their fragment PATCHed with If-Match: *, and the server's
// fragment (new credentials, candidates) put into the last answer.
func (w *whipClient) restartICE(t *testing.T) {
	t.Helper()
	offer, err := w.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-webrtc.GatheringCompletePromise(w.pc)
	local := w.pc.LocalDescription().SDP
	frag := "a=ice-ufrag:" + sdpValue(local, "ice-ufrag") + "\r\na=ice-pwd:" + sdpValue(local, "ice-pwd") + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
	for _, l := range strings.Split(local, "\r\n") {
		if strings.HasPrefix(l, "a=candidate:") {
			frag += l + "\r\n"
		}
	}
	start := time.Now()
	resp, body := w.do(t, http.MethodPatch, w.base+w.location, "application/trickle-ice-sdpfrag", frag, "If-Match", "*")
	t.Logf("ICE restart PATCH answered %d in %v", resp.StatusCode, time.Since(start).Round(time.Millisecond))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/trickle-ice-sdpfrag" {
		t.Fatalf("PATCH ICE restart: %d %q", resp.StatusCode, body)
	}
	if e := resp.Header.Get("ETag"); e == "" || e == w.etag {
		t.Fatalf("ICE restart: ETag %q, was %q", e, w.etag)
	}
	w.etag = resp.Header.Get("ETag")
	ufrag, pwd := sdpValue(body, "ice-ufrag"), sdpValue(body, "ice-pwd")
	if ufrag == "" || ufrag == sdpValue(w.answer, "ice-ufrag") || !strings.Contains(body, "a=candidate:") {
		t.Fatalf("ICE restart answer fragment: %q", body)
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(w.answer, "\r\n"), "\r\n") {
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:"):
			l = "a=ice-ufrag:" + ufrag
		case strings.HasPrefix(l, "a=ice-pwd:"):
			l = "a=ice-pwd:" + pwd
		case strings.HasPrefix(l, "a=candidate:"), l == "a=end-of-candidates":
			continue
		}
		b.WriteString(l + "\r\n")
	}
	answer := b.String()
	if err := w.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(body, "\r\n") {
		if c, ok := strings.CutPrefix(l, "a="); ok && strings.HasPrefix(c, "candidate:") {
			if err := w.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c}); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.answer = answer
}

// waitSessions waits until the control process holds n sessions
// (connections, WHIP and WHEP included) and its workers n in all: what a
// session that ended must leave behind is nothing.
func waitSessions(t *testing.T, s *server, n int) {
	t.Helper()
	api := s.adminClient(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rt, err := api.Runtime(ctxT(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		workers := 0
		for _, pr := range rt.Processes[1:] {
			workers += pr.Sessions
		}
		if rt.Processes[0].Sessions == n && workers == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions: control %d, workers %d; want %d", rt.Processes[0].Sessions, workers, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A Go WHIP client publishes VP8 and Opus into a room; a participant of
// the room receives both, intact; DELETE ends the session, and the
// participant sees it leave; the session resource is gone.
func TestWHIPPublishesIntoRoom(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	room := "whip-" + strings.ToLower(rand.Text()[:6])
	viewer := s.join(t, "viewer", 0, room)

	uid := "obs-" + rand.Text()[:8]
	w := &whipClient{pc: newLoopbackPC(t), http: s.httpClient(), base: s.httpBase(), token: s.token(uid)}
	v, err := client.NewVP8Track("video-whip", "stream-whip", client.SourceOptions{})
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
		go answerRTCP(x.Sender(), tr) // PLI gets a keyframe; ends with the PeerConnection
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.Start(ctx)
	a.Start(ctx)
	t.Cleanup(func() { cancel(); _ = v.Close(); _ = a.Close() })
	w.publish(t, "?strRoom="+room)

	waitEvent(t, viewer.Client, "participantJoined", 10*time.Second, nil)
	connected := make(chan struct{})
	w.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		t.Logf("whip pc %s", st)
		if st == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	if w.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		select {
		case <-connected:
		case <-time.After(10 * time.Second):
			t.Fatalf("the WHIP PeerConnection did not connect: %s", w.pc.ConnectionState())
		}
	}
	waitEvent(t, viewer.Client, "trackPublished", 10*time.Second, nil)
	ch := viewer.firstVideo(t)
	deadline := time.Now().Add(15 * time.Second)
	for ch.Stats().Packets < 50 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if st := ch.Stats(); st.Packets < 50 || st.BadMarkers != 0 {
		t.Fatalf("viewer got %d packets of the WHIP video, %d bad markers", st.Packets, st.BadMarkers)
	}

	// An ICE restart by PATCH: media goes on over the new ICE session.
	w.restartICE(t)
	before := ch.Stats().Packets
	deadline = time.Now().Add(15 * time.Second)
	for ch.Stats().Packets < before+50 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := ch.Stats().Packets - before; got < 50 {
		t.Fatalf("after the ICE restart the viewer got %d more packets", got)
	}

	// Another user's token may not touch the session.
	other := &whipClient{http: s.httpClient(), base: s.httpBase(), token: s.token("intruder-" + rand.Text()[:6])}
	if resp, _ := other.do(t, http.MethodDelete, s.httpBase()+w.location, "", ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("DELETE with another user's token: %d, want 403", resp.StatusCode)
	}
	if resp, body := w.do(t, http.MethodDelete, s.httpBase()+w.location, "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	waitEvent(t, viewer.Client, "participantLeft", 10*time.Second, nil)
	if resp, _ := w.do(t, http.MethodPatch, s.httpBase()+w.location, "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("PATCH after DELETE: %d, want 404", resp.StatusCode)
	}
	rooms, err := s.adminClient(t).ListRooms(ctxT(t, 5*time.Second), s.appID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		if r.StrRoomID == room && len(r.Participants) != 1 {
			t.Fatalf("room has %d participants after DELETE, want the viewer only", len(r.Participants))
		}
	}
	waitSessions(t, s, 1) // the viewer's
	_ = viewer.Close()
	_ = w.pc.Close()
}

// Bad WHIP requests get RFC 9725's status codes, and nothing of them is
// left in any room.
func TestWHIPRefusesBadInput(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	room := "whipbad-" + strings.ToLower(rand.Text()[:6])
	uid := "enc-" + rand.Text()[:8]
	good := s.token(uid)
	bound := s.token(uid, "--str-room", "elsewhere", "--privileges", "255")
	offer := func() string {
		pc := newLoopbackPC(t)
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
		o, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		return o.SDP
	}()
	url := s.httpBase() + "/v1/whip?strRoom=" + room
	for _, tc := range []struct {
		name, method, url, token, ctype, body string
		status                                int
	}{
		{name: "no token", method: "POST", url: url, ctype: "application/sdp", body: offer, status: 401},
		{name: "bad token", method: "POST", url: url, token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.x", ctype: "application/sdp", body: offer, status: 401},
		{name: "forged token", method: "POST", url: url, token: good[:len(good)-4] + "AAAA", ctype: "application/sdp", body: offer, status: 401},
		{name: "wrong room", method: "POST", url: url, token: bound, ctype: "application/sdp", body: offer, status: 403},
		{name: "no room", method: "POST", url: s.httpBase() + "/v1/whip", token: good, ctype: "application/sdp", body: offer, status: 400},
		{name: "not SDP", method: "POST", url: url, token: good, ctype: "application/sdp", body: "hello, world", status: 400},
		{name: "wrong content type", method: "POST", url: url, token: good, ctype: "application/json", body: "{}", status: 415},
		{name: "body over the limit", method: "POST", url: url, token: good, ctype: "application/sdp", body: offer + strings.Repeat("a=x\r\n", 20000), status: 413},
		{name: "GET", method: "GET", url: url, token: good, status: 405},
		{name: "PATCH unknown session", method: "PATCH", url: s.httpBase() + "/v1/whip/0123456789abcdef", token: good, ctype: "application/trickle-ice-sdpfrag", body: "a=end-of-candidates\r\n", status: 404},
		{name: "DELETE unknown session", method: "DELETE", url: s.httpBase() + "/v1/whip/0123456789abcdef", token: good, status: 404},
		{name: "DELETE without token", method: "DELETE", url: s.httpBase() + "/v1/whip/0123456789abcdef", status: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &whipClient{http: s.httpClient(), token: tc.token}
			resp, body := w.do(t, tc.method, tc.url, tc.ctype, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s: %d %q, want %d", tc.name, resp.StatusCode, body, tc.status)
			}
			if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without a Bearer challenge")
			}
		})
	}
	// CORS preflight.
	w := &whipClient{http: s.httpClient()}
	resp, _ := w.do(t, http.MethodOptions, url, "", "", "Origin", s.httpBase(), "Access-Control-Request-Method", "POST")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Accept-Post") != "application/sdp" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Fatalf("OPTIONS: %d, headers %v", resp.StatusCode, resp.Header)
	}
	rooms, err := s.adminClient(t).ListRooms(ctxT(t, 5*time.Second), s.appID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 0 {
		t.Fatalf("%d rooms left behind by refused requests", len(rooms))
	}
	waitSessions(t, s, 0)
}

// A WHEP player (Pion) receives a participant's video and audio, named by
// ?participant= or picked (the one publishing video), as a hidden
// audience member; DELETE ends it.
func TestWHEPPlaysParticipant(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	room := "whep-" + strings.ToLower(rand.Text()[:6])
	pub := s.join(t, "anchor", 0, room)
	pub.publishAV(t, false, client.SourceOptions{})
	waitTracks := time.Now().Add(10 * time.Second)
	for _, q := range []string{"?strRoom=" + room, "?strRoom=" + room + "&participant=" + pub.ParticipantID()} {
		t.Run(q, func(t *testing.T) {
			pc := newLoopbackPC(t)
			got := make(chan *webrtc.TrackRemote, 4)
			pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { got <- tr })
			offer := playerOffer(t, pc)
			w := &whipClient{pc: pc, http: s.httpClient(), token: s.token("player-" + rand.Text()[:6])}
			var resp *http.Response
			var body string
			for { // the publisher's tracks reach the edge's registry soon after publish
				resp, body = w.do(t, http.MethodPost, s.httpBase()+"/v1/whep"+q, "application/sdp", offer)
				if resp.StatusCode != http.StatusNotFound || time.Now().After(waitTracks) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("POST: %d %s", resp.StatusCode, body)
			}
			loc := resp.Header.Get("Location")
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
				t.Fatal(err)
			}
			var video *client.Checker
			for video == nil {
				select {
				case tr := <-got:
					ch := checkTrack(t, tr)
					if tr.Kind() == webrtc.RTPCodecTypeVideo {
						video = ch
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("the player received no video track; answer:\n%s", body)
				}
			}
			deadline := time.Now().Add(15 * time.Second)
			for video.Stats().Packets < 50 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if st := video.Stats(); st.Packets < 50 || st.BadMarkers != 0 {
				t.Fatalf("player got %d video packets, %d bad markers", st.Packets, st.BadMarkers)
			}
			if resp, body := w.do(t, http.MethodDelete, s.httpBase()+loc, "", ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
			}
			_ = pc.Close()
		})
	}
	rooms, err := s.adminClient(t).ListRooms(ctxT(t, 5*time.Second), s.appID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		if r.StrRoomID == room && len(r.Participants) != 1 {
			t.Fatalf("room has %d participants after the players left, want the anchor only", len(r.Participants))
		}
	}

	// A session playing a named participant ends when that one leaves.
	pc := newLoopbackPC(t)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &whipClient{http: s.httpClient(), token: s.token("player-" + rand.Text()[:6])}
	resp, body := w.do(t, http.MethodPost, s.httpBase()+"/v1/whep?strRoom="+room+"&participant="+pub.ParticipantID(), "application/sdp", o.SDP)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	loc := s.httpBase() + resp.Header.Get("Location")
	if err := pub.Leave(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, _ := w.do(t, http.MethodPatch, loc, "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n")
		if resp.StatusCode == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WHEP session outlived its participant: PATCH %d", resp.StatusCode)
		}
	}
	waitSessions(t, s, 0)
}

// Bad WHEP requests get their status codes and leave nothing behind; a
// dismissed room ends a WHEP session.
func TestWHEPRefusesBadInput(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	room := "whepbad-" + strings.ToLower(rand.Text()[:6])
	uid := "player-" + rand.Text()[:8]
	good := s.token(uid)
	pc := newLoopbackPC(t)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-webrtc.GatheringCompletePromise(pc)
	offer := pc.LocalDescription().SDP
	url := s.httpBase() + "/v1/whep?strRoom=" + room
	post := func(token, u, body string) int {
		w := &whipClient{http: s.httpClient(), token: token}
		resp, _ := w.do(t, http.MethodPost, u, "application/sdp", body)
		return resp.StatusCode
	}
	if st := post("", url, offer); st != 401 {
		t.Errorf("no token: %d, want 401", st)
	}
	if st := post(good, url, "v=0\r\nnonsense"); st != 400 {
		t.Errorf("not SDP: %d, want 400", st)
	}
	if st := post(good, url, offer); st != 404 {
		t.Errorf("nobody publishes: %d, want 404", st)
	}
	noRecv := s.token(uid, "--str-room", room, "--privileges", "3") // create and enter only
	if st := post(noRecv, url, offer); st != 403 {
		t.Errorf("no receive privilege: %d, want 403", st)
	}
	rooms, err := s.adminClient(t).ListRooms(ctxT(t, 5*time.Second), s.appID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 0 {
		t.Fatalf("%d rooms left behind by refused WHEP requests", len(rooms))
	}
	waitSessions(t, s, 0)

	// A live session: no ICE restart, not another user's, ended by a
	// dismissal.
	pub := s.join(t, "anchor", 0, room)
	pub.publishAV(t, false, client.SourceOptions{})
	w := &whipClient{http: s.httpClient(), token: good}
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, _ = w.do(t, http.MethodPost, url, "application/sdp", offer)
		if resp.StatusCode != http.StatusNotFound || time.Now().After(deadline) {
			break
		}
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	loc := s.httpBase() + resp.Header.Get("Location")
	restart := "a=ice-ufrag:fresh\r\na=ice-pwd:0123456789abcdef012345\r\n"
	if resp, _ := w.do(t, http.MethodPatch, loc, "application/trickle-ice-sdpfrag", restart); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("ICE restart of a WHEP session: %d, want 405", resp.StatusCode)
	}
	if resp, _ := w.do(t, http.MethodPatch, loc, "application/trickle-ice-sdpfrag", restart, "If-Match", `"stale"`); resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("PATCH with a stale ETag: %d, want 412", resp.StatusCode)
	}
	other := &whipClient{http: s.httpClient(), token: s.token("intruder-" + rand.Text()[:6])}
	if resp, _ := other.do(t, http.MethodPatch, loc, "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("PATCH with another user's token: %d, want 403", resp.StatusCode)
	}
	if err := s.adminClient(t).DismissRoom(ctxT(t, 5*time.Second), s.appID, admin.RoomJSON{StrRoomID: room}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, _ := w.do(t, http.MethodPatch, loc, "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n")
		if resp.StatusCode == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PATCH after the dismissal: %d, want 404", resp.StatusCode)
		}
	}
	waitSessions(t, s, 0)
	_ = pub.Close()
}

// playerOffer gives pc a receiving video and audio m-section and returns
// its offer with every candidate: what a WHEP player posts.
func playerOffer(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-webrtc.GatheringCompletePromise(pc)
	return pc.LocalDescription().SDP
}

// sourceReader records which marker stream a received track carries.
type sourceReader struct {
	mu      sync.Mutex
	streams []uint32 // the stream of each change, in order
	ssrcs   map[uint32]bool
	packets int
}

func (m *sourceReader) run(tr *webrtc.TrackRemote) {
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		mk, ok := client.ParseMarker(p.Payload)
		m.mu.Lock()
		m.packets++
		m.ssrcs[p.SSRC] = true
		if ok && (len(m.streams) == 0 || m.streams[len(m.streams)-1] != mk.StreamID) {
			m.streams = append(m.streams, mk.StreamID)
		}
		m.mu.Unlock()
	}
}

// now returns the stream the track carries now (0: none yet) and how
// many changes of stream it has seen.
func (m *sourceReader) now() (uint32, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.streams) == 0 {
		return 0, 0
	}
	return m.streams[len(m.streams)-1], len(m.streams) - 1
}

// A WHEP player that names nobody follows the room's speaker through the
// real binary: its one video and one audio section switch to whoever
// speaks, the session outlives the publishers that leave, and a later
// publisher is played in it; nothing is negotiated again.
func TestWHEPFollowsSpeaker(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	room := "follow-" + strings.ToLower(rand.Text()[:6])
	type speaker struct {
		p     *participant
		audio *client.Track
		vid   uint32
	}
	n := uint32(0)
	publish := func(user string, dBov int) speaker {
		n++
		p := s.join(t, user, 0, room)
		vid := 7000 + n
		tracks := p.publishAV(t, false, client.SourceOptions{MarkerStream: vid, KeyframeInterval: 3 * time.Second})
		tracks[1].SetAudioLevel(dBov)
		return speaker{p: p, audio: tracks[1], vid: vid}
	}
	alice := publish("alice", -20)
	bob := publish("bob", -127)

	pc := newLoopbackPC(t)
	video := &sourceReader{ssrcs: map[uint32]bool{}}
	var onTracks atomic.Int32
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		onTracks.Add(1)
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			go video.run(tr)
		} else {
			go func() {
				for {
					if _, _, err := tr.ReadRTP(); err != nil {
						return
					}
				}
			}()
		}
	})
	offer := playerOffer(t, pc)
	w := &whipClient{pc: pc, http: s.httpClient(), token: s.token("player-" + rand.Text()[:6])}
	var resp *http.Response
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, body = w.do(t, http.MethodPost, s.httpBase()+"/v1/whep?strRoom="+room, "application/sdp", offer)
		if resp.StatusCode != http.StatusNotFound || time.Now().After(deadline) {
			break
		}
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	loc := s.httpBase() + resp.Header.Get("Location")
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
	showing := func(what string, vid uint32) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if cur, _ := video.now(); cur == vid {
				return
			}
			if time.Now().After(deadline) {
				cur, _ := video.now()
				t.Fatalf("the player does not show %s: stream %d", what, cur)
			}
		}
	}
	showing("alice, the speaker", alice.vid)
	alice.audio.SetAudioLevel(-127)
	bob.audio.SetAudioLevel(-20)
	showing("bob once he speaks", bob.vid)

	// Every publisher leaves: the session stays; a newcomer is played.
	for _, sp := range []speaker{alice, bob} {
		if err := sp.p.Leave(ctxT(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	if resp, _ := w.do(t, http.MethodPatch, loc, "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the following session ended with the room's publishers: PATCH %d", resp.StatusCode)
	}
	carol := publish("carol", -127)
	showing("carol, who published later", carol.vid)

	video.mu.Lock()
	ssrcs, changes := len(video.ssrcs), len(video.streams)-1
	video.mu.Unlock()
	if ssrcs != 1 || changes < 2 {
		t.Errorf("the player's video: %d SSRCs, %d changes of source; want one stream, at least 2 changes", ssrcs, changes)
	}
	if n := onTracks.Load(); n != 2 {
		t.Errorf("the player saw %d tracks, want 2 (one per section, never renegotiated)", n)
	}
	if resp, body := w.do(t, http.MethodDelete, loc, "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	_ = pc.Close()
	if err := carol.p.Leave(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, s, 0)
}
