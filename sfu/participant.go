package sfu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lethe-rtc/lethe/internal/inactive"
	"github.com/lethe-rtc/lethe/internal/queue"
	"github.com/lethe-rtc/lethe/internal/ssrcgate"
	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Participant is one member of a room with its two PeerConnections.
type Participant struct {
	id   string
	cfg  ParticipantConfig
	s    *SFU
	room *room // set once by room.join, before any other use
	ev   Events
	log  *slog.Logger

	pub, sub *webrtc.PeerConnection
	queue    *queue.Queue[outPacket]
	// sent are the SSRCs of the subscriber PeerConnection's bound
	// senders, the ones whose RTCP it keeps (streams.go).
	sent sentSSRCs

	mu         sync.Mutex // guards the fields below
	closed     bool
	role       string
	hidden     bool            // not announced to the others
	send       Media           // may publish
	receive    Media           // may receive
	blocked    Media           // an operator stopped these of its tracks
	screen     map[string]bool // client track ids announced as sub-streams
	subscribed map[string]bool // explicit subscribe (or unsubscribe=false)
	down       map[string]*downTrack
	published  int
	// rids are the simulcast layers of the last offer, by mid; layered
	// the tracks made of them so far, by receiver (simulcast.go).
	rids    map[string][]string
	layered map[*webrtc.RTPReceiver]*upTrack
	// settings are the subscriber's wishes per track id it receives.
	settings map[string]TrackSettings
	// noCodec are the tracks it cannot be sent: none of their codec in
	// its answer (codec.go). Created on the first.
	noCodec map[string]bool

	allocMu    sync.Mutex // one allocation at a time; guards the ones below
	allocDowns []*downTrack
	allocPrefs []TrackSettings
	bwe        bwe // the subscriber's downlink estimate and what uses it (bwe.go)

	early [2][]webrtc.ICECandidateInit // guarded by mu: candidates that came before their SDP, per Side
	// dtlsStop stops, per Side, the timer that gives a connected ICE
	// transport's DTLS handshake Config.DTLSTimeout; guarded by mu.
	dtlsStop [2]func() bool
	// gates drop, per Side, RTP on SSRCs the last offer did not declare
	// before Pion sees it (internal/ssrcgate). The subscriber's allows
	// none: the client sends no media there.
	gates [2]ssrcgate.Gate

	rateMu   sync.Mutex // guards rate
	rate     bucket     // the bitrate cap on all the participant's tracks
	lastREMB atomic.Int64
	ice      [2]iceWatch // guarded by mu: ICE outages and restarts, per Side (icerestart.go)

	pubNegotiate sync.Mutex // one publisher offer at a time
	subMu        sync.Mutex // serialises subscriber PeerConnection changes
	needOffer    bool       // guarded by subMu: the track set changed since the last offer
	// freed holds the transceivers emptied of their track whose inactive
	// state the client has not accepted yet (guarded by subMu): false
	// until an offer carries that state, true once one does. The answer to
	// such an offer settles them. Until then a transceiver is not reused:
	// the client must see its m-section inactive, so that the old track
	// ends for it, before the m-section carries a new one.
	freed map[*webrtc.RTPTransceiver]bool

	data *dataPeer // its data channels (data.go); nil without ParticipantConfig.Data
	// follow is set for a player that follows the speaker (follow.go):
	// its reconcile switches sources instead of negotiating.
	follow atomic.Pointer[follower]

	kickCh chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
}

func newParticipant(s *SFU, cfg ParticipantConfig, ev Events) (*Participant, error) {
	p := &Participant{
		id: newID("PA_"), cfg: cfg, s: s, ev: ev,
		role: cfg.Role, hidden: cfg.Hidden, send: cfg.Send, receive: cfg.Receive, blocked: cfg.Blocked,
		screen:     make(map[string]bool),
		queue:      s.senders.NewQueue(s.cfg.SubscriberQueue),
		subscribed: make(map[string]bool),
		down:       make(map[string]*downTrack),
		layered:    make(map[*webrtc.RTPReceiver]*upTrack),
		settings:   make(map[string]TrackSettings),
		kickCh:     make(chan struct{}, 1),
		done:       make(chan struct{}),
		rate:       newBucket(s.cfg.MaxParticipantBitrate),
	}
	p.log = s.cfg.Logger.With("participant", p.id)
	var err error
	if p.pub, err = p.newPeerConnection(s.pub, Publisher); err != nil {
		return nil, fmt.Errorf("sfu: publisher peer connection: %w", err)
	}
	if p.sub, err = p.newPeerConnection(s.sub, Subscriber); err != nil {
		_ = p.pub.Close()
		return nil, fmt.Errorf("sfu: subscriber peer connection: %w", err)
	}
	for side, pc := range map[Side]*webrtc.PeerConnection{Publisher: p.pub, Subscriber: p.sub} {
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			var init *webrtc.ICECandidateInit
			if c != nil {
				i := c.ToJSON()
				init = &i
			}
			if !p.heldCandidate(side, init) {
				p.ev.Candidate(side, init)
			}
		})
		pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
			// Both are terminal: a PeerConnection never leaves them. Closed
			// here, before p's own close, means the client closed its side
			// (DTLS close_notify); a participant without its media
			// connection is gone, whatever its WebSocket does.
			switch {
			case p.isClosed():
			case st == webrtc.PeerConnectionStateFailed:
				p.closeAsync(ErrConnectionFailed)
			case st == webrtc.PeerConnectionStateClosed:
				p.closeAsync(ErrConnectionClosed)
			}
		})
		// Pion keeps one handler per event: both watches are here.
		pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
			if st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted {
				p.watchDTLS(side, pc)
			}
			p.onICEState(side, st) // outages and restarts (icerestart.go)
		})
	}
	p.pub.OnTrack(p.onTrack)
	if cfg.Data {
		if err := p.openData(); err != nil {
			_ = p.pub.Close()
			_ = p.sub.Close()
			return nil, fmt.Errorf("sfu: data channels: %w", err)
		}
		p.needOffer = true // the channels need an offer, tracks or not
	}
	return p, nil
}

// newPeerConnection makes one of p's PeerConnections from t, behind the
// gate of its side and logging as p's.
func (p *Participant) newPeerConnection(t *peerTemplate, side Side) (*webrtc.PeerConnection, error) {
	attrs := []slog.Attr{slog.String(attrParticipant, p.id), slog.String(attrSide, side.String())}
	g := &p.gates[side]
	g.OnDrop = func(n uint64) {
		p.s.stats.droppedUndeclared.Add(1)
		if n == 1 {
			p.s.diag.Log(context.Background(), slog.LevelWarn, diagUndeclared, "RTP on undeclared SSRCs dropped", attrs...)
		}
	}
	bufs := &srtpBuffers{over: func() {
		p.s.diag.Log(context.Background(), slog.LevelWarn, diagTooManyStreams, "RTCP on too many SSRCs: participant removed", attrs...)
		p.closeAsync(ErrTooManyStreams)
	}}
	if side == Publisher {
		bufs.declared = g.Passing
	} else {
		bufs.declared = p.sent.list
	}
	var tcp ice.TCPMux
	if p.s.tcpMux != nil {
		tcp = g.TCPMux(p.s.tcpMux)
	}
	api, err := t.api(g.Mux(p.s.mux), tcp, pionLogs{diag: p.s.diag, attrs: attrs}, bufs, p.bwe.set)
	if err != nil {
		return nil, err
	}
	return api.NewPeerConnection(webrtc.Configuration{})
}

// Keys of the SFU's rate-limited diagnostics.
const (
	diagUndeclared      = "undeclared-ssrc"
	diagUndeclaredTotal = "undeclared-ssrc-total"
	diagTooManyStreams  = "too-many-rtcp-streams"
)

// watchDTLS gives the DTLS handshake of pc, whose ICE transport has just
// connected, Config.DTLSTimeout to complete. Pion's own handshake has no
// deadline: a client that answers ICE checks but never finishes DTLS
// would hold its participant for as long as it keeps answering.
func (p *Participant) watchDTLS(side Side, pc *webrtc.PeerConnection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.dtlsStop[side] != nil || dtlsConnected(pc) {
		return
	}
	p.dtlsStop[side] = p.s.cfg.AfterFunc(p.s.cfg.DTLSTimeout, func() {
		// Under mu, so that p cannot close in between: closeAsync needs
		// p's own count in the SFU's wait group still held.
		p.mu.Lock()
		defer p.mu.Unlock()
		p.dtlsStop[side] = nil
		if !p.closed && !dtlsConnected(pc) {
			p.closeAsync(ErrDTLSTimeout)
		}
	})
}

func dtlsConnected(pc *webrtc.PeerConnection) bool {
	return pc.SCTP().Transport().State() == webrtc.DTLSTransportStateConnected
}

// admit takes bits from the participant's bitrate cap at now, if it holds
// them, and reports whether it did.
func (p *Participant) admit(now, bits int64) bool {
	if p.rate.rate <= 0 {
		return true
	}
	p.rateMu.Lock()
	defer p.rateMu.Unlock()
	return p.rate.take(now, bits)
}

// discard releases a participant that never joined a room.
func (p *Participant) discard() {
	p.mu.Lock()
	p.closed = true // its PeerConnections' closing is not a client's doing
	p.mu.Unlock()
	_ = p.pub.Close()
	_ = p.sub.Close()
	p.queue.Close()
}

// ID returns the participant's id in its room.
func (p *Participant) ID() string { return p.id }

func (p *Participant) start() {
	p.s.wg.Add(1)
	p.wg.Add(2)
	go func() {
		p.wg.Wait()
		p.s.wg.Done()
	}()
	go p.reconcileLoop()
	p.kick()
	go p.allocLoop()
}

// HandleOffer applies the client's offer on the publisher PeerConnection
// and returns the answer. screen names the client's track ids (msid) that
// are sub-streams rather than camera video. An offer that would send media
// the participant may not send is refused whole. Candidates follow through
// Events.Candidate.
func (p *Participant) HandleOffer(sdp string, screen []string) (string, error) {
	p.pubNegotiate.Lock()
	defer p.pubNegotiate.Unlock()
	if p.isClosed() {
		return "", ErrClosed
	}
	offer := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}
	parsed, err := offer.Unmarshal()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if err := checkICECredentials(parsed); err != nil {
		return "", err
	}
	isScreen := make(map[string]bool, len(screen))
	for _, id := range screen {
		isScreen[id] = true
	}
	var want Media
	media := 0
	for _, m := range parsed.MediaDescriptions {
		kind := m.MediaName.Media
		if kind != "audio" && kind != "video" || m.MediaName.Port.Value == 0 {
			continue // not media, or a rejected section
		}
		if _, ok := m.Attribute("recvonly"); ok {
			continue
		}
		if _, ok := m.Attribute("inactive"); ok {
			continue
		}
		media++
		switch {
		case kind == "audio":
			want |= Audio
		case isScreen[msidTrack(m.Attribute("msid"))]:
			want |= Screen
		default:
			want |= Video
		}
	}
	if media > p.s.cfg.MaxTracks {
		return "", ErrTooManyTracks
	}
	ssrcs, err := declaredSSRCs(parsed, maxSimulcastSSRCs*p.s.cfg.MaxTracks)
	if err != nil {
		return "", err
	}
	rids, err := simulcastLayers(parsed)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	allowed := p.send
	if want&^allowed == 0 {
		for id := range isScreen {
			p.screen[id] = true
		}
	}
	p.mu.Unlock()
	if want&^allowed != 0 {
		return "", fmt.Errorf("%w: may not send %s", ErrNotAllowed, want&^allowed)
	}
	// A publisher that removed a track and later reuses its m-section for
	// a new one (same mid, new SSRC) must be heard: Pion would stop the
	// transceiver of every inactive m-section, each time an offer lists it,
	// and then never deliver the reused one's track (see internal/inactive).
	remote, _ := inactive.Rewrite(sdp, inactive.KnownMids(p.pub))
	restart := p.clientRestart(parsed) // new ICE credentials (icerestart.go)
	if restart {
		defer p.releaseCandidates(Publisher)
	}
	// No data channels, no H.264 profile the subscribers did not
	// negotiate (3.9).
	remote, _ = refuseUnsupported(remote)
	// RTP of the SSRCs this offer stops declaring is dropped from now on,
	// before Pion sees it; the new ones cannot come before the answer.
	// A simulcast layer's SSRC is not declared: the gate learns as many
	// as the offer's layers may use (each layer and its RTX), keeping
	// those of layers still published.
	gate := &p.gates[Publisher]
	before := gate.Allowed()
	gate.Allow(ssrcs)
	p.mu.Lock()
	p.rids = rids
	keep := p.layerSSRCsLocked(rids)
	p.mu.Unlock()
	budget := 0
	for _, r := range rids {
		budget += 2 * len(r)
	}
	gate.Learn(budget, keep)
	if err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: remote}); err != nil {
		gate.Allow(before)
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	p.applyEarlyCandidates(Publisher)
	answer, err := p.pub.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if err := p.pub.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	out := answer.SDP
	if restart {
		out = p.gathered(Publisher) // with the new generation's candidates
	}
	// What Pion answered, with the data section rejected even where the
	// offer bundled nothing else, and the bitrate cap per m-section.
	out, _ = refuseUnsupported(out)
	return limitAnswer(out, p.s.cfg.trackLimit()), nil
}

// HandleAnswer applies the client's answer to the SFU's last offer on the
// subscriber PeerConnection.
func (p *Participant) HandleAnswer(sdp string) error {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	if p.isClosed() {
		return ErrClosed
	}
	if p.sub.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		return fmt.Errorf("%w: no offer is waiting for an answer", ErrBadSDP)
	}
	answer := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}
	parsed, err := answer.Unmarshal()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if err := checkICECredentials(parsed); err != nil {
		return err
	}
	if err := p.sub.SetRemoteDescription(answer); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	p.applyEarlyCandidates(Subscriber)
	maps.DeleteFunc(p.freed, func(_ *webrtc.RTPTransceiver, offered bool) bool { return offered })
	if p.needOffer || p.restartDue() {
		p.kick()
	}
	return nil
}

// AddCandidate applies a remote ICE candidate; nil ends the candidates.
// A candidate that arrives before the description it belongs to is kept
// (a few dozen at most) and applied once that description is set.
func (p *Participant) AddCandidate(side Side, c *webrtc.ICECandidateInit) error {
	if c == nil {
		return nil
	}
	pc := p.pc(side)
	p.mu.Lock()
	if pc.RemoteDescription() == nil {
		defer p.mu.Unlock()
		if len(p.early[side]) >= maxEarlyCandidates {
			return fmt.Errorf("%w: too many candidates before the description", ErrBadSDP)
		}
		p.early[side] = append(p.early[side], *c)
		return nil
	}
	p.mu.Unlock()
	if err := pc.AddICECandidate(*c); err != nil {
		return fmt.Errorf("%w: candidate: %v", ErrBadSDP, err)
	}
	return nil
}

// maxEarlyCandidates bounds the candidates kept before their description.
const maxEarlyCandidates = 32

func (p *Participant) pc(side Side) *webrtc.PeerConnection {
	if side == Subscriber {
		return p.sub
	}
	return p.pub
}

// applyEarlyCandidates adds the candidates kept for side, after its remote
// description was set. Bad ones are ignored, as they would have been.
func (p *Participant) applyEarlyCandidates(side Side) {
	p.mu.Lock()
	early := p.early[side]
	p.early[side] = nil
	p.mu.Unlock()
	for _, c := range early {
		_ = p.pc(side).AddICECandidate(c)
	}
}

// Subscribe asks for tracks; Unsubscribe stops them. Unknown ids fail
// with ErrUnknownTrack and change nothing.
func (p *Participant) Subscribe(ids []string) error { return p.setSubscribed(ids, true) }

// Unsubscribe stops receiving the given tracks.
func (p *Participant) Unsubscribe(ids []string) error { return p.setSubscribed(ids, false) }

func (p *Participant) setSubscribed(ids []string, on bool) error {
	p.mu.Lock()
	receive := p.receive
	p.mu.Unlock()
	for _, id := range ids {
		u := p.room.track(id)
		if u == nil || u.owner == p {
			return fmt.Errorf("%w: %s", ErrUnknownTrack, id)
		}
		if on && receive&u.media == 0 {
			return fmt.Errorf("%w: may not receive %s", ErrNotAllowed, u.media)
		}
	}
	p.mu.Lock()
	for _, id := range ids {
		p.subscribed[id] = on
	}
	p.mu.Unlock()
	p.kick()
	return nil
}

// wants reports whether p should receive u. Called with room.mu held.
func (p *Participant) wants(u *upTrack) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.receive&u.media == 0 {
		return false
	}
	if p.noCodec[u.id] {
		return false // its answer had no codec of the track's (codec.go)
	}
	if on, ok := p.subscribed[u.id]; ok {
		return on
	}
	return p.cfg.AutoSubscribe
}

// Mute pauses or resumes one of p's own tracks for everyone. A track an
// operator blocked cannot be resumed.
func (p *Participant) Mute(trackID string, muted bool) error {
	u := p.room.track(trackID)
	if u == nil || u.owner != p {
		return fmt.Errorf("%w: %s", ErrUnknownTrack, trackID)
	}
	if !muted && u.blocked.Load() {
		return fmt.Errorf("%w: the track is blocked", ErrNotAllowed)
	}
	if u.setPaused(&u.muted, muted) {
		p.room.muted(u)
	}
	return nil
}

// SetRole changes p's role, whether it is hidden, and what it may send
// and receive. Tracks it may no longer send are unpublished; what it may
// no longer receive stops.
func (p *Participant) SetRole(role string, hidden bool, send, receive Media) {
	p.mu.Lock()
	wasHidden := p.hidden
	p.role, p.hidden, p.send, p.receive = role, hidden, send, receive
	p.mu.Unlock()
	p.room.updated(p, send, wasHidden, hidden)
	p.kick()
}

func (p *Participant) isHidden() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hidden
}

// Block stops (or, with blocked false, allows again) the given kinds of
// p's media for everyone, now and for tracks it publishes later.
func (p *Participant) Block(m Media, blocked bool) {
	p.mu.Lock()
	if blocked {
		p.blocked |= m
	} else {
		p.blocked &^= m
	}
	p.mu.Unlock()
	for _, u := range p.room.tracksOf(p) {
		if u.media&m == 0 || u.blocked.Load() == blocked {
			continue
		}
		// Announce every change of the blocked flag, even when the
		// publisher had muted the track already.
		u.setPaused(&u.blocked, blocked)
		p.room.muted(u)
	}
}

// Remove takes p out of its room for reason (ErrRemoved, ErrDismissed).
func (p *Participant) Remove(reason error) { p.close(reason) }

// Leave removes p from its room. Events.Closed(ErrLeft) follows.
func (p *Participant) Leave() { p.close(ErrLeft) }

func (p *Participant) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// close tears p down once; later calls do nothing.
func (p *Participant) close(reason error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for side, stop := range p.dtlsStop {
		if stop != nil {
			stop()
			p.dtlsStop[side] = nil
		}
	}
	p.stopICELocked()
	p.mu.Unlock()

	p.room.leave(p)
	p.closeData()
	close(p.done)
	p.queue.Close()
	_ = p.pub.Close()
	_ = p.sub.Close()
	p.wg.Wait()
	p.mu.Lock()
	downs := p.down
	p.down = nil
	p.mu.Unlock()
	for _, d := range downs {
		d.close()
	}
	if !errors.Is(reason, ErrLeft) && !errors.Is(reason, ErrShutdown) {
		p.log.Info("participant closed", "reason", reason.Error())
	}
	for side := range p.gates {
		if n := p.gates[side].Dropped(); n > 1 {
			p.s.diag.Log(context.Background(), slog.LevelWarn, diagUndeclaredTotal, "RTP on undeclared SSRCs dropped in all",
				slog.String(attrParticipant, p.id), slog.String(attrSide, Side(side).String()), slog.Uint64(attrPackets, n))
		}
	}
	p.ev.Closed(reason)
}

// closeAsync closes p from a goroutine of its own, for callers that p's
// close waits for. The goroutine is counted in the SFU's wait group: p's
// own count is still held, so the SFU cannot be done waiting yet.
func (p *Participant) closeAsync(reason error) {
	p.s.wg.Add(1)
	go func() {
		defer p.s.wg.Done()
		p.close(reason)
	}()
}

func (p *Participant) kick() {
	select {
	case p.kickCh <- struct{}{}:
	default:
	}
}

// onTrack runs when a publisher's track delivers its first packet; for
// simulcast, when each layer does.
func (p *Participant) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	if rid := remote.RID(); rid != "" {
		p.onLayer(remote, recv, rid)
		return
	}
	u := newUpTrack(p, remote, recv, nil)
	if !p.admitTrack(u, recv) {
		return
	}
	l := u.layers[0]
	u.start(l, remote)
	p.runLayer(u, l)
}

// admitTrack publishes u unless p may not: it reports whether it did.
func (p *Participant) admitTrack(u *upTrack, recv *webrtc.RTPReceiver) bool {
	if u.mid == "" {
		// Pion made it up, on a transceiver of its own, for a packet on an
		// SSRC the last offer does not declare: a straggler of a track the
		// publisher has just removed. No m-section of the offer sends it.
		_ = recv.Stop()
		return false
	}
	p.mu.Lock()
	if p.screen[u.client] && u.kind == webrtc.RTPCodecTypeVideo.String() {
		u.media = Screen
	}
	if p.closed || p.published >= p.s.cfg.MaxTracks || p.send&u.media == 0 {
		p.mu.Unlock()
		_ = recv.Stop()
		return false
	}
	p.published++
	u.blocked.Store(p.blocked&u.media != 0)
	p.mu.Unlock()
	if !p.room.publish(u) {
		p.mu.Lock()
		p.published--
		p.mu.Unlock()
		u.close()
		return false
	}
	return true
}

// onLayer takes the first packet of simulcast layer rid: the first layer
// of a receiver publishes the track, the others join it.
func (p *Participant) onLayer(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver, rid string) {
	p.mu.Lock()
	u := p.layered[recv]
	fresh := u == nil || u.isClosed()
	if fresh {
		var rids []string
		for _, t := range p.pub.GetTransceivers() {
			if t.Receiver() == recv {
				rids = p.rids[t.Mid()]
			}
		}
		if !slices.Contains(rids, rid) {
			p.mu.Unlock()
			return // Pion heard of a rid the offer does not send: nothing reads it
		}
		u = newUpTrack(p, remote, recv, rids)
		p.layered[recv] = u
	}
	p.mu.Unlock()
	l := u.layerOf(rid)
	if l == nil {
		return
	}
	if fresh && !p.admitTrack(u, recv) {
		p.mu.Lock()
		delete(p.layered, recv)
		p.mu.Unlock()
		return
	}
	if !u.start(l, remote) {
		return
	}
	p.runLayer(u, l)
}

// runLayer reads layer l of u on a goroutine of its own; the last layer
// to end unpublishes u.
func (p *Participant) runLayer(u *upTrack, l *layer) {
	p.s.wg.Add(1)
	go func() {
		defer p.s.wg.Done()
		if !u.run(l) {
			return
		}
		p.room.unpublish(u)
		p.mu.Lock()
		p.published--
		if p.layered[u.recv] == u {
			delete(p.layered, u.recv)
		}
		p.mu.Unlock()
	}()
}

// layerSSRCsLocked returns the SSRCs (media and RTX) of the simulcast
// layers p publishes on the mids of rids. Called with p.mu held.
func (p *Participant) layerSSRCsLocked(rids map[string][]string) []uint32 {
	var out []uint32
	for _, u := range p.layered {
		if u.isClosed() || rids[u.mid] == nil {
			continue
		}
		for _, l := range u.layers {
			if r := l.remote.Load(); r != nil {
				out = append(out, uint32(r.SSRC()))
				if r.HasRTX() {
					out = append(out, uint32(r.RtxSSRC()))
				}
			}
		}
	}
	return out
}

// reconcileLoop makes the subscriber PeerConnection carry exactly the
// tracks p wants, and offers whenever that set changes.
func (p *Participant) reconcileLoop() {
	defer p.wg.Done()
	for {
		select {
		case <-p.done:
			return
		case <-p.kickCh:
		}
		if err := p.reconcile(); err != nil && !p.isClosed() {
			p.log.Warn("subscriber negotiation failed", "err", err.Error())
			p.closeAsync(err)
			return
		}
	}
}

func (p *Participant) reconcile() error {
	if f := p.following(); f != nil {
		return p.refollow(f)
	}
	want := p.room.wantedBy(p)
	p.subMu.Lock()
	defer p.subMu.Unlock()

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	keep := make(map[string]bool, len(want))
	var add []*upTrack
	for _, u := range want {
		keep[u.id] = true
		if p.down[u.id] == nil {
			add = append(add, u)
		}
	}
	var remove []*downTrack
	for id, d := range p.down {
		if !keep[id] || d.up.isClosed() {
			remove = append(remove, d)
			delete(p.down, id)
		}
	}
	p.mu.Unlock()

	changed := false
	for _, d := range remove {
		d.close()
		for _, t := range p.sub.GetTransceivers() {
			if t.Sender() == d.sender {
				if p.freed == nil {
					p.freed = make(map[*webrtc.RTPTransceiver]bool)
				}
				p.freed[t] = false
			}
		}
		if err := p.sub.RemoveTrack(d.sender); err != nil {
			return fmt.Errorf("remove track: %w", err)
		}
		changed = true
	}
	for _, u := range add {
		d := newDownTrack(u, p)
		sender, err := p.addSender(d)
		if err != nil {
			return fmt.Errorf("add track: %w", err)
		}
		d.sender = sender
		p.mu.Lock()
		p.down[u.id] = d
		p.mu.Unlock()
		d.start()
		changed = true
	}
	if changed {
		p.needOffer = true
	}
	restart := p.restartDue() // an ICE restart (icerestart.go) needs an offer too
	if !p.needOffer && !restart || p.sub.SignalingState() != webrtc.SignalingStateStable {
		return nil // HandleAnswer kicks again once the outstanding offer is answered
	}
	offer, err := p.subscriberOffer(restart)
	if err != nil {
		return err
	}
	for t := range p.freed {
		p.freed[t] = true // this offer makes it inactive
	}
	p.needOffer = false
	p.ev.Offer(offer, restart)
	if restart {
		p.restartOffered()
	}
	return nil
}

// addSender puts d on the subscriber PeerConnection as a sendonly
// transceiver, reusing one that an earlier, negotiated removal left
// inactive so that the SDP does not grow with every change. Called with
// subMu held.
//
// The sender must come from the PeerConnection's own API: only that one
// has its interceptors (the sender reports, newTemplate) and the codecs it
// negotiated. AddTrack and AddTransceiverFromTrack are the ways to get
// such a sender; AddTrack reuses a transceiver, but by a rule of Pion's
// that may choose one whose removal the client has not seen yet, or add a
// sendrecv transceiver when none suits. So addSender calls it only when
// reusable has found that Pion's choice is the slot protocol 3.3 allows,
// and checks that it was.
func (p *Participant) addSender(d *downTrack) (*webrtc.RTPSender, error) {
	if t := p.reusable(d.Kind()); t != nil {
		s, err := p.sub.AddTrack(d) // the transceiver becomes sendonly
		if err != nil {
			return nil, err
		}
		if t.Sender() != s {
			_ = p.sub.RemoveTrack(s)
			return nil, fmt.Errorf("sfu: AddTrack did not reuse the transceiver of mid %s", t.Mid())
		}
		return s, nil
	}
	t, err := p.sub.AddTransceiverFromTrack(d, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, err
	}
	return t.Sender(), nil
}

// reusable returns the transceiver of the given kind that a new track may
// take, or nil if there is none: the first one that both the protocol and
// Pion's AddTrack (v4.2.26, RTPTransceiver.isSendAllowed) would reuse.
// Called with subMu held, so that neither the client's answer nor p.freed
// changes meanwhile.
//
// The protocol allows a transceiver without a sender whose inactive state
// the client has accepted (not in p.freed). AddTrack takes the first
// transceiver of the kind without a sender whose direction, as last
// negotiated, does not send: the SFU always offers, so that is the
// client's last answer read the other way round. Where that answer is
// not known (the transceiver was never answered, or the answer left it
// out), reusable does not guess and returns nil: a fresh m-section is
// always correct.
func (p *Participant) reusable(kind webrtc.RTPCodecType) *webrtc.RTPTransceiver {
	var answered map[string]webrtc.RTPTransceiverDirection
	for _, t := range p.sub.GetTransceivers() {
		if t.Kind() != kind || t.Sender() != nil {
			continue
		}
		if answered == nil {
			answered = answeredDirections(p.sub.CurrentRemoteDescription())
		}
		dir, ok := answered[t.Mid()]
		switch {
		case !ok:
			return nil
		case dir == webrtc.RTPTransceiverDirectionRecvonly || dir == webrtc.RTPTransceiverDirectionSendrecv:
			continue // the client still receives there: AddTrack skips it, and it is in p.freed
		}
		if _, unsettled := p.freed[t]; unsettled || t.Direction() != webrtc.RTPTransceiverDirectionInactive {
			return nil // AddTrack would take it, the protocol not
		}
		return t
	}
	return nil
}

// answeredDirections returns the direction of each m-section of the
// client's answer by mid, as Pion reads it (a media-level attribute, else
// a session-level one, else sendrecv). It returns an empty map for no
// answer, or one that does not parse.
func answeredDirections(answer *webrtc.SessionDescription) map[string]webrtc.RTPTransceiverDirection {
	dirs := make(map[string]webrtc.RTPTransceiverDirection)
	if answer == nil {
		return dirs
	}
	var sd sdp.SessionDescription // not answer.Unmarshal: that writes to what Pion reads
	if err := sd.UnmarshalString(answer.SDP); err != nil {
		return dirs
	}
	direction := func(attrs []sdp.Attribute) webrtc.RTPTransceiverDirection {
		for _, a := range attrs {
			if d := webrtc.NewRTPTransceiverDirection(a.Key); d != webrtc.RTPTransceiverDirectionUnknown {
				return d
			}
		}
		return webrtc.RTPTransceiverDirectionUnknown
	}
	session := direction(sd.Attributes)
	if session == webrtc.RTPTransceiverDirectionUnknown {
		session = webrtc.RTPTransceiverDirectionSendrecv
	}
	for _, m := range sd.MediaDescriptions {
		mid, ok := m.Attribute(sdp.AttrKeyMID)
		if !ok {
			continue
		}
		d := direction(m.Attributes)
		if d == webrtc.RTPTransceiverDirectionUnknown {
			d = session
		}
		dirs[mid] = d
	}
	return dirs
}

// msidTrack returns the track id of an "a=msid:<stream> <track>" value.
func msidTrack(v string, ok bool) string {
	if !ok {
		return ""
	}
	if _, track, found := strings.Cut(v, " "); found {
		return track
	}
	return ""
}
