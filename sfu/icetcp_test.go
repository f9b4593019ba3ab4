package sfu_test

import (
	"net"
	"testing"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/sfu"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// selectedProtocol returns the protocol of the pair pc's ICE has selected.
func selectedProtocol(t *testing.T, pc *webrtc.PeerConnection) webrtc.ICEProtocol {
	t.Helper()
	pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("no selected candidate pair: %v", err)
	}
	return pair.Local.Protocol
}

// A publisher and a subscriber that can use TCP only reach the SFU over
// its ICE-TCP listener, and the media flows both ways through it; the
// SFU's TCP candidates and Advertised name the listener's address.
func TestForwardingOverICETCP(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, _, stop := startSFUWith(t, nil, sfu.Config{TCPListener: ln})
	defer stop()
	api, err := client.NewAPI(client.APIConfig{Loopback: true, Transport: client.TransportTCP})
	if err != nil {
		t.Fatal(err)
	}
	udp, tcp := s.Advertised()
	if len(udp) != 1 || len(tcp) != 1 || tcp[0].String() != ln.Addr().String() || !udp[0].Addr().IsLoopback() {
		t.Errorf("Advertised() = %v, %v; want the loopback UDP socket and %s", udp, tcp, ln.Addr())
	}

	sub, _ := join(t, s, api, "sub", sfu.ParticipantConfig{UserID: "s", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer sub.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "p", Send: sfu.AllMedia})
	defer pub.shutdown()
	video, audio := pub.publishMarked(api, 1, 2)
	defer video.Close()
	defer audio.Close()
	videoID, audioID := publishedBy(t, sub, pub, 2)
	if !receives(t, sub, videoID, 1, pub, true) || !receives(t, sub, audioID, 2, pub, false) {
		t.Fatal("the subscriber receives nothing over ICE-TCP")
	}
	for _, pc := range []*webrtc.PeerConnection{pub.pub.pc, sub.sub.pc} {
		if p := selectedProtocol(t, pc); p != webrtc.ICEProtocolTCP {
			t.Errorf("selected pair over %s, want tcp", p)
		}
	}
}
