package sfu_test

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/sfu"
)

// speaking returns the participant ids of the last speakers list e heard.
func (e *endpoint) speaking() []string {
	var ids []string
	e.ev.with(func(r *recorder) bool {
		if n := len(r.speakers); n > 0 {
			for _, s := range r.speakers[n-1] {
				ids = append(ids, s.ParticipantID)
			}
		}
		return true
	})
	return ids
}

// TestSpeakers: real publishers send Opus with the RFC 6464 level in
// every packet; the room hears the loud one as speaker, not the silent
// one, the swap of their levels, never a muted track, never a hidden
// participant, and loses a speaker who leaves.
func TestSpeakers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	listener, _ := join(t, s, api, "listener", sfu.ParticipantConfig{UserID: "l", Role: "audience", Hidden: true, Receive: sfu.AllMedia})
	defer listener.shutdown()
	publish := func(name string, hidden bool, dBov int) (*endpoint, *client.Track) {
		e, _ := join(t, s, api, name, sfu.ParticipantConfig{UserID: name, Role: "anchor", Hidden: hidden, Send: sfu.Audio, Receive: sfu.AllMedia})
		tr, err := client.NewOpusTrack("mic-"+name, "stream-"+name, client.SourceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tr.SetAudioLevel(dBov)
		e.publish(api, tr)
		tr.Start(ctx)
		return e, tr
	}
	loud, loudMic := publish("loud", false, -20)
	defer loud.shutdown()
	defer loudMic.Close()
	quiet, quietMic := publish("quiet", false, -127)
	defer quiet.shutdown()
	defer quietMic.Close()
	hidden, hiddenMic := publish("hidden", true, -10) // loudest of all, and never listed
	defer hidden.shutdown()
	defer hiddenMic.Close()

	is := func(want ...string) func() bool {
		return func() bool { return fmt.Sprint(listener.speaking()) == fmt.Sprint(want) }
	}
	waitFor(t, "the loud publisher alone speaking", is(loud.p.ID()))

	loudMic.SetAudioLevel(-127)
	quietMic.SetAudioLevel(-40)
	waitFor(t, "the levels swapped: the other publisher alone speaking", is(quiet.p.ID()))
	loudMic.SetAudioLevel(-20)
	waitFor(t, "both speaking, the louder first", is(loud.p.ID(), quiet.p.ID()))

	// A publisher that mutes stops speaking at once, however loud.
	var quietTrack string
	quiet.ev.with(func(r *recorder) bool {
		if ti, ok := findTrack(r.published, "mic-quiet"); ok {
			quietTrack = ti.ID
		}
		return true
	})
	if err := quiet.p.Mute(quietTrack, true); err != nil {
		t.Fatal(err)
	}
	quietMic.SetAudioLevel(0)
	waitFor(t, "the muted publisher gone from the speakers", is(loud.p.ID()))

	// A newcomer hears the current list.
	late, _ := join(t, s, api, "late", sfu.ParticipantConfig{UserID: "late", Role: "audience", Hidden: true, Receive: sfu.AllMedia})
	defer late.shutdown()
	waitFor(t, "a newcomer told who speaks", func() bool { return fmt.Sprint(late.speaking()) == fmt.Sprint([]string{loud.p.ID()}) })

	loud.p.Leave()
	waitFor(t, "nobody speaking once the speaker left", is())
	listener.ev.with(func(r *recorder) bool {
		for _, list := range r.speakers {
			for _, sp := range list {
				if sp.ParticipantID == hidden.p.ID() {
					t.Errorf("the hidden participant was listed: %+v", list)
				}
				if sp.Level <= 0 || sp.Level > 1 {
					t.Errorf("level %v outside (0, 1]: %+v", sp.Level, list)
				}
			}
		}
		return true
	})
}
