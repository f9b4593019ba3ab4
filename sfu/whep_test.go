package sfu_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/sfu"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// A player that offers to receive (WHEP) gets the tracks it names in its
// offer's m-sections, in one negotiation: the SFU answers, never offers.
func TestAnswerSubscriber(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()

	// The player first: it learns of the tracks as they are published.
	player, _ := join(t, s, api, "player", sfu.ParticipantConfig{UserID: "u2", Receive: sfu.AllMedia, Hidden: true})
	defer player.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "u1", Send: sfu.AllMedia})
	defer pub.shutdown()
	video, err := client.NewVP8Track("cam", "stream", client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer video.Close()
	audio, err := client.NewOpusTrack("mic", "stream", client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer audio.Close()
	pub.publish(api, video, audio)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	video.Start(ctx)
	audio.Start(ctx)

	var videoID, audioID string
	waitFor(t, "tracks published", func() bool {
		return player.ev.with(func(r *recorder) bool {
			v, okV := findTrack(r.published, "cam")
			a, okA := findTrack(r.published, "mic")
			videoID, audioID = v.ID, a.ID
			return okV && okA
		})
	})

	offer := player.playerOffer()
	if _, err := player.p.AnswerSubscriber(offer, []string{"TR_nosuch"}); !errors.Is(err, sfu.ErrUnknownTrack) {
		t.Fatalf("unknown track: %v, want ErrUnknownTrack", err)
	}
	answer, err := player.p.AnswerSubscriber(offer, []string{videoID, audioID})
	if err != nil {
		t.Fatal(err)
	}
	if err := player.sub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the player's media", func() bool {
		v, a := player.track(videoID), player.track(audioID)
		return v != nil && a != nil && v.count() >= 40 && a.count() >= 40
	})
	if st := player.track(videoID).checker.Stats(); st.BadMarkers != 0 || st.BadRTP != 0 || st.Streams != 1 {
		t.Errorf("video: %+v", st)
	}
	if _, err := player.p.AnswerSubscriber(offer, nil); !errors.Is(err, sfu.ErrSubscriberOffered) {
		t.Errorf("second offer: %v, want ErrSubscriberOffered", err)
	}
	time.Sleep(100 * time.Millisecond)
	player.ev.with(func(r *recorder) bool {
		if len(r.offers) != 0 {
			t.Errorf("the SFU offered %d times to a player that offers", len(r.offers))
		}
		return true
	})
	// A participant the SFU already offers to cannot switch to answering.
	sub, _ := join(t, s, api, "sub", sfu.ParticipantConfig{UserID: "u3", Receive: sfu.AllMedia, AutoSubscribe: true})
	defer sub.shutdown()
	waitFor(t, "sub's media", func() bool { v := sub.track(videoID); return v != nil && v.count() > 0 })
	if _, err := sub.p.AnswerSubscriber(offer, nil); !errors.Is(err, sfu.ErrSubscriberOffered) {
		t.Errorf("offer to an offered subscriber: %v, want ErrSubscriberOffered", err)
	}
}

// playerOffer gives e's subscriber PeerConnection a receiving video and
// audio m-section and returns its offer with every candidate: what a
// WHEP player sends.
func (e *endpoint) playerOffer() string {
	e.t.Helper()
	pc := e.sub.pc
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			e.t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		e.t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}
