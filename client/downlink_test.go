package client

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

// A receiver behind a 200 kbit/s Downlink loses most of a 1 Mbit/s
// stream, over real PeerConnections on loopback; once SetRate lifts the
// limit the stream arrives whole again.
func TestDownlinkShapesPeerConnection(t *testing.T) {
	dl := NewDownlink(200_000)
	recvAPI, err := NewAPI(APIConfig{Loopback: true, Transport: TransportUDP, Downlink: dl})
	if err != nil {
		t.Fatal(err)
	}
	sendAPI, err := NewLoopbackAPI()
	if err != nil {
		t.Fatal(err)
	}
	offer, err := sendAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	answer, err := recvAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = offer.Close(); _ = answer.Close() }()
	tr, err := NewVP8Track("v", "s", SourceOptions{Bitrate: 1_000_000, FPS: 30, KeyframeInterval: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := offer.AddTrack(tr); err != nil {
		t.Fatal(err)
	}
	checker := NewChecker(CheckerOptions{MimeType: webrtc.MimeTypeVP8})
	done := make(chan struct{})
	answer.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		defer close(done)
		_ = checker.Run(t.Context(), remote)
	})
	signal(t, offer, answer)
	tr.Start(t.Context())

	waitFor(t, "100 packets through the bottleneck", func() bool { return checker.Stats().Packets >= 100 })
	limited := checker.Stats()
	if dl.Stats().Dropped == 0 || limited.Lost < limited.Packets/2 {
		t.Fatalf("1 Mbit/s through 200 kbit/s lost %d of %d (downlink %+v)", limited.Lost, limited.Packets+limited.Lost, dl.Stats())
	}
	dl.SetRate(0)
	d0 := dl.Stats().Dropped
	waitFor(t, "1000 more packets", func() bool { return checker.Stats().Packets >= limited.Packets+1000 })
	if d := dl.Stats().Dropped - d0; d > 0 {
		t.Fatalf("unlimited downlink dropped %d", d)
	}
	_ = tr.Close()
	_ = offer.Close()
	_ = answer.Close()
	<-done
}

func signal(t *testing.T, offer, answer *webrtc.PeerConnection) {
	t.Helper()
	o, err := offer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(offer)
	if err := offer.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-g
	if err := answer.SetRemoteDescription(*offer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	a, err := answer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g = webrtc.GatheringCompletePromise(answer)
	if err := answer.SetLocalDescription(a); err != nil {
		t.Fatal(err)
	}
	<-g
	if err := offer.SetRemoteDescription(*answer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}
