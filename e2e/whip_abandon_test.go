package e2e

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// A WHIP client that posts its offer and never connects (it went away)
// does not leave its session behind: the media connection fails, the
// session ends, its resource answers 404.
func TestWHIPAbandonedSessionEnds(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	room := "whipgone-" + strings.ToLower(rand.Text()[:6])
	pc := newLoopbackPC(t)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = pc.Close() // its ICE credentials and fingerprint stay in the offer; nobody answers checks
	w := &whipClient{http: s.httpClient(), token: s.token("gone-" + rand.Text()[:6])}
	resp, body := w.do(t, http.MethodPost, s.httpBase()+"/v1/whip?strRoom="+room, "application/sdp", o.SDP)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	start := time.Now()
	loc := s.httpBase() + resp.Header.Get("Location")
	for {
		resp, _ := w.do(t, http.MethodPatch, loc, "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n")
		if resp.StatusCode == http.StatusNotFound {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("the abandoned session still answers %d after %v", resp.StatusCode, time.Since(start))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("the abandoned WHIP session ended %v after its POST", time.Since(start).Round(100*time.Millisecond))
	waitSessions(t, s, 0)
}
