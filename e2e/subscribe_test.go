package e2e

import (
	"io"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// With autoSubscribe off a participant receives only what it asks for,
// and stops receiving what it unsubscribes from.
func TestSelectiveSubscribe(t *testing.T) {
	leakCheck(t)
	s := startServer(t)
	pub := s.join(t, "pub", 11, "")
	pub.publishAV(t, false, client.SourceOptions{})
	for range 2 { // tracks are announced once their first packet arrives
		waitEvent(t, pub.Client, signaling.TypeTrackPublished, 10*time.Second, nil)
	}

	c := s.dial(t)
	tracks := make(chan string, 8)
	ended := make(chan string, 8)
	c.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		tracks <- tr.ID()
		go func() { // read until the server removes the track
			var p rtp.Packet
			for {
				if err := readRTP(tr, &p); err != nil {
					ended <- tr.ID()
					return
				}
			}
		}()
	})
	off := false
	j, err := c.Join(ctxT(t, 10*time.Second), signaling.Join{
		SDKAppID: s.appID, UserID: "picky", UserSig: s.token("picky"), RoomID: 11, AutoSubscribe: &off,
	})
	if err != nil {
		t.Fatal(err)
	}
	var video, audio string
	for _, tr := range j.Room.Participants[0].Tracks {
		if tr.Kind == "video" {
			video = tr.TrackID
		} else {
			audio = tr.TrackID
		}
	}
	select {
	case id := <-tracks:
		t.Fatalf("received %s without subscribing", id)
	case <-time.After(time.Second):
	}
	if err := c.Subscribe(ctxT(t, 5*time.Second), video); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-tracks:
		if id != video {
			t.Fatalf("got track %s, subscribed to %s", id, video)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscribed track never arrived")
	}
	select {
	case id := <-tracks:
		t.Fatalf("received %s (audio %s) without subscribing", id, audio)
	case <-time.After(time.Second):
	}
	if err := c.Unsubscribe(ctxT(t, 5*time.Second), video); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-ended:
		if id != video {
			t.Fatalf("track %s ended, want %s", id, video)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("unsubscribed track still flowing")
	}
}

func readRTP(tr *webrtc.TrackRemote, p *rtp.Packet) error {
	buf := make([]byte, 1500)
	n, _, err := tr.Read(buf)
	if err != nil {
		return err
	}
	if n == 0 {
		return io.EOF
	}
	return p.Unmarshal(buf[:n])
}
