package sfu_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/e2ee"
	"github.com/lethe-rtc/lethe/sfu"
)

// End-to-end encrypted media through an unchanged SFU (protocol.md
// §3.13): the SFU reads only the clear VP8 header bytes, and that is all
// its keyframe detection, NACK/RTX and PLI need.

var (
	e2eeRingOnce sync.Once
	e2eeRing     *e2ee.Ring
)

// testE2EERing is the room secret's ring, derived once (PBKDF2 is slow).
func testE2EERing(t *testing.T) *e2ee.Ring {
	t.Helper()
	e2eeRingOnce.Do(func() {
		r, err := e2ee.NewRingWith([]byte("sfu test room secret"))
		if err != nil {
			t.Fatal(err)
		}
		e2eeRing = r
	})
	return e2eeRing
}

// e2eeReader is a FrameReader of tr's frames, with a checker of their
// markers; nil for audio.
func e2eeReader(t *testing.T, ring *e2ee.Ring, tr *webrtc.TrackRemote) *client.FrameReader {
	if tr.Kind() != webrtc.RTPCodecTypeVideo {
		return nil
	}
	fr, err := client.NewFrameReader(ring, tr.StreamID(), tr.Codec().MimeType)
	if err != nil {
		t.Errorf("frame reader: %v", err)
		return nil
	}
	fr.Checker = client.NewChecker(client.CheckerOptions{MimeType: tr.Codec().MimeType})
	return fr
}

func (r *rxTrack) frameStats() (client.FrameStats, client.CheckerStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frames == nil {
		return client.FrameStats{}, client.CheckerStats{}
	}
	return r.frames.Stats(), r.frames.Checker.Stats()
}

// TestE2EEForwarding: a publisher sends end-to-end encrypted VP8 (a
// keyframe only first and when asked) with packets lost between the SFU
// and its subscribers. The SFU starts each subscriber on a keyframe it
// detects in the encrypted stream, asks the publisher for one (PLI) when
// a second subscriber comes, and repairs the losses from its cache
// (NACK/RTX); the subscribers decrypt every frame, markers intact.
func TestE2EEForwarding(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ring := testE2EERing(t)
	var conn *lossyConn
	s, api, stop := startSFU(t, func(udp *net.UDPConn) net.PacketConn {
		conn = &lossyConn{PacketConn: udp, dropOut: true}
		return conn
	})
	defer stop()
	sub, _ := join(t, s, api, "sub", sfu.ParticipantConfig{UserID: "u1", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer sub.shutdown()
	sub.mu.Lock()
	sub.ring = ring
	sub.mu.Unlock()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "u2", Send: sfu.AllMedia})
	defer pub.shutdown()

	video, err := client.NewVP8Track("cam", pub.p.ID(), client.SourceOptions{
		Bitrate: 1_000_000, Width: 640, Height: 360, E2EE: ring.NewEncryptor(pub.p.ID()),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer video.Close()
	pub.publish(publisherAPI(t), video)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	video.Start(ctx)

	var id string
	waitFor(t, "TrackPublished", func() bool {
		return sub.ev.with(func(r *recorder) bool {
			if len(r.published) > 0 {
				id = r.published[0].ID
			}
			return id != ""
		})
	})
	waitFor(t, "decrypted frames", func() bool {
		rx := sub.track(id)
		if rx == nil {
			return false
		}
		st, _ := rx.frameStats()
		return st.Decrypted > 60
	})
	waitFor(t, "losses", func() bool { return conn.dropped.Load() >= 10 })

	// A second subscriber: the SFU asks the publisher for a keyframe and
	// starts the newcomer on it.
	late, _ := join(t, s, api, "late", sfu.ParticipantConfig{UserID: "u3", Receive: sfu.AllMedia})
	defer late.shutdown()
	late.mu.Lock()
	late.ring = ring
	late.mu.Unlock()
	if err := late.p.Subscribe([]string{id}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "late subscriber's frames", func() bool {
		rx := late.track(id)
		if rx == nil {
			return false
		}
		st, _ := rx.frameStats()
		return st.Decrypted > 30
	})
	cancel()
	time.Sleep(500 * time.Millisecond) // the last repairs

	for _, ep := range []*endpoint{sub, late} {
		rx := ep.track(id)
		pkts := rx.packets()
		if len(pkts) == 0 || !pkts[0].key {
			t.Errorf("%s: the first packet forwarded is not a keyframe's (of %d)", ep.name, len(pkts))
		}
		for _, p := range pkts {
			if p.marked {
				t.Fatalf("%s: a marker readable on the wire: the frame was not encrypted", ep.name)
			}
		}
		fs, cs := rx.frameStats()
		if fs.Failed != 0 || fs.Keyframes == 0 || fs.Width != 640 || fs.Height != 360 {
			t.Errorf("%s: frames %+v", ep.name, fs)
		}
		// A frame the sample builder gave up on (a repair that came too
		// late) would show as marker loss.
		if cs.BadMarkers != 0 || cs.Lost > 1 || cs.Streams != 1 {
			t.Errorf("%s: decrypted markers %+v", ep.name, cs)
		}
		t.Logf("%s: %d packets, frames %+v, %d lost markers", ep.name, len(pkts), fs, cs.Lost)
	}
	if _, ok := pub.rtcpIn.Load("*rtcp.PictureLossIndication"); !ok {
		if _, fir := pub.rtcpIn.Load("*rtcp.FullIntraRequest"); !fir {
			t.Error("the SFU never asked the publisher for a keyframe")
		}
	}
	if st := video.Stats(); st.Keyframes < 2 {
		t.Errorf("publisher sent %d keyframes, want a second one for the late subscriber", st.Keyframes)
	}
	if sst := s.Stats(); sst.NACKsIn == 0 || sst.Retransmitted == 0 {
		t.Errorf("no NACKs answered from the cache: %+v", sst)
	}
	t.Logf("dropped %d; stats %+v", conn.dropped.Load(), s.Stats())
}
