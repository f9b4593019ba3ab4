package e2e

import (
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/pion/webrtc/v4"
)

// Three participants each publish audio and video (one of them H.264);
// each receives the other two's four tracks, intact and without loss.
func TestThreeParticipantsExchangeMedia(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	users := []string{"alice", "bob", "carol"}
	ps := make([]*participant, len(users))
	streams := map[uint32]string{} // marker stream → publisher
	for i, u := range users {
		ps[i] = s.join(t, u, 1001, "")
		for _, tr := range ps[i].publishAV(t, i == 2, client.SourceOptions{}) {
			streams[tr.MarkerStream()] = u
		}
	}
	type got struct {
		tr *webrtc.TrackRemote
		ch *client.Checker
	}
	received := make([][]got, len(ps))
	for i, p := range ps {
		for len(received[i]) < 4 {
			select {
			case tr := <-p.tracks:
				received[i] = append(received[i], got{tr, checkTrack(t, tr)})
			case <-time.After(15 * time.Second):
				t.Fatalf("%s received %d of 4 tracks", p.user, len(received[i]))
			}
		}
	}
	time.Sleep(3 * time.Second) // let media flow

	for i, p := range ps {
		perPublisher := map[string]int{}
		for _, g := range received[i] {
			st := g.ch.Stats()
			if st.Packets < 20 {
				t.Errorf("%s: track %s got only %d packets", p.user, g.tr.ID(), st.Packets)
			}
			if st.BadMarkers != 0 {
				t.Errorf("%s: track %s: %d payloads failed the marker check", p.user, g.tr.ID(), st.BadMarkers)
			}
			if st.Lost != 0 {
				t.Errorf("%s: track %s: %d packets lost on clean loopback", p.user, g.tr.ID(), st.Lost)
			}
			if st.Streams != 1 {
				t.Errorf("%s: track %s carries %d marker streams, want 1", p.user, g.tr.ID(), st.Streams)
			}
			perPublisher[g.tr.StreamID()]++
		}
		if len(perPublisher) != 2 {
			t.Errorf("%s receives from %d participants, want 2", p.user, len(perPublisher))
		}
		for pid, n := range perPublisher {
			if pid == p.ParticipantID() {
				t.Errorf("%s receives its own tracks", p.user)
			}
			if n != 2 {
				t.Errorf("%s receives %d tracks of %s, want 2", p.user, n, pid)
			}
		}
	}
	_ = streams
	_ = signaling.TypeJoin
}
