package inactive

import (
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// TestPionAnswerer shows the Pion behaviour this package exists for, with
// two real PeerConnections over loopback, and that Rewrite avoids it. The
// offerer sends a track on a sendonly m-section, removes it, offers twice
// more with the m-section inactive, then reuses it for a new track (same
// mid, new msid, new SSRC). Without Rewrite the answerer never sees the
// new track; should a Pion upgrade make it see it, this test says so and
// the workaround can go.
func TestPionAnswerer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rewrite bool
	}{{"as it is", false}, {"rewritten", true}} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			got := reuseAfterTwoInactiveOffers(t, tc.rewrite)
			switch {
			case tc.rewrite && !got:
				t.Fatal("the reused m-section's track never arrived")
			case !tc.rewrite && got:
				t.Fatal("Pion now receives a track on an m-section that stayed inactive for two offers: " +
					"the workaround in this package may no longer be needed")
			}
		})
	}
}

// reuseAfterTwoInactiveOffers runs the sequence and reports whether the
// answerer received the second track.
func reuseAfterTwoInactiveOffers(t *testing.T, rewrite bool) bool {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m))
	offerer, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer offerer.Close()
	answerer, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer answerer.Close()

	tracks := make(chan string, 4)
	answerer.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		tracks <- tr.ID()
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
		}
	})
	negotiate := func() {
		t.Helper()
		offer, err := offerer.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		gathered := webrtc.GatheringCompletePromise(offerer)
		if err := offerer.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		<-gathered
		sdp := offerer.LocalDescription().SDP
		if rewrite {
			sdp, _ = Rewrite(sdp, KnownMids(answerer))
		}
		if err := answerer.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
			t.Fatal(err)
		}
		answer, err := answerer.CreateAnswer(nil)
		if err != nil {
			t.Fatal(err)
		}
		gathered = webrtc.GatheringCompletePromise(answerer)
		if err := answerer.SetLocalDescription(answer); err != nil {
			t.Fatal(err)
		}
		<-gathered
		if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
			t.Fatal(err)
		}
	}
	send := func(tr *webrtc.TrackLocalStaticRTP, stop <-chan struct{}) {
		for seq := uint16(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: []byte{1, 2, 3}})
		}
	}
	waitTrack := func(id string, d time.Duration) bool {
		deadline := time.After(d)
		for {
			select {
			case got := <-tracks:
				if got == id {
					return true
				}
			case <-deadline:
				return false
			}
		}
	}
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}

	first, err := webrtc.NewTrackLocalStaticRTP(opus, "first", "s1")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := offerer.AddTransceiverFromTrack(first, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	negotiate()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); send(first, stop) }()
	if !waitTrack("first", 5*time.Second) {
		t.Fatal("the first track never arrived")
	}
	close(stop)
	<-done

	if err := offerer.RemoveTrack(tr.Sender()); err != nil {
		t.Fatal(err)
	}
	negotiate() // the m-section turns inactive
	negotiate() // and stays so

	second, err := webrtc.NewTrackLocalStaticRTP(opus, "second", "s2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := offerer.AddTrack(second); err != nil { // reuses the inactive transceiver
		t.Fatal(err)
	}
	negotiate()
	if len(offerer.GetTransceivers()) != 1 {
		t.Fatalf("the offerer has %d transceivers: the m-section was not reused", len(offerer.GetTransceivers()))
	}
	stop = make(chan struct{})
	done = make(chan struct{})
	go func() { defer close(done); send(second, stop) }()
	defer func() { close(stop); <-done }()
	return waitTrack("second", 2*time.Second)
}
