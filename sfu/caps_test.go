package sfu_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/sfu"
)

// receivedBits sums what e received of the given tracks.
func receivedBits(e *endpoint, ids ...string) int64 {
	var n int64
	for _, id := range ids {
		if rx := e.track(id); rx != nil {
			for _, p := range rx.packets() {
				n += int64(p.size) * 8
			}
		}
	}
	return n
}

// TestBitrateCaps: a publisher over its track cap, or over its own cap on
// all its tracks, loses what is beyond, is told so (b=AS and b=TIAS in
// its answer, RTCP REMB while it sends too much), and the others do not
// notice: a publisher under the caps loses nothing.
func TestBitrateCaps(t *testing.T) {
	const trackCap, participantCap = 1_000_000, 1_500_000
	for _, tc := range []struct {
		name  string
		rates []int // one VP8 track each
		limit int   // what the SFU may forward of them, in bit/s
	}{
		{"one track over the track cap", []int{3_000_000}, trackCap},
		// 80 % over, each track under its own cap: a source slowed by a
		// busy machine still sends more than the participant cap (at
		// 40 % over, one slowed to 61 % of its rate at load average 7).
		{"three tracks over the participant cap", []int{900_000, 900_000, 900_000}, participantCap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			s, api, stop := startSFUWith(t, nil, sfu.Config{MaxTrackBitrate: trackCap, MaxParticipantBitrate: participantCap})
			defer stop()
			obs, _ := join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
			defer obs.shutdown()

			light, _ := join(t, s, api, "light", sfu.ParticipantConfig{UserID: "l", Send: sfu.AllMedia})
			defer light.shutdown()
			lv, la := markedTracks(t, 1, 2)
			defer lv.Close()
			defer la.Close()
			light.publish(api, lv, la) // endpoint.publish records the RTCP the publisher gets
			lv.Start(context.Background())
			la.Start(context.Background())
			lightVideo, lightAudio := publishedBy(t, obs, light, 2)

			heavy, _ := join(t, s, api, "heavy", sfu.ParticipantConfig{UserID: "h", Send: sfu.AllMedia})
			defer heavy.shutdown()
			var tracks []*client.Track
			for i, r := range tc.rates {
				v, err := client.NewVP8Track(fmt.Sprint("cam", i), "heavy", client.SourceOptions{MarkerStream: uint32(10 + i), Bitrate: r})
				if err != nil {
					t.Fatal(err)
				}
				defer v.Close()
				tracks = append(tracks, v)
			}
			heavy.publish(api, tracks...)
			answer := heavy.pub.pc.RemoteDescription().SDP
			if n := strings.Count(answer, "\r\nb=AS:1000\r\nb=TIAS:1000000\r\n"); n != len(tc.rates) {
				t.Errorf("the answer carries the track cap on %d m-sections, want %d:\n%s", n, len(tc.rates), answer)
			}
			for _, v := range tracks {
				v.Start(context.Background())
			}
			var heavyIDs []string
			waitFor(t, "the heavy tracks published", func() bool {
				heavyIDs = heavyIDs[:0]
				obs.ev.with(func(r *recorder) bool {
					for _, ti := range r.published {
						if ti.ParticipantID == heavy.p.ID() {
							heavyIDs = append(heavyIDs, ti.ID)
						}
					}
					return true
				})
				return len(heavyIDs) == len(tc.rates)
			})

			// Past the first window's burst, measure what reaches the
			// observer.
			time.Sleep(1500 * time.Millisecond)
			dropped0, bits0, t0 := s.Stats().DroppedBitrate, receivedBits(obs, heavyIDs...), time.Now()
			time.Sleep(3 * time.Second)
			dropped, bits, elapsed := s.Stats().DroppedBitrate-dropped0, receivedBits(obs, heavyIDs...)-bits0, time.Since(t0)
			rate := float64(bits) / elapsed.Seconds()
			t.Logf("sent at %v bit/s, forwarded %.0f bit/s, %d packets dropped over the caps", tc.rates, rate, dropped)
			if dropped == 0 {
				t.Error("nothing dropped over the cap")
			}
			// The subscriber's own RTP headers add a little to what the
			// publisher sent; a window's burst may fall into the stretch.
			if max := 1.1*float64(tc.limit) + float64(tc.limit)/elapsed.Seconds(); rate > max {
				t.Errorf("forwarded %.0f bit/s, more than the cap allows (%.0f)", rate, max)
			}
			waitFor(t, "REMB at the heavy publisher", func() bool {
				_, ok := heavy.rtcpIn.Load("*rtcp.ReceiverEstimatedMaximumBitrate")
				return ok
			})
			_, ok := light.rtcpIn.Load("*rtcp.ReceiverEstimatedMaximumBitrate")
			if ok {
				t.Error("the light publisher was sent REMB")
			}
			for _, id := range []string{lightVideo, lightAudio} {
				if st := obs.track(id).checker.Stats(); st.Lost != 0 || st.BadMarkers != 0 {
					t.Errorf("the light publisher's track %s: %+v", id, st)
				}
			}
			if !flows(t, obs, lightVideo, 1) {
				t.Error("the light publisher's video stopped")
			}
		})
	}
}
