package client

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/internal/inactive"
	"github.com/lethe-rtc/lethe/signaling"
)

// Join enters a room. A refusal is returned as a *signaling.CodedError with
// the server's code (use errors.As).
func (c *Client) Join(ctx context.Context, j signaling.Join) (*signaling.Joined, error) {
	if j.Data {
		c.enableData() // before the subscriber PeerConnection is made
	}
	env, err := c.Request(ctx, signaling.TypeJoin, j)
	if err != nil {
		return nil, fmt.Errorf("client: join: %w", err)
	}
	if env.Type != signaling.TypeJoined {
		return nil, fmt.Errorf("client: join: %w %q", ErrUnexpectedReply, env.Type)
	}
	var joined signaling.Joined
	if err := json.Unmarshal(env.Data, &joined); err != nil {
		return nil, fmt.Errorf("client: join: %w", err)
	}
	return &joined, nil // its state is the client's already: onReply
}

// onReply records what a reply to one of the client's requests changes
// in the session, on the reader goroutine, before the reply reaches its
// caller and before the next message is read: the server's subscriber
// offer can follow joined at once, and its PeerConnection must be made
// with the TURN relays joined named (a relay-only client gathers nothing
// without them), not with those of before the caller woke up.
func (c *Client) onReply(env signaling.Envelope) {
	switch env.Type {
	case signaling.TypeJoined:
		var joined signaling.Joined
		if json.Unmarshal(env.Data, &joined) != nil {
			return // Join reports it
		}
		c.mu.Lock()
		c.participantID = joined.ParticipantID
		c.permissions = joined.Permissions
		if !c.noRelay {
			c.iceServers = iceServers(joined.IceServers, c.relayTCP)
		}
		c.mu.Unlock()
		c.setDataInfo(joined.Data)
	case signaling.TypeRoleSwitched:
		var rs signaling.RoleSwitched
		if json.Unmarshal(env.Data, &rs) != nil {
			return // SwitchRole reports it
		}
		c.mu.Lock()
		c.permissions = rs.Permissions
		c.mu.Unlock()
	}
}

// Permissions returns what this participant may send and receive, as the
// server said in joined (or the last roleSwitched).
func (c *Client) Permissions() signaling.Permissions {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.permissions
}

// SwitchRole changes this participant's role (anchor or audience). Where
// the application requires one, becoming an anchor needs a fresh
// privateMapKey; pass "" otherwise.
func (c *Client) SwitchRole(ctx context.Context, role signaling.Role, privateMapKey string) error {
	env, err := c.Request(ctx, signaling.TypeSwitchRole, signaling.SwitchRole{Role: role, PrivateMapKey: privateMapKey})
	if err != nil {
		return fmt.Errorf("client: switchRole: %w", err)
	}
	var rs signaling.RoleSwitched
	if env.Type != signaling.TypeRoleSwitched || json.Unmarshal(env.Data, &rs) != nil {
		return fmt.Errorf("client: switchRole: %w %q", ErrUnexpectedReply, env.Type)
	}
	return nil // its permissions are the client's already: onReply
}

// mayPublish refuses, before anything is offered, a track of a kind the
// server said this participant may not send: a refused offer would leave
// the publisher PeerConnection waiting for an answer (Pion cannot roll a
// local offer back).
func (c *Client) mayPublish(tracks []webrtc.TrackLocal, screen bool) error {
	c.mu.Lock()
	send := c.permissions.Send
	joined := c.participantID != ""
	c.mu.Unlock()
	if !joined || send == nil {
		return nil // not joined, or no permissions given: the server answers for itself
	}
	for _, t := range tracks {
		kind := t.Kind().String()
		if screen && t.Kind() == webrtc.RTPCodecTypeVideo {
			kind = "screen"
		}
		if !slices.Contains(send, kind) {
			return &signaling.CodedError{Code: signaling.CodeNotAllowed, Detail: "this participant may not send " + kind}
		}
	}
	return nil
}

// ParticipantID is the id the server gave this client in joined.
func (c *Client) ParticipantID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.participantID
}

// ServerTrackID returns the server's id for one of this client's published
// tracks, given the local track id, once trackPublished has arrived.
func (c *Client) ServerTrackID(localID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.trackIDs[localID]
	return id, ok
}

// OnTrack sets the handler for remote tracks arriving on the subscriber
// PeerConnection (stream id = participant id, track id = server track id).
// Each call runs on its own goroutine and must read the track until it
// ends: Pion records a packet for the transport-wide congestion feedback
// only as it is read, so a track left unread looks lost to the server,
// which then lowers what it sends this client (unsubscribe from tracks
// you do not want instead). Tracks that arrive while no handler is set
// are read and dropped. Close
// waits for running handlers. When the server reuses an m-section for a
// new track, the handler is called again with a new TrackRemote (the old
// one has ended by then); packets on SSRCs that no offer declares never
// become tracks.
func (c *Client) OnTrack(f func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) {
	c.mu.Lock()
	c.onTrack = f
	c.mu.Unlock()
}

func (c *Client) handleTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	// A packet on an SSRC that the last offer does not declare (a
	// straggler of a track the server has just removed) makes Pion set up
	// a track of its own, on a new transceiver without a mid. It is no
	// track of the room: read it to its end and drop what comes.
	x := r.RTPTransceiver()
	madeUp := x == nil || x.Mid() == ""
	c.mu.Lock()
	h := c.onTrack
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(2)
	c.mu.Unlock()
	defer c.wg.Done()
	go func() {
		defer c.wg.Done()
		readRTCP(t, r)
	}()
	if madeUp || h == nil {
		// Read it anyway: Pion records a packet for the transport-wide
		// feedback only as it is read, and a track left unread would
		// have all its packets reported lost, so that the server's
		// estimate of this client's downlink would collapse.
		drain(t)
		return
	}
	h(t, r)
}

// readRTCP reads t's RTCP (the server's sender reports) until it ends:
// Pion's receiver reports echo a sender report only once it has been
// read, and from that echo the server reckons this client's round-trip
// time, as a browser's reports let it.
func readRTCP(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	for {
		var err error
		if rid := t.RID(); rid != "" {
			_, _, err = r.ReadSimulcastRTCP(rid)
		} else {
			_, _, err = r.ReadRTCP()
		}
		if err != nil {
			return
		}
	}
}

// drain reads t until it ends.
func drain(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
	}
}

// rtcpHandler is a track that wants the RTCP its sender receives, such as
// a Track (its Source answers PLI and FIR with a keyframe and counts NACKs).
type rtcpHandler interface {
	HandleRTCP(pkts []rtcp.Packet)
}

// Publish adds tracks to the publisher PeerConnection and negotiates them
// with the server (offer → answer). Tracks that implement
// HandleRTCP([]rtcp.Packet) (like *Track) get the RTCP the server sends
// for them: a Track answers PLI and FIR with a keyframe. On failure the
// tracks are removed again.
func (c *Client) Publish(ctx context.Context, tracks ...webrtc.TrackLocal) error {
	return c.publish(ctx, false, nil, tracks)
}

// PublishScreen publishes video tracks as the sub-stream (a screen share,
// for instance): the server announces them with screen=true, and only
// participants with the sub-stream privileges may send or receive them.
func (c *Client) PublishScreen(ctx context.Context, tracks ...webrtc.TrackLocal) error {
	return c.publish(ctx, true, nil, tracks)
}

// PublishSimulcast publishes a simulcast track (one m-section, one a=rid
// per layer, a=simulcast:send listing them lowest first) and, in the same
// negotiation, any other tracks (its audio, say) as Publish does. Each
// layer gets the RTCP of its own SSRC: it answers PLI and FIR with a
// keyframe of its own. The server's layersWanted for the track stops and
// resumes its layers (dynacast) before the event reaches Events.
func (c *Client) PublishSimulcast(ctx context.Context, video *SimulcastTrack, others ...webrtc.TrackLocal) error {
	if video == nil || len(video.layers) == 0 {
		return ErrNoTracks
	}
	return c.publish(ctx, false, video, others)
}

func (c *Client) publish(ctx context.Context, screen bool, sim *SimulcastTrack, tracks []webrtc.TrackLocal) error {
	if len(tracks) == 0 && sim == nil {
		return ErrNoTracks
	}
	check := tracks
	if sim != nil {
		check = append([]webrtc.TrackLocal{sim.layers[0]}, tracks...)
	}
	if err := c.mayPublish(check, screen); err != nil {
		return fmt.Errorf("client: publish: %w", err)
	}
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	if screen {
		for _, t := range tracks {
			if t.Kind() == webrtc.RTPCodecTypeVideo {
				c.screenIDs = append(c.screenIDs, t.ID()) // guarded by pubMu
			}
		}
	}
	p, err := c.publisher()
	if err != nil {
		return fmt.Errorf("client: publish: %w", err)
	}
	senders := make([]*webrtc.RTPSender, 0, len(tracks)+1)
	var simX *webrtc.RTPTransceiver
	if sim != nil {
		simX, err = addSimulcast(p, sim)
		if err != nil {
			return fmt.Errorf("client: publish: %w", err)
		}
		senders = append(senders, simX.Sender())
	}
	for _, t := range tracks {
		tr, err := p.pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{
			Direction: webrtc.RTPTransceiverDirectionSendonly,
		})
		if err != nil {
			removeSenders(p, senders)
			return fmt.Errorf("client: publish: %w", err)
		}
		senders = append(senders, tr.Sender())
	}
	if sim != nil {
		c.mu.Lock()
		c.simulcast[sim.ID()] = sim
		c.mu.Unlock()
	}
	if err := c.negotiatePublisher(ctx, p, false); err != nil {
		removeSenders(p, senders)
		if sim != nil {
			c.mu.Lock()
			delete(c.simulcast, sim.ID())
			c.mu.Unlock()
		}
		// Pion cannot roll a local offer back. A publisher that never
		// completed a negotiation is simply started afresh; one that has
		// published before stays as it is.
		if p.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer && p.pc.CurrentRemoteDescription() == nil {
			c.dropPublisher(p)
		}
		return fmt.Errorf("client: publish: %w", err)
	}
	if sim != nil {
		s := senders[0]
		senders = senders[1:]
		for _, l := range sim.layers {
			l.setMid(simX.Mid())
			c.goTracked(func() { readLayerRTCP(s, l) })
		}
	}
	for i, s := range senders {
		h, _ := tracks[i].(rtcpHandler)
		c.goTracked(func() { readSenderRTCP(s, h) })
	}
	return nil
}

// addSimulcast adds a simulcast track's transceiver: its lowest layer
// first, the others as further encodings of the same sender.
func addSimulcast(p *peer, sim *SimulcastTrack) (*webrtc.RTPTransceiver, error) {
	x, err := p.pc.AddTransceiverFromTrack(sim.layers[0], webrtc.RTPTransceiverInit{
		Direction: webrtc.RTPTransceiverDirectionSendonly,
	})
	if err != nil {
		return nil, err
	}
	for _, l := range sim.layers[1:] {
		if err := x.Sender().AddEncoding(l); err != nil {
			_ = p.pc.RemoveTrack(x.Sender())
			return nil, fmt.Errorf("simulcast layer %s: %w", l.RID(), err)
		}
	}
	return x, nil
}

// readLayerRTCP drains the RTCP of one simulcast layer's SSRC and hands
// it to that layer's source, until the sender stops.
func readLayerRTCP(s *webrtc.RTPSender, l *LayerTrack) {
	buf := make([]byte, 1500)
	rid := l.RID()
	for {
		n, _, err := s.ReadSimulcast(buf, rid)
		if err != nil {
			return
		}
		if pkts, err := rtcp.Unmarshal(buf[:n]); err == nil {
			l.HandleRTCP(pkts)
		}
	}
}

func removeSenders(p *peer, senders []*webrtc.RTPSender) {
	for _, s := range senders {
		_ = p.pc.RemoveTrack(s)
	}
}

// negotiatePublisher runs one offer/answer exchange on the publisher, with
// new ICE credentials if iceRestart. Called with pubMu held.
func (c *Client) negotiatePublisher(ctx context.Context, p *peer, iceRestart bool) error {
	var opts *webrtc.OfferOptions
	if iceRestart {
		opts = &webrtc.OfferOptions{ICERestart: true}
		p.hold() // Pion gathers the new generation in CreateOffer
	}
	offer, err := p.pc.CreateOffer(opts)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("local description: %w", err)
	}
	env, err := c.call(ctx, signaling.TypeOffer,
		signaling.SDP{Target: signaling.TargetPublisher, SDP: sendOnlyRIDs(offer.SDP), ScreenTrackIDs: c.screenIDs}, p.sdpSent)
	if err != nil {
		return err
	}
	if env.Type != signaling.TypeAnswer {
		return fmt.Errorf("%w %q", ErrUnexpectedReply, env.Type)
	}
	var m signaling.SDP
	if err := json.Unmarshal(env.Data, &m); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	if m.Target != signaling.TargetPublisher {
		return fmt.Errorf("answer: %w", ErrWrongTarget)
	}
	return p.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
}

// readSenderRTCP drains a sender's RTCP (the interceptors need it read)
// and hands it to the track, if it wants it, until the sender stops.
func readSenderRTCP(s *webrtc.RTPSender, h rtcpHandler) {
	buf := make([]byte, 1500)
	for {
		n, _, err := s.Read(buf)
		if err != nil {
			return
		}
		if h == nil {
			continue
		}
		if pkts, err := rtcp.Unmarshal(buf[:n]); err == nil {
			h.HandleRTCP(pkts)
		}
	}
}

// dropPublisher closes p and forgets it, so the next Publish starts anew.
func (c *Client) dropPublisher(p *peer) {
	c.mu.Lock()
	if c.pub == p {
		c.pub = nil
	}
	c.mu.Unlock()
	_ = p.pc.Close()
}

func (c *Client) publisher() (*peer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.pub == nil {
		p, err := newPeer(c.api, c.rtcConfigLocked(), signaling.TargetPublisher, c.sendCandidate)
		if err != nil {
			return nil, err
		}
		c.watchICE(p)
		c.pub = p
	}
	return c.pub, nil
}

func (c *Client) subscriber() (*peer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.sub == nil {
		p, err := newPeer(c.api, c.rtcConfigLocked(), signaling.TargetSubscriber, c.sendCandidate)
		if err != nil {
			return nil, err
		}
		c.watchICE(p)
		p.pc.OnTrack(c.handleTrack)
		if err := c.attachDataLocked(p); err != nil {
			_ = p.pc.Close()
			return nil, err
		}
		c.sub = p
	}
	return c.sub, nil
}

// onOffer answers a server offer for the subscriber PeerConnection. The
// server acks the answer; an error reply shows up as an Event.
func (c *Client) onOffer(data json.RawMessage) error {
	var m signaling.SDP
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("client: offer: %w", err)
	}
	if m.Target != signaling.TargetSubscriber {
		return fmt.Errorf("client: offer: %w", ErrWrongTarget)
	}
	p, err := c.subscriber()
	if err != nil {
		return fmt.Errorf("client: offer: %w", err)
	}
	// An offer that restarts ICE makes Pion gather anew in
	// SetRemoteDescription: those candidates go after the answer.
	p.hold()
	defer p.sdpSent()
	// The server turns the m-section of a removed track inactive and may
	// later reuse it for a new track; Pion would stop the transceiver of
	// every inactive m-section, each time an offer lists it, and then never
	// deliver the new track (see internal/inactive).
	sdp, _ := inactive.Rewrite(m.SDP, inactive.KnownMids(p.pc))
	if err := p.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("client: offer: %w", err)
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("client: create answer: %w", err)
	}
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("client: answer: %w", err)
	}
	b, err := signaling.Encode(signaling.TypeAnswer, c.nextID.Add(1),
		signaling.SDP{Target: signaling.TargetSubscriber, SDP: answer.SDP})
	if err != nil {
		return fmt.Errorf("client: answer: %w", err)
	}
	return c.send(context.Background(), b)
}

func (c *Client) onCandidate(data json.RawMessage) error {
	var m signaling.Candidate
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("client: candidate: %w", err)
	}
	var p *peer
	switch m.Target {
	case signaling.TargetSubscriber:
		var err error
		if p, err = c.subscriber(); err != nil {
			return fmt.Errorf("client: candidate: %w", err)
		}
	case signaling.TargetPublisher:
		c.mu.Lock()
		p = c.pub
		c.mu.Unlock()
		if p == nil {
			return fmt.Errorf("client: publisher candidate before any offer: %w", ErrWrongTarget)
		}
	default:
		return fmt.Errorf("client: candidate: %w", ErrWrongTarget)
	}
	return p.addRemoteCandidate(m.Candidate)
}

// Subscribe asks for tracks; the server acks, then renegotiates the
// subscriber PeerConnection.
func (c *Client) Subscribe(ctx context.Context, trackIDs ...string) error {
	return c.expectAck(ctx, signaling.TypeSubscribe, signaling.TrackIDs{TrackIDs: trackIDs})
}

// Unsubscribe stops tracks; the server acks, then renegotiates.
func (c *Client) Unsubscribe(ctx context.Context, trackIDs ...string) error {
	return c.expectAck(ctx, signaling.TypeUnsubscribe, signaling.TrackIDs{TrackIDs: trackIDs})
}

// SetTrackSettings says how this client wants one track it receives
// (by server track id): its highest layer, the size it is shown at, its
// frame rate, or paused. The server acks; an unknown track is an error
// with code 4001.
func (c *Client) SetTrackSettings(ctx context.Context, s signaling.TrackSettings) error {
	return c.expectAck(ctx, signaling.TypeTrackSettings, s)
}

// Mute pauses or resumes one of this client's tracks, by server track id
// (see ServerTrackID).
func (c *Client) Mute(ctx context.Context, trackID string, muted bool) error {
	return c.expectAck(ctx, signaling.TypeMute, signaling.Mute{TrackID: trackID, Muted: muted})
}

func (c *Client) expectAck(ctx context.Context, typ string, data any) error {
	env, err := c.Request(ctx, typ, data)
	if err != nil {
		return fmt.Errorf("client: %s: %w", typ, err)
	}
	if env.Type != signaling.TypeAck {
		return fmt.Errorf("client: %s: %w %q", typ, ErrUnexpectedReply, env.Type)
	}
	return nil
}

// Ping measures one signaling round trip.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	start := c.now()
	env, err := c.Request(ctx, signaling.TypePing, nil)
	if err != nil {
		return 0, fmt.Errorf("client: ping: %w", err)
	}
	if env.Type != signaling.TypePong {
		return 0, fmt.Errorf("client: ping: %w %q", ErrUnexpectedReply, env.Type)
	}
	return c.now().Sub(start), nil
}

// Leave tells the server the client is going, waits until the server has
// said bye and closed the connection (or ctx ends), then Closes.
func (c *Client) Leave(ctx context.Context) error {
	b, err := signaling.Encode(signaling.TypeLeave, c.nextID.Add(1), nil)
	if err == nil {
		err = c.send(ctx, b)
	}
	if err == nil {
		select {
		case <-c.done:
		case <-ctx.Done():
			err = fmt.Errorf("client: leave: %w", ctx.Err())
		}
	}
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// iceServers turns joined's iceServers into Pion's; with tcpOnly, only
// their TURN-over-TCP URLs.
func iceServers(in []signaling.ICEServer, tcpOnly bool) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		urls := s.URLs
		if tcpOnly {
			urls = nil
			for _, u := range s.URLs {
				if strings.HasSuffix(u, "?transport=tcp") {
					urls = append(urls, u)
				}
			}
		}
		if len(urls) > 0 {
			out = append(out, webrtc.ICEServer{URLs: urls, Username: s.Username, Credential: s.Credential})
		}
	}
	return out
}

// rtcConfigLocked is the configuration of a new PeerConnection: the
// server's TURN relays from joined, and only them with ForceRelay. The
// caller holds c.mu.
func (c *Client) rtcConfigLocked() webrtc.Configuration {
	cfg := webrtc.Configuration{ICEServers: c.iceServers}
	if c.forceRelay {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return cfg
}
