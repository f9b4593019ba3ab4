package turnrelay

import (
	"net"
	"net/netip"
	"sync"

	"golang.org/x/time/rate"
)

// relayConn is an allocation's relay socket: it passes datagrams to and
// from our own media addresses only, within the allocation's bitrate, and
// leaves its session when closed.
type relayConn struct {
	*net.UDPConn
	r         *Relay
	sess      string
	lim       *rate.Limiter // nil: no cap
	stopTimer func() bool   // guarded by r.mu
	once      sync.Once
}

func newRelayConn(r *Relay, sess string, pc *net.UDPConn) *relayConn {
	c := &relayConn{UDPConn: pc, r: r, sess: sess}
	if b := r.cfg.MaxBitrate; b > 0 {
		perSec := b / 8
		// A second's worth in a burst (a keyframe), and at least one
		// datagram of any size.
		c.lim = rate.NewLimiter(rate.Limit(perSec), max(perSec, 64<<10))
	}
	return c
}

// allow spends n bytes of the allocation's budget.
func (c *relayConn) allow(n int) bool {
	if c.lim == nil || c.lim.AllowN(c.r.cfg.Now(), n) {
		c.r.stats.relayedBytes.Add(uint64(n))
		return true
	}
	c.r.stats.droppedRate.Add(1)
	return false
}

// ReadFrom returns the next datagram from one of our media addresses.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.UDPConn.ReadFromUDPAddrPort(p)
		if err != nil {
			return n, nil, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if pub, ok := c.r.toPub[from.Addr()]; ok {
			from = netip.AddrPortFrom(pub, from.Port())
		}
		if !c.r.peers[from] {
			c.r.stats.droppedPeer.Add(1)
			continue
		}
		if !c.allow(n) {
			continue
		}
		return n, net.UDPAddrFromAddrPort(from), nil
	}
}

// WriteTo sends p to addr if it is one of our media addresses. A datagram
// it drops is reported as sent: to the client, relayed UDP may be lost.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		c.r.stats.droppedPeer.Add(1)
		return len(p), nil
	}
	to := ua.AddrPort()
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	if !c.r.peers[to] {
		c.r.stats.droppedPeer.Add(1)
		return len(p), nil
	}
	if !c.allow(len(p)) {
		return len(p), nil
	}
	if loc, ok := c.r.toLoc[to.Addr()]; ok {
		to = netip.AddrPortFrom(loc, to.Port())
	}
	return c.UDPConn.WriteToUDPAddrPort(p, to)
}

// Close closes the socket (the TURN server then deletes the allocation)
// and leaves the session.
func (c *relayConn) Close() error {
	var err error
	c.once.Do(func() {
		if stop := c.r.unregister(c.sess, c); stop != nil {
			stop()
		}
		err = c.UDPConn.Close()
	})
	return err
}
