package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

// A late joiner gets the tracks already published and a first keyframe,
// although the publisher sends keyframes only when asked.
func TestLateJoinerGetsKeyframe(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	a := s.join(t, "alice", 7, "")
	a.publishAV(t, false, client.SourceOptions{}) // keyframes only on request
	time.Sleep(time.Second)                       // alice's first keyframe is long gone

	b := s.join(t, "bob", 7, "")
	if n := len(b.joined.Room.Participants); n != 1 || len(b.joined.Room.Participants[0].Tracks) != 2 {
		t.Fatalf("bob's snapshot: %+v", b.joined.Room)
	}
	video := b.firstVideo(t)
	deadline := time.Now().Add(10 * time.Second)
	for video.Stats().Keyframes == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	st := video.Stats()
	if st.Keyframes == 0 {
		t.Fatalf("no keyframe reached the late joiner: %+v", st)
	}
	t.Logf("late joiner: first keyframe %v after first packet", st.TimeToFirstKeyframe)
}

// Leave is announced; a client killed without leaving is cleaned up.
func TestLeaveAndKilledClient(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	a := s.join(t, "alice", 9, "")
	b := s.join(t, "bob", 9, "")
	b.publishAV(t, false, client.SourceOptions{})
	waitEvent(t, a.Client, signaling.TypeTrackPublished, 10*time.Second, nil)

	if err := b.Leave(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("leave: %v", err)
	}
	waitEvent(t, a.Client, signaling.TypeTrackUnpublished, 5*time.Second, func(e client.Event) bool {
		return e.Data.(*signaling.TrackUnpublished).ParticipantID == b.joined.ParticipantID
	})
	waitEvent(t, a.Client, signaling.TypeParticipantLeft, 5*time.Second, func(e client.Event) bool {
		return e.Data.(*signaling.ParticipantLeft).ParticipantID == b.joined.ParticipantID
	})

	cmd, id := startClientProcess(t, s, "carol", 9)
	waitEvent(t, a.Client, signaling.TypeTrackPublished, 10*time.Second, func(e client.Event) bool {
		return e.Data.(*signaling.TrackPublished).Track.ParticipantID == id
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a.Client, signaling.TypeParticipantLeft, 15*time.Second, func(e client.Event) bool {
		return e.Data.(*signaling.ParticipantLeft).ParticipantID == id
	})

	// The room now holds alice only.
	d := s.join(t, "dave", 9, "")
	if n := len(d.joined.Room.Participants); n != 1 {
		t.Fatalf("room should hold only alice, snapshot has %d participants", n)
	}
}

// Rooms are isolated, and numeric room 5 is not string room "5".
func TestRoomsIsolated(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	a := s.join(t, "alice", 5, "")
	b := s.join(t, "bob", 0, "5")
	c := s.join(t, "carol", 6, "")
	for _, p := range []*participant{b, c} {
		if n := len(p.joined.Room.Participants); n != 0 {
			t.Errorf("%s sees %d participants in its own room, want 0", p.user, n)
		}
	}
	b.publishAV(t, false, client.SourceOptions{})
	c.publishAV(t, false, client.SourceOptions{})
	a2 := s.join(t, "alice2", 5, "")
	waitEvent(t, a.Client, signaling.TypeParticipantJoined, 5*time.Second, nil)
	select {
	case tr := <-a.tracks:
		t.Fatalf("alice received a track from another room: %s", tr.ID())
	case tr := <-a2.tracks:
		t.Fatalf("alice2 received a track from another room: %s", tr.ID())
	case <-time.After(2 * time.Second):
	}
	for {
		select {
		case e := <-a.Events():
			if e.Type == signaling.TypeTrackPublished || e.Type == signaling.TypeParticipantJoined &&
				e.Data.(*signaling.ParticipantInfo).ParticipantID != a2.joined.ParticipantID {
				t.Fatalf("alice saw an event from another room: %s", e.Type)
			}
		default:
			return
		}
	}
}
