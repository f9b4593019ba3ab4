package ssrcgate

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pion/ice/v4"
)

// Gate decides for one PeerConnection which RTP packets reach Pion. The
// zero value allows no RTP at all. It is safe for concurrent use.
type Gate struct {
	allowed atomic.Pointer[[]uint32] // sorted; nil: none
	dropped atomic.Uint64

	// Learned SSRCs: those of simulcast layers, which an offer names by
	// RID only and a packet announces by itself. learnMu serialises
	// learning; learned is replaced whole (sorted), read without a lock.
	learnMu sync.Mutex
	learned atomic.Pointer[[]uint32]
	budget  int // guarded by learnMu: how many more may be learned
	// OnDrop, if set before the gate is used, runs for each dropped
	// packet with the number dropped so far, 1 for the first. It runs on
	// the packet's read path: it must return at once.
	OnDrop func(n uint64)
}

// Allow replaces the SSRCs whose RTP passes. ssrcs is not kept.
func (g *Gate) Allow(ssrcs []uint32) {
	s := slices.Clone(ssrcs)
	slices.Sort(s)
	s = slices.Compact(s)
	g.allowed.Store(&s)
}

// Allowed returns the SSRCs whose RTP passes, sorted. The caller must not
// change them.
func (g *Gate) Allowed() []uint32 {
	if s := g.allowed.Load(); s != nil {
		return *s
	}
	return nil
}

// Learn lets up to n SSRCs that Allow does not name pass as well, each
// from its first packet on: a simulcast layer's SSRC is not in the offer,
// its packets name their RID. Those learned already that are in keep stay
// learned (and count against n); the others are forgotten. keep is not
// kept.
func (g *Gate) Learn(n int, keep []uint32) {
	g.learnMu.Lock()
	defer g.learnMu.Unlock()
	if n <= 0 {
		g.budget = 0
		g.learned.Store(nil) // nothing to learn: unknown SSRCs drop without a lock
		return
	}
	next := []uint32{}
	for _, v := range g.Learned() {
		if slices.Contains(keep, v) && len(next) < n {
			next = append(next, v)
		}
	}
	g.budget = n - len(next)
	g.learned.Store(&next)
}

// Learned returns the SSRCs learned so far, sorted. The caller must not
// change them.
func (g *Gate) Learned() []uint32 {
	if s := g.learned.Load(); s != nil {
		return *s
	}
	return nil
}

// Passing returns the SSRCs whose RTP passes, allowed or learned, sorted.
func (g *Gate) Passing() []uint32 {
	a, l := g.Allowed(), g.Learned()
	if len(l) == 0 {
		return a
	}
	all := append(slices.Clone(a), l...)
	slices.Sort(all)
	return slices.Compact(all)
}

// learn takes ssrc in if the budget allows, and reports whether it is
// learned now.
func (g *Gate) learn(ssrc uint32) bool {
	g.learnMu.Lock()
	defer g.learnMu.Unlock()
	cur := g.Learned()
	if _, found := slices.BinarySearch(cur, ssrc); found {
		return true
	}
	if g.budget <= 0 {
		return false
	}
	g.budget--
	next := append(slices.Clone(cur), ssrc)
	slices.Sort(next)
	g.learned.Store(&next)
	return true
}

// Dropped returns how many packets the gate has dropped.
func (g *Gate) Dropped() uint64 { return g.dropped.Load() }

// Pass reports whether the datagram b may go on to Pion: anything that is
// not RTP, and RTP of an allowed SSRC. It counts what it refuses.
func (g *Gate) Pass(b []byte) bool {
	ssrc, ok := rtpSSRC(b)
	if !ok {
		return true
	}
	if s := g.allowed.Load(); s != nil {
		if _, found := slices.BinarySearch(*s, ssrc); found {
			return true
		}
	}
	if s := g.learned.Load(); s != nil {
		if _, found := slices.BinarySearch(*s, ssrc); found {
			return true
		}
		if g.learn(ssrc) {
			return true
		}
	}
	n := g.dropped.Add(1)
	if g.OnDrop != nil {
		g.OnDrop(n)
	}
	return false
}

// rtpSSRC returns the SSRC of an RTP packet, and false for anything else:
// the first byte of RTP and RTCP is 128..191 (RFC 7983), and RTCP's
// packet types 192..223 take the place of RTP's marker bit and payload
// type (RFC 5761 section 4), as Pion's demultiplexer decides.
func rtpSSRC(b []byte) (uint32, bool) {
	if len(b) < 12 || b[0] < 128 || b[0] > 191 || (b[1] >= 192 && b[1] <= 223) {
		return 0, false
	}
	return binary.BigEndian.Uint32(b[8:12]), true
}

// Mux returns inner as one PeerConnection's ICE agent should see it: the
// connections it hands out read through g. Its Close does nothing: inner
// is shared and closed by its owner.
func (g *Gate) Mux(inner ice.UDPMux) ice.UDPMux { return &mux{UDPMux: inner, g: g} }

type mux struct {
	ice.UDPMux
	g *Gate
}

func (m *mux) GetConn(ufrag string, addr net.Addr) (net.PacketConn, error) {
	c, err := m.UDPMux.GetConn(ufrag, addr)
	if err != nil {
		return nil, err
	}
	gc := &conn{PacketConn: c, g: m.g}
	if ap, ok := c.(ice.AddrPortReaderWriter); ok {
		// Keep the agent on the allocation-free path it would have taken.
		return &addrPortConn{conn: gc, ap: ap}, nil
	}
	return gc, nil
}

func (m *mux) Close() error { return nil }

// conn is a connection of the mux whose reads skip what the gate drops.
// What the wrapped connection offers the agent beyond net.PacketConn and
// AddrPortReaderWriter is hidden: for ice.UDPMuxDefault, an abort of a
// write blocked on the shared socket when the agent closes. Writes on the
// SFU's socket do not block in the kernel.
type conn struct {
	net.PacketConn
	g *Gate
}

func (c *conn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || c.g.Pass(b[:n]) {
			return n, addr, err
		}
	}
}

type addrPortConn struct {
	*conn
	ap ice.AddrPortReaderWriter
}

var _ ice.AddrPortReaderWriter = (*addrPortConn)(nil)

func (c *addrPortConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, addr, err := c.ap.ReadFromAddrPort(b)
		if err != nil || c.g.Pass(b[:n]) {
			return n, addr, err
		}
	}
}

func (c *addrPortConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.ap.WriteToAddrPort(b, addr)
}

// TCPMux returns inner (ICE-TCP) as one PeerConnection's ICE agent should
// see it: the connections it hands out read through g, as Mux's do. Its
// Close does nothing: inner is shared and closed by its owner. The
// listener's address stays visible, for Pion's choice of the local
// addresses its TCP candidates stand for.
func (g *Gate) TCPMux(inner ice.TCPMux) ice.TCPMux { return &tcpMux{TCPMux: inner, g: g} }

type tcpMux struct {
	ice.TCPMux
	g *Gate
}

func (m *tcpMux) GetConnByUfrag(ufrag string, isIPv6 bool, local net.IP) (net.PacketConn, error) {
	c, err := m.TCPMux.GetConnByUfrag(ufrag, isIPv6, local)
	if err != nil {
		return nil, err
	}
	return &conn{PacketConn: c, g: m.g}, nil
}

func (m *tcpMux) Close() error { return nil }

// LocalAddr is the listener's, where inner tells it (ice.TCPMuxDefault).
func (m *tcpMux) LocalAddr() net.Addr {
	if a, ok := m.TCPMux.(interface{ LocalAddr() net.Addr }); ok {
		return a.LocalAddr()
	}
	return nil
}
