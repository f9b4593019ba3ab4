package sfu_test

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/sfu"
)

// These tests hold the SFU to what docs/protocol.md 3.9 says it accepts
// from a publisher, with real Pion publishers: no data channels, no
// H.264 profile but those listed, ICE credentials as RFC 8839 has them.

// offerFor makes pc's offer, gathered.
func offerFor(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// sectionOf returns the m-section of an SDP whose m= line starts with
// prefix, and the SDP's session part.
func sectionOf(sdp, prefix string) (section, session string) {
	i := strings.Index(sdp, "\r\nm=")
	if i < 0 {
		return "", sdp
	}
	session = sdp[:i+2]
	for _, s := range strings.SplitAfter(sdp[i+2:], "\r\nm=") {
		s = strings.TrimSuffix(s, "m=")
		if !strings.HasPrefix(s, "m=") {
			s = "m=" + s
		}
		if strings.HasPrefix(s, prefix) {
			return s, session
		}
	}
	return "", session
}

// TestDataChannelsRefused: a publisher that offers a data channel gets
// its m=application section rejected (port 0, out of the BUNDLE group),
// its media goes through, and no data channel opens, not even for a
// client that applies the answer as if it had accepted the section.
func TestDataChannelsRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hostile bool // the client puts the data section back into the answer
	}{{"as answered", false}, {"answer undone by the client", true}} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			s, api, stop := startSFU(t, nil)
			defer stop()
			obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
			defer obs.shutdown()
			pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "p", Send: sfu.AllMedia})
			defer pub.shutdown()
			c := newPubConn(t, pub, api)
			// The data channel first: its m-section is the BUNDLE tag.
			dc, err := c.pc.CreateDataChannel("chat", nil)
			if err != nil {
				t.Fatal(err)
			}
			var opened atomic.Bool
			dc.OnOpen(func() { opened.Store(true) })
			_, audio := markedTracks(t, 1, 2)
			defer audio.Close()
			c.add(audio)

			offer := offerFor(t, c.pc)
			dataOffer, _ := sectionOf(offer, "m=application")
			mid := regexp.MustCompile(`a=mid:(\S+)`).FindStringSubmatch(dataOffer)
			if mid == nil || !strings.HasPrefix(dataOffer, "m=application 9 ") {
				t.Fatalf("the client's offer has no data section:\n%s", offer)
			}
			answer, err := pub.p.HandleOffer(offer, nil)
			if err != nil {
				t.Fatalf("HandleOffer: %v", err)
			}
			data, session := sectionOf(answer, "m=application")
			if !strings.HasPrefix(data, "m=application 0 ") {
				t.Errorf("the answer does not reject the data section:\n%s", data)
			}
			bundle := regexp.MustCompile(`(?m)^a=group:BUNDLE (.*)\r$`).FindStringSubmatch(session)
			if bundle == nil || strings.Contains(" "+bundle[1]+" ", " "+mid[1]+" ") {
				t.Errorf("the answer's BUNDLE group %q still holds the data section's mid %s", bundle, mid[1])
			}
			if tc.hostile {
				answer = strings.Replace(answer, "m=application 0 ", "m=application 9 ", 1)
				answer = strings.Replace(answer, "a=group:BUNDLE ", "a=group:BUNDLE "+mid[1]+" ", 1)
			}
			if err := pub.pub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
				t.Fatal(err)
			}
			audio.Start(context.Background())
			_, audioID := publishedBy(t, obs, pub, 1)
			if !receives(t, obs, audioID, 2, pub, false) {
				t.Fatal("no audio")
			}
			time.Sleep(time.Second) // more than an SCTP association takes over loopback
			if opened.Load() || dc.ReadyState() == webrtc.DataChannelStateOpen {
				t.Error("the data channel opened")
			}
			if !flows(t, obs, audioID, 2) {
				t.Error("the audio stopped")
			}
		})
	}
}

// h264API is a publisher's API that offers H.264 in the given formats
// only, besides Opus.
func h264API(t *testing.T, fmtps ...string) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}},
		webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	for i, f := range fmtps {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(100 + i), RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: f,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}},
			webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// TestH264Profiles: the SFU forwards one publisher's stream to subscribers
// that negotiated H.264 Constrained Baseline or Baseline only, so it takes
// no other profile. An offer of High only has its video rejected and
// never published; one of High and Constrained Baseline is answered with
// Constrained Baseline alone.
func TestH264Profiles(t *testing.T) {
	const (
		high = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032"
		main = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"
		cb   = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	)
	for _, tc := range []struct {
		name      string
		offered   []string
		published bool
	}{
		{"High only", []string{high}, false},
		{"Main and High", []string{main, high}, false},
		{"High, then Constrained Baseline", []string{high, cb}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			s, api, stop := startSFU(t, nil)
			defer stop()
			obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
			defer obs.shutdown()
			pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "p", Send: sfu.AllMedia})
			defer pub.shutdown()
			c := newPubConn(t, pub, h264API(t, tc.offered...))
			local, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: tc.offered[len(tc.offered)-1]}, "cam", "stream")
			if err != nil {
				t.Fatal(err)
			}
			src, err := client.NewH264Source(local, client.SourceOptions{MarkerStream: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			video := &client.Track{TrackLocalStaticRTP: local, Source: src}
			_, audio := markedTracks(t, 1, 2)
			defer audio.Close()
			c.add(video)
			c.add(audio)
			offer := offerFor(t, c.pc)
			answer, err := pub.p.HandleOffer(offer, nil)
			if err != nil {
				t.Fatalf("HandleOffer: %v", err)
			}
			v, _ := sectionOf(answer, "m=video")
			for _, bad := range []string{"640032", "4d001f", refusedName} {
				if strings.Contains(v, bad) {
					t.Errorf("the answer's video section names %s:\n%s", bad, v)
				}
			}
			if rejected := strings.HasPrefix(v, "m=video 0 "); rejected == tc.published {
				t.Errorf("video section rejected: %v, want %v:\n%s", rejected, !tc.published, v)
			}
			if !tc.published {
				// A browser stops the transceiver of a rejected section;
				// Pion, as an offerer, fails to apply such an answer.
				return
			}
			if err := pub.pub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
				t.Fatal(err)
			}
			video.Start(context.Background())
			audio.Start(context.Background())
			waitFor(t, "the H.264 track published", func() bool { return countPublished(obs, pub) == 2 })
			var videoID string
			obs.ev.with(func(r *recorder) bool {
				for _, ti := range r.published {
					if ti.Kind == "video" {
						videoID = ti.ID
						if !strings.EqualFold(ti.Codec, webrtc.MimeTypeH264) {
							t.Errorf("published as %s", ti.Codec)
						}
					}
				}
				return true
			})
			waitFor(t, "H.264 video at the observer", func() bool {
				rx := obs.track(videoID)
				n := 0
				if rx != nil {
					n, _ = rx.marked(1)
				}
				return n >= enoughPackets
			})
		})
	}
}

// refusedName is the encoding name the SFU gives refused H.264 formats:
// it must never reach an answer.
const refusedName = "x-lethe-refused"

// TestBadICECredentials: an offer or answer whose ICE username fragment
// or password breaks RFC 8839 is refused with ErrBadSDP and changes
// nothing: the same PeerConnection's next, good offer works.
func TestBadICECredentials(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer obs.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "p", Send: sfu.AllMedia})
	defer pub.shutdown()
	c := newPubConn(t, pub, api)
	_, audio := markedTracks(t, 1, 2)
	defer audio.Close()
	c.add(audio)
	offer := offerFor(t, c.pc)
	ufrag := regexp.MustCompile(`a=ice-ufrag:(\S+)`).FindStringSubmatch(offer)[1]
	pwd := regexp.MustCompile(`a=ice-pwd:(\S+)`).FindStringSubmatch(offer)[1]
	for name, bad := range map[string]string{
		"ufrag of 3":       strings.ReplaceAll(offer, "a=ice-ufrag:"+ufrag, "a=ice-ufrag:abc"),
		"ufrag of 300":     strings.ReplaceAll(offer, "a=ice-ufrag:"+ufrag, "a=ice-ufrag:"+strings.Repeat("u", 300)),
		"pwd of 21":        strings.ReplaceAll(offer, "a=ice-pwd:"+pwd, "a=ice-pwd:"+strings.Repeat("p", 21)),
		"pwd of 1000":      strings.ReplaceAll(offer, "a=ice-pwd:"+pwd, "a=ice-pwd:"+strings.Repeat("p", 1000)),
		"ufrag with a ':'": strings.ReplaceAll(offer, "a=ice-ufrag:"+ufrag, "a=ice-ufrag:ab:cd"),
	} {
		if _, err := pub.p.HandleOffer(bad, nil); !errors.Is(err, sfu.ErrBadSDP) {
			t.Errorf("%s: HandleOffer = %v, want ErrBadSDP", name, err)
		}
	}
	answer, err := pub.p.HandleOffer(offer, nil)
	if err != nil {
		t.Fatalf("the good offer after the bad ones: %v", err)
	}
	if err := pub.pub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	audio.Start(context.Background())
	_, audioID := publishedBy(t, obs, pub, 1)
	if !receives(t, obs, audioID, 2, pub, false) {
		t.Fatal("no audio after the good offer")
	}
	// A subscriber's answers go through the same check: a bad one is
	// refused, and the offer waits for a good one.
	sub, _ := join(t, s, api, "sub", sfu.ParticipantConfig{UserID: "s", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer sub.shutdown()
	sub.hold(true)
	held := sub.nextHeld()
	if err := sub.sub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: held}); err != nil {
		t.Fatal(err)
	}
	ans, err := sub.sub.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(sub.sub.pc)
	if err := sub.sub.pc.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	<-gathered
	good := sub.sub.pc.LocalDescription().SDP
	subUfrag := regexp.MustCompile(`a=ice-ufrag:(\S+)`).FindStringSubmatch(good)[1]
	if err := sub.p.HandleAnswer(strings.ReplaceAll(good, "a=ice-ufrag:"+subUfrag, "a=ice-ufrag:ab")); !errors.Is(err, sfu.ErrBadSDP) {
		t.Errorf("HandleAnswer with a ufrag of 2 = %v, want ErrBadSDP", err)
	}
	if err := sub.p.HandleAnswer(good); err != nil {
		t.Fatalf("the good answer after the bad one: %v", err)
	}
	sub.hold(false)
	if !receives(t, sub, audioID, 2, pub, false) {
		t.Error("no audio at the subscriber after its good answer")
	}
}
