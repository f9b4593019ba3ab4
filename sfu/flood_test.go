package sfu_test

import (
	"context"
	"errors"
	"github.com/lethe-rtc/lethe/internal/latetrack"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/internal/syncbuf"
	"github.com/lethe-rtc/lethe/sfu"
)

// floodSSRCs is how many undeclared SSRCs the flood tests send on.
const floodSSRCs = 5000

// heapAfterGC returns the live heap.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// logLines counts the lines written to a text log.
func logLines(b *syncbuf.Buffer) int { return strings.Count(b.String(), "\n") }

// floodRoom is a room with an observer receiving a victim's video and an
// attacker whose one audio track sends on a latetrack.Track, so that the test
// can write RTP on any SSRC through the attacker's SRTP session.
type floodRoom struct {
	s                      *sfu.SFU
	logs                   *syncbuf.Buffer
	obs, victim, attacker  *endpoint
	ac                     *pubConn
	late                   *latetrack.Track
	videoID, attackerAudio string // the attackerAudio is "" if its offer declares no SSRC
}

// newFloodRoom sets the room up; the attacker's offer goes through munge
// if it is not nil. stop ends it all, after the endpoints' shutdown.
func newFloodRoom(t *testing.T, munge func(string) string) (r *floodRoom, stop func()) {
	t.Helper()
	r = &floodRoom{logs: &syncbuf.Buffer{}}
	s, api, stopSFU := startSFUWith(t, nil, sfu.Config{Logger: slog.New(slog.NewTextHandler(r.logs, nil))})
	r.s = s
	var cleanup []func()
	stop = func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		stopSFU()
	}
	r.obs, _ = join(t, s, api, "observer", sfu.ParticipantConfig{UserID: "o", AutoSubscribe: true, Receive: sfu.AllMedia})
	cleanup = append(cleanup, r.obs.shutdown)

	r.victim, _ = join(t, s, api, "victim", sfu.ParticipantConfig{UserID: "v", Send: sfu.AllMedia})
	cleanup = append(cleanup, r.victim.shutdown)
	vc := newPubConn(t, r.victim, api)
	video, _ := markedTracks(t, 1, 2)
	cleanup = append(cleanup, func() { video.Close() })
	vc.add(video)
	vc.negotiate()
	video.Start(context.Background())
	r.videoID, _ = publishedBy(t, r.obs, r.victim, 1)
	if !receives(t, r.obs, r.videoID, 1, r.victim, true) {
		stop()
		t.Fatal("no video from the victim")
	}

	r.attacker, _ = join(t, s, api, "attacker", sfu.ParticipantConfig{UserID: "a", Send: sfu.AllMedia})
	cleanup = append(cleanup, r.attacker.shutdown)
	r.ac = newPubConn(t, r.attacker, api)
	_, audio := markedTracks(t, 3, 4)
	cleanup = append(cleanup, func() { audio.Close() })
	r.late = latetrack.New(audio)
	x, err := r.ac.pc.AddTransceiverFromTrack(r.late, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	r.ac.readRTCP(x.Sender(), audio)
	r.ac.munge = munge
	r.ac.negotiate()
	waitFor(t, "attacker connected", func() bool { return r.ac.pc.ConnectionState() == webrtc.PeerConnectionStateConnected })
	if munge == nil {
		audio.Start(context.Background())
		_, r.attackerAudio = publishedBy(t, r.obs, r.attacker, 1)
		if !receives(t, r.obs, r.attackerAudio, 4, r.attacker, false) {
			stop()
			t.Fatal("no audio from the attacker's declared track")
		}
	}
	return r, stop
}

// settle waits until count stops growing (or reaches enough), for the
// SFU to have seen a flood the loopback socket may have lost some of.
func settle(count func() uint64, enough uint64) {
	deadline := time.Now().Add(5 * time.Second)
	for last := uint64(0); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		n := count()
		if n >= enough || n == last && n > 0 {
			break
		}
		last = n
	}
	time.Sleep(200 * time.Millisecond)
}

// othersUnharmed checks that the victim's video still reaches the
// observer and that the attacker published nothing but its own track.
func (r *floodRoom) othersUnharmed(t *testing.T) {
	t.Helper()
	if !flows(t, r.obs, r.videoID, 1) {
		t.Error("the victim's video stopped")
	}
	for _, e := range []*endpoint{r.obs, r.victim} {
		if got := countPublished(e, r.attacker); got > 1 {
			t.Errorf("%s heard of %d tracks of the attacker", e.name, got)
		}
	}
}

// TestUndeclaredSSRCFlood: a connected publisher sends RTP on thousands
// of SSRCs its offer never declared, a packet or two each. The worker must
// keep nothing per SSRC, write a bounded number of log lines, and the
// room's media must keep flowing, the attacker's own declared track too.
// With an offer that declares no SSRC at all Pion would make up a
// transceiver for each; that is checked too.
func TestUndeclaredSSRCFlood(t *testing.T) {
	for _, tc := range []struct {
		name  string
		munge func(string) string
	}{{"declared offer", nil}, {"offer without a=ssrc", stripSSRCLines}} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			r, stop := newFloodRoom(t, tc.munge)
			defer stop()

			linesBefore := logLines(r.logs)
			dropsBefore := r.s.Stats().DroppedUndeclared
			heapBefore := heapAfterGC()
			payload := make([]byte, 100)
			own := r.late.SSRC()
			for i := range floodSSRCs {
				ssrc := rand.Uint32()
				if ssrc == own || ssrc == 0 {
					continue
				}
				for j := range 2 {
					if err := r.late.WriteAs(ssrc, uint16(j), uint32(i), payload); err != nil {
						t.Fatal(err)
					}
				}
				if i%500 == 0 {
					time.Sleep(time.Millisecond) // do not overrun the socket buffers
				}
			}
			dropped := func() uint64 { return r.s.Stats().DroppedUndeclared - dropsBefore }
			settle(dropped, 2*floodSSRCs)
			grown := int64(heapAfterGC()) - int64(heapBefore)
			lines := logLines(r.logs) - linesBefore
			t.Logf("RTP on %d undeclared SSRCs: heap %+d bytes (%d per SSRC), %d packets counted as dropped, %d log lines",
				floodSSRCs, grown, grown/floodSSRCs, dropped(), lines)

			// The client's own SRTP context keeps about 100 bytes per SSRC
			// it sent on; the SFU should keep nothing.
			if per := grown / floodSSRCs; per > 400 {
				t.Errorf("the heap grew by %d bytes per undeclared SSRC", per)
			}
			if dropped() < floodSSRCs/2 {
				t.Errorf("%d packets of undeclared SSRCs counted as dropped, want most of %d", dropped(), 2*floodSSRCs)
			}
			if lines > 10 {
				t.Errorf("%d log lines for the flood:\n%s", lines, r.logs.String())
			}
			r.othersUnharmed(t)
			if r.attackerAudio != "" && !flows(t, r.obs, r.attackerAudio, 4) {
				t.Error("the attacker's declared audio stopped")
			}
		})
	}
}

// TestUndeclaredRTCPFlood: a connected publisher sends RTCP receiver
// reports about thousands of SSRCs, each several times. The SSRCs are
// encrypted, so nothing drops them before Pion, which makes a read stream
// for each and keeps it: the SFU keeps nothing of their data, and removes
// the publisher once it names more SSRCs than any client has use for.
func TestUndeclaredRTCPFlood(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ssrcs   int
		removed bool
	}{{"below the cap", 500, false}, {"beyond the cap", floodSSRCs, true}} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			r, stop := newFloodRoom(t, nil)
			defer stop()

			linesBefore := logLines(r.logs)
			heapBefore := heapAfterGC()
			const perReport, repeats = 25, 10
			sent := 0
			for i := 0; i < tc.ssrcs; i += perReport {
				rr := &rtcp.ReceiverReport{SSRC: 1}
				for range perReport {
					rr.Reports = append(rr.Reports, rtcp.ReceptionReport{SSRC: rand.Uint32()})
				}
				for range repeats {
					if err := r.ac.pc.WriteRTCP([]rtcp.Packet{rr}); err != nil && !tc.removed {
						t.Fatal(err)
					}
					sent++
				}
				if sent%100 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			var closed []error
			if tc.removed {
				waitFor(t, "the attacker removed", func() bool {
					return r.attacker.ev.with(func(rec *recorder) bool { closed = rec.closed; return len(closed) > 0 })
				})
			} else {
				time.Sleep(time.Second)
			}
			grown := int64(heapAfterGC()) - int64(heapBefore)
			lines := logLines(r.logs) - linesBefore
			t.Logf("RTCP about %d SSRCs, %d times each: heap %+d bytes (%d per SSRC), %d log lines; attacker closed: %v",
				tc.ssrcs, repeats, grown, grown/int64(tc.ssrcs), lines, closed)
			// Pion keeps a stream (a few hundred bytes) for each SSRC until
			// the participant goes; the reports themselves (6 kB an SSRC
			// here) must not be kept.
			if per := grown / int64(tc.ssrcs); per > 1500 {
				t.Errorf("the heap grew by %d bytes per SSRC", per)
			}
			if tc.removed && (len(closed) != 1 || !errors.Is(closed[0], sfu.ErrTooManyStreams)) {
				t.Errorf("the attacker was closed with %v, want ErrTooManyStreams", closed)
			}
			if !tc.removed {
				r.attacker.ev.with(func(rec *recorder) bool { closed = rec.closed; return true })
				if len(closed) != 0 {
					t.Errorf("the attacker was closed: %v", closed)
				}
				if !flows(t, r.obs, r.attackerAudio, 4) {
					t.Error("the attacker's audio stopped")
				}
			}
			if lines > 10 {
				t.Errorf("%d log lines for the flood:\n%s", lines, r.logs.String())
			}
			r.othersUnharmed(t)
		})
	}
}

// stripSSRCLines removes the a=ssrc and a=ssrc-group lines of an SDP.
func stripSSRCLines(sdp string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(sdp, "\n") {
		if strings.HasPrefix(l, "a=ssrc") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}
