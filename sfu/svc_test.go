package sfu_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/internal/vp9"
	"github.com/lethe-rtc/lethe/sfu"
)

// svcSource sends a synthetic VP9 L3T3_KEY stream (vp9.Gen: 1280×720 at
// the top, three packets a layer frame) at 30 pictures a second, and a
// keyframe picture on request.
type svcSource struct {
	track *webrtc.TrackLocalStaticRTP
	gen   vp9.Gen
	key   atomic.Bool
	sent  atomic.Int64 // pictures
}

func newSVCSource(t *testing.T) *svcSource {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0",
	}, "cam", "stream")
	if err != nil {
		t.Fatal(err)
	}
	return &svcSource{track: tr, gen: vp9.Gen{Spatial: 3, Temporal: 3, Packets: 3, FrameBytes: 400, Width: 1280, Height: 720}}
}

func (s *svcSource) run(ctx context.Context) {
	tick := time.NewTicker(33 * time.Millisecond)
	defer tick.Stop()
	var seq uint16
	var ts uint32
	var pkts []vp9.Packet
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if s.key.Swap(false) {
			s.gen.Keyframe()
		}
		pkts = s.gen.Next(pkts[:0])
		ts += 3000
		for _, p := range pkts {
			seq++
			_ = s.track.WriteRTP(&rtp.Packet{Header: rtp.Header{
				Version: 2, Marker: p.Marker, PayloadType: 98, SequenceNumber: seq, Timestamp: ts, SSRC: 1,
			}, Payload: p.Payload})
		}
		s.sent.Add(1)
	}
}

// layersOf checks the packets received in order by a VP9 subscriber
// after from: each picture's layers are consecutive from s0, the RTP
// marker is on its last packet and on no other, and it returns the
// highest spatial and temporal layers seen.
func layersOf(t *testing.T, name string, pkts []rxPacket, from int) (maxS, maxT int) {
	t.Helper()
	maxS, maxT = -1, -1
	for i := from; i < len(pkts); i++ {
		p := pkts[i]
		maxS, maxT = max(maxS, int(p.sid)), max(maxT, int(p.tid))
		last := i == len(pkts)-1 || pkts[i+1].ts != p.ts
		if i+1 < len(pkts) && pkts[i+1].ts == p.ts && pkts[i+1].sid < p.sid {
			t.Errorf("%s: s%d after s%d in one picture", name, pkts[i+1].sid, p.sid)
		}
		if last && i < len(pkts)-1 && !p.rtpMark {
			t.Errorf("%s: picture %d ends (s%d) without the marker", name, p.ts, p.sid)
		}
		if !last && p.rtpMark {
			t.Errorf("%s: marker inside picture %d (s%d of s%d)", name, p.ts, p.sid, pkts[i+1].sid)
		}
	}
	return maxS, maxT
}

// newest returns the highest sequence number of pkts (modulo 2^16, near
// the last).
func newest(pkts []rxPacket) uint16 {
	top := pkts[len(pkts)-1].seq
	for _, p := range pkts {
		if int16(p.seq-top) > 0 {
			top = p.seq
		}
	}
	return top
}

// between returns the packets of pkts numbered after from and up to to,
// in order of sequence number, duplicates dropped: what a jitter buffer
// holds of that stretch.
func between(pkts []rxPacket, from, to uint16) []rxPacket {
	byPos := map[int]rxPacket{}
	for _, p := range pkts {
		if d := int(int16(p.seq - from)); d > 0 && int16(to-p.seq) >= 0 {
			byPos[d] = p
		}
	}
	var out []rxPacket
	for d := 1; d <= int(to-from); d++ {
		if p, ok := byPos[d]; ok {
			out = append(out, p)
		}
	}
	return out
}

// A VP9 SVC publisher and three subscribers: one gets every layer, one
// asks for the lowest spatial layer at 5 pictures a second (the base layer: 7.5), one for
// 640×360. Each gets exactly its layers, with sequence numbers that have
// no hole for the layers it does not get, the marker at the end of each
// of its pictures, and the SFU→subscriber losses (every 15th packet of
// one stream out, the lowest subscriber's once it is at the lowest
// layers) repaired through the holes' mapping. The lowest then goes up
// again at a keyframe the SFU asks for.
func TestSVCLayers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var conn *lossyConn
	s, api, stop := startSFUWith(t, func(udp *net.UDPConn) net.PacketConn {
		conn = &lossyConn{PacketConn: udp, dropOut: true}
		return conn
	}, sfu.Config{NoBandwidthEstimation: true})
	defer stop()
	names := []string{"all", "low", "mid"}
	subs := make([]*endpoint, len(names))
	for i, n := range names {
		subs[i], _ = join(t, s, api, n, sfu.ParticipantConfig{UserID: "u" + n, AutoSubscribe: true, Receive: sfu.AllMedia})
		defer subs[i].shutdown()
	}
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "upub", Send: sfu.AllMedia})
	defer pub.shutdown()
	src := newSVCSource(t)
	pub.publishLocal(publisherAPI(t), []webrtc.TrackLocal{src.track}, func(int) { src.key.Store(true) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); src.run(ctx) }()
	defer func() { cancel(); <-done }()

	var id string
	waitFor(t, "TrackPublished", func() bool {
		return subs[0].ev.with(func(r *recorder) bool {
			if len(r.published) > 0 {
				id = r.published[0].ID
			}
			return id != ""
		})
	})
	if c := subs[0].ev.published[0].Codec; c != webrtc.MimeTypeVP9 {
		t.Fatalf("codec %q", c)
	}
	for _, e := range subs {
		waitFor(t, e.name+" media", func() bool { rx := e.track(id); return rx != nil && rx.count() > 100 })
	}
	// From now on the losses are low's: its repairs go through the holes
	// closed for the layers it is not sent.
	pkts := subs[1].track(id).packets()
	conn.mu.Lock()
	conn.primary = pkts[len(pkts)-1].ssrc
	conn.mu.Unlock()
	lost := conn.dropped.Load()
	if err := subs[1].p.SetTrackSettings(id, sfu.TrackSettings{MaxLayer: 0, FPS: 5}); err != nil {
		t.Fatal(err)
	}
	if err := subs[2].p.SetTrackSettings(id, sfu.TrackSettings{MaxLayer: -1, Width: 640, Height: 360}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // frame rates measured (2 s), settings applied
	from := make([]uint16, len(subs))
	for i, e := range subs {
		from[i] = newest(e.track(id).packets())
	}
	at := src.sent.Load()
	waitFor(t, "90 more pictures", func() bool { return src.sent.Load() > at+90 })
	waitFor(t, "losses", func() bool { return conn.dropped.Load() >= lost+3 })
	to := make([]uint16, len(subs))
	for i, e := range subs {
		to[i] = newest(e.track(id).packets())
	}
	// Up again: at the keyframe the SFU asks for.
	keys := s.Stats().KeyframeRequests
	if err := subs[1].p.SetTrackSettings(id, sfu.TrackSettings{MaxLayer: -1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "low back at s2", func() bool {
		pkts := subs[1].track(id).packets()
		return len(pkts) > 0 && pkts[len(pkts)-1].sid == 2
	})
	if s.Stats().KeyframeRequests == keys {
		t.Error("up without a keyframe request")
	}
	cancel()
	<-done
	time.Sleep(time.Second) // the last repairs

	want := []struct{ s, t int }{{2, 2}, {0, 0}, {1, 2}}
	for i, e := range subs {
		rx := e.track(id)
		all := rx.packets()
		// The packets since the settings, in order: the layers and markers.
		ordered := between(all, from[i], to[i])
		gotS, gotT := layersOf(t, e.name, ordered, 0)
		if gotS != want[i].s || gotT != want[i].t {
			t.Errorf("%s: up to s%dt%d, want s%dt%d", e.name, gotS, gotT, want[i].s, want[i].t)
		}
		if h := contiguous(all); h != 0 {
			t.Errorf("%s: %d holes in %d packets", e.name, h, len(all))
		}
		t.Logf("%s: %d packets, %d since the settings", e.name, len(all), len(ordered))
	}
	st := s.Stats()
	if st.Retransmitted == 0 {
		t.Errorf("no loss repaired: %+v", st)
	}
	if got := fmt.Sprint(subs[1].ev.layers); got == "[]" {
		t.Errorf("low: no trackLayer event")
	}
	t.Logf("dropped %d, stats %+v, low's layers %v", conn.dropped.Load(), st, subs[1].ev.layers)
}

// noVP9API is a subscriber's API whose MediaEngine has Opus and VP8 only.
func noVP9API(t *testing.T) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	for _, c := range []struct {
		p    webrtc.RTPCodecParameters
		kind webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}}, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}},
			webrtc.RTPCodecTypeVideo},
	} {
		if err := m.RegisterCodec(c.p, c.kind); err != nil {
			t.Fatal(err)
		}
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
}

// A subscriber whose answer has no VP9 is not sent the VP9 track: its
// answer is taken (not refused whole), it keeps receiving the tracks it
// can decode, it is told (TrackUnsupported), and the VP9 track's
// m-section is taken out of its next offer.
func TestSVCSubscriberWithoutVP9(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFUWith(t, nil, sfu.Config{NoBandwidthEstimation: true})
	defer stop()
	old, _ := join(t, s, noVP9API(t), "old", sfu.ParticipantConfig{UserID: "uold", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer old.shutdown()
	good, _ := join(t, s, api, "good", sfu.ParticipantConfig{UserID: "ugood", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer good.shutdown()
	pub, _ := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "upub", Send: sfu.AllMedia})
	defer pub.shutdown()
	src := newSVCSource(t)
	vp8, err := client.NewVP8Track("cam2", "stream", client.SourceOptions{Bitrate: 300_000})
	if err != nil {
		t.Fatal(err)
	}
	defer vp8.Close()
	pub.publishLocal(publisherAPI(t), []webrtc.TrackLocal{src.track, vp8}, func(i int) {
		if i == 0 {
			src.key.Store(true)
		} else {
			vp8.RequestKeyframe()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); src.run(ctx) }()
	defer func() { cancel(); <-done }()
	vp8.Start(ctx)

	ids := map[string]string{} // codec -> track id
	waitFor(t, "both published", func() bool {
		return good.ev.with(func(r *recorder) bool {
			for _, ti := range r.published {
				ids[ti.Codec] = ti.ID
			}
			return len(ids) == 2
		})
	})
	vp9ID, vp8ID := ids[webrtc.MimeTypeVP9], ids[webrtc.MimeTypeVP8]
	for _, id := range []string{vp9ID, vp8ID} {
		waitFor(t, "good gets "+id, func() bool { rx := good.track(id); return rx != nil && rx.count() > 50 })
	}
	waitFor(t, "old gets the VP8 track", func() bool { rx := old.track(vp8ID); return rx != nil && rx.count() > 50 })
	waitFor(t, "old is told", func() bool {
		return old.ev.with(func(r *recorder) bool { return len(r.unsupported) > 0 })
	})
	if got := old.ev.unsupported[0]; got != vp9ID+" "+webrtc.MimeTypeVP9 {
		t.Errorf("TrackUnsupported %q", got)
	}
	waitFor(t, "old's VP9 m-section inactive", func() bool {
		n := 0
		for _, x := range old.sub.pc.GetTransceivers() {
			if x.Kind() == webrtc.RTPCodecTypeVideo && x.Direction() != webrtc.RTPTransceiverDirectionInactive {
				n++
			}
		}
		return n == 1
	})
	if rx := old.track(vp9ID); rx != nil && rx.count() > 0 {
		t.Errorf("old got %d packets of the VP9 track", rx.count())
	}
	if c := old.ev.closed; len(c) > 0 {
		t.Errorf("old closed: %v", c)
	}
}
