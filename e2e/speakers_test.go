package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
)

// speakerIDs are the participant ids of a speakers event, in order.
func speakerIDs(e client.Event) []string {
	ids := []string{}
	if sp, ok := e.Data.(*signaling.Speakers); ok {
		for _, s := range sp.Speakers {
			ids = append(ids, s.ParticipantID)
		}
	}
	return ids
}

// waitSpeakers waits for a speakers event listing exactly want, in order.
// Every list seen on the way goes to seen, when it is not nil.
func waitSpeakers(t *testing.T, c *client.Client, what string, seen func([]string), want ...string) {
	t.Helper()
	w := fmt.Sprint(want)
	timeout := time.After(15 * time.Second)
	for {
		select {
		case e := <-c.Events():
			if e.Type != signaling.TypeSpeakers {
				continue
			}
			ids := speakerIDs(e)
			if seen != nil {
				seen(ids)
			}
			if fmt.Sprint(ids) == w {
				return
			}
		case <-timeout:
			t.Fatalf("no speakers event listing %s (%v) within 15s", what, want)
		}
	}
}

// publishMic publishes an Opus track at dBov and starts it with the test.
func (p *participant) publishMic(t *testing.T, dBov int) *client.Track {
	t.Helper()
	a, err := client.NewOpusTrack("audio-"+p.user, "stream-"+p.user, client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.SetAudioLevel(dBov)
	if err := p.Publish(ctxT(t, 10*time.Second), a); err != nil {
		t.Fatalf("publish %s: %v", p.user, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.Start(ctx)
	t.Cleanup(func() {
		cancel()
		_ = a.Close()
	})
	return a
}

// TestSpeakers: two Go clients publish synthetic Opus with the audio
// level extension, one loud and one silent, through the real server. An
// audience member hears the loud one named as speaker, the ranking swap
// when their levels do, never a muted track, and nobody once the speaker
// has left.
func TestSpeakers(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	const room = 14
	listener, err := s.tryJoin(t, joinOpts{user: "listener", room: room, role: signaling.RoleAudience})
	if err != nil {
		t.Fatal(err)
	}
	loud := s.join(t, "loud", room, "")
	quiet := s.join(t, "quiet", room, "")
	loudMic := loud.publishMic(t, -20)
	quietMic := quiet.publishMic(t, -127)
	loudID, quietID := loud.joined.ParticipantID, quiet.joined.ParticipantID

	waitSpeakers(t, listener.Client, "the loud one", nil, loudID)

	loudMic.SetAudioLevel(-127)
	quietMic.SetAudioLevel(-20)
	waitSpeakers(t, listener.Client, "the levels swapped", nil, quietID)

	// Muted: never listed again, however loud.
	trackID, ok := quiet.ServerTrackID("audio-quiet")
	if !ok {
		t.Fatal("quiet's track has no server id")
	}
	if err := quiet.Mute(ctxT(t, 5*time.Second), trackID, true); err != nil {
		t.Fatal(err)
	}
	quietMic.SetAudioLevel(0)
	loudMic.SetAudioLevel(-30)
	var afterMute [][]string
	record := func(ids []string) { afterMute = append(afterMute, ids) }
	waitSpeakers(t, listener.Client, "the loud one again, the muted one gone", record, loudID)
	loudMic.SetAudioLevel(-10)
	waitSpeakers(t, listener.Client, "the loud one, louder", record, loudID)
	for _, ids := range afterMute[1:] { // the first may still be from before the mute
		for _, id := range ids {
			if id == quietID {
				t.Fatalf("the muted participant was listed as speaker: %v", afterMute)
			}
		}
	}

	if err := loud.Leave(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitSpeakers(t, listener.Client, "nobody once the speaker left", nil)
}
