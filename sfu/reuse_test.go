package sfu_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/lethe-rtc/lethe/internal/latetrack"
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/sfu"
)

// These tests renegotiate again and again while participants stay: the
// SFU frees m-sections of tracks that went away and reuses them for new
// ones (protocol 3.3), on the subscriber PeerConnection it offers and on
// the publisher PeerConnection it answers. Every round checks, by marker,
// that the media of the new track arrives.

// enoughPackets is how many packets of a marker stream make a round good.
const enoughPackets = 25

// roundLimit bounds the wait for one round's media, shorter than waitLimit
// so that a test that fails reports every bad round.
const roundLimit = 5 * time.Second

// markedTracks returns a VP8 and an Opus track whose markers carry the
// given stream ids. Close them.
func markedTracks(t *testing.T, videoStream, audioStream uint32) (video, audio *client.Track) {
	t.Helper()
	video, err := client.NewVP8Track(fmt.Sprintf("cam%d", videoStream), "stream", client.SourceOptions{MarkerStream: videoStream})
	if err != nil {
		t.Fatal(err)
	}
	audio, err = client.NewOpusTrack(fmt.Sprintf("mic%d", audioStream), "stream", client.SourceOptions{MarkerStream: audioStream})
	if err != nil {
		video.Close()
		t.Fatal(err)
	}
	return video, audio
}

// publishMarked makes marked video and audio tracks (streams videoStream
// and audioStream), publishes them from e and starts them. The caller
// closes them.
func (e *endpoint) publishMarked(api *webrtc.API, videoStream, audioStream uint32) (video, audio *client.Track) {
	e.t.Helper()
	video, audio = markedTracks(e.t, videoStream, audioStream)
	e.publish(api, video, audio)
	video.Start(context.Background())
	audio.Start(context.Background())
	return video, audio
}

// publishedBy waits until e has heard of n tracks of pub's and returns
// the server's ids of the video and audio ones among the latest.
func publishedBy(t *testing.T, e, pub *endpoint, n int) (videoID, audioID string) {
	t.Helper()
	waitFor(t, e.name+" hears of "+pub.name+"'s tracks", func() bool {
		return e.ev.with(func(r *recorder) bool {
			c := 0
			for _, ti := range r.published {
				if ti.ParticipantID != pub.p.ID() {
					continue
				}
				c++
				if ti.Kind == "video" {
					videoID = ti.ID
				} else {
					audioID = ti.ID
				}
			}
			return c >= n
		})
	})
	return videoID, audioID
}

// receives waits until e's current track id carries enoughPackets of the
// marker stream, and checks what it got: only that stream, valid markers,
// the publisher's participant id as MediaStream id, and for video a
// keyframe first. It reports whether the media came in time.
func receives(t *testing.T, e *endpoint, id string, stream uint32, from *endpoint, video bool) bool {
	t.Helper()
	deadline := time.Now().Add(roundLimit)
	for {
		if rx := e.track(id); rx != nil && !rx.hasEnded() {
			if n, streams := rx.marked(stream); n >= enoughPackets {
				st := rx.checker.Stats()
				if streams != 1 || st.BadMarkers != 0 || st.BadRTP != 0 {
					t.Errorf("%s: track %s carries %d marker streams, %+v", e.name, id, streams, st)
				}
				if rx.streamID != from.p.ID() {
					t.Errorf("%s: track %s has stream id %q, want %s's %q", e.name, id, rx.streamID, from.name, from.p.ID())
				}
				if pkts := rx.packets(); video && !pkts[0].key {
					t.Errorf("%s: video track %s does not start with a keyframe", e.name, id)
				}
				return true
			}
		}
		if time.Now().After(deadline) {
			n := 0
			if rx := e.track(id); rx != nil {
				n, _ = rx.marked(stream)
			}
			t.Logf("%s: track %s: %d packets of marker stream %d after %v", e.name, id, n, stream, roundLimit)
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flows waits until e's track id, the same TrackRemote throughout, gets
// more packets of the marker stream; it reports whether they came.
func flows(t *testing.T, e *endpoint, id string, stream uint32) bool {
	t.Helper()
	deadline := time.Now().Add(roundLimit)
	var cur *rxTrack
	var base int
	for time.Now().Before(deadline) {
		rx := e.track(id)
		if rx != cur {
			cur = rx
			if cur != nil {
				base, _ = cur.marked(stream)
			}
		}
		if cur != nil && !cur.hasEnded() {
			if n, _ := cur.marked(stream); n >= base+enoughPackets {
				return true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// ended waits until e's tracks ids have ended and e has answered an offer
// since it had answered `since`: the tracks are gone from its subscriber
// PeerConnection.
func ended(t *testing.T, e *endpoint, since int32, ids ...string) {
	t.Helper()
	waitFor(t, e.name+" renegotiates without the tracks", func() bool {
		for _, id := range ids {
			if rx := e.track(id); rx != nil && !rx.hasEnded() {
				return false
			}
		}
		return e.answers.Load() > since
	})
}

// pubConn is a publisher PeerConnection that renegotiates, driven as the
// Go client and browsers drive theirs: one sendonly transceiver per track.
type pubConn struct {
	t  *testing.T
	e  *endpoint
	pc *webrtc.PeerConnection
	// munge, if set, changes each offer on its way to the SFU.
	munge func(sdp string) string
}

func newPubConn(t *testing.T, e *endpoint, api *webrtc.API) *pubConn {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	e.pub = &remotePC{pc: pc} // shutdown closes it
	return &pubConn{t: t, e: e, pc: pc}
}

// readRTCP answers the SFU's keyframe requests for tr until s stops.
func (c *pubConn) readRTCP(s *webrtc.RTPSender, tr *client.Track) {
	c.e.wg.Add(1)
	go func() {
		defer c.e.wg.Done()
		for {
			pkts, _, err := s.ReadRTCP()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				switch pk.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					tr.RequestKeyframe()
				}
			}
		}
	}()
}

// add sends tr on a new sendonly transceiver.
func (c *pubConn) add(tr *client.Track) *webrtc.RTPTransceiver {
	c.t.Helper()
	x, err := c.pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		c.t.Fatal(err)
	}
	c.readRTCP(x.Sender(), tr)
	return x
}

// reuse sends tr on a transceiver whose track was removed and whose
// inactive m-section was negotiated (Pion's AddTrack picks it), and
// checks that it was reused.
func (c *pubConn) reuse(tr *client.Track, want *webrtc.RTPTransceiver) {
	c.t.Helper()
	s, err := c.pc.AddTrack(tr)
	if err != nil {
		c.t.Fatal(err)
	}
	if want.Sender() != s {
		c.t.Fatalf("%s: AddTrack did not reuse the transceiver of mid %s", c.e.name, want.Mid())
	}
	c.readRTCP(s, tr)
}

// negotiate offers and applies the SFU's answer.
func (c *pubConn) negotiate() {
	c.t.Helper()
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		c.t.Fatal(err)
	}
	<-gathered
	offerSDP := c.pc.LocalDescription().SDP
	if c.munge != nil {
		offerSDP = c.munge(offerSDP)
	}
	answer, err := c.e.p.HandleOffer(offerSDP, nil)
	if err != nil {
		c.t.Fatalf("%s: HandleOffer: %v", c.e.name, err)
	}
	if err := c.e.pub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		c.t.Fatal(err)
	}
}

var errDropped = errors.New("signaling connection dropped")

// TestObserverSeesEveryPublisher: an observer stays in the room while
// publishers join in turn, each sending audio and video, and leave, drop
// their signaling connection, or close their PeerConnection first. Each
// new publisher's tracks take the m-sections the last one freed; the
// observer must receive every one of them.
func TestObserverSeesEveryPublisher(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer obs.shutdown()

	const rounds = 24
	ends := []string{"leave", "drop", "close media first"}
	var gotVideo, gotAudio int
	for i := range rounds {
		how := ends[i%len(ends)]
		okV, okA := func() (okV, okA bool) {
			name := fmt.Sprintf("pub%d", i)
			pub, _ := join(t, s, api, name, sfu.ParticipantConfig{UserID: name, Send: sfu.AllMedia})
			defer pub.shutdown()
			vs, as := uint32(1000+i), uint32(2000+i)
			video, audio := pub.publishMarked(api, vs, as)
			defer video.Close()
			defer audio.Close()
			videoID, audioID := publishedBy(t, obs, pub, 2)
			okV = receives(t, obs, videoID, vs, pub, true)
			okA = receives(t, obs, audioID, as, pub, false)

			since := obs.answers.Load()
			switch how {
			case "leave":
				pub.p.Leave()
				pub.shutdown()
			case "drop": // the server removes it; its PeerConnections linger
				pub.p.Remove(errDropped)
			case "close media first": // its tracks end, it leaves later
				pub.shutdown()
			}
			ended(t, obs, since, videoID, audioID)
			pub.p.Leave()
			return okV, okA
		}()
		if okV {
			gotVideo++
		}
		if okA {
			gotAudio++
		}
		if !okV || !okA {
			t.Errorf("round %d (%s): video %v, audio %v", i, how, okV, okA)
		}
	}
	t.Logf("the observer received video in %d of %d rounds, audio in %d", gotVideo, rounds, gotAudio)
	if n := obs.mSections(); n != 2 {
		t.Errorf("the observer's subscriber PeerConnection has %d m-sections after %d rounds, want 2 (reused)", n, rounds)
	}
	if n := obs.onTracks.Load(); n != 2*rounds {
		t.Errorf("the observer's OnTrack fired %d times, want %d", n, 2*rounds)
	}
}

// TestRepublishOnReusedMid: a publisher removes its video track, offers
// twice more with that m-section inactive (as it does when anything else
// changes meanwhile), then sends a new video track on the same m-section
// (same mid, new SSRC). The SFU must publish it, and the observer receive
// it, every time.
func TestRepublishOnReusedMid(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer obs.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "p", Send: sfu.AllMedia})
	defer pub.shutdown()
	c := newPubConn(t, pub, api)

	video, audio := markedTracks(t, 100, 200)
	defer audio.Close()
	defer func() { video.Close() }() // the last one
	vx := c.add(video)
	c.add(audio)
	c.negotiate()
	video.Start(context.Background())
	audio.Start(context.Background())
	videoID, audioID := publishedBy(t, obs, pub, 2)
	if !receives(t, obs, videoID, 100, pub, true) || !receives(t, obs, audioID, 200, pub, false) {
		t.Fatal("the first tracks never arrived")
	}
	mid := vx.Mid()
	for k := range 3 {
		since := obs.answers.Load()
		if err := c.pc.RemoveTrack(vx.Sender()); err != nil {
			t.Fatal(err)
		}
		video.Close()
		c.negotiate()
		ended(t, obs, since, videoID)
		c.negotiate() // the m-section stays inactive
		if k == 2 {
			c.negotiate() // and once more
		}

		stream := uint32(101 + k)
		video, _ = markedTracks(t, stream, 0)
		c.reuse(video, vx)
		c.negotiate()
		video.Start(context.Background())
		videoID, _ = publishedBy(t, obs, pub, 3+k)
		var mids []string
		obs.ev.with(func(r *recorder) bool {
			for _, ti := range r.published {
				if ti.ID == videoID {
					mids = append(mids, ti.Mid)
				}
			}
			return true
		})
		if len(mids) != 1 || mids[0] != mid {
			t.Errorf("cycle %d: the new video track was published with mids %v, want [%s]", k, mids, mid)
		}
		if !receives(t, obs, videoID, stream, pub, true) {
			t.Errorf("cycle %d: the video track sent on the reused m-section %s never arrived", k, mid)
		}
	}
	if !flows(t, obs, audioID, 200) {
		t.Error("audio stopped while video was republished")
	}
	if n := len(c.pc.GetTransceivers()); n != 2 {
		t.Errorf("the publisher has %d transceivers, want 2", n)
	}
}

// TestSlotFreedWhileOfferOutstanding: a track goes away while the
// observer has an offer to answer. Its m-section may carry a new track only
// after the observer has answered an offer that made it inactive, not
// merely after the answer to the offer outstanding at the time; and a new
// track that comes meanwhile gets a sendonly m-section of its own.
// checkOffer enforces both.
func TestSlotFreedWhileOfferOutstanding(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer obs.shutdown()

	type publisher struct {
		e     *endpoint
		audio *client.Track
	}
	start := func(i int) publisher {
		name := fmt.Sprintf("pub%d", i)
		e, _ := join(t, s, api, name, sfu.ParticipantConfig{UserID: name, Send: sfu.AllMedia})
		audio, err := client.NewOpusTrack("mic", "stream", client.SourceOptions{MarkerStream: uint32(i)})
		if err != nil {
			t.Fatal(err)
		}
		e.publish(api, audio)
		audio.Start(context.Background())
		return publisher{e, audio}
	}
	var pubs []publisher
	defer func() {
		for _, p := range pubs {
			p.e.shutdown()
			p.audio.Close()
		}
	}()

	pubs = append(pubs, start(1))
	_, id1 := publishedBy(t, obs, pubs[0].e, 1)
	if !receives(t, obs, id1, 1, pubs[0].e, false) {
		t.Fatal("no audio from pub1")
	}
	for round := range 3 {
		obs.hold(true)
		prev := pubs[len(pubs)-1]
		next := start(len(pubs) + 1)
		pubs = append(pubs, next)
		_, idNext := publishedBy(t, obs, next.e, 1)
		offerX := obs.nextHeld() // carries next's track
		prev.e.p.Leave()         // frees prev's m-section while X is outstanding
		time.Sleep(300 * time.Millisecond)
		if err := obs.answer(offerX); err != nil {
			t.Fatal(err)
		}
		offerY := obs.nextHeld() // prev's m-section inactive
		later := start(len(pubs) + 1)
		pubs = append(pubs, later)
		_, idLater := publishedBy(t, obs, later.e, 1)
		time.Sleep(300 * time.Millisecond) // the SFU adds later's track while Y is outstanding
		obs.hold(false)
		if err := obs.answer(offerY); err != nil {
			t.Fatal(err)
		}
		if !receives(t, obs, idNext, uint32(len(pubs)-1), next.e, false) {
			t.Errorf("round %d: no audio from %s", round, next.e.name)
		}
		if !receives(t, obs, idLater, uint32(len(pubs)), later.e, false) {
			t.Errorf("round %d: no audio from %s", round, later.e.name)
		}
	}
}

// TestResubscribe: the observer unsubscribes and subscribes again, one
// kind or both, slowly or in quick succession; whenever it is subscribed,
// media must flow, and the m-sections are reused.
func TestResubscribe(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer obs.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "p", Send: sfu.AllMedia})
	defer pub.shutdown()
	video, audio := pub.publishMarked(api, 10, 20)
	defer video.Close()
	defer audio.Close()
	videoID, audioID := publishedBy(t, obs, pub, 2)
	if !receives(t, obs, videoID, 10, pub, true) || !receives(t, obs, audioID, 20, pub, false) {
		t.Fatal("no media before the churn")
	}
	stream := map[string]uint32{videoID: 10, audioID: 20}
	sets := [][]string{{videoID}, {audioID}, {videoID, audioID}}
	for k := range 12 {
		ids := sets[k%len(sets)]
		if k%2 == 0 { // wait for each renegotiation
			since := obs.answers.Load()
			if err := obs.p.Unsubscribe(ids); err != nil {
				t.Fatal(err)
			}
			ended(t, obs, since, ids...)
			if err := obs.p.Subscribe(ids); err != nil {
				t.Fatal(err)
			}
		} else { // do not
			for range 3 {
				if err := obs.p.Unsubscribe(ids); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Duration(k) * 5 * time.Millisecond)
				if err := obs.p.Subscribe(ids); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, id := range []string{videoID, audioID} {
			if !flows(t, obs, id, stream[id]) {
				t.Errorf("step %d (%v): no media on %s", k, ids, id)
			}
		}
	}
	n := obs.mSections()
	t.Logf("the observer's subscriber PeerConnection has %d m-sections", n)
	if n > 6 {
		t.Errorf("the observer's subscriber PeerConnection has %d m-sections, want them reused", n)
	}
}

// TestSwitchRoleDownAndUp: an anchor steps down to audience and back up,
// again and again, publishing new tracks each time it is an anchor; the
// observer receives each. In the last round the publisher brings its
// tracks back on its old m-sections, after removing their old tracks.
func TestSwitchRoleDownAndUp(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer obs.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "p", Role: "anchor", Send: sfu.AllMedia, Receive: sfu.AllMedia})
	defer pub.shutdown()
	c := newPubConn(t, pub, api)

	const rounds = 4
	var xs []*webrtc.RTPTransceiver // the last round's transceivers, video then audio
	seen := 0
	for k := range rounds {
		vs, as := uint32(10+k), uint32(20+k)
		video, audio := markedTracks(t, vs, as)
		defer video.Close()
		defer audio.Close()
		if k < rounds-1 {
			xs = []*webrtc.RTPTransceiver{c.add(video), c.add(audio)}
		} else {
			for _, x := range xs { // the old tracks go: their m-sections turn inactive
				if err := c.pc.RemoveTrack(x.Sender()); err != nil {
					t.Fatal(err)
				}
			}
			c.negotiate()
			c.reuse(video, xs[0])
			c.reuse(audio, xs[1])
		}
		c.negotiate()
		video.Start(context.Background())
		audio.Start(context.Background())
		seen += 2
		videoID, audioID := publishedBy(t, obs, pub, seen)
		if !receives(t, obs, videoID, vs, pub, true) || !receives(t, obs, audioID, as, pub, false) {
			t.Errorf("round %d: the observer did not receive the anchor's new tracks", k)
		}

		since := obs.answers.Load()
		pub.p.SetRole("audience", true, 0, sfu.AllMedia)
		ended(t, obs, since, videoID, audioID)
		for _, x := range xs { // stop sending, as protocol 3.6 asks
			if err := x.Sender().ReplaceTrack(nil); err != nil {
				t.Fatal(err)
			}
		}
		video.Close()
		audio.Close()
		pub.p.SetRole("anchor", false, sfu.AllMedia, sfu.AllMedia)
	}
	if n := obs.mSections(); n != 2 {
		t.Errorf("the observer's subscriber PeerConnection has %d m-sections after %d rounds, want 2 (reused)", n, rounds)
	}
}

// TestMuteAcrossRenegotiation: a track muted by its publisher while
// subscribers come and go, and while its subscriber m-section is a reused
// one, resumes for every subscriber on unmute, starting at a keyframe.
func TestMuteAcrossRenegotiation(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer obs.shutdown()

	for k := range 3 {
		func() {
			name := fmt.Sprintf("pub%d", k)
			pub, _ := join(t, s, api, name, sfu.ParticipantConfig{UserID: name, Send: sfu.AllMedia})
			defer pub.shutdown()
			vs, as := uint32(10+k), uint32(20+k)
			video, audio := pub.publishMarked(api, vs, as)
			defer video.Close()
			defer audio.Close()
			videoID, audioID := publishedBy(t, obs, pub, 2)
			if !receives(t, obs, videoID, vs, pub, true) || !receives(t, obs, audioID, as, pub, false) {
				t.Errorf("round %d: no media before the mute", k)
			}

			// Muted, a second observer joins and the first one
			// resubscribes to the video: both get new bindings while muted.
			if err := pub.p.Mute(videoID, true); err != nil {
				t.Fatal(err)
			}
			late, _ := join(t, s, api, fmt.Sprintf("late%d", k), sfu.ParticipantConfig{UserID: "l", AutoSubscribe: true, Receive: sfu.AllMedia})
			defer late.shutdown()
			if !receives(t, late, audioID, as, pub, false) {
				t.Errorf("round %d: the late observer gets no audio", k)
			}
			since := obs.answers.Load()
			if err := obs.p.Unsubscribe([]string{videoID}); err != nil {
				t.Fatal(err)
			}
			ended(t, obs, since, videoID)
			since = obs.answers.Load()
			if err := obs.p.Subscribe([]string{videoID}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the observer renegotiates the video back", func() bool { return obs.answers.Load() > since })
			time.Sleep(200 * time.Millisecond)
			if rx := late.track(videoID); rx != nil && rx.count() > 0 {
				t.Errorf("round %d: %s got video while it was muted", k, late.name)
			}
			if rx := obs.track(videoID); rx != nil && !rx.hasEnded() && rx.count() > 0 {
				t.Errorf("round %d: %s got video on its new subscription while it was muted", k, obs.name)
			}
			if err := pub.p.Mute(videoID, false); err != nil {
				t.Fatal(err)
			}
			for _, e := range []*endpoint{obs, late} {
				if !flows(t, e, videoID, vs) {
					t.Errorf("round %d: %s gets no video after unmute", k, e.name)
					continue
				}
				if pkts := e.track(videoID).packets(); !pkts[0].key {
					t.Errorf("round %d: %s's video does not resume at a keyframe", k, e.name)
				}
			}
			since = obs.answers.Load()
			pub.p.Leave()
			ended(t, obs, since, videoID, audioID)
			late.p.Leave()
		}()
	}
}

// TestLatePublisherPacket: a packet of a track its publisher removed that
// reaches the SFU after it applied the offer without it comes on an SSRC
// no longer declared, and Pion makes up a track for it (on a transceiver
// without a mid). The SFU must not publish that to the room.
func TestLatePublisherPacket(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer obs.shutdown()

	// Pion finds a made-up track's m-section by the only one there is, or
	// else by payload type.
	for i, withVideo := range []bool{false, true} {
		func() {
			name := fmt.Sprintf("pub%d", i)
			pub, _ := join(t, s, api, name, sfu.ParticipantConfig{UserID: name, Send: sfu.AllMedia})
			defer pub.shutdown()
			c := newPubConn(t, pub, api)
			video, audio := markedTracks(t, uint32(10+i), uint32(20+i))
			defer video.Close()
			defer audio.Close()
			late := latetrack.New(audio)
			x, err := c.pc.AddTransceiverFromTrack(late, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
			if err != nil {
				t.Fatal(err)
			}
			c.readRTCP(x.Sender(), audio)
			n := 1
			if withVideo {
				c.add(video)
				n++
			}
			c.negotiate()
			audio.Start(context.Background())
			video.Start(context.Background())
			videoID, audioID := publishedBy(t, obs, pub, n)
			if !receives(t, obs, audioID, uint32(20+i), pub, false) {
				t.Fatalf("%s: no audio", name)
			}

			since := obs.answers.Load()
			if err := c.pc.RemoveTrack(x.Sender()); err != nil {
				t.Fatal(err)
			}
			audio.Close()
			c.negotiate()
			ended(t, obs, since, audioID)
			for seq := range uint16(5) {
				payload := make([]byte, 100)
				if err := client.PutMarker(payload, client.Marker{StreamID: 99, Seq: uint32(seq), SendTime: time.Now().UnixNano()}); err != nil {
					t.Fatal(err)
				}
				if err := late.WriteLate(60000+seq, payload); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(500 * time.Millisecond)
			for _, e := range []*endpoint{obs, pub} {
				if got := countPublished(e, pub); got != n {
					t.Errorf("%s: %s heard of %d tracks of %s, want %d: a late packet became a track", name, e.name, got, pub.name, n)
				}
			}
			if withVideo && !flows(t, obs, videoID, uint32(10+i)) {
				t.Errorf("%s: video stopped", name)
			}
		}()
	}
}

// countPublished counts the tracks of pub that e has heard of.
func countPublished(e, pub *endpoint) int {
	n := 0
	e.ev.with(func(r *recorder) bool {
		for _, ti := range r.published {
			if ti.ParticipantID == pub.p.ID() {
				n++
			}
		}
		return true
	})
	return n
}

// TestSenderReportsOnReusedMSection: the observer gets RTCP sender reports
// for a track on a reused m-section as for one on a fresh m-section:
// browsers need them to synchronise audio with video, and for their
// statistics. The track's packets carry the payload type its m-section
// negotiated, both times.
func TestSenderReportsOnReusedMSection(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer obs.shutdown()

	for i, slot := range []string{"fresh", "reused"} {
		func() {
			name := fmt.Sprintf("pub%d", i)
			pub, _ := join(t, s, api, name, sfu.ParticipantConfig{UserID: name, Send: sfu.AllMedia})
			defer pub.shutdown()
			vs, as := uint32(10+i), uint32(20+i)
			video, audio := pub.publishMarked(api, vs, as)
			defer video.Close()
			defer audio.Close()
			videoID, audioID := publishedBy(t, obs, pub, 2)
			if !receives(t, obs, videoID, vs, pub, true) || !receives(t, obs, audioID, as, pub, false) {
				t.Fatalf("%s m-sections: no media", slot)
			}
			for _, id := range []string{videoID, audioID} {
				rx := obs.track(id)
				pkts := rx.packets()
				for _, pk := range pkts {
					if webrtc.PayloadType(pk.pt) != rx.pt || pk.ssrc != pkts[0].ssrc {
						t.Errorf("%s m-section: track %s: a packet of payload type %d, SSRC %d; the m-section negotiated %d, the first packet came on %d",
							slot, id, pk.pt, pk.ssrc, rx.pt, pkts[0].ssrc)
						break
					}
				}
				ssrc := pkts[0].ssrc
				deadline := time.Now().Add(roundLimit)
				for _, ok := obs.srIn.Load(ssrc); !ok; _, ok = obs.srIn.Load(ssrc) {
					if time.Now().After(deadline) {
						t.Errorf("%s m-section: no sender report for track %s (SSRC %d) in %v", slot, id, ssrc, roundLimit)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			since := obs.answers.Load()
			pub.p.Leave()
			ended(t, obs, since, videoID, audioID)
		}()
	}
	if n := obs.mSections(); n != 2 {
		t.Errorf("the observer's subscriber PeerConnection has %d m-sections, want 2 (reused)", n)
	}
}

// TestObserverHoldsNoEndedTrack: a subscriber that stays while publishers
// come and go must not keep what they sent reachable. Each ended track's
// state (its packet caches above all) is freed while the observer is
// still there, and so are its wishes for them, with the bandwidth
// estimator on (whose pacer used to keep every stream it was ever given)
// and off.
func TestObserverHoldsNoEndedTrack(t *testing.T) {
	for _, noBWE := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoBandwidthEstimation=%v", noBWE), func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			live := sfu.CountUpTracks()
			defer sfu.StopCountingUpTracks()
			s, api, stop := startSFUWith(t, nil, sfu.Config{NoBandwidthEstimation: noBWE})
			defer stop()
			obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
			defer obs.shutdown()
			const rounds = 6
			for i := range rounds {
				name := fmt.Sprintf("pub%d", i)
				pub, _ := join(t, s, api, name, sfu.ParticipantConfig{UserID: name, Send: sfu.AllMedia})
				vs, as := uint32(1000+i), uint32(2000+i)
				video, audio := pub.publishMarked(api, vs, as)
				videoID, audioID := publishedBy(t, obs, pub, 2)
				if !receives(t, obs, videoID, vs, pub, true) || !receives(t, obs, audioID, as, pub, false) {
					t.Errorf("round %d: the observer did not receive both tracks", i)
				}
				// As lethe.js does for a rendered <video>.
				if err := obs.p.SetTrackSettings(videoID, sfu.TrackSettings{MaxLayer: -1, Width: 640, Height: 360}); err != nil {
					t.Errorf("round %d: track settings: %v", i, err)
				}
				since := obs.answers.Load()
				pub.p.Leave()
				pub.shutdown()
				video.Close()
				audio.Close()
				ended(t, obs, since, videoID, audioID)
			}
			// Published tracks made: 2 a round. Once every publisher has
			// gone, none may stay live.
			deadline := time.Now().Add(waitLimit)
			for live.Load() > 0 && time.Now().Before(deadline) {
				runtime.GC()
				time.Sleep(50 * time.Millisecond)
			}
			if n := live.Load(); n > 0 {
				t.Errorf("%d of the %d published tracks are still live with the observer there", n, 2*rounds)
			}
			waitFor(t, "the observer's wishes for ended tracks dropped", func() bool { return obs.p.SettingsHeld() == 0 })
		})
	}
}
