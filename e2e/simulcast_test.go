package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

// publishSimulcast publishes a 3-layer VP8 simulcast track and an Opus
// track from p, started (but for the layers skip names) and closed with
// the test, and returns the simulcast track and its server id.
func (p *participant) publishSimulcast(t *testing.T, skip ...string) (*client.SimulcastTrack, string) {
	t.Helper()
	v, err := client.NewVP8SimulcastTrack("video-"+p.user, "stream-"+p.user, client.SimulcastOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := client.NewOpusTrack("audio-"+p.user, "stream-"+p.user, client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PublishSimulcast(ctxT(t, 10*time.Second), v, a); err != nil {
		t.Fatalf("publish %s: %v", p.user, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	for _, l := range v.Layers() {
		if !strings.Contains(strings.Join(skip, " "), l.RID()) {
			l.Start(ctx)
		}
	}
	a.Start(ctx)
	t.Cleanup(func() {
		cancel()
		_ = v.Close()
		_ = a.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if id, ok := p.ServerTrackID(v.ID()); ok {
			return v, id
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: its simulcast track was not published", p.user)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settlesOn waits until ch has received a layer from lo to hi for a while
// (a few frames after its last switch), then checks what the decoder
// would have seen since the track began: every switch on a keyframe of
// its layer, sequence numbers and timestamps continuous.
func settlesOn(t *testing.T, what string, ch *client.Checker, lo, hi int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := ch.Stats()
		if st.Layer >= lo && st.Layer <= hi && st.CompleteFrames > 10 && time.Since(st.LastSwitchAt) > 500*time.Millisecond {
			if st.BadSwitches != 0 || st.SeqJumps != 0 || st.SwitchGaps != 0 || st.TimestampBackwards != 0 {
				t.Errorf("%s: %d bad switches, %d sequence jumps, %d gaps at a switch, %d timestamps backwards",
					what, st.BadSwitches, st.SeqJumps, st.SwitchGaps, st.TimestampBackwards)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: layer %d after %v (%d packets, %d complete frames), want layer %d to %d",
				what, st.Layer, within, st.Packets, st.CompleteFrames, lo, hi)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSimulcastComeAndGo runs what a room with simulcast lives through,
// against the real binary with Go clients: two subscribers stay while
// publishers of 3-layer simulcast come and go, each on the m-sections
// the last one freed. One subscriber asks for 320x180 and must get the
// lowest layer on this fast link, the other the top one, every round.
// Meanwhile a participant sends what it should not: simulcast offers
// the protocol refuses, wishes for tracks that do not exist, and a layer
// whose packets carry no rid. It gets clear errors and its valid layers
// are forwarded; the others notice nothing. The first round's track is
// told of with its layers' sizes (trackLayers).
//
// Every track a subscriber is sent is read (firstVideo reads the audio it
// passes): Pion records a packet for the transport-wide feedback only as
// it is read, so an unread track looks lost, and the estimate of that
// subscriber's downlink fell to 100 kbit/s within seconds.
func TestSimulcastComeAndGo(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	const room = 13
	full := s.join(t, "full", room, "")
	small := s.join(t, "small", room, "")

	const rounds = 6
	for i := range rounds {
		pub := s.join(t, fmt.Sprintf("pub%d", i), room, "")
		_, id := pub.publishSimulcast(t)
		fullCh := full.firstVideo(t)
		smallCh := small.firstVideo(t)
		if err := small.SetTrackSettings(ctxT(t, 5*time.Second), signaling.TrackSettings{TrackID: id, Width: 320, Height: 180}); err != nil {
			t.Fatalf("round %d: track settings: %v", i, err)
		}
		settlesOn(t, fmt.Sprintf("round %d, full", i), fullCh, 2, 2, 20*time.Second)
		settlesOn(t, fmt.Sprintf("round %d, 320x180", i), smallCh, 0, 0, 20*time.Second)
		if i == 0 {
			measuredSizes(t, small, id)
		}

		if i == 1 {
			abuseSimulcast(t, s, room, full, small, fullCh)
		}
		if err := pub.Leave(ctxT(t, 5*time.Second)); err != nil {
			t.Errorf("round %d: leave: %v", i, err)
		}
		for _, sub := range []*participant{full, small} {
			waitEvent(t, sub.Client, signaling.TypeTrackUnpublished, 10*time.Second, func(e client.Event) bool {
				u, ok := e.Data.(*signaling.TrackUnpublished)
				return ok && u.TrackID == id
			})
		}
		_ = pub.Close()
	}
	for _, p := range []*participant{full, small} {
		if _, err := p.Ping(ctxT(t, 5*time.Second)); err != nil {
			t.Errorf("%s's session broke: %v", p.user, err)
		}
	}
}

// measuredSizes waits until p hears trackLayers of track id with the
// sizes of the Go client's three default layers, lowest first.
func measuredSizes(t *testing.T, p *participant, id string) {
	t.Helper()
	want := "q:320x180 h:640x360 f:1280x720 "
	waitEvent(t, p.Client, signaling.TypeTrackLayers, 15*time.Second, func(e client.Event) bool {
		tl, ok := e.Data.(*signaling.TrackLayers)
		if !ok || tl.TrackID != id {
			return false
		}
		got := ""
		for _, l := range tl.Layers {
			got += fmt.Sprintf("%s:%dx%d ", l.RID, l.Width, l.Height)
		}
		return got == want
	})
}

// abuseSimulcast has a participant of room send bad simulcast input while
// full and small receive a publisher's simulcast track, full's at pubV.
func abuseSimulcast(t *testing.T, s *server, room uint32, full, small *participant, pubV *client.Checker) {
	t.Helper()
	abuser := s.join(t, "abuser", room, "")
	defer abuser.Close()

	offers := []struct {
		name  string
		lines []string
		code  signaling.Code
		why   string // in the error's message
	}{
		{"four layers", []string{"a=rid:q send", "a=rid:h send", "a=rid:f send", "a=rid:x send", "a=simulcast:send q;h;f;x"},
			signaling.CodeNotAllowed, "4 simulcast layers, at most 3"},
		{"a rid the simulcast line does not declare", []string{"a=rid:q send", "a=simulcast:send q;h"},
			signaling.CodeBadSDP, `rid "h" of a=simulcast has no a=rid send line`},
		{"rids without a simulcast line", []string{"a=rid:q send", "a=rid:h send"}, signaling.CodeBadSDP, "a=rid without a=simulcast"},
		{"receive simulcast in an offer", []string{"a=rid:q recv", "a=rid:h recv", "a=simulcast:recv q;h"},
			signaling.CodeBadSDP, "a=simulcast must be"},
	}
	for _, o := range offers {
		_, err := abuser.Request(ctxT(t, 5*time.Second), signaling.TypeOffer,
			signaling.SDP{Target: signaling.TargetPublisher, SDP: simulcastOffer(o.lines...)})
		if codeOf(err) != o.code || err == nil || !strings.Contains(err.Error(), o.why) {
			t.Errorf("offer with %s: %v, want code %d saying %q", o.name, err, o.code, o.why)
		}
	}
	bad := 7
	settings := []struct {
		name string
		s    signaling.TrackSettings
		want signaling.Code
	}{
		{"an unknown track", signaling.TrackSettings{TrackID: "TR_nope", Width: 320, Height: 180}, signaling.CodeUnknownTrack},
		{"a layer out of range", signaling.TrackSettings{TrackID: "TR_nope", MaxLayer: &bad}, signaling.CodeInvalidField},
		{"a size out of range", signaling.TrackSettings{TrackID: "TR_nope", Width: 1 << 20, Height: 1}, signaling.CodeInvalidField},
	}
	for _, c := range settings {
		if err := abuser.SetTrackSettings(ctxT(t, 5*time.Second), c.s); codeOf(err) != c.want {
			t.Errorf("track settings for %s: %v, want code %d", c.name, err, c.want)
		}
	}

	// A valid simulcast track whose top layer's packets carry neither rid
	// nor mid: the server cannot tell what they are, so they go nowhere;
	// the two layers that name themselves are forwarded.
	v, id := abuser.publishSimulcast(t, "f")
	top := v.Layer("f")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: []byte{0x10, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3, 4}}
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				pkt.SequenceNumber++
				pkt.Timestamp += 1800
				_ = top.TrackLocalStaticRTP.WriteRTP(pkt) // below the rid track: no extensions
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	fullA, smallA := full.firstVideo(t), small.firstVideo(t)
	if err := small.SetTrackSettings(ctxT(t, 5*time.Second), signaling.TrackSettings{TrackID: id, Width: 320, Height: 180}); err != nil {
		t.Errorf("track settings for the abuser's track: %v", err)
	}
	// Never the rid-less top layer; which of the others is the estimate's
	// choice, with two tracks of up to 1.5 Mbit/s to share it.
	settlesOn(t, "the abuser's track, at full", fullA, 0, 1, 20*time.Second)
	settlesOn(t, "the abuser's track, at 320x180", smallA, 0, 0, 20*time.Second)
	if _, err := abuser.Ping(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("the abuser's session broke: %v", err)
	}

	// The publisher's track kept reaching full, whole: no freeze, every
	// switch (the estimate now shared between two tracks) on a keyframe.
	before := pubV.Stats()
	time.Sleep(time.Second)
	if after := pubV.Stats(); after.Packets <= before.Packets || after.Freezes != before.Freezes || after.BadSwitches != 0 || after.SeqJumps != 0 {
		t.Errorf("full, on the publisher's track: %d -> %d packets, freezes %d -> %d, %d bad switches, %d sequence jumps",
			before.Packets, after.Packets, before.Freezes, after.Freezes, after.BadSwitches, after.SeqJumps)
	}
	if err := abuser.Leave(ctxT(t, 5*time.Second)); err != nil {
		t.Errorf("abuser leave: %v", err)
	}
	waitEvent(t, full.Client, signaling.TypeTrackUnpublished, 10*time.Second, func(e client.Event) bool {
		u, ok := e.Data.(*signaling.TrackUnpublished)
		return ok && u.TrackID == id
	})
}

// simulcastOffer is a publisher offer of one VP8 video section with the
// given simulcast lines.
func simulcastOffer(lines ...string) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n" +
		"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
		"a=fingerprint:sha-256 00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00\r\n" +
		"a=setup:actpass\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n" +
		"a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n")
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	return b.String()
}
