package sfu_test

import (
	"errors"
	"testing"

	"github.com/lethe-rtc/lethe/sfu"
	"go.uber.org/goleak"
)

// A participant whose client closes its PeerConnections (DTLS
// close_notify: Pion's side goes to closed, not failed) while its
// signaling lives on is gone: the SFU ends it with ErrConnectionClosed and
// tells the room, rather than keep a ghost. Both sides: a publisher and a
// subscriber-only participant.
func TestClientClosedPeerConnectionsEndTheParticipant(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer obs.shutdown()

	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "p", Send: sfu.AllMedia})
	video, audio := pub.publishMarked(api, 1, 2)
	defer video.Close()
	defer audio.Close()
	videoID, audioID := publishedBy(t, obs, pub, 2)
	since := obs.answers.Load()
	pub.shutdown() // the client closes its PeerConnections; no Leave
	waitFor(t, "the publisher ended with ErrConnectionClosed", func() bool {
		return pub.ev.with(func(r *recorder) bool { return len(r.closed) == 1 && errors.Is(r.closed[0], sfu.ErrConnectionClosed) })
	})
	ended(t, obs, since, videoID, audioID)

	viewer, _ := join(t, s, api, "viewer", sfu.ParticipantConfig{UserID: "v", AutoSubscribe: true, Receive: sfu.AllMedia})
	pub2, _ := join(t, s, api, "pub2", sfu.ParticipantConfig{UserID: "p2", Send: sfu.AllMedia})
	defer pub2.shutdown()
	v2, a2 := pub2.publishMarked(api, 3, 4)
	defer v2.Close()
	defer a2.Close()
	v2ID, _ := publishedBy(t, viewer, pub2, 2)
	if !receives(t, viewer, v2ID, 3, pub2, true) { // its subscriber PeerConnection is up
		t.Fatal("the viewer receives nothing")
	}
	viewer.shutdown()
	waitFor(t, "the viewer ended with ErrConnectionClosed", func() bool {
		return viewer.ev.with(func(r *recorder) bool { return len(r.closed) == 1 && errors.Is(r.closed[0], sfu.ErrConnectionClosed) })
	})
	pub2.p.Leave()
}
