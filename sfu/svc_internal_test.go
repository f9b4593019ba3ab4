package sfu

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/rtpcache"
	"github.com/lethe-rtc/lethe/internal/vp9"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// svcUpTrack returns a VP9 SVC track owned by owner, made as newUpTrack
// makes one.
func svcUpTrack(owner *Participant, cacheSize int) *upTrack {
	u := &upTrack{
		id: "TR_svc", owner: owner, remote: &webrtc.TrackRemote{},
		kind: "video", codec: webrtc.MimeTypeVP9, isKey: vp9.IsKeyframe, svc: &svcTrack{},
		layers: []*layer{{cache: rtpcache.New(cacheSize)}},
	}
	for i := 1; i < svcLayers; i++ {
		u.layers = append(u.layers, &layer{index: i})
	}
	u.wanted.init(len(u.layers))
	u.layers[0].remote.Store(u.remote)
	return u
}

// svcPackets returns n pictures of a synthetic L3T3_KEY stream as RTP
// packets (12-byte headers), numbered from seq 1 and timestamp 3000.
func svcPackets(g *vp9.Gen, n int) [][]byte {
	var out [][]byte
	seq := uint16(0)
	for i := range n {
		for _, p := range g.Next(nil) {
			seq++
			out = append(out, concat(rtpHeader(p.Marker, 98, seq, uint32(i+1)*3000, 7), p.Payload))
		}
	}
	return out
}

// The layers of an SVC track are measured from its one stream: the
// bitrate of each spatial layer from its packets, cumulative for the
// allocator; sizes from the scalability structure; frame rates per
// temporal layer for fps settings.
func TestSVCMeasures(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	s := testSFU(Config{Now: func() time.Time { return now }})
	u := svcUpTrack(testParticipant(s, "PA_pub", 1), s.cfg.VideoCache)
	g := &vp9.Gen{Spatial: 3, Temporal: 3, Packets: 2, FrameBytes: 500, Width: 1280, Height: 720}
	for i, pkt := range svcPackets(g, 150) { // 5 s at 30 pictures a second
		if i%6 == 0 {
			now = now.Add(time.Second / 30)
		}
		u.handle(u.layers[0], pkt)
	}
	ns := now.UnixNano()
	sizes := []string{"320x180", "640x360", "1280x720"}
	prev := 0
	for i, l := range u.layers {
		w, h := l.dimensions()
		if got := fmt.Sprintf("%dx%d", w, h); got != sizes[i] {
			t.Errorf("layer %d: %s, want %s", i, got, sizes[i])
		}
		r := u.svcBitrate(i, ns)
		own := l.bitrate(ns)
		// 2 packets of ~520 bytes a layer, 30 pictures a second: ~250 kbit/s each.
		if own < 200_000 || own > 300_000 || r <= prev {
			t.Errorf("layer %d: %d bit/s of its own, %d cumulative (below: %d)", i, own, r, prev)
		}
		prev = r
	}
	ti := u.info()
	if len(ti.Layers) != 3 || ti.Layers[0].RID != "s0" || ti.Layers[2].RID != "s2" || ti.Layers[2].Bitrate != roundRate(prev) {
		t.Errorf("info layers %+v", ti.Layers)
	}
	for _, tc := range []struct{ fps, want int }{{0, 7}, {8, 0}, {7, 0}, {15, 1}, {20, 2}, {30, 2}, {60, 7}} {
		if got := u.svc.temporalFor(tc.fps); got != tc.want {
			t.Errorf("fps %d: temporal layer %d, want %d", tc.fps, got, tc.want)
		}
	}
	for _, tc := range []struct {
		st   TrackSettings
		want int
	}{
		{TrackSettings{MaxLayer: -1}, 2},
		{TrackSettings{MaxLayer: -1, Width: 320, Height: 180}, 0},
		{TrackSettings{MaxLayer: -1, Width: 400, Height: 200}, 1},
		{TrackSettings{MaxLayer: 1}, 1},
		{TrackSettings{Paused: true}, -1},
	} {
		if got := maxLayerFor(u, tc.st); got != tc.want {
			t.Errorf("%+v: layer %d, want %d", tc.st, got, tc.want)
		}
	}
}

// A VP9 stream without spatial layers (Firefox's, or L1T3) has one layer
// that sends: the others never do, and choose stays on it.
func TestSVCSingleLayer(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	s := testSFU(Config{Now: func() time.Time { return now }})
	u := svcUpTrack(testParticipant(s, "PA_pub", 1), s.cfg.VideoCache)
	g := &vp9.Gen{Spatial: 1, Temporal: 1, Packets: 2, FrameBytes: 500, Width: 640, Height: 480}
	for _, pkt := range svcPackets(g, 60) {
		now = now.Add(time.Second / 60)
		u.handle(u.layers[0], pkt)
	}
	if ti := u.info(); len(ti.Layers) != 3 || ti.Layers[0].Width != 640 || ti.Layers[1].Bitrate != 0 || ti.Layers[2].Width != 0 {
		t.Errorf("layers %+v", ti.Layers)
	}
	d := testDownTrack(u, testParticipant(s, "PA_sub", 8), &discardWriter{wg: &sync.WaitGroup{}}, 1, 98)
	d.choose(now.UnixNano(), 2, noCap)
	if got := d.target.Load(); got != 0 {
		t.Errorf("target %d, want 0", got)
	}
}

// BenchmarkForwardSVC is BenchmarkForward for a VP9 L3T3_KEY track of
// one packet per layer frame, 1,000 bytes each: subscribers spread over
// the three spatial layers (i%3), every temporal layer. Each packet is
// parsed once on the reader and once per subscriber's writer; a
// subscriber below its layer skips it (sequence numbers close up).
// ns/op is per published packet; ns/forwarded-pkt divides by what is
// forwarded.
func BenchmarkForwardSVC(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			s := testSFU(Config{})
			drainQueues(b, s)
			var done sync.WaitGroup
			pub := testParticipant(s, "PA_pub", 1)
			newPub(b, pub)
			u := svcUpTrack(pub, s.cfg.VideoCache)
			perSID := [3]int{}
			for i := range n {
				sub := testParticipant(s, fmt.Sprintf("PA_%d", i), s.cfg.SubscriberQueue)
				sub.ev = &nullEvents{}
				d := testDownTrack(u, sub, &discardWriter{wg: &done}, uint32(i+1), 98)
				d.svc = &svcDown{}
				d.svc.temporal.Store(7)
				d.target.Store(int32(i % 3))
				u.addDown(d)
				for sid := range 3 {
					if i%3 >= sid {
						perSID[sid]++
					}
				}
			}
			g := &vp9.Gen{Spatial: 3, Temporal: 3, Packets: 1, FrameBytes: 1000, Width: 1280, Height: 720}
			pkts := svcPackets(g, 8) // a keyframe picture first, then delta pictures
			buf := make([]byte, 1500)
			send := func(i int, pkt []byte) {
				m := copy(buf, pkt)
				binary.BigEndian.PutUint16(buf[2:], uint16(i+1))
				binary.BigEndian.PutUint32(buf[4:], uint32(i/3+1)*3000)
				sid := i % 3
				done.Add(perSID[sid])
				u.handle(u.layers[0], buf[:m])
				done.Wait()
			}
			for i := range 3 {
				send(i, pkts[i]) // every subscriber starts on the keyframe
			}
			forwarded := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 3; i < b.N+3; i++ {
				j := 3 + (i-3)%(len(pkts)-3)
				send(i, pkts[j])
				forwarded += perSID[i%3]
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(forwarded, 1)), "ns/forwarded-pkt")
			if st := s.Stats(); st.DroppedQueueFull+st.DroppedWriteError+st.DroppedNoKeyframe != 0 {
				b.Fatalf("drops: %+v", st)
			}
		})
	}
}

// fixedEstimate is a downlink estimator that always estimates rate.
type fixedEstimate struct{ rate int }

func (f *fixedEstimate) AddStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return w
}
func (f *fixedEstimate) WriteRTCP([]rtcp.Packet, interceptor.Attributes) error { return nil }
func (f *fixedEstimate) GetTargetBitrate() int                                 { return f.rate }
func (f *fixedEstimate) OnTargetBitrateChange(func(int))                       {}
func (f *fixedEstimate) GetStats() map[string]any                              { return nil }
func (f *fixedEstimate) Close() error                                          { return nil }

// The allocator takes an SVC track's spatial layers at their cumulative
// bitrates: a downlink that carries s0 and s1 together but not s2 gets
// s1, and the fps setting thins the temporal layers.
func TestSVCAllocation(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	s := testSFU(Config{Now: func() time.Time { return now }})
	pub := testParticipant(s, "PA_pub", 1)
	newPub(t, pub) // keyframe requests go nowhere
	u := svcUpTrack(pub, s.cfg.VideoCache)
	g := &vp9.Gen{Spatial: 3, Temporal: 3, Packets: 2, FrameBytes: 500, Width: 1280, Height: 720}
	for i, pkt := range svcPackets(g, 150) {
		if i%6 == 0 {
			now = now.Add(time.Second / 30)
		}
		u.handle(u.layers[0], pkt)
	}
	ns := now.UnixNano()
	s0, s1, s2 := u.svcBitrate(0, ns), u.svcBitrate(1, ns), u.svcBitrate(2, ns)
	sub := testParticipant(s, "PA_sub", 8)
	sub.ev = &nullEvents{}
	est := &fixedEstimate{rate: (s1 + s2) / 2} // above s0+s1 with headroom, below all three
	sub.bwe.set(est)
	sub.bwe.validated, sub.bwe.proven = est.rate, est.rate
	d := testDownTrack(u, sub, &discardWriter{wg: &sync.WaitGroup{}}, 1, 98)
	d.svc = &svcDown{}
	d.target.Store(2)
	sub.allocateBW(now, []*downTrack{d}, []TrackSettings{{MaxLayer: -1, FPS: 15}})
	if got := d.target.Load(); got != 1 {
		t.Errorf("budget %d (s0 %d, s0+s1 %d, all %d): layer %d, want 1", est.rate, s0, s1, s2, got)
	}
	if got := d.svc.temporal.Load(); got != 1 {
		t.Errorf("fps 15: temporal layer %d, want 1", got)
	}
}
