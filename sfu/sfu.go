package sfu

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lethe-rtc/lethe/internal/iceaddr"
	"github.com/lethe-rtc/lethe/internal/queue"
	"github.com/lethe-rtc/lethe/internal/ratelog"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// SFU hosts rooms. It is safe for concurrent use.
type SFU struct {
	cfg Config
	// pub makes publisher PeerConnections (receive only: NACK, receiver
	// report and TWCC feedback generators); sub subscriber ones (send
	// only: sender reports). Each interceptor runs a ticker per
	// PeerConnection, so giving a PeerConnection only those it uses saves
	// thousands of idle wake-ups a second in a large room. Each
	// PeerConnection gets an API of its own from these, for the gate in
	// front of its ICE agent and the logger of its Pion parts. (Its RTP
	// senders must come from that PeerConnection too: see addSender.)
	pub, sub *peerTemplate
	mux      ice.UDPMux
	tcpMux   ice.TCPMux        // nil without Config.TCPListener
	addrs    iceaddr.Addresses // where candidates are gathered, what they advertise
	stats    counters
	metrics  metricCounters // bytes, RTT and loss (metrics.go)
	data     dataCounters   // data messages (data.go)
	dataLim  dataLimits
	// diag writes diagnostics a client can repeat at will (Pion's errors,
	// undeclared SSRCs): a line per kind, then a count per minute.
	diag     *ratelog.Logger
	diagStop context.CancelFunc
	diagDone chan struct{}
	// speakersStop ends the goroutine that tells rooms who speaks
	// (speakers.go); speakersDone is closed when it has.
	speakersStop context.CancelFunc
	speakersDone chan struct{}
	// layersStop ends the goroutine that tells rooms of their tracks'
	// measured layers (layers.go); layersDone is closed when it has.
	layersStop context.CancelFunc
	layersDone chan struct{}
	// senders drain every subscriber's queue: a few goroutines, not one
	// per subscriber.
	senders *queue.Scheduler[outPacket]

	mu     sync.Mutex
	rooms  map[string]*room
	closed bool
	wg     sync.WaitGroup // participants' goroutines
}

// New builds an SFU serving media on cfg.UDPConn.
func New(cfg Config) (*SFU, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &SFU{cfg: cfg, rooms: make(map[string]*room)}
	s.dataLim = dataLimits{maxMessage: s.cfg.Data.MaxMessage, receiverBuffer: uint64(s.cfg.Data.ReceiverBuffer), now: s.cfg.Now}
	var err error
	if s.addrs, err = plan(&s.cfg); err != nil {
		return nil, err
	}
	// The interfaces, read once: every PeerConnection gathers on what
	// Advertised reports, without a netlink dump each.
	hostNet, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("sfu: interfaces: %w", err)
	}
	if s.pub, err = newTemplate(&s.cfg, Publisher, s.addrs, hostNet); err != nil {
		return nil, err
	}
	if s.sub, err = newTemplate(&s.cfg, Subscriber, s.addrs, hostNet); err != nil {
		return nil, err
	}
	s.diag = ratelog.New(cfg.Logger, ratelog.Config{Now: cfg.Now})
	s.mux = newUDPMux(pionLogs{diag: s.diag}.NewLogger("udpmux"), cfg.UDPConn, s.addrs)
	if cfg.TCPListener != nil {
		s.tcpMux = newTCPMux(pionLogs{diag: s.diag}.NewLogger("tcpmux"), cfg.TCPListener)
	}
	s.senders = queue.NewScheduler(s.cfg.Senders, senderBatch, s.send)
	ctx, cancel := context.WithCancel(context.Background())
	s.diagStop, s.diagDone = cancel, make(chan struct{})
	go func() {
		defer close(s.diagDone)
		s.diag.Run(ctx)
	}()
	spCtx, spCancel := context.WithCancel(context.Background())
	s.speakersStop, s.speakersDone = spCancel, make(chan struct{})
	go func() {
		defer close(s.speakersDone)
		if !s.cfg.NoSpeakers {
			s.runSpeakers(spCtx)
		}
	}()
	lCtx, lCancel := context.WithCancel(context.Background())
	s.layersStop, s.layersDone = lCancel, make(chan struct{})
	go func() {
		defer close(s.layersDone)
		s.runLayers(lCtx)
	}()
	return s, nil
}

// senderBatch is the most packets a sender writes from one subscriber's
// queue before serving the next.
const senderBatch = 16

// send writes packets taken from one subscriber's queue.
func (s *SFU) send(items []queue.Item[outPacket]) {
	now := s.cfg.Now()
	for i := range items {
		op := items[i].Dst
		d, resume, mark := op.d, op.resume, false
		switch {
		case d.up.simulcast():
			send, switched := d.sendLayer(op.layer, op.key)
			if !send {
				continue
			}
			resume = resume || switched
		case d.svc != nil:
			send, epoch, end := d.selectSVC(items[i].Data, resume)
			if !send {
				continue
			}
			resume, mark = resume || epoch, end
		}
		d.write(items[i].Data, resume, mark, now, &d.hdr, d.scratch)
	}
}

// peerTemplate is what every PeerConnection of one side is made of.
type peerTemplate struct {
	media     *webrtc.MediaEngine // copied by each PeerConnection
	factories []interceptor.Factory
	se        webrtc.SettingEngine
	// bwe gives each PeerConnection a bandwidth estimator of its own
	// (the subscriber's: bwe.go), sending through the pacer given; nil
	// for none.
	bwe func(gcc.Pacer) (cc.BandwidthEstimator, error)
}

// api returns an API whose PeerConnections reach the media socket
// through mux (and the ICE-TCP listener through tcp, if not nil), log
// through logs and buffer their SRTP streams in bufs (nil: Pion's own
// buffers).
//
// With a bandwidth estimator (t.bwe), onBWE gets the PeerConnection's
// while NewPeerConnection runs.
func (t *peerTemplate) api(mux ice.UDPMux, tcp ice.TCPMux, logs pionLogs, bufs *srtpBuffers,
	onBWE func(cc.BandwidthEstimator),
) (*webrtc.API, error) {
	reg := &interceptor.Registry{}
	for _, f := range t.factories {
		reg.Add(f)
	}
	if t.bwe != nil {
		// The estimator sees each packet after the transport-wide sequence
		// number is set (interceptors added later wrap earlier ones).
		// The API, and so the pacer, is the PeerConnection's own; the
		// unbinder hears each sender stop and keeps the pacer to the
		// streams still sent (pacer.go).
		pacer := newStreamPacer()
		reg.Add(pacerUnbinderFactory{pacer})
		f, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) { return t.bwe(pacer) })
		if err != nil {
			return nil, fmt.Errorf("sfu: bandwidth estimator: %w", err)
		}
		f.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { onBWE(e) })
		reg.Add(f)
		tw, err := twcc.NewHeaderExtensionInterceptor()
		if err != nil {
			return nil, fmt.Errorf("sfu: twcc: %w", err)
		}
		reg.Add(tw)
	}
	se := t.se
	se.SetICEUDPMux(mux)
	if tcp != nil {
		se.SetICETCPMux(tcp)
	}
	se.LoggerFactory = logs
	if bufs != nil {
		se.BufferFactory = bufs.factory
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(t.media), webrtc.WithInterceptorRegistry(reg),
		webrtc.WithSettingEngine(se)), nil
}

// newTemplate sets Pion up for one side of an SFU: Opus, VP8, VP9
// (profile 0) and H.264 only; NACKs, receiver reports and TWCC feedback generated toward
// publishers; sender reports toward subscribers. NACKs from subscribers
// are answered by the SFU itself from the per-track cache, so no NACK
// responder interceptor keeps a second copy of every packet per
// subscriber.
//
// Its PeerConnections gather host candidates as addrs says (gatherOn),
// reading the interfaces from n.
func newTemplate(cfg *Config, side Side, addrs iceaddr.Addresses, n *stdnet.Net) (*peerTemplate, error) {
	m := &webrtc.MediaEngine{}
	videoFB := []webrtc.RTCPFeedback{
		{Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
		{Type: webrtc.TypeRTCPFBTransportCC},
	}
	codecs := []struct {
		kind webrtc.RTPCodecType
		p    webrtc.RTPCodecParameters
	}{
		{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 97, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=96"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 98, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, RTCPFeedback: videoFB, SDPFmtpLine: "profile-id=0"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 99, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=98"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFB,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 103, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=102"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 125, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFB,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{PayloadType: 107, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=125"}}},
	}
	for _, c := range codecs {
		if err := m.RegisterCodec(c.p, c.kind); err != nil {
			return nil, fmt.Errorf("sfu: register codec: %w", err)
		}
	}
	// Transport-wide sequence numbers: the publisher's packets carry them
	// for the TWCC feedback the SFU sends it, the SFU's for the feedback
	// its subscriber bandwidth estimators read (bwe.go).
	dir := webrtc.RTPTransceiverDirectionRecvonly
	if side == Subscriber {
		dir = webrtc.RTPTransceiverDirectionSendonly
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind, dir); err != nil {
			return nil, fmt.Errorf("sfu: register extension: %w", err)
		}
	}
	if side == Publisher {
		// Active speakers (speakers.go): each audio packet's level.
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio,
			webrtc.RTPTransceiverDirectionRecvonly); err != nil {
			return nil, fmt.Errorf("sfu: register extension: %w", err)
		}
		// Simulcast (simulcast.go): each layer names its m-section and its
		// rid in header extensions, its RTX the rid it repairs.
		for _, uri := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI, sdp.SDESRepairRTPStreamIDURI} {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo,
				webrtc.RTPTransceiverDirectionRecvonly); err != nil {
				return nil, fmt.Errorf("sfu: register extension: %w", err)
			}
		}
	}

	t := &peerTemplate{media: m}
	if side == Publisher {
		gen, err := nack.NewGeneratorInterceptor()
		if err != nil {
			return nil, fmt.Errorf("sfu: nack generator: %w", err)
		}
		rr, err := report.NewReceiverInterceptor(report.ReceiverNow(cfg.Now))
		if err != nil {
			return nil, fmt.Errorf("sfu: receiver reports: %w", err)
		}
		tw, err := twcc.NewSenderInterceptor()
		if err != nil {
			return nil, fmt.Errorf("sfu: twcc: %w", err)
		}
		t.factories = []interceptor.Factory{gen, rr, tw}
	} else {
		sr, err := report.NewSenderInterceptor(report.SenderNow(cfg.Now))
		if err != nil {
			return nil, fmt.Errorf("sfu: sender reports: %w", err)
		}
		t.factories = []interceptor.Factory{sr}
		dataSettings(&t.se, cfg)
		if !cfg.NoBandwidthEstimation {
			t.bwe = func(p gcc.Pacer) (cc.BandwidthEstimator, error) { return newAckedEstimator(p, cfg.Now) }
		}
	}

	if err := gatherOn(&t.se, addrs, cfg.PublicIPs, cfg.TCPListener != nil, n); err != nil {
		return nil, err
	}
	t.se.SetICETimeouts(cfg.ICEDisconnectedTimeout, cfg.ICEFailedTimeout, cfg.ICEKeepalive)
	return t, nil
}

// Join adds a participant to the room named roomKey, creating the room if
// needed. It returns the participant and the others already in the room.
// Events for the new participant start after this snapshot.
func (s *SFU) Join(roomKey string, pc ParticipantConfig, ev Events) (*Participant, []ParticipantInfo, error) {
	p, err := newParticipant(s, pc, ev)
	if err != nil {
		return nil, nil, err
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			p.discard()
			return nil, nil, ErrClosed
		}
		r := s.rooms[roomKey]
		if r == nil {
			r = newRoom(s, roomKey)
			s.rooms[roomKey] = r
		}
		s.mu.Unlock()
		// The room may have emptied and been dropped since we looked it
		// up; then join fails and we look again.
		if others, ok := r.join(p); ok {
			p.start()
			return p, others, nil
		}
	}
}

// dropRoomIfEmpty forgets a room with nobody in it.
func (s *SFU) dropRoomIfEmpty(r *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.participants) == 0 && !r.dropped {
		r.dropped = true
		if s.rooms[r.key] == r {
			delete(s.rooms, r.key)
		}
	}
}

// Rooms returns how many rooms are open.
func (s *SFU) Rooms() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rooms)
}

// Close removes every participant (each gets Closed(ErrShutdown)), waits
// for all goroutines and closes the media socket.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	s.speakersStop()
	<-s.speakersDone
	s.layersStop()
	<-s.layersDone
	for _, r := range rooms {
		for _, p := range r.members() {
			p.close(ErrShutdown)
		}
	}
	s.wg.Wait()
	s.senders.Close()
	err := s.mux.Close()
	if s.tcpMux != nil {
		err = errors.Join(err, s.tcpMux.Close())
	}
	s.diagStop()
	<-s.diagDone
	return err
}

// Stats is a snapshot of the SFU's counters.
type Stats struct {
	Rooms, Participants int
	PacketsIn           uint64 // RTP packets read from publishers
	PacketsOut          uint64 // RTP packets written to subscribers
	Retransmitted       uint64 // packets re-sent in answer to NACKs
	PaddingOut          uint64 // padding-only packets sent to probe subscribers' downlinks
	NACKsIn             uint64 // sequence numbers subscribers asked for
	NACKMisses          uint64 // asked-for packets no longer cached
	RTXLimited          uint64 // asked-for packets not re-sent: retransmissions had taken their share of the subscriber's downlink
	KeyframeRequests    uint64 // PLIs sent to publishers
	DroppedQueueFull    uint64 // a subscriber's queue was full
	DroppedNoKeyframe   uint64 // subscriber waiting for a keyframe
	DroppedMuted        uint64 // publisher muted the track
	DroppedWriteError   uint64
	DroppedNotConnected uint64 // subscriber's media transport not up yet
	DroppedUndeclared   uint64 // RTP on an SSRC the PeerConnection's offer does not declare, before Pion sees it
	DroppedBitrate      uint64 // publisher over a track's or its own bitrate cap
}

type counters struct {
	packetsIn, packetsOut, retransmitted, nacksIn, nackMisses, keyframeRequests               atomic.Uint64
	droppedQueueFull, droppedNoKeyframe, droppedMuted, droppedWriteError, droppedNotConnected atomic.Uint64
	droppedUndeclared, droppedBitrate                                                         atomic.Uint64
	paddingOut, rtxLimited                                                                    atomic.Uint64
	participants                                                                              atomic.Int64
}

// Stats returns the current counters.
func (s *SFU) Stats() Stats {
	c := &s.stats
	return Stats{
		Rooms: s.Rooms(), Participants: int(c.participants.Load()),
		PacketsIn: c.packetsIn.Load(), PacketsOut: c.packetsOut.Load(),
		Retransmitted: c.retransmitted.Load(), PaddingOut: c.paddingOut.Load(), NACKsIn: c.nacksIn.Load(), NACKMisses: c.nackMisses.Load(),
		RTXLimited:       c.rtxLimited.Load(),
		KeyframeRequests: c.keyframeRequests.Load(), DroppedQueueFull: c.droppedQueueFull.Load(),
		DroppedNoKeyframe: c.droppedNoKeyframe.Load(), DroppedMuted: c.droppedMuted.Load(),
		DroppedWriteError: c.droppedWriteError.Load(), DroppedNotConnected: c.droppedNotConnected.Load(),
		DroppedUndeclared: c.droppedUndeclared.Load(), DroppedBitrate: c.droppedBitrate.Load(),
	}
}

// newID returns prefix followed by 12 random base-32 characters.
func newID(prefix string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var b [12]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return prefix + string(b[:])
}
