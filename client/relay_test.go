package client_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

// A relay-only client gathers through the TURN relays joined names even
// when the server's subscriber offer follows joined at once: the offer's
// PeerConnection must not be made before the client has taken joined's
// relays in (it then had none, gathered no candidate at all and never
// connected). The relay here is a TCP listener: a relay-only client that
// has its URL dials it to allocate.
func TestRelayOnlySubscriberOfferRightAfterJoined(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed := make(chan struct{}, 64)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			dialed <- struct{}{}
			conn.Close()
		}
	}()

	srv := newFakeServer(t)
	defer srv.Close()
	srv.ICEServers = []signaling.ICEServer{{
		URLs:     []string{fmt.Sprintf("turn:%s?transport=tcp", ln.Addr())},
		Username: "1700000000:s", Credential: "c",
	}}
	srv.AfterJoined = []fakeMessage{{signaling.TypeOffer, signaling.SDP{Target: signaling.TargetSubscriber, SDP: sendOnlyOffer(t)}}}

	// The race was lost about one time in four; eight joins all win it.
	for i := range 8 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c := dial(t, ctx, srv.URL, client.Options{ForceRelay: true, RelayTCP: true})
		join(t, ctx, c)
		var ok bool
		select {
		case <-dialed:
			ok = true
		case <-time.After(3 * time.Second):
		}
		cancel()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("join %d: the subscriber PeerConnection never dialed the relay joined named", i+1)
		}
	}
}

// sendOnlyOffer is an SDP offer with one send-only audio m-section, as the
// server makes for a subscriber.
func sendOnlyOffer(t *testing.T) string {
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
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}
