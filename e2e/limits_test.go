package e2e

import (
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
	"github.com/pion/webrtc/v4"
)

// `lethe serve --max-track-bitrate` reaches the worker: a publisher
// sending video far above it loses what is beyond (its Pion client heeds
// neither the answer's b=AS nor REMB), while its audio, under the caps,
// loses nothing.
func TestBitrateCapFlags(t *testing.T) {
	leakCheck(t)
	const trackCap = 400_000
	s := startServer(t, "--max-track-bitrate", "400000", "--max-participant-bitrate", "600000")
	pub := s.join(t, "pub", 77, "")
	sub := s.join(t, "sub", 77, "")
	pub.publishAV(t, false, client.SourceOptions{Bitrate: 1_500_000})

	var video, audio *client.Checker
	for video == nil || audio == nil {
		select {
		case tr := <-sub.tracks:
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				video = checkTrack(t, tr)
			} else {
				audio = checkTrack(t, tr)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the subscriber did not get both tracks")
		}
	}
	time.Sleep(1500 * time.Millisecond) // past the first window's burst
	v0, t0 := video.Stats(), time.Now()
	time.Sleep(3 * time.Second)
	v1, elapsed := video.Stats(), time.Since(t0)
	rate := float64(v1.Bytes-v0.Bytes) * 8 / elapsed.Seconds()
	t.Logf("video sent at 1.5 Mbit/s, received %.0f bit/s of payload, %d lost", rate, v1.Lost)
	if v1.Lost == 0 {
		t.Error("no video lost above the track cap")
	}
	if max := 1.1*trackCap + trackCap/elapsed.Seconds(); rate > max {
		t.Errorf("received %.0f bit/s of video, more than the cap lets through (%.0f)", rate, max)
	}
	if st := audio.Stats(); st.Lost != 0 || st.Packets < 50 {
		t.Errorf("audio under the caps: %+v", st)
	}
}
