package client

import (
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/signaling"
)

// peer is one of the two PeerConnections with the ICE candidates that wait
// for it: remote ones until the remote description is set, local ones
// until the SDP they belong to has been sent, so the server never sees a
// candidate before its description.
type peer struct {
	target signaling.Target
	pc     *webrtc.PeerConnection
	send   func(signaling.Candidate)

	mu         sync.Mutex
	remoteSet  bool
	remoteQ    []webrtc.ICECandidateInit
	localSent  bool
	localQ     []*webrtc.ICECandidateInit
	restarting bool        // an ICE restart is under way (icerestart.go)
	restarts   int         // ICE restarts since it last connected
	downTimer  *time.Timer // restarts ICE unless it connects first
}

func newPeer(api *webrtc.API, cfg webrtc.Configuration, target signaling.Target, send func(signaling.Candidate)) (*peer, error) {
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s peer connection: %w", target, err)
	}
	p := &peer{target: target, pc: pc, send: send}
	pc.OnICECandidate(p.onLocalCandidate)
	return p, nil
}

func (p *peer) onLocalCandidate(c *webrtc.ICECandidate) {
	var init *webrtc.ICECandidateInit
	if c != nil {
		i := c.ToJSON()
		init = &i
	}
	p.mu.Lock()
	if !p.localSent {
		p.localQ = append(p.localQ, init)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.send(signaling.Candidate{Target: p.target, Candidate: init})
}

// hold holds the local candidates back again until sdpSent: those of an
// ICE restart belong after the SDP with the new credentials, since the
// server drops a candidate whose ufrag it does not know yet.
func (p *peer) hold() {
	p.mu.Lock()
	p.localSent = false
	p.mu.Unlock()
}

// sdpSent releases the local candidates held back until the SDP of this
// PeerConnection was on its way.
func (p *peer) sdpSent() {
	p.mu.Lock()
	q := p.localQ
	p.localQ, p.localSent = nil, true
	p.mu.Unlock()
	for _, c := range q {
		p.send(signaling.Candidate{Target: p.target, Candidate: c})
	}
}

// addRemoteCandidate applies a server candidate, or queues it until the
// remote description is set. A nil candidate (end of gathering) is dropped.
func (p *peer) addRemoteCandidate(c *webrtc.ICECandidateInit) error {
	if c == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.remoteSet {
		p.remoteQ = append(p.remoteQ, *c)
		return nil
	}
	if err := p.pc.AddICECandidate(*c); err != nil {
		return fmt.Errorf("%s candidate: %w", p.target, err)
	}
	return nil
}

// setRemote sets the remote description and applies queued candidates.
func (p *peer) setRemote(d webrtc.SessionDescription) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.pc.SetRemoteDescription(d); err != nil {
		return fmt.Errorf("%s remote description: %w", p.target, err)
	}
	p.remoteSet = true
	q := p.remoteQ
	p.remoteQ = nil
	var first error
	for _, c := range q {
		if err := p.pc.AddICECandidate(c); err != nil && first == nil {
			first = fmt.Errorf("%s candidate: %w", p.target, err)
		}
	}
	return first
}
