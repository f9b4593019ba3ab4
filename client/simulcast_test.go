package client

import (
	"encoding/binary"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// pionPair connects an offering PeerConnection with a simulcast track to
// a Pion answerer over loopback, as the server's Pion does.
func pionPair(t *testing.T, st *SimulcastTrack) (offer *webrtc.PeerConnection, answer *webrtc.PeerConnection, offerSDP string) {
	t.Helper()
	api, err := NewLoopbackAPI()
	if err != nil {
		t.Fatal(err)
	}
	if offer, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	if answer, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = offer.Close(); _ = answer.Close() })
	x, err := addSimulcast(&peer{pc: offer}, st)
	if err != nil {
		t.Fatal(err)
	}
	o, err := offer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(offer)
	if err := offer.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := answer.SetRemoteDescription(*offer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	a, err := answer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(answer)
	if err := answer.SetLocalDescription(a); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := offer.SetRemoteDescription(*answer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	for _, l := range st.Layers() {
		l.setMid(x.Mid())
		go readLayerRTCP(x.Sender(), l)
	}
	return offer, answer, offer.LocalDescription().SDP
}

// A Pion answerer gets the three layers as three RID tracks of one
// m-section; every packet's marker names the layer its rid stands for, each
// layer's keyframes carry its own picture size, and a PLI for one layer's
// SSRC brings a keyframe of that layer only.
func TestSimulcastTrackReachesPion(t *testing.T) {
	st, err := NewVP8SimulcastTrack("v", "s", SimulcastOptions{Source: SourceOptions{FPS: 50, KeyframeInterval: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	type seen struct {
		track   *webrtc.TrackRemote
		packets int
		bad     int
		width   int
	}
	var mu sync.Mutex
	got := map[string]*seen{}
	var readers sync.WaitGroup
	offerPC, answerPC, sdp := pionPair(t, st)
	for _, want := range []string{"a=rid:q send", "a=rid:h send", "a=rid:f send", "a=simulcast:send q;h;f",
		"urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", "urn:ietf:params:rtp-hdrext:sdes:mid"} {
		if !strings.Contains(sdp, want) {
			t.Fatalf("offer lacks %q", want)
		}
	}
	answerPC.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		s := &seen{track: tr}
		mu.Lock()
		got[tr.RID()] = s
		mu.Unlock()
		readers.Add(1)
		defer readers.Done()
		buf := make([]byte, 1500)
		var p rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			m, ok := ParseMarker(p.Payload)
			mu.Lock()
			s.packets++
			if !ok || !m.Simulcast || st.Layers()[m.Layer].RID() != tr.RID() {
				s.bad++
			}
			if isVP8Keyframe(p.Payload) && len(p.Payload) > 9 {
				s.width = int(binary.LittleEndian.Uint16(p.Payload[7:]) & 0x3fff)
			}
			mu.Unlock()
		}
	})
	st.Start(t.Context())
	waitFor(t, "packets on every layer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 3 {
			return false
		}
		for _, s := range got {
			if s.packets < 20 || s.width == 0 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	for i, l := range DefaultSimulcastLayers() {
		s := got[l.RID]
		if s.bad != 0 {
			t.Errorf("layer %s: %d packets without its layer's marker", l.RID, s.bad)
		}
		if s.width != l.Width {
			t.Errorf("layer %s: keyframe width %d, want %d", l.RID, s.width, l.Width)
		}
		if st.Layers()[i].RID() != l.RID {
			t.Errorf("layer %d rid %s", i, st.Layers()[i].RID())
		}
	}
	hSSRC := uint32(got["h"].track.SSRC())
	mu.Unlock()

	before := map[string]SourceStats{}
	for _, l := range st.Layers() {
		before[l.RID()] = l.Source.Stats()
	}
	if err := answerPC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: hSSRC}}); err != nil {
		t.Fatal(err)
	}
	h := st.Layer("h")
	waitFor(t, "a keyframe on layer h", func() bool {
		return h.Source.Stats().Keyframes > before["h"].Keyframes
	})
	for _, rid := range []string{"q", "f"} {
		if st := st.Layer(rid).Source.Stats(); st.PLIs != 0 {
			t.Errorf("layer %s took layer h's PLI: %+v", rid, st)
		}
	}
	if h.Source.Stats().PLIs != 1 {
		t.Errorf("layer h PLIs %d, want 1", h.Source.Stats().PLIs)
	}
	_ = st.Close()
	_ = offerPC.Close()
	_ = answerPC.Close()
	readers.Wait()
}

// Options that cannot make a simulcast track are refused.
func TestSimulcastTrackOptions(t *testing.T) {
	for name, layers := range map[string][]SimulcastLayer{
		"four layers":  {{RID: "a"}, {RID: "b"}, {RID: "c"}, {RID: "d"}},
		"no rid":       {{RID: "a"}, {RID: ""}},
		"same rid":     {{RID: "a"}, {RID: "a"}},
		"bad vp8 size": {{RID: "a", Width: 1 << 15, Height: 10}},
	} {
		if _, err := NewVP8SimulcastTrack("v", "s", SimulcastOptions{Layers: layers}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// An inactive layer sends nothing while the clock runs on, and starts
// again with a keyframe.
func TestSourceSetActive(t *testing.T) {
	var w countWriter
	s, err := NewVP8Source(&w, SourceOptions{Simulcast: true, Layer: 2})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.WriteFrame()
	ts := w.last.Timestamp
	s.SetActive(false)
	_ = s.WriteFrame()
	_ = s.WriteFrame()
	if st := s.Stats(); st.Skipped != 2 || st.Frames != 1 || s.Active() {
		t.Fatalf("inactive: %+v active=%v", st, s.Active())
	}
	n := w.n
	s.SetActive(true)
	_ = s.WriteFrame()
	if w.n == n || !isVP8Keyframe(w.first.Payload) {
		t.Fatal("reactivated layer did not start with a keyframe")
	}
	if w.first.Timestamp != ts+3*3000 {
		t.Fatalf("timestamp %d, want %d: the clock did not run on", w.first.Timestamp, ts+3*3000)
	}
	if m, ok := ParseMarker(w.first.Payload); !ok || !m.Simulcast || m.Layer != 2 {
		t.Fatalf("marker %+v %v", m, ok)
	}
}

// countWriter keeps the first packet of the last frame written.
type countWriter struct {
	n           int
	first, last rtp.Packet
	inFrame     bool
}

func (w *countWriter) WriteRTP(p *rtp.Packet) error {
	w.n++
	if !w.inFrame {
		w.first = *p
		w.first.Payload = append([]byte(nil), p.Payload...)
	}
	w.inFrame = !p.Marker
	w.last = *p
	return nil
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("no %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A layer's writer adds its mid and rid extensions without allocating
// once the packet carries them.
func BenchmarkLayerWrite(b *testing.B) {
	st, err := NewVP8SimulcastTrack("v", "s", SimulcastOptions{})
	if err != nil {
		b.Fatal(err)
	}
	l := st.Layers()[2]
	l.ext.Store(&layerExt{midID: 1, ridID: 2, mid: []byte("0")})
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Source.WriteFrame(); err != nil {
			b.Fatal(err)
		}
	}
}

// H.264 simulcast comes out of the same code: three RID tracks whose
// markers name their layers, keyframes on each.
func TestH264SimulcastReachesPion(t *testing.T) {
	st, err := NewH264SimulcastTrack("v", "s", SimulcastOptions{Source: SourceOptions{FPS: 50, KeyframeInterval: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	offerPC, answerPC, sdp := pionPair(t, st)
	if !strings.Contains(sdp, "a=simulcast:send q;h;f") || !strings.Contains(sdp, "H264") {
		t.Fatal("offer is no H.264 simulcast offer")
	}
	var mu sync.Mutex
	keys := map[string]int{}
	bad := 0
	var readers sync.WaitGroup
	answerPC.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		readers.Add(1)
		defer readers.Done()
		buf := make([]byte, 1500)
		var p rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			m, ok := ParseMarker(p.Payload)
			mu.Lock()
			if !ok || !m.Simulcast || st.Layers()[m.Layer].RID() != tr.RID() {
				bad++
			}
			if isH264Keyframe(p.Payload) {
				keys[tr.RID()]++
			}
			mu.Unlock()
		}
	})
	st.Start(t.Context())
	waitFor(t, "keyframes on every layer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return keys["q"] > 0 && keys["h"] > 0 && keys["f"] > 0
	})
	mu.Lock()
	if bad != 0 {
		t.Errorf("%d packets without their layer's marker", bad)
	}
	mu.Unlock()
	_ = st.Close()
	_ = offerPC.Close()
	_ = answerPC.Close()
	readers.Wait()
}
