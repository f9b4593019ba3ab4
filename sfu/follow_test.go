package sfu_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/sfu"
)

// speakerPub is a publisher of marked VP8 video and Opus audio whose
// level the test sets.
type speakerPub struct {
	e            *endpoint
	video, audio *client.Track
	vid, aid     uint32 // their marker stream ids
}

func (sp *speakerPub) close() {
	sp.e.shutdown()
	sp.video.Close()
	sp.audio.Close()
}

// A player following the speaker (WHEP without a participant) gets, in
// one video and one audio m-section negotiated once, whoever speaks: the
// picture switches on the new speaker's keyframe, the RTP stream stays
// one (one SSRC, sequence numbers without a jump, timestamps forward),
// an audio-only speaker leaves the picture as it is, a muted camera or a
// publisher who leaves hands over to someone else, and a room emptied of
// publishers is followed again once somebody publishes.
func TestFollowSpeaker(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	n := uint32(0)
	publish := func(name string, dBov int, video bool) *speakerPub {
		n++
		send := sfu.Audio
		if video {
			send = sfu.AllMedia
		}
		e, _ := join(t, s, api, name, sfu.ParticipantConfig{UserID: name, Role: "anchor", Send: send, Receive: sfu.AllMedia})
		sp := &speakerPub{e: e, vid: 1000 + n, aid: 2000 + n}
		var err error
		if sp.audio, err = client.NewOpusTrack("mic-"+name, "s-"+name, client.SourceOptions{MarkerStream: sp.aid}); err != nil {
			t.Fatal(err)
		}
		sp.audio.SetAudioLevel(dBov)
		tracks := []*client.Track{sp.audio}
		if video {
			if sp.video, err = client.NewVP8Track("cam-"+name, "s-"+name, client.SourceOptions{MarkerStream: sp.vid, FPS: 15}); err != nil {
				t.Fatal(err)
			}
			tracks = append(tracks, sp.video)
		} else {
			sp.video, _ = client.NewVP8Track("unused-"+name, "s-"+name, client.SourceOptions{}) // closed with the rest
		}
		e.publish(api, tracks...)
		for _, tr := range tracks {
			tr.Start(ctx)
		}
		return sp
	}
	alice := publish("alice", -20, true)
	defer alice.close()
	bob := publish("bob", -127, true)
	defer bob.close()

	player, _ := join(t, s, api, "player", sfu.ParticipantConfig{UserID: "player", Role: "audience", Hidden: true, Receive: sfu.AllMedia})
	defer player.shutdown()
	waitFor(t, "alice speaking", func() bool { return fmt.Sprint(player.speaking()) == fmt.Sprint([]string{alice.e.p.ID()}) })
	answer, err := player.p.AnswerFollowing(player.playerOffer())
	if err != nil {
		t.Fatal(err)
	}
	if err := player.sub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}

	// The player's two tracks, whatever ids they were announced with.
	var video, audio *rxTrack
	waitFor(t, "the player's two tracks", func() bool {
		player.mu.Lock()
		defer player.mu.Unlock()
		for _, r := range player.tracks {
			if r.video {
				video = r
			} else {
				audio = r
			}
		}
		return video != nil && audio != nil
	})
	// carrying reports whether the last few packets of r carry stream.
	carrying := func(r *rxTrack, stream uint32) func() bool {
		return func() bool {
			pk := r.packets()
			if len(pk) < 5 {
				return false
			}
			for _, x := range pk[len(pk)-5:] {
				if !x.marked || x.stream != stream {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, "alice's video at first", carrying(video, alice.vid))
	waitFor(t, "alice's audio at first", carrying(audio, alice.aid))

	// Bob speaks, Alice falls silent: both sections follow him.
	alice.audio.SetAudioLevel(-127)
	bob.audio.SetAudioLevel(-20)
	waitFor(t, "bob's video once he speaks", carrying(video, bob.vid))
	waitFor(t, "bob's audio once he speaks", carrying(audio, bob.aid))

	// An audio-only speaker takes the audio; the picture stays Bob's.
	carol := publish("carol", -127, false)
	defer carol.close()
	bob.audio.SetAudioLevel(-127)
	carol.audio.SetAudioLevel(-10)
	waitFor(t, "carol's audio once she speaks", carrying(audio, carol.aid))
	if !carrying(video, bob.vid)() {
		t.Errorf("the picture left bob for an audio-only speaker")
	}

	// Bob's camera muted: the picture goes to someone who has one.
	var bobCam string
	bob.e.ev.with(func(r *recorder) bool {
		ti, _ := findTrack(r.published, "cam-bob")
		bobCam = ti.ID
		return true
	})
	if err := bob.e.p.Mute(bobCam, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's video once bob's camera is muted", carrying(video, alice.vid))

	// Everyone with a camera leaves; a newcomer's camera is taken up.
	alice.e.p.Leave()
	bob.e.p.Leave()
	time.Sleep(500 * time.Millisecond)
	dave := publish("dave", -127, true)
	defer dave.close()
	waitFor(t, "dave's video, published after the room had none", carrying(video, dave.vid))

	// What the player saw: one stream per section, continuous, each
	// picture switch on a keyframe, no offer from the SFU.
	for _, r := range []*rxTrack{video, audio} {
		pk := r.packets()
		ssrcs, switches := map[uint32]bool{}, 0
		for i, x := range pk {
			ssrcs[x.ssrc] = true
			if i == 0 {
				continue
			}
			prev := pk[i-1]
			if d := int16(x.seq - prev.seq); d > 20 || d < -20 {
				t.Errorf("video=%v: sequence number jumps by %d at packet %d", r.video, d, i)
			}
			if x.marked && prev.marked && x.stream != prev.stream {
				switches++
				if int32(x.ts-prev.ts) <= 0 {
					t.Errorf("video=%v: timestamp goes back at the switch at packet %d: %+v then %+v", r.video, i, prev, x)
				}
				if r.video && !x.key {
					t.Errorf("video switch at packet %d does not start on a keyframe", i)
				}
			}
		}
		if len(ssrcs) != 1 {
			t.Errorf("video=%v: %d SSRCs, want one stream", r.video, len(ssrcs))
		}
		if want := map[bool]int{true: 3, false: 2}[r.video]; switches < want {
			t.Errorf("video=%v: %d switches seen, want at least %d", r.video, switches, want)
		}
	}
	player.ev.with(func(r *recorder) bool {
		if len(r.offers) != 0 {
			t.Errorf("the SFU offered %d times to a player that follows", len(r.offers))
		}
		return true
	})
	if n := player.onTracks.Load(); n != 2 {
		t.Errorf("the player's PeerConnection saw %d tracks, want 2", n)
	}
}
