package sfu

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/keyframe"
	"github.com/lethe-rtc/lethe/internal/rtpcache"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// nullEvents is an Events that keeps only the simulcast events.
type nullEvents struct {
	mu     sync.Mutex
	layers []string
	wanted [][]LayerState
}

func (*nullEvents) ParticipantJoined(ParticipantInfo)        {}
func (*nullEvents) ParticipantUpdated(ParticipantInfo)       {}
func (*nullEvents) ParticipantLeft(string)                   {}
func (*nullEvents) TrackPublished(TrackInfo)                 {}
func (*nullEvents) TrackUnpublished(TrackInfo)               {}
func (*nullEvents) TrackMuted(TrackInfo)                     {}
func (*nullEvents) TrackPaused(string, bool)                 {}
func (*nullEvents) Speakers([]Speaker)                       {}
func (*nullEvents) Offer(string, bool)                       {}
func (*nullEvents) RestartICE()                              {}
func (*nullEvents) Candidate(Side, *webrtc.ICECandidateInit) {}
func (*nullEvents) Closed(error)                             {}
func (e *nullEvents) TrackLayer(_, rid string, _ int) {
	e.mu.Lock()
	e.layers = append(e.layers, rid)
	e.mu.Unlock()
}
func (e *nullEvents) LayersWanted(_ TrackInfo, l []LayerState) {
	e.mu.Lock()
	e.wanted = append(e.wanted, l)
	e.mu.Unlock()
}

// simulcastUpTrack returns a VP8 track of three layers q, h, f owned by
// owner, each layer begun.
func simulcastUpTrack(owner *Participant, cacheSize int) *upTrack {
	u := &upTrack{
		id: "TR_sim", owner: owner, remote: &webrtc.TrackRemote{},
		kind: "video", codec: webrtc.MimeTypeVP8, isKey: keyframe.VP8, vp8: true,
	}
	for i, rid := range []string{"q", "h", "f"} {
		l := &layer{index: i, rid: rid, cache: rtpcache.New(cacheSize)}
		l.remote.Store(&webrtc.TrackRemote{})
		u.layers = append(u.layers, l)
	}
	u.wanted.init(3)
	return u
}

// vp8Packet is an RTP packet of layer l: its own SSRC, sequence numbers
// and picture ids, a payload that names the layer.
func vp8Packet(l int, seq uint16, ts uint32, pid uint16, key bool) []byte {
	h := rtpHeader(true, 96, seq, ts, uint32(100+l))
	desc := []byte{0x90, 0x80, 0x80 | byte(pid>>8), byte(pid)} // X, I, 15-bit picture id
	frame := []byte{0x01, 0, 0, 0xee, byte(l)}                 // an interframe
	if key {
		frame = []byte{0x00, 0, 0, 0x9d, 0x01, 0x2a, byte(80 << l), 0, byte(45 << l), 0, byte(l)}
	}
	return concat(h, desc, frame)
}

// A subscriber is switched between layers: one stream whatever the
// layer (one SSRC, sequence numbers without a gap, picture ids that run
// on), each switch on a keyframe of the new layer, and the old layer sent
// until then.
func TestSimulcastSwitching(t *testing.T) {
	s := testSFU(Config{})
	drainQueues(t, s)
	ev := &nullEvents{}
	pub := testParticipant(s, "PA_pub", 1)
	newPub(t, pub)
	u := simulcastUpTrack(pub, 64)
	sub := testParticipant(s, "PA_sub", 256)
	sub.ev = ev
	w := &fakeWriter{}
	d := testDownTrack(u, sub, w, 7, 96)
	d.munge, d.scratch = true, make([]byte, 1500)
	u.addDown(d)

	seq := [3]uint16{1000, 2000, 3000}
	pid := [3]uint16{10, 500, 32760} // f's picture ids wrap
	frame := 0
	send := func(l int, key bool) {
		ts := uint32(frame) * 3000
		ingest := vp8Packet(l, seq[l], ts+uint32(l)*7, pid[l], key)
		u.handle(u.layers[l], ingest)
		seq[l]++
		pid[l] = (pid[l] + 1) & 0x7fff
	}
	// Every layer sends a frame per round; key says which send keyframes.
	round := func(keys ...int) {
		for l := range 3 {
			send(l, len(keys) > 0 && (keys[0] == l || len(keys) > 1 && keys[1] == l))
		}
		frame++
		// The sender drains the queue on its own goroutine: wait for it.
		for deadline := time.Now().Add(5 * time.Second); sub.queue.Len() > 0; {
			if time.Now().After(deadline) {
				t.Fatal("the sender does not drain the queue")
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond) // the packet taken may still be being written
	}
	d.target.Store(0)
	round()  // no keyframe of q: nothing
	round(0) // q's keyframe: q begins
	round()  // q
	d.target.Store(2)
	round()  // f without keyframe: still q
	round(2) // f's keyframe: f
	round()  // f
	d.target.Store(1)
	round(0) // a keyframe of another layer changes nothing: f
	round(1) // h's keyframe: h
	round()  // h

	var layers []byte
	var prevSeq uint16
	var prevPID uint16
	for i, b := range w.packets() {
		var p rtp.Packet
		if err := p.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		if p.SSRC != 7 {
			t.Fatalf("packet %d on SSRC %d", i, p.SSRC)
		}
		gotPID := binary.BigEndian.Uint16(p.Payload[2:]) & 0x7fff
		if i > 0 {
			if p.SequenceNumber != prevSeq+1 {
				t.Errorf("packet %d: sequence %d after %d", i, p.SequenceNumber, prevSeq)
			}
			if gotPID != (prevPID+1)&0x7fff {
				t.Errorf("packet %d: picture id %d after %d", i, gotPID, prevPID)
			}
		}
		prevSeq, prevPID = p.SequenceNumber, gotPID
		layers = append(layers, "qhf"[p.Payload[len(p.Payload)-1]])
	}
	if got, want := string(layers), "qq"+"q"+"qf"+"f"+"f"+"h"+"h"; got != want {
		t.Errorf("layers sent %q, want %q", got, want)
	}
	if got := strings.Join(ev.layers, ","); got != "q,f,h" {
		t.Errorf("trackLayer events %q, want q,f,h", got)
	}
}

// simulcastLayers takes what RFC 8853 and the SFU allow and refuses the
// rest with a reason.
func TestSimulcastLayersOfOffer(t *testing.T) {
	section := func(lines ...string) string {
		return "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" +
			"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n" +
			strings.Join(lines, "\r\n") + "\r\n"
	}
	rids := []string{"a=rid:q send", "a=rid:h send", "a=rid:f send"}
	tests := []struct {
		name, sdp, want, err string
	}{
		{"three layers", section(append(rids, "a=simulcast:send q;h;f")...), "q h f", ""},
		{"two layers", section("a=rid:lo send", "a=rid:hi send", "a=simulcast:send lo;hi"), "lo hi", ""},
		{"no simulcast", section(), "", ""},
		{"four layers", section(append(rids, "a=rid:x send", "a=simulcast:send q;h;f;x")...), "", "at most 3"},
		{"rid without its line", section("a=rid:q send", "a=simulcast:send q;h"), "", "no a=rid send line"},
		{"alternatives", section(append(rids, "a=simulcast:send q,h;f")...), "", "alternatives"},
		// Chromium's offers pause the encodings dynacast made inactive.
		{"paused rids", section(append(rids, "a=simulcast:send q;~h;~f")...), "q h f", ""},
		{"paused rid twice", section(append(rids, "a=simulcast:send q;~q")...), "", "twice"},
		{"paused rid without its line", section("a=rid:q send", "a=simulcast:send q;~h"), "", "no a=rid send line"},
		{"paused alternatives", section(append(rids, "a=simulcast:send q;~h,f")...), "", "alternatives"},
		{"rid twice", section(append(rids, "a=simulcast:send q;q")...), "", "twice"},
		{"bad rid", section("a=rid:q! send", "a=simulcast:send q!"), "", "malformed"},
		{"rid without simulcast", section(rids...), "", "without a=simulcast"},
		{"receive simulcast", section(append(rids, "a=simulcast:recv q;h;f")...), "", "send"},
		{"vp9 simulcast", strings.Replace(section(append(rids, "a=simulcast:send q;h;f")...), "VP8", "VP9", 1), "", "VP9 with simulcast"},
		{"vp9 second", strings.Replace(section(append(rids, "a=rtpmap:98 VP9/90000", "a=simulcast:send q;h;f")...),
			"SAVPF 96", "SAVPF 96 98", 1), "q h f", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sd sdp.SessionDescription
			if err := sd.UnmarshalString(tc.sdp); err != nil {
				t.Fatal(err)
			}
			got, err := simulcastLayers(&sd)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				// The client is told why (errorBody in worker).
				if why, ok := Reason(fmt.Errorf("offer: %w", err)); !ok || !strings.Contains(why, tc.err) {
					t.Errorf("Reason = %q, %v; want one saying %q", why, ok, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case strings.Join(got["0"], " ") != tc.want:
				t.Fatalf("layers %v, want %q", got, tc.want)
			}
		})
	}
}

// Width×Height settings pick the smallest layer at least that size.
func TestMaxLayerForSize(t *testing.T) {
	u := simulcastUpTrack(testParticipant(testSFU(Config{}), "PA_p", 1), 8)
	for i, l := range u.layers {
		l.size.Store(int64(320<<i)<<32 | int64(180<<i))
	}
	for _, tc := range []struct {
		s    TrackSettings
		want int
	}{
		{TrackSettings{MaxLayer: -1}, 2},
		{TrackSettings{MaxLayer: 1}, 1},
		{TrackSettings{MaxLayer: -1, Width: 320, Height: 180}, 0},
		{TrackSettings{MaxLayer: -1, Width: 321, Height: 100}, 1},
		{TrackSettings{MaxLayer: -1, Width: 1920, Height: 1080}, 2},
		{TrackSettings{MaxLayer: 0, Width: 1280, Height: 720}, 0},
		{TrackSettings{MaxLayer: -1, Paused: true}, -1},
	} {
		if got := maxLayerFor(u, tc.s); got != tc.want {
			t.Errorf("%+v: layer %d, want %d", tc.s, got, tc.want)
		}
	}
}

// An H.264 simulcast track's layers take their sizes from the SPS their
// keyframes carry (here in an STAP-A, as browsers send it), and a wish
// for a size picks a layer by them.
func TestH264LayerSizes(t *testing.T) {
	u := simulcastUpTrack(testParticipant(testSFU(Config{}), "PA_p", 1), 8)
	u.codec, u.isKey, u.vp8 = webrtc.MimeTypeH264, keyframe.H264, false
	sps := [][]byte{ // 320x180 and 640x360 baseline, 1280x720 high
		{0x67, 0x42, 0x00, 0x1f, 0x96, 0x54, 0x0a, 0x0c, 0xfc, 0xe8},
		{0x67, 0x42, 0x00, 0x1f, 0x96, 0x54, 0x05, 0x01, 0x7f, 0xca, 0x80},
		{0x67, 0x64, 0x00, 0x1f, 0xac, 0x2c, 0xa8, 0x05, 0x00, 0x5b, 0x90},
	}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	for i, l := range u.layers {
		// An interframe first: no size from it.
		u.handle(l, concat(rtpHeader(true, 102, 1, 0, uint32(100+i)), []byte{0x41, 0x9a, 0x01}))
		if w, h := l.dimensions(); w != 0 || h != 0 {
			t.Fatalf("layer %d: %dx%d from an interframe", i, w, h)
		}
		stap := []byte{0x18, 0, byte(len(sps[i]))}
		stap = append(append(stap, sps[i]...), 0, byte(len(pps)))
		stap = append(append(stap, pps...), 0, 3, 0x65, 0x88, 0x84)
		u.handle(l, concat(rtpHeader(true, 102, 2, 3000, uint32(100+i)), stap))
	}
	for i, want := range [][2]int{{320, 180}, {640, 360}, {1280, 720}} {
		if w, h := u.layers[i].dimensions(); w != want[0] || h != want[1] {
			t.Errorf("layer %d: %dx%d, want %dx%d", i, w, h, want[0], want[1])
		}
	}
	if got := maxLayerFor(u, TrackSettings{MaxLayer: -1, Width: 320, Height: 180}); got != 0 {
		t.Errorf("a 320x180 wish: layer %d, want 0", got)
	}
	if got := maxLayerFor(u, TrackSettings{MaxLayer: -1, Width: 400, Height: 300}); got != 1 {
		t.Errorf("a 400x300 wish: layer %d, want 1", got)
	}
}

// BenchmarkForwardSimulcast is BenchmarkForward for a three-layer VP8
// track, every subscriber on the top layer: each packet of the top
// layer is forwarded (picture ids rewritten in a copy), the lower
// layers' packets are passed over. ns/op is per top-layer packet.
func BenchmarkForwardSimulcast(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			s := testSFU(Config{})
			drainQueues(b, s)
			var done sync.WaitGroup
			pub := testParticipant(s, "PA_pub", 1)
			newPub(b, pub)
			u := simulcastUpTrack(pub, s.cfg.VideoCache)
			writers := make([]*discardWriter, n)
			for i := range writers {
				sub := testParticipant(s, fmt.Sprintf("PA_%d", i), s.cfg.SubscriberQueue)
				sub.ev = &nullEvents{}
				writers[i] = &discardWriter{wg: &done}
				d := testDownTrack(u, sub, writers[i], uint32(i+1), 96)
				d.munge, d.scratch = true, make([]byte, 1500)
				d.target.Store(2)
				u.addDown(d)
			}
			key := vp8Packet(2, 0, 0, 0, true)
			done.Add(n)
			u.handle(u.layers[2], key) // the switch to f
			done.Wait()
			tmpl := concat(vp8Packet(2, 0, 0, 0, false), make([]byte, 1100))
			low := concat(vp8Packet(0, 0, 0, 0, false), make([]byte, 300))
			buf := make([]byte, 1500)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := copy(buf, low)
				binary.BigEndian.PutUint16(buf[2:], uint16(i))
				u.handle(u.layers[0], buf[:m]) // passed over by everyone
				m = copy(buf, tmpl)
				binary.BigEndian.PutUint16(buf[2:], uint16(i+1))
				binary.BigEndian.PutUint32(buf[4:], uint32(i/3)*3000)
				binary.BigEndian.PutUint16(buf[14:], 0x8000|uint16(i+1)&0x7fff)
				done.Add(n)
				u.handle(u.layers[2], buf[:m])
				done.Wait()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/forwarded-pkt")
		})
	}
}
