package e2e

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/lethe-rtc/lethe/signaling"
)

// TestBrowserSpeakers: Chromium's fake microphone, playing a tone,
// publishes through the demo page; the server's answer negotiates the audio level
// extension, Chromium sends it, and the room hears the page as speaker:
// a Go client in the audience gets it in speakers events, another page's
// lethe.js in room.speakers, and that page's demo highlights its tile.
// Chromium's built-in fake microphone, which only beeps, never speaks.
func TestBrowserSpeakers(t *testing.T) {
	if !needBrowser(t) {
		return
	}
	leakCheck(t)
	s := startServer(t)
	b := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", writeTone(t)))
	room := newRoomName()
	talker, talkerID := s.joinPage(t, b, "talker", room, true)

	// The publisher PeerConnection agreed on the extension both ways.
	var sdps []string
	talker.mustEval(`[letheDemo.room.publisherPC.localDescription.sdp, letheDemo.room.publisherPC.remoteDescription.sdp]`, &sdps)
	for i, sdp := range sdps {
		if !strings.Contains(sdp, "urn:ietf:params:rtp-hdrext:ssrc-audio-level") {
			t.Fatalf("publisher %s does not carry the audio level extension", []string{"offer", "answer"}[i])
		}
	}

	listener, err := s.tryJoin(t, joinOpts{user: "listener", strRoom: room, role: signaling.RoleAudience})
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(20 * time.Second)
	for found := false; !found; {
		select {
		case e := <-listener.Events():
			if e.Type != signaling.TypeSpeakers {
				continue
			}
			for _, sp := range e.Data.(*signaling.Speakers).Speakers {
				if sp.ParticipantID == talkerID && sp.Level > 0 {
					found = true
				}
			}
		case <-timeout:
			t.Fatalf("the Go listener heard no speakers event naming the page (%s)", talkerID)
		}
	}

	// Chromium's own fake microphone beeps, 20 ms every half second: to
	// the server that is a cough, repeated, never a speaker — though its
	// packets carry the level, and the tone's page is heard beside it.
	beeper, beeperID := s.joinPage(t, newBrowser(t), "beeper", room, true)
	var bsdp string
	beeper.mustEval(`letheDemo.room.publisherPC.remoteDescription.sdp`, &bsdp)
	if !strings.Contains(bsdp, "urn:ietf:params:rtp-hdrext:ssrc-audio-level") {
		t.Fatal("the beeper's answer does not carry the audio level extension")
	}
	beeper.waitJS(`letheDemo.room.speakers.some(s => s.participantId === "`+talkerID+`")`, 15*time.Second)
	quiet := time.After(3 * time.Second)
	for done := false; !done; {
		select {
		case e := <-listener.Events():
			if e.Type != signaling.TypeSpeakers {
				continue
			}
			for _, sp := range e.Data.(*signaling.Speakers).Speakers {
				if sp.ParticipantID == beeperID {
					t.Fatalf("the beeping microphone was listed as speaker: %+v", e.Data)
				}
			}
		case <-quiet:
			done = true
		}
	}
	var listed bool
	beeper.mustEval(`letheDemo.events.some(e => e.type === "speakers" && e.speakers.some(s => s.local))`, &listed)
	if listed {
		t.Fatal("the beeper's page was told it speaks")
	}

	viewer, _ := s.joinPage(t, b, "viewer", room, false)
	viewer.waitJS(`letheDemo.room.speakers[0]?.participantId === "`+talkerID+`"`, 15*time.Second)
	viewer.waitJS(`document.querySelector('.tile.active-speaker[data-pid="`+talkerID+`"]:not([data-tid])')`, 10*time.Second)
	talker.waitJS(`letheDemo.room.speakers.some(s => s.local) && document.querySelector(".tile.local.speaking")`, 10*time.Second)
}

// writeTone writes a WAV file for Chromium's fake microphone
// (--use-file-for-fake-audio-capture, which loops it): two seconds of a
// 440 Hz tone at -12 dBFS, 48 kHz mono. The built-in fake microphone
// only beeps, 20 ms every half second: a cough, not speech.
func writeTone(t *testing.T) string {
	t.Helper()
	const rate, secs = 48000, 2
	n := rate * secs
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(1)) // mono
	le(uint32(rate))
	le(uint32(2 * rate))
	le(uint16(2))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(2 * n))
	amp := 32767 * math.Pow(10, -12.0/20)
	for i := range n {
		le(int16(amp * math.Sin(2*math.Pi*440*float64(i)/rate)))
	}
	p := filepath.Join(t.TempDir(), "tone.wav")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
