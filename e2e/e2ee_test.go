package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/e2ee"
	"github.com/lethe-rtc/lethe/signaling"
)

// frameWatch decrypts one remote track in the background; its stats are
// read under mu.
type frameWatch struct {
	mu  sync.Mutex
	fr  *client.FrameReader
	chk *client.Checker
}

func (w *frameWatch) stats() (client.FrameStats, client.CheckerStats) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fr.Stats(), w.chk.Stats()
}

// watchFrames decrypts tr (published by pid) until the test ends.
func watchFrames(t *testing.T, ring *e2ee.Ring, tr *webrtc.TrackRemote) *frameWatch {
	t.Helper()
	fr, err := client.NewFrameReader(ring, tr.StreamID(), tr.Codec().MimeType)
	if err != nil {
		t.Fatal(err)
	}
	w := &frameWatch{fr: fr, chk: client.NewChecker(client.CheckerOptions{MimeType: tr.Codec().MimeType})}
	fr.Checker = w.chk
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		stop := context.AfterFunc(ctx, func() { _ = tr.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			pkt := &rtp.Packet{} // the sample builder keeps it, and its bytes
			if pkt.Unmarshal(append([]byte(nil), buf[:n]...)) != nil {
				continue
			}
			w.mu.Lock()
			fr.Push(pkt)
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return w
}

// nextVideo returns p's next remote video track; the audio it passes is
// read (and dropped) so that the server's downlink estimate stays true.
func (p *participant) nextVideo(t *testing.T) *webrtc.TrackRemote {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case tr := <-p.tracks:
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				return tr
			}
			checkTrack(t, tr)
		case <-timeout:
			t.Fatalf("%s received no video track", p.user)
			return nil
		}
	}
}

// TestE2EESimulcast: a Go client publishes end-to-end encrypted 3-layer
// VP8 simulcast through the real server. The server still reads each
// layer's picture size from the clear keyframe header: a subscriber
// asking for 320x180 gets the lowest layer, another the top one; when
// the first asks for more it is switched up, on a keyframe of the new
// layer (checked on the decrypted frames). Every frame decrypts and its
// marker checks out.
func TestE2EESimulcast(t *testing.T) {
	leakCheck(t)
	ring, err := e2ee.NewRingWith([]byte("e2e simulcast room secret"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	const room = 31
	full := s.join(t, "full", room, "")
	small := s.join(t, "small", room, "")
	pub := s.join(t, "pub", room, "")

	v, err := client.NewVP8SimulcastTrack("video-pub", "stream-pub", client.SimulcastOptions{
		Source: client.SourceOptions{E2EE: ring.NewEncryptor(pub.ParticipantID())},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.PublishSimulcast(ctxT(t, 10*time.Second), v); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	for _, l := range v.Layers() {
		l.Start(ctx)
	}
	t.Cleanup(func() { cancel(); _ = v.Close() })
	var id string
	for deadline := time.Now().Add(10 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		id, _ = pub.ServerTrackID(v.ID())
	}
	if id == "" {
		t.Fatal("the simulcast track was not published")
	}

	fullW := watchFrames(t, ring, full.nextVideo(t))
	smallW := watchFrames(t, ring, small.nextVideo(t))
	if err := small.SetTrackSettings(ctxT(t, 5*time.Second), signaling.TrackSettings{TrackID: id, Width: 320, Height: 180}); err != nil {
		t.Fatal(err)
	}
	settles := func(what string, w *frameWatch, layer int, width int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			fs, cs := w.stats()
			if cs.Layer == layer && fs.Width == width && time.Since(cs.LastSwitchAt) > time.Second && fs.Decrypted > 30 {
				if fs.Failed != 0 || cs.BadMarkers != 0 || cs.BadSwitches != 0 {
					t.Errorf("%s: frames %+v, markers %+v", what, fs, cs)
				}
				t.Logf("%s: layer %d, %dx%d, frames %+v, %d switches", what, cs.Layer, fs.Width, fs.Height, fs, cs.LayerSwitches)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: layer %d at %dx%d (frames %+v, markers %+v), want layer %d at width %d", what, cs.Layer, fs.Width, fs.Height, fs, cs, layer, width)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	settles("full", fullW, 2, 1280)
	settles("320x180", smallW, 0, 320)
	if err := small.SetTrackSettings(ctxT(t, 5*time.Second), signaling.TrackSettings{TrackID: id, Width: 640, Height: 360}); err != nil {
		t.Fatal(err)
	}
	settles("320x180 then 640x360", smallW, 1, 640)
	if _, cs := smallW.stats(); cs.LayerSwitches == 0 {
		t.Error("the small subscriber was never switched")
	}
}
