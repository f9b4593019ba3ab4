package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/lethe-rtc/lethe/signaling"
)

// ICE restarts (docs/protocol.md 3.3, 3.9). Each side restarts ICE where
// it offers: the client on its publisher, by an offer with new
// credentials; the server on the subscriber, by an offer of its own, which
// the client answers as any other (Pion restarts its side when an offer's
// credentials change). Either asks the other for the PeerConnection the
// other offers on: the server sends restartIce for the publisher, the
// client sends restartIce for the subscriber.
//
// By itself the client restarts (or asks for a restart of) a PeerConnection
// that stays disconnected for Options.ICERestartDelay or fails, and the
// publisher when the server asks; at most Options.ICERestarts times before
// the PeerConnection connects again, one restart at a time.

// Defaults of Options.
const (
	DefaultICERestarts     = 3
	DefaultICERestartDelay = 2 * time.Second
	iceRestartTimeout      = 10 * time.Second // one restart's signaling
)

// RestartICE restarts ICE on one of the client's PeerConnections: the
// publisher by offering with new ICE credentials, the subscriber by asking
// the server, which then offers with new credentials. The tracks, their
// SSRCs and sequence numbers go on. The client does this by itself when a
// PeerConnection stays disconnected (Options.ICERestarts); call it when
// the network is known to have changed.
func (c *Client) RestartICE(ctx context.Context, target signaling.Target) error {
	if err := c.restartICE(ctx, target); err != nil {
		return fmt.Errorf("client: restart ICE: %w", err)
	}
	return nil
}

func (c *Client) restartICE(ctx context.Context, target signaling.Target) error {
	switch target {
	case signaling.TargetPublisher:
		c.pubMu.Lock()
		defer c.pubMu.Unlock()
		c.mu.Lock()
		p := c.pub
		c.mu.Unlock()
		if p == nil || p.pc.CurrentRemoteDescription() == nil {
			return ErrNotNegotiated
		}
		return c.negotiatePublisher(ctx, p, true)
	case signaling.TargetSubscriber:
		return c.expectAck(ctx, signaling.TypeRestartICE, signaling.RestartICE{Target: target})
	}
	return ErrWrongTarget
}

// watchICE follows p's ICE connection state and restarts it when it stays
// disconnected or fails.
func (c *Client) watchICE(p *peer) {
	p.pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		p.mu.Lock()
		if p.downTimer != nil {
			p.downTimer.Stop()
			p.downTimer = nil
		}
		switch st {
		case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
			p.restarts = 0
		case webrtc.ICEConnectionStateDisconnected:
			p.downTimer = time.AfterFunc(c.iceRestartDelay, func() { c.autoRestart(p, "disconnected") })
		}
		p.mu.Unlock()
		if st == webrtc.ICEConnectionStateFailed {
			c.autoRestart(p, "failed")
		}
	})
}

// autoRestart restarts p's ICE on a goroutine of its own, unless one is
// under way, the client is closed or p's restarts are used up.
func (c *Client) autoRestart(p *peer, why string) {
	if c.iceRestarts < 0 {
		return
	}
	p.mu.Lock()
	if p.restarting || p.restarts >= c.iceRestarts {
		p.mu.Unlock()
		return
	}
	p.restarting = true
	p.restarts++
	p.mu.Unlock()
	started := c.goTracked(func() {
		defer func() {
			p.mu.Lock()
			p.restarting = false
			p.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), iceRestartTimeout)
		defer cancel()
		c.log.Info("client: ICE restart", logKeyTarget, string(p.target), logKeyWhy, why)
		if err := c.restartICE(ctx, p.target); err != nil {
			c.log.Warn("client: ICE restart failed", logKeyTarget, string(p.target), logKeyError, err)
		}
	})
	if !started {
		p.mu.Lock()
		p.restarting = false
		p.mu.Unlock()
	}
}

// onRestartICE handles the server's request to restart the publisher's
// ICE, then passes it on as an Event.
func (c *Client) onRestartICE(env signaling.Envelope) {
	var r signaling.RestartICE
	if err := json.Unmarshal(env.Data, &r); err != nil || r.Target != signaling.TargetPublisher {
		c.localError(fmt.Errorf("client: %s: %w", env.Type, ErrWrongTarget))
		return
	}
	c.mu.Lock()
	p := c.pub
	c.mu.Unlock()
	if p != nil {
		c.autoRestart(p, "asked by the server")
	}
	c.emit(Event{Type: env.Type, Data: &r})
}

// SelectedCandidatePair returns the ICE candidate pair one of the client's
// PeerConnections sends on, nil while it has none (before it connects,
// during a restart's checks). An ICE restart gathers new local candidates,
// so the pair's local port changes with it.
func (c *Client) SelectedCandidatePair(target signaling.Target) (*webrtc.ICECandidatePair, error) {
	c.mu.Lock()
	p := c.pub
	if target == signaling.TargetSubscriber {
		p = c.sub
	}
	c.mu.Unlock()
	if p == nil {
		return nil, ErrNotNegotiated
	}
	pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil {
		return nil, fmt.Errorf("client: selected candidate pair: %w", err)
	}
	return pair, nil
}
