package client

import (
	"errors"
	"fmt"
)

// The ways a participant goes away without a leave. A server must notice
// each and end the session; tests and soak runs use these to prove it.

// ClosePeerConnections closes both PeerConnections while the signaling
// connection stays open, as a client does whose media stack gave up (or a
// page that closed its peers but not its socket). The server ends such a
// session within its documented timeout; the WebSocket then receives bye.
func (c *Client) ClosePeerConnections() error {
	c.mu.Lock()
	peers := []*peer{c.pub, c.sub}
	c.mu.Unlock()
	var errs []error
	for _, p := range peers {
		if p != nil {
			if err := p.pc.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("client: close peer connections: %w", err)
	}
	return nil
}

// Drop cuts the signaling connection as a crash or a lost network would:
// its TCP connection is closed with no WebSocket close frame and no leave.
// Then the client is closed as by Close (its PeerConnections too).
func (c *Client) Drop() error {
	_ = c.conn.UnderlyingConn().Close()
	return c.Close()
}
