package control

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/signaling"
)

// whipToken is a JWT-shaped token for the fake verifier: Peek reads app
// and user from its payload, tokenClaims passes it for its "good" prefix.
func whipToken(user string) string {
	payload, _ := json.Marshal(map[string]any{"sdkappid": 1400000001, "sub": user})
	return "good." + base64.RawURLEncoding.EncodeToString(payload) + ".sig"
}

const whipOffer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\n" +
	"a=fingerprint:sha-256 00:11\r\na=setup:actpass\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n"

// fakeWorker plays the media worker of every session the backend opens:
// joined, then for an offer two candidates, the end of them and the answer.
func fakeWorker(h *harness, done <-chan struct{}) {
	for {
		var op *opened
		select {
		case op = <-h.opens:
		case <-done:
			return
		}
		raw, _ := signaling.Encode(signaling.TypeJoined, op.open.JoinID, signaling.Joined{ParticipantID: "PA_x", Role: op.open.Role,
			Permissions: signaling.PermissionsOf(op.open.Send, op.open.Receive),
			IceServers:  []signaling.ICEServer{{URLs: []string{"turn:127.0.0.1:3478?transport=udp"}, Username: "u", Credential: "c"}}})
		op.sink.Deliver(raw)
		go func() {
			for {
				select {
				case m := <-op.sent:
					var env signaling.Envelope
					if json.Unmarshal(m, &env) != nil || env.Type != signaling.TypeOffer {
						continue
					}
					var o signaling.SDP
					_ = json.Unmarshal(env.Data, &o)
					for _, c := range []string{"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", "candidate:2 1 udp 2130706431 127.0.0.1 5001 typ host"} {
						cand, _ := signaling.Encode(signaling.TypeCandidate, 0, map[string]any{"target": o.Target, "candidate": map[string]any{"candidate": c}})
						op.sink.Deliver(cand)
					}
					end, _ := signaling.Encode(signaling.TypeCandidate, 0, map[string]any{"target": o.Target, "candidate": nil})
					op.sink.Deliver(end)
					ans, _ := signaling.Encode(signaling.TypeAnswer, env.ID, signaling.SDP{Target: o.Target, SDP: strings.Replace(o.SDP, "a=sendonly", "a=recvonly", 1)})
					op.sink.Deliver(ans)
				case <-op.closed:
					op.sink.Closed(signaling.Closed{})
					return
				}
			}
		}()
	}
}

func whipDo(t *testing.T, method, url, token, ctype, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Sessions made in parallel (under -race) each get their answer with the
// worker's candidates, Location, ETag and Link; a PATCH reaches the
// worker, another user's is refused, and DELETE leaves nothing behind.
func TestWHIPSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	whip := NewWHIP(h.srv, HTTPMediaConfig{})
	hs := httptest.NewServer(whip)
	defer hs.Close()
	done := make(chan struct{})
	defer close(done)
	go fakeWorker(h, done)

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := whipToken("enc-" + string(rune('a'+i)))
			resp, body := whipDo(t, "POST", hs.URL+"/v1/whip?room=7", tok, "application/sdp", whipOffer)
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("POST: %d %s", resp.StatusCode, body)
				return
			}
			loc, link := resp.Header.Get("Location"), resp.Header.Get("Link")
			if !strings.HasPrefix(loc, "/v1/whip/") || len(loc) != len("/v1/whip/")+32 || resp.Header.Get("ETag") == "" ||
				!strings.Contains(link, `rel="ice-server"`) || !strings.Contains(link, `username="u"`) {
				t.Errorf("POST headers: %v", resp.Header)
			}
			if strings.Count(body, "a=candidate:") != 2 || !strings.Contains(body, "a=end-of-candidates") {
				t.Errorf("answer without the worker's candidates: %q", body)
			}
			frag := "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=candidate:9 1 udp 1 127.0.0.1 6000 typ host\r\n"
			if resp, _ := whipDo(t, "PATCH", hs.URL+loc, tok, "application/trickle-ice-sdpfrag", frag); resp.StatusCode != http.StatusNoContent {
				t.Errorf("PATCH: %d", resp.StatusCode)
			}
			if resp, _ := whipDo(t, "PATCH", hs.URL+loc, whipToken("other"), "application/trickle-ice-sdpfrag", frag); resp.StatusCode != http.StatusForbidden {
				t.Errorf("PATCH by another user: %d", resp.StatusCode)
			}
			if resp, _ := whipDo(t, "DELETE", hs.URL+loc, tok, "", ""); resp.StatusCode != http.StatusOK {
				t.Errorf("DELETE: %d", resp.StatusCode)
			}
			if resp, _ := whipDo(t, "DELETE", hs.URL+loc, tok, "", ""); resp.StatusCode != http.StatusNotFound {
				t.Errorf("second DELETE: %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if n, c := whip.Sessions(), h.srv.Connections(); n != 0 || c != 0 {
		t.Errorf("after DELETE: %d sessions, %d connections", n, c)
	}
	if rooms := h.srv.reg.members(1400000001, ""); len(rooms) != 0 {
		t.Errorf("rooms left: %v", rooms)
	}
	if st := h.srv.Stats(); st.Open != 0 {
		t.Errorf("connections still counted: %+v", st)
	}
}

// A shutdown ends WHIP sessions as it ends WebSocket clients.
func TestWHIPShutdown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	whip := NewWHIP(h.srv, HTTPMediaConfig{})
	hs := httptest.NewServer(whip)
	defer hs.Close()
	done := make(chan struct{})
	defer close(done)
	go fakeWorker(h, done)
	resp, body := whipDo(t, "POST", hs.URL+"/v1/whip?strRoom=s", whipToken("enc"), "application/sdp", whipOffer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	if err := h.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := whip.Sessions(); n != 0 {
		t.Errorf("%d sessions after Shutdown", n)
	}
	if resp, _ := whipDo(t, "POST", hs.URL+"/v1/whip?strRoom=s", whipToken("enc"), "application/sdp", whipOffer); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST after Shutdown: %d, want 503", resp.StatusCode)
	}
}

func TestRoomOfAndStatus(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		bound       bool
		status      int
	}{
		{"numeric", "room=7", false, 0},
		{"string", "strRoom=x", false, 0},
		{"none", "", false, 400},
		{"both", "room=7&strRoom=x", false, 400},
		{"zero", "room=0", false, 400},
		{"not a number", "room=x", false, 400},
		{"bound, no parameter", "", true, 0},
		{"bound, same room", "strRoom=live", true, 0},
		{"bound, other room", "strRoom=other", true, 403},
		{"bound, numeric", "room=7", true, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := urlQuery(tc.query)
			w := authWant(tc.bound)
			if st, _ := roomOf(q, &w); st != tc.status {
				t.Fatalf("roomOf(%q) = %d, want %d", tc.query, st, tc.status)
			}
		})
	}
	for code, want := range map[signaling.Code]int{
		signaling.CodeTokenSignature: 401, signaling.CodeTokenExpired: 401, signaling.CodeRoomMismatch: 403,
		signaling.CodeNoPrivilege: 403, signaling.CodeRoomFull: 409, signaling.CodeDraining: 503, signaling.CodeBadSDP: 400,
		signaling.CodeNotAllowed: 403, signaling.CodeInternal: 500, signaling.CodeTooLarge: 413,
	} {
		if got := statusOf(code); got != want {
			t.Errorf("statusOf(%d) = %d, want %d", code, got, want)
		}
	}
}

func urlQuery(s string) (url.Values, error) { return url.ParseQuery(s) }

func authWant(bound bool) auth.Want {
	w := auth.Want{SDKAppID: 1, UserID: "u"}
	if bound {
		w.StrRoomID = "live"
	}
	return w
}

// WHIP sessions count toward the room's limits: with room for one
// participant, a second session is refused with 409 and leaves nothing.
func TestWHIPRoomLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *ServerConfig) {
		c.Limits = func(context.Context, uint32) (Limits, error) { return Limits{MaxParticipants: 1}, nil }
	})
	whip := NewWHIP(h.srv, HTTPMediaConfig{})
	hs := httptest.NewServer(whip)
	defer hs.Close()
	done := make(chan struct{})
	defer close(done)
	go fakeWorker(h, done)
	if resp, body := whipDo(t, "POST", hs.URL+"/v1/whip?room=9", whipToken("first"), "application/sdp", whipOffer); resp.StatusCode != http.StatusCreated {
		t.Fatalf("first POST: %d %s", resp.StatusCode, body)
	}
	resp, _ := whipDo(t, "POST", hs.URL+"/v1/whip?room=9", whipToken("second"), "application/sdp", whipOffer)
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("X-Lethe-Code") != "4004" {
		t.Fatalf("second POST: %d (code %s), want 409 (4004)", resp.StatusCode, resp.Header.Get("X-Lethe-Code"))
	}
	if n, c := whip.Sessions(), h.srv.Connections(); n != 1 || c != 1 {
		t.Errorf("%d sessions, %d connections; want the first only", n, c)
	}
}
