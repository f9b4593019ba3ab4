package sfu_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/lethe-rtc/lethe/client"
	"github.com/lethe-rtc/lethe/e2ee"
	"github.com/lethe-rtc/lethe/internal/inactive"
	"github.com/lethe-rtc/lethe/internal/keyframe"
	"github.com/lethe-rtc/lethe/internal/vp9"
	"github.com/lethe-rtc/lethe/sfu"
)

// This file runs the SFU with real Pion PeerConnections over loopback:
// the test plays the signaling server, carrying SDP and candidates between
// Participant methods and the remote PeerConnections through a recording
// sfu.Events.

const waitLimit = 10 * time.Second

// waitFor polls cond until it holds or waitLimit passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signal is an offer or a candidate from the SFU, in the order it came.
type signal struct {
	side  sfu.Side
	offer string
	cand  *webrtc.ICECandidateInit
	isOff bool
}

// restartSignal marks an ICE restart offer in recorder.offers.
const restartSignal = true

// recorder is an sfu.Events that never blocks: it records room events
// and queues signaling for the endpoint's pump.
type recorder struct {
	sig chan signal

	mu          sync.Mutex
	joined      []sfu.ParticipantInfo
	updated     []sfu.ParticipantInfo
	left        []string
	published   []sfu.TrackInfo
	unpublished []sfu.TrackInfo
	muted       []sfu.TrackInfo
	closed      []error
	unsupported []string           // TrackUnsupported: "<track> <codec>"
	offers      []bool             // per offer: whether it restarted ICE
	askRestart  int                // RestartICE calls: the SFU asked for a publisher restart
	paused      []string           // TrackPaused: "<track> true|false"
	layers      []string           // TrackLayer: "<track> <rid>"
	wanted      [][]sfu.LayerState // LayersWanted, in order
	speakers    [][]sfu.Speaker    // Speakers, in order
	measured    []sfu.TrackInfo    // TrackLayers, in order (layers_test.go)
	rejected    []dataRejection    // DataRejected, in order (data_test.go)
	overflow    bool
}

var (
	_ sfu.Events      = (*recorder)(nil)
	_ sfu.LayerEvents = (*recorder)(nil)
)

func newRecorder() *recorder { return &recorder{sig: make(chan signal, 256)} }

func (r *recorder) push(s signal) {
	select {
	case r.sig <- s:
	default:
		r.mu.Lock()
		r.overflow = true
		r.mu.Unlock()
	}
}

func (r *recorder) ParticipantJoined(p sfu.ParticipantInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.joined = append(r.joined, p)
}

func (r *recorder) ParticipantUpdated(p sfu.ParticipantInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updated = append(r.updated, p)
}

func (r *recorder) ParticipantLeft(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.left = append(r.left, id)
}

func (r *recorder) TrackPublished(ti sfu.TrackInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published = append(r.published, ti)
}

func (r *recorder) TrackUnpublished(ti sfu.TrackInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unpublished = append(r.unpublished, ti)
}

func (r *recorder) TrackMuted(ti sfu.TrackInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.muted = append(r.muted, ti)
}

func (r *recorder) TrackPaused(id string, paused bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused = append(r.paused, fmt.Sprint(id, " ", paused))
}

func (r *recorder) TrackUnsupported(id, codec string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unsupported = append(r.unsupported, id+" "+codec)
}

func (r *recorder) Speakers(list []sfu.Speaker) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.speakers = append(r.speakers, list)
}

func (r *recorder) TrackLayer(id, rid string, _ int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.layers = append(r.layers, id+" "+rid)
}

func (r *recorder) TrackLayers(ti sfu.TrackInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.measured = append(r.measured, ti)
}

func (r *recorder) LayersWanted(_ sfu.TrackInfo, ls []sfu.LayerState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wanted = append(r.wanted, ls)
}

func (r *recorder) Offer(sdp string, iceRestart bool) {
	r.mu.Lock()
	r.offers = append(r.offers, iceRestart)
	r.mu.Unlock()
	r.push(signal{offer: sdp, isOff: true})
}

func (r *recorder) RestartICE() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.askRestart++
}

func (r *recorder) Candidate(side sfu.Side, c *webrtc.ICECandidateInit) {
	r.push(signal{side: side, cand: c})
}

func (r *recorder) Closed(reason error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = append(r.closed, reason)
}

// with runs f under the recorder's lock.
func (r *recorder) with(f func(r *recorder) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f(r)
}

// remotePC is the far end of one of a participant's PeerConnections. SFU
// candidates wait until the remote description is set.
type remotePC struct {
	pc        *webrtc.PeerConnection
	mu        sync.Mutex
	remoteSet bool
	pending   []webrtc.ICECandidateInit
}

func (r *remotePC) addCandidate(c *webrtc.ICECandidateInit) error {
	if c == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.remoteSet {
		r.pending = append(r.pending, *c)
		return nil
	}
	return r.pc.AddICECandidate(*c)
}

func (r *remotePC) setRemote(d webrtc.SessionDescription) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.pc.SetRemoteDescription(d); err != nil {
		return err
	}
	r.remoteSet = true
	for _, c := range r.pending {
		if err := r.pc.AddICECandidate(c); err != nil {
			return err
		}
	}
	r.pending = nil
	return nil
}

// rxPacket is what a subscriber saw of one RTP packet.
type rxPacket struct {
	seq    uint16
	ts     uint32
	pt     uint8
	ssrc   uint32
	key    bool
	size   int    // bytes of the packet
	marked bool   // the payload carries a valid marker
	mseq   uint32 // its marker sequence number
	stream uint32 // its marker stream id
	// VP9 (svc_test.go): the RTP marker, the layers and frame bounds of
	// its payload descriptor.
	rtpMark, begin, end bool
	sid, tid            int8
}

// rxTrack records one track a subscriber receives.
type rxTrack struct {
	id, streamID string
	video        bool
	vp9          bool
	pt           webrtc.PayloadType // the codec's, as negotiated
	checker      *client.Checker

	mu      sync.Mutex
	pkts    []rxPacket
	markers map[uint32]int // packets per marker stream id
	ended   bool
	frames  *client.FrameReader // end-to-end encrypted tracks (e2ee_test.go)
}

func (r *rxTrack) run(tr *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	var p rtp.Packet
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			r.mu.Lock()
			r.ended = true
			r.mu.Unlock()
			return
		}
		if err := p.Unmarshal(buf[:n]); err != nil {
			continue
		}
		r.checker.Observe(&p)
		rx := rxPacket{seq: p.SequenceNumber, ts: p.Timestamp, pt: p.PayloadType, ssrc: p.SSRC, size: n}
		rx.key = r.video && keyframe.VP8(p.Payload)
		m, ok := client.ParseMarker(p.Payload)
		rx.marked, rx.mseq, rx.stream = ok, m.Seq, m.StreamID
		if r.vp9 {
			var d vp9.Descriptor
			if vp9.Parse(p.Payload, &d) == nil {
				rx.key = d.Keyframe()
				rx.rtpMark, rx.begin, rx.end, rx.sid, rx.tid = p.Marker, d.B, d.E, int8(d.SID), int8(d.TID)
			}
		}
		r.mu.Lock()
		if r.frames != nil {
			q := p
			q.Payload = bytes.Clone(p.Payload)
			r.frames.Push(&q)
		}
		r.pkts = append(r.pkts, rx)
		if ok {
			if r.markers == nil {
				r.markers = make(map[uint32]int)
			}
			r.markers[m.StreamID]++
		}
		r.mu.Unlock()
	}
}

func (r *rxTrack) packets() []rxPacket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pkts)
}

func (r *rxTrack) hasEnded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended
}

// marked counts the packets carrying the given marker stream id, and how
// many marker streams the track carried in all.
func (r *rxTrack) marked(stream uint32) (n, streams int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.markers[stream], len(r.markers)
}

func (r *rxTrack) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pkts)
}

// endpoint is one participant: the SFU side, its events, and the remote
// PeerConnections the test drives.
type endpoint struct {
	t    *testing.T
	name string
	p    *sfu.Participant
	ev   *recorder
	pub  *remotePC // publishing endpoints only
	sub  *remotePC // subscribing endpoints only

	answers  atomic.Int32 // subscriber offers answered
	onTracks atomic.Int32 // OnTrack calls on the subscriber PeerConnection
	rtcpIn   sync.Map     // RTCP packet types the publisher received, as "%T"
	srIn     sync.Map     // SSRCs (uint32) the subscriber got sender reports for
	held     chan string  // offers kept while holding, for the test to answer
	relay    *udpRelay    // if set, the media goes through it (icerestart_test.go)
	ring     *e2ee.Ring   // if set, received tracks are decrypted too (e2ee_test.go)

	mu      sync.Mutex
	closing bool
	holding bool
	tracks  map[string]*rxTrack // by SFU track id
	msids   map[string]string   // by mid: the msid the last answered offer sends, "" if inactive
	wg      sync.WaitGroup
	stop    chan struct{}
}

func join(t *testing.T, s *sfu.SFU, api *webrtc.API, name string, cfg sfu.ParticipantConfig) (*endpoint, []sfu.ParticipantInfo) {
	t.Helper()
	return joinVia(t, s, api, name, cfg, nil)
}

// joinVia is join with the endpoint's media going through relay, when it
// is not nil.
func joinVia(t *testing.T, s *sfu.SFU, api *webrtc.API, name string, cfg sfu.ParticipantConfig, relay *udpRelay) (*endpoint, []sfu.ParticipantInfo) {
	t.Helper()
	e := &endpoint{
		t: t, name: name, ev: newRecorder(), held: make(chan string, 4), relay: relay,
		tracks: make(map[string]*rxTrack), msids: make(map[string]string), stop: make(chan struct{}),
	}
	p, others, err := s.Join("room", cfg, e.ev)
	if err != nil {
		t.Fatalf("%s: join: %v", name, err)
	}
	e.p = p
	if cfg.Send == 0 {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		e.sub = &remotePC{pc: pc}
		pc.OnTrack(e.onTrack)
	}
	e.wg.Add(1)
	go e.pump()
	return e, others
}

// isClosing reports whether shutdown has begun: the SFU may still be
// renegotiating with a PeerConnection the test is closing.
func (e *endpoint) isClosing() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closing
}

// pump carries the SFU's offers and candidates to the remote side.
func (e *endpoint) pump() {
	defer e.wg.Done()
	for {
		select {
		case <-e.stop:
			return
		case s := <-e.ev.sig:
			if s.isOff {
				if e.isHolding() {
					e.held <- s.offer
					continue
				}
				if err := e.answer(s.offer); err != nil && !e.isClosing() && !e.gone(err) {
					e.t.Errorf("%s: answer: %v", e.name, err)
				}
				continue
			}
			r := e.pub
			if s.side == sfu.Subscriber {
				r = e.sub
			}
			if r == nil {
				continue
			}
			if err := r.addCandidate(e.relay.candidate(s.cand)); err != nil && !e.isClosing() {
				e.t.Errorf("%s: candidate: %v", e.name, err)
			}
		}
	}
}

// gone reports whether err says that e's participant has been closed,
// as the test may do while an offer is being answered (Leave): the answer
// is moot then. The SFU reports the close last; gone waits a little for it.
func (e *endpoint) gone(err error) bool {
	if !errors.Is(err, sfu.ErrClosed) {
		return false
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if e.ev.with(func(r *recorder) bool { return len(r.closed) > 0 }) {
			return true
		}
	}
	return false
}

// hold makes the pump keep the SFU's offers (in e.held) instead of
// answering them, until it is called with false.
func (e *endpoint) hold(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.holding = on
}

func (e *endpoint) isHolding() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.holding
}

// nextHeld returns the next offer kept while holding.
func (e *endpoint) nextHeld() string {
	e.t.Helper()
	select {
	case o := <-e.held:
		return o
	case <-time.After(waitLimit):
		e.t.Fatalf("%s: no offer came", e.name)
		return ""
	}
}

// checkOffer holds the SFU's subscriber offers to the protocol (3.3): every
// m-section is sendonly or inactive, and an m-section carries a new track
// only after an answered offer made it inactive, so that every WebRTC stack
// sees the old track end and the new one begin.
func (e *endpoint) checkOffer(offer string) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		e.t.Errorf("%s: offer: %v", e.name, err)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media == "application" {
			continue // the data channels (data_test.go)
		}
		mid, _ := m.Attribute("mid")
		msid, _ := m.Attribute("msid")
		_, sendonly := m.Attribute("sendonly")
		_, inactive := m.Attribute("inactive")
		switch {
		case inactive:
			msid = ""
		case !sendonly:
			e.t.Errorf("%s: offer: m-section %s (%s) is neither sendonly nor inactive", e.name, mid, m.MediaName.Media)
		case e.msids[mid] != "" && e.msids[mid] != msid:
			e.t.Errorf("%s: offer: m-section %s goes from track %q to %q without being inactive in between",
				e.name, mid, e.msids[mid], msid)
		}
		e.msids[mid] = msid
	}
}

// answer answers an SFU offer as the Go client does: see internal/inactive
// for what Pion, as answerer, needs done to the offer first.
func (e *endpoint) answer(offer string) error {
	if e.sub == nil {
		return errors.New("offer for a participant that does not subscribe")
	}
	e.checkOffer(offer)
	pc := e.sub.pc
	offer, _ = inactive.Rewrite(e.relay.fromSFU(offer), inactive.KnownMids(pc))
	if err := e.sub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-time.After(waitLimit):
		return errors.New("gathering timed out")
	}
	if err := e.p.HandleAnswer(e.relay.toSFU(pc.LocalDescription().SDP)); err != nil {
		return err
	}
	e.answers.Add(1)
	return nil
}

func (e *endpoint) onTrack(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	if x := r.RTPTransceiver(); x == nil || x.Mid() == "" {
		// Pion made it up for a packet on an SSRC the last offer does
		// not declare; the Go client drops these too.
		e.mu.Lock()
		defer e.mu.Unlock()
		if !e.closing {
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				(&rxTrack{checker: client.NewChecker(client.CheckerOptions{})}).run(tr)
			}()
		}
		return
	}
	e.onTracks.Add(1)
	rx := &rxTrack{
		id: tr.ID(), streamID: tr.StreamID(), video: tr.Kind() == webrtc.RTPCodecTypeVideo, pt: tr.Codec().PayloadType,
		vp9:     strings.EqualFold(tr.Codec().MimeType, webrtc.MimeTypeVP9),
		checker: client.NewChecker(client.CheckerOptions{MimeType: tr.Codec().MimeType}),
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return
	}
	if e.ring != nil {
		rx.frames = e2eeReader(e.t, e.ring, tr)
	}
	e.tracks[tr.ID()] = rx
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		rx.run(tr)
	}()
	go func() { // until the receiver stops
		defer e.wg.Done()
		for {
			pkts, _, err := r.ReadRTCP()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				if sr, ok := pk.(*rtcp.SenderReport); ok {
					e.srIn.Store(sr.SSRC, true)
				}
			}
		}
	}()
}

func (e *endpoint) track(id string) *rxTrack {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tracks[id]
}

// publish connects a publisher PeerConnection sending tracks, each of
// which answers PLI and FIR with a keyframe.
func (e *endpoint) publish(api *webrtc.API, tracks ...*client.Track) {
	e.t.Helper()
	locals := make([]webrtc.TrackLocal, len(tracks))
	for i, tr := range tracks {
		locals[i] = tr
	}
	e.publishLocal(api, locals, func(i int) { tracks[i].RequestKeyframe() })
}

// publishLocal is publish of any local tracks; key(i) is called on each
// PLI or FIR for tracks[i].
func (e *endpoint) publishLocal(api *webrtc.API, tracks []webrtc.TrackLocal, key func(i int)) {
	t := e.t
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	e.pub = &remotePC{pc: pc}
	for i, tr := range tracks {
		sender, err := pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					e.rtcpIn.Store(fmt.Sprintf("%T", pk), true)
					switch pk.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						key(i)
					}
				}
			}
		}()
	}
	e.negotiatePublisher()
}

// negotiatePublisher offers e.pub's tracks to the SFU and waits until it
// is connected.
func (e *endpoint) negotiatePublisher() {
	t, pc := e.t, e.pub.pc
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	answer, err := e.p.HandleOffer(e.relay.toSFU(pc.LocalDescription().SDP), nil)
	if err != nil {
		t.Fatalf("%s: HandleOffer: %v", e.name, err)
	}
	if err := e.pub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: e.relay.fromSFU(answer)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, e.name+" publisher connected", func() bool {
		return pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
}

// shutdown closes the remote PeerConnections and waits for the test's
// goroutines of this endpoint.
func (e *endpoint) shutdown() {
	e.mu.Lock()
	was := e.closing
	e.closing = true
	e.mu.Unlock()
	if was {
		return
	}
	for _, r := range []*remotePC{e.pub, e.sub} {
		if r != nil {
			if err := r.pc.Close(); err != nil {
				e.t.Errorf("%s: close: %v", e.name, err)
			}
		}
	}
	close(e.stop)
	e.wg.Wait()
}

// contiguous reports whether the packets' sequence numbers, duplicates
// aside, cover a range without a hole.
func contiguous(pkts []rxPacket) (holes int) {
	if len(pkts) == 0 {
		return 0
	}
	base := pkts[0].seq
	seen := make(map[int]bool)
	lo, hi := 0, 0
	for _, p := range pkts {
		d := int(int16(p.seq - base))
		seen[d] = true
		lo, hi = min(lo, d), max(hi, d)
	}
	return hi - lo + 1 - len(seen)
}

func findTrack(infos []sfu.TrackInfo, clientID string) (sfu.TrackInfo, bool) {
	for _, ti := range infos {
		if ti.ClientTrackID == clientID {
			return ti, true
		}
	}
	return sfu.TrackInfo{}, false
}

// mSections counts the m-sections of e's subscriber PeerConnection: its
// transceivers that have a mid.
func (e *endpoint) mSections() int {
	n := 0
	for _, x := range e.sub.pc.GetTransceivers() {
		if x.Mid() != "" {
			n++
		}
	}
	return n
}

// startSFU runs an SFU on a loopback socket, seen through wrap when it is
// not nil, and returns it with an API for the remote ends; stop closes the
// SFU and the socket, for a goroutine-leak check deferred before it.
func startSFU(t *testing.T, wrap func(*net.UDPConn) net.PacketConn) (s *sfu.SFU, api *webrtc.API, stop func()) {
	t.Helper()
	return startSFUWith(t, wrap, sfu.Config{})
}

// startSFUWith is startSFU with more of the SFU's configuration; its
// UDPConn is set here.
func startSFUWith(t *testing.T, wrap func(*net.UDPConn) net.PacketConn, cfg sfu.Config) (s *sfu.SFU, api *webrtc.API, stop func()) {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var conn net.PacketConn = udp
	if wrap != nil {
		conn = wrap(udp)
	}
	cfg.UDPConn = conn
	if s, err = sfu.New(cfg); err != nil {
		conn.Close()
		t.Fatal(err)
	}
	if api, err = client.NewLoopbackAPI(); err != nil {
		s.Close()
		conn.Close()
		t.Fatal(err)
	}
	return s, api, func() {
		s.Close()
		conn.Close()
	}
}

func TestForwardingOverLoopback(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()

	// Subscribers first, then the publisher.
	sub1, _ := join(t, s, api, "sub1", sfu.ParticipantConfig{UserID: "u1", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer sub1.shutdown()
	sub2, others := join(t, s, api, "sub2", sfu.ParticipantConfig{UserID: "u2", AutoSubscribe: true, Receive: sfu.AllMedia})
	defer sub2.shutdown()
	if len(others) != 1 || others[0].ID != sub1.p.ID() {
		t.Errorf("sub2 saw %+v in the room, want sub1", others)
	}
	pub, others := join(t, s, api, "pub", sfu.ParticipantConfig{UserID: "u3", Send: sfu.AllMedia})
	defer pub.shutdown()
	if len(others) != 2 {
		t.Errorf("publisher saw %d others, want 2", len(others))
	}
	if _, err := sub1.p.HandleOffer("v=0", nil); !errors.Is(err, sfu.ErrBadSDP) {
		t.Errorf("HandleOffer of a broken SDP: %v, want ErrBadSDP", err)
	}

	video, err := client.NewVP8Track("cam", "stream", client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer video.Close()
	audio, err := client.NewOpusTrack("mic", "stream", client.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer audio.Close()
	pub.publish(api, video, audio)
	video.Start(context.Background())
	audio.Start(context.Background())

	// Both subscribers learn of both tracks and receive them.
	var videoID, audioID string
	for _, e := range []*endpoint{sub1, sub2} {
		waitFor(t, e.name+" TrackPublished", func() bool {
			return e.ev.with(func(r *recorder) bool { return len(r.published) == 2 })
		})
		e.ev.with(func(r *recorder) bool {
			v, okV := findTrack(r.published, "cam")
			a, okA := findTrack(r.published, "mic")
			if !okV || !okA || v.Kind != "video" || a.Kind != "audio" ||
				!strings.EqualFold(v.Codec, webrtc.MimeTypeVP8) || !strings.EqualFold(a.Codec, webrtc.MimeTypeOpus) ||
				v.ParticipantID != pub.p.ID() || v.Muted {
				t.Errorf("%s: published %+v", e.name, r.published)
			}
			videoID, audioID = v.ID, a.ID
			return true
		})
	}
	for _, e := range []*endpoint{sub1, sub2} {
		waitFor(t, e.name+" media", func() bool {
			v, a := e.track(videoID), e.track(audioID)
			return v != nil && a != nil && v.count() >= 40 && a.count() >= 40
		})
	}
	time.Sleep(200 * time.Millisecond) // let NACKs settle late packets
	for _, e := range []*endpoint{sub1, sub2} {
		for _, rx := range []*rxTrack{e.track(videoID), e.track(audioID)} {
			st := rx.checker.Stats()
			if st.BadMarkers != 0 || st.BadRTP != 0 || st.Lost != 0 || st.Streams != 1 {
				t.Errorf("%s %s: %+v", e.name, rx.id, st)
			}
			if rx.streamID != pub.p.ID() {
				t.Errorf("%s %s: stream id %q, want the publisher's id", e.name, rx.id, rx.streamID)
			}
			pkts := rx.packets()
			if h := contiguous(pkts); h != 0 {
				t.Errorf("%s %s: %d sequence numbers missing on the wire", e.name, rx.id, h)
			}
			for _, p := range pkts {
				if p.pt != pkts[0].pt || p.ssrc != pkts[0].ssrc {
					t.Errorf("%s %s: payload type or SSRC changed mid-stream", e.name, rx.id)
					break
				}
			}
			if rx.video && (!pkts[0].key || st.Keyframes == 0) {
				t.Errorf("%s video does not start with a keyframe (%d keyframes)", e.name, st.Keyframes)
			}
		}
	}

	// sub2 unsubscribes from audio: it stops, sub1 is unaffected.
	if err := sub2.p.Unsubscribe([]string{"TR_nope"}); !errors.Is(err, sfu.ErrUnknownTrack) {
		t.Errorf("Unsubscribe(unknown) = %v, want ErrUnknownTrack", err)
	}
	answered := sub2.answers.Load()
	if err := sub2.p.Unsubscribe([]string{audioID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sub2 renegotiation", func() bool { return sub2.answers.Load() > answered })
	time.Sleep(100 * time.Millisecond)
	a2, a1, v2 := sub2.track(audioID).count(), sub1.track(audioID).count(), sub2.track(videoID).count()
	time.Sleep(400 * time.Millisecond)
	if n := sub2.track(audioID).count(); n != a2 {
		t.Errorf("sub2 got %d audio packets after unsubscribing", n-a2)
	}
	if !sub2.track(audioID).hasEnded() || sub2.track(videoID).hasEnded() || sub1.track(audioID).hasEnded() {
		t.Error("after unsubscribing: want sub2's audio ended, its video and sub1's audio going on")
	}
	if n := sub1.track(audioID).count(); n < a1+10 {
		t.Errorf("sub1 audio stalled: %d -> %d packets", a1, n)
	}
	if n := sub2.track(videoID).count(); n < v2+5 {
		t.Errorf("sub2 video stalled: %d -> %d packets", v2, n)
	}

	// The publisher mutes video: subscribers hear of it and get nothing;
	// after unmute they get a keyframe first, with no hole in sequence
	// numbers and a timestamp that moved on with the clock.
	mutedEvent := func(e *endpoint, muted bool) bool {
		return e.ev.with(func(r *recorder) bool {
			return slices.ContainsFunc(r.muted, func(ti sfu.TrackInfo) bool { return ti.ID == videoID && ti.Muted == muted })
		})
	}
	if err := sub1.p.Mute(videoID, true); !errors.Is(err, sfu.ErrUnknownTrack) {
		t.Errorf("Mute of another's track = %v, want ErrUnknownTrack", err)
	}
	if err := pub.p.Mute(videoID, true); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*endpoint{sub1, sub2} {
		waitFor(t, e.name+" TrackMuted", func() bool { return mutedEvent(e, true) })
	}
	time.Sleep(150 * time.Millisecond)
	before := map[*endpoint]int{sub1: sub1.track(videoID).count(), sub2: sub2.track(videoID).count()}
	mutedAt := time.Now()
	time.Sleep(400 * time.Millisecond)
	for e, n := range before {
		if got := e.track(videoID).count(); got != n {
			t.Errorf("%s got %d video packets while muted", e.name, got-n)
		}
	}
	if st := s.Stats(); st.DroppedMuted == 0 {
		t.Errorf("DroppedMuted = 0 after a muted stretch: %+v", st)
	}
	if err := pub.p.Mute(videoID, false); err != nil {
		t.Fatal(err)
	}
	pause := time.Since(mutedAt)
	for _, e := range []*endpoint{sub1, sub2} {
		waitFor(t, e.name+" TrackMuted(false)", func() bool { return mutedEvent(e, false) })
		waitFor(t, e.name+" video after unmute", func() bool { return e.track(videoID).count() >= before[e]+20 })
	}
	for _, e := range []*endpoint{sub1, sub2} {
		pkts := e.track(videoID).packets()
		last, first := pkts[before[e]-1], pkts[before[e]]
		if !first.key {
			t.Errorf("%s: first packet after unmute is not a keyframe", e.name)
		}
		if first.seq != last.seq+1 {
			t.Errorf("%s: sequence %d -> %d across the mute", e.name, last.seq, first.seq)
		}
		if h := contiguous(pkts); h != 0 {
			t.Errorf("%s: %d sequence numbers missing on the wire", e.name, h)
		}
		if d := int32(first.ts - last.ts); d < int32(pause.Seconds()*90000/2) || d > 10*90000 {
			t.Errorf("%s: timestamp moved %d ticks across a %v pause", e.name, d, pause)
		}
		if st := e.track(videoID).checker.Stats(); st.BadMarkers != 0 {
			t.Errorf("%s: %d bad markers", e.name, st.BadMarkers)
		}
	}
	if st := sub1.track(audioID).checker.Stats(); st.Lost != 0 || st.BadMarkers != 0 {
		t.Errorf("sub1 audio across the video mute: %+v", st)
	}

	// The publisher leaves: subscribers hear of its tracks and of it, and
	// their subscriber PeerConnections are renegotiated without them.
	answered1, answered2 := sub1.answers.Load(), sub2.answers.Load()
	pub.p.Leave()
	for _, e := range []*endpoint{sub1, sub2} {
		waitFor(t, e.name+" sees the publisher leave", func() bool {
			return e.ev.with(func(r *recorder) bool {
				_, v := findTrack(r.unpublished, "cam")
				_, a := findTrack(r.unpublished, "mic")
				return v && a && slices.Contains(r.left, pub.p.ID())
			})
		})
	}
	waitFor(t, "publisher Closed(ErrLeft)", func() bool {
		return pub.ev.with(func(r *recorder) bool { return len(r.closed) == 1 && errors.Is(r.closed[0], sfu.ErrLeft) })
	})
	waitFor(t, "renegotiation after leave", func() bool {
		return sub1.answers.Load() > answered1 && sub2.answers.Load() > answered2
	})
	for _, e := range []*endpoint{sub1, sub2} {
		for _, id := range []string{videoID, audioID} {
			waitFor(t, e.name+" track ends after leave", e.track(id).hasEnded)
		}
	}
	if err := pub.p.Mute(videoID, true); !errors.Is(err, sfu.ErrUnknownTrack) {
		t.Errorf("Mute after Leave = %v, want ErrUnknownTrack", err)
	}
	if st := s.Stats(); st.Participants != 2 || st.Rooms != 1 || st.PacketsIn == 0 || st.PacketsOut == 0 {
		t.Errorf("stats after leave: %+v", st)
	}

	// Close ends everyone.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*endpoint{sub1, sub2} {
		e.ev.with(func(r *recorder) bool {
			if len(r.closed) != 1 || !errors.Is(r.closed[0], sfu.ErrShutdown) {
				t.Errorf("%s: Closed calls %v, want [ErrShutdown]", e.name, r.closed)
			}
			if r.overflow {
				t.Errorf("%s: signaling queue overflowed", e.name)
			}
			return true
		})
	}
	if _, _, err := s.Join("room", sfu.ParticipantConfig{}, newRecorder()); !errors.Is(err, sfu.ErrClosed) {
		t.Errorf("Join after Close = %v, want ErrClosed", err)
	}
	if st := s.Stats(); st.Rooms != 0 || st.Participants != 0 {
		t.Errorf("stats after Close: %+v", st)
	}
	t.Logf("stats: %+v", s.Stats())
}

// TestHiddenParticipants: an audience member (Hidden) is neither announced
// nor listed to the others; coming out of hiding is a join to them, going
// back a leave, and its own role changes reach it as updates.
func TestHiddenParticipants(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, api, stop := startSFU(t, nil)
	defer stop()
	anchor, _ := join(t, s, api, "anchor", sfu.ParticipantConfig{UserID: "a", Role: "anchor", Send: sfu.AllMedia, Receive: sfu.AllMedia})
	defer anchor.shutdown()
	viewer, others := join(t, s, api, "viewer", sfu.ParticipantConfig{UserID: "v", Role: "audience", Hidden: true, Receive: sfu.AllMedia})
	defer viewer.shutdown()
	if len(others) != 1 || others[0].ID != anchor.p.ID() {
		t.Fatalf("the viewer saw %+v, want the anchor", others)
	}
	late, others := join(t, s, api, "late", sfu.ParticipantConfig{UserID: "l", Role: "audience", Hidden: true, Receive: sfu.AllMedia})
	defer late.shutdown()
	if len(others) != 1 || others[0].ID != anchor.p.ID() {
		t.Fatalf("a late viewer saw %+v, want only the anchor", others)
	}
	counts := func(e *endpoint) (joined, updated, left int) {
		e.ev.with(func(r *recorder) bool {
			joined, updated, left = len(r.joined), len(r.updated), len(r.left)
			return true
		})
		return
	}
	if j, u, l := counts(anchor); j+u+l != 0 {
		t.Fatalf("the anchor heard of hidden viewers: %d joined, %d updated, %d left", j, u, l)
	}

	viewer.p.SetRole("anchor", false, sfu.Audio, sfu.AllMedia) // steps up: a join to the others
	for _, e := range []*endpoint{anchor, late} {
		ok := e.ev.with(func(r *recorder) bool {
			return len(r.joined) == 1 && r.joined[0].ID == viewer.p.ID() && r.joined[0].Role == "anchor" && len(r.updated) == 0
		})
		if !ok {
			t.Fatalf("%s: after the viewer stepped up: joined %+v, updated %+v", e.name, e.ev.joined, e.ev.updated)
		}
	}
	viewer.p.SetRole("anchor", false, sfu.AllMedia, sfu.AllMedia) // visible to visible: an update
	viewer.p.SetRole("audience", true, 0, sfu.AllMedia)           // steps down: a leave to the others
	for _, e := range []*endpoint{anchor, late} {
		ok := e.ev.with(func(r *recorder) bool {
			return len(r.updated) == 1 && len(r.left) == 1 && r.left[0] == viewer.p.ID()
		})
		if !ok {
			t.Fatalf("%s: after the viewer stepped down: updated %+v, left %v", e.name, e.ev.updated, e.ev.left)
		}
	}
	if _, u, _ := counts(viewer); u != 3 {
		t.Fatalf("the viewer heard %d updates of its own role, want 3", u)
	}
	late.p.Leave()
	viewer.p.Leave()
	waitFor(t, "both viewers gone", func() bool { return s.Stats().Participants == 1 })
	if _, _, l := counts(anchor); l != 1 {
		t.Fatalf("the anchor heard %d leaves, want 1 (hidden participants leave silently)", l)
	}
}
