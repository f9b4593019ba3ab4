package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/lethe-rtc/lethe/internal/queue"
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

	mu         sync.Mutex // guards the fields below
	closed     bool
	subscribed map[string]bool // explicit subscribe (or unsubscribe=false)
	down       map[string]*downTrack
	published  int

	pubNegotiate sync.Mutex // one publisher offer at a time
	subMu        sync.Mutex // serialises subscriber PeerConnection changes
	needOffer    bool       // guarded by subMu: the track set changed since the last offer

	kickCh chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
}

func newParticipant(s *SFU, cfg ParticipantConfig, ev Events) (*Participant, error) {
	p := &Participant{
		id: newID("PA_"), cfg: cfg, s: s, ev: ev,
		queue:      queue.New[outPacket](s.cfg.SubscriberQueue),
		subscribed: make(map[string]bool),
		down:       make(map[string]*downTrack),
		kickCh:     make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	p.log = s.cfg.Logger.With("participant", p.id)
	var err error
	if p.pub, err = s.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		return nil, fmt.Errorf("sfu: publisher peer connection: %w", err)
	}
	if p.sub, err = s.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		_ = p.pub.Close()
		return nil, fmt.Errorf("sfu: subscriber peer connection: %w", err)
	}
	for side, pc := range map[Side]*webrtc.PeerConnection{Publisher: p.pub, Subscriber: p.sub} {
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c == nil {
				p.ev.Candidate(side, nil)
				return
			}
			init := c.ToJSON()
			p.ev.Candidate(side, &init)
		})
		pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
			if st == webrtc.PeerConnectionStateFailed {
				p.closeAsync(ErrConnectionFailed)
			}
		})
	}
	p.pub.OnTrack(p.onTrack)
	return p, nil
}

// discard releases a participant that never joined a room.
func (p *Participant) discard() {
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
	go p.writeLoop()
	go p.reconcileLoop()
	p.kick()
}

// HandleOffer applies the client's offer on the publisher PeerConnection
// and returns the answer. Candidates follow through Events.Candidate.
func (p *Participant) HandleOffer(sdp string) (string, error) {
	if !p.cfg.CanPublish {
		return "", ErrNotAllowed
	}
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
	media := 0
	for _, m := range parsed.MediaDescriptions {
		if m.MediaName.Media == "audio" || m.MediaName.Media == "video" {
			media++
		}
	}
	if media > p.s.cfg.MaxTracks {
		return "", ErrTooManyTracks
	}
	if err := p.pub.SetRemoteDescription(offer); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	answer, err := p.pub.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if err := p.pub.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	return answer.SDP, nil
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
	if err := p.sub.SetRemoteDescription(answer); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if p.needOffer {
		p.kick()
	}
	return nil
}

// AddCandidate applies a remote ICE candidate; nil ends the candidates.
func (p *Participant) AddCandidate(side Side, c *webrtc.ICECandidateInit) error {
	pc := p.pub
	if side == Subscriber {
		pc = p.sub
	}
	if c == nil {
		return nil
	}
	if err := pc.AddICECandidate(*c); err != nil {
		return fmt.Errorf("%w: candidate: %v", ErrBadSDP, err)
	}
	return nil
}

// Subscribe asks for tracks; Unsubscribe stops them. Unknown ids fail
// with ErrUnknownTrack and change nothing.
func (p *Participant) Subscribe(ids []string) error { return p.setSubscribed(ids, true) }

// Unsubscribe stops receiving the given tracks.
func (p *Participant) Unsubscribe(ids []string) error { return p.setSubscribed(ids, false) }

func (p *Participant) setSubscribed(ids []string, on bool) error {
	for _, id := range ids {
		if u := p.room.track(id); u == nil || u.owner == p {
			return fmt.Errorf("%w: %s", ErrUnknownTrack, id)
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

// wants reports whether p should receive track id. Called with room.mu held.
func (p *Participant) wants(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on, ok := p.subscribed[id]; ok {
		return on
	}
	return p.cfg.AutoSubscribe
}

// Mute pauses or resumes one of p's own tracks for everyone.
func (p *Participant) Mute(trackID string, muted bool) error {
	u := p.room.track(trackID)
	if u == nil || u.owner != p {
		return fmt.Errorf("%w: %s", ErrUnknownTrack, trackID)
	}
	if u.setMuted(muted) {
		p.room.muted(u)
	}
	return nil
}

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
	p.mu.Unlock()

	p.room.leave(p)
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

// onTrack runs when a publisher's track delivers its first packet.
func (p *Participant) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closed || p.published >= p.s.cfg.MaxTracks {
		p.mu.Unlock()
		_ = recv.Stop()
		return
	}
	p.published++
	p.mu.Unlock()
	u := newUpTrack(p, remote, recv)
	if !p.room.publish(u) {
		u.close()
		return
	}
	p.s.wg.Add(1)
	go func() {
		defer p.s.wg.Done()
		u.run()
		p.room.unpublish(u)
		p.mu.Lock()
		p.published--
		p.mu.Unlock()
	}()
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
		if err := p.sub.RemoveTrack(d.sender); err != nil {
			return fmt.Errorf("remove track: %w", err)
		}
		changed = true
	}
	for _, u := range add {
		d := newDownTrack(u, p)
		sender, err := p.sub.AddTrack(d)
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
	if !p.needOffer || p.sub.SignalingState() != webrtc.SignalingStateStable {
		return nil // HandleAnswer kicks again once the outstanding offer is answered
	}
	offer, err := p.sub.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	if err := p.sub.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set offer: %w", err)
	}
	p.needOffer = false
	p.ev.Offer(offer.SDP)
	return nil
}

// writeLoop sends queued packets to this subscriber.
func (p *Participant) writeLoop() {
	defer p.wg.Done()
	batch := make([]queue.Item[outPacket], 32)
	for {
		n, ok := p.queue.Pop(batch)
		if !ok {
			return
		}
		now := p.s.cfg.Now()
		for i := range batch[:n] {
			batch[i].Dst.d.write(batch[i].Data, batch[i].Dst.resume, now)
		}
	}
}
