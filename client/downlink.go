package client

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"

	"github.com/lethe-rtc/lethe/internal/bottleneck"
)

// Downlink is a shaped receive path for the PeerConnections of one API
// (APIConfig.Downlink): every UDP packet they receive passes a bottleneck
// of Rate bit/s — a FIFO that holds at most MaxQueueDelay, dropping at
// its tail beyond — as a slow access link would, adding queueing delay
// and loss a congestion controller reacts to. It shapes UDP only (ICE
// over UDP, host candidates included); TCP and TURN-over-TCP paths pass
// unshaped. Change the rate at any time with SetRate.
type Downlink struct {
	link    *bottleneck.Link
	dropped atomic.Uint64
}

// MaxQueueDelay is the longest a packet waits in a Downlink.
const MaxQueueDelay = bottleneck.DefaultMaxDelay

// downlinkQueue bounds the packets one conn holds (memory): beyond, a
// packet is dropped even when the rate would admit it.
const downlinkQueue = 1024

// NewDownlink returns a Downlink of rate bit/s; 0 is unlimited (shaped
// later with SetRate).
func NewDownlink(rate int) *Downlink {
	return &Downlink{link: bottleneck.New(rate, MaxQueueDelay)}
}

// SetRate changes the rate (bit/s, 0 unlimited) from now on.
func (d *Downlink) SetRate(rate int) { d.link.SetRate(rate) }

// Rate returns the rate in bit/s (0: unlimited).
func (d *Downlink) Rate() int { return d.link.Rate() }

// DownlinkStats counts what a Downlink did.
type DownlinkStats struct {
	Passed, Dropped uint64
}

// Stats returns the packets passed and dropped so far.
func (d *Downlink) Stats() DownlinkStats {
	a, dr := d.link.Stats()
	return DownlinkStats{Passed: a, Dropped: dr + d.dropped.Load()}
}

// shapedNet is the host's network with every UDP socket read through the
// Downlink.
type shapedNet struct {
	transport.Net
	d *Downlink
}

func newShapedNet(d *Downlink) (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &shapedNet{Net: n, d: d}, nil
}

func (n *shapedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return newShapedConn(c, n.d), nil
}

func (n *shapedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	if uc, ok := c.(transport.UDPConn); ok {
		return newShapedConn(uc, n.d), nil
	}
	return c, nil
}

// shapedConn reads its socket on a goroutine of its own as fast as
// packets come, admits each to the bottleneck and hands it to ReadFrom
// once the bottleneck lets it go. Buffers come from a fixed pool: nothing
// grows.
type shapedConn struct {
	transport.UDPConn
	d *Downlink

	q      chan shapedPacket
	free   chan []byte
	closed chan struct{}
	once   sync.Once
	done   chan struct{} // the reader has stopped
	err    error         // why, once done is closed

	deadline atomic.Pointer[time.Time]
}

type shapedPacket struct {
	buf  []byte
	n    int
	addr net.Addr
	at   time.Time
}

func newShapedConn(c transport.UDPConn, d *Downlink) *shapedConn {
	s := &shapedConn{
		UDPConn: c, d: d,
		q:      make(chan shapedPacket, downlinkQueue),
		free:   make(chan []byte, downlinkQueue),
		closed: make(chan struct{}),
		done:   make(chan struct{}),
	}
	go s.read()
	return s
}

// read is the socket's reader; it stops when the socket fails or closes.
func (s *shapedConn) read() {
	defer close(s.done)
	spare := make([]byte, 1500)
	allocated := 0
	for {
		var buf []byte
		select {
		case buf = <-s.free:
		default:
			if allocated < downlinkQueue {
				buf = make([]byte, 1500)
				allocated++
			}
		}
		into := buf
		if into == nil {
			into = spare // no buffer left: read and drop
		}
		n, addr, err := s.UDPConn.ReadFrom(into)
		if err != nil {
			s.err = err
			return
		}
		at, ok := s.d.link.Admit(n, time.Now())
		if !ok || buf == nil {
			if buf != nil {
				s.free <- buf
			}
			if buf == nil {
				s.d.dropped.Add(1)
			}
			continue
		}
		s.q <- shapedPacket{buf: buf, n: n, addr: addr, at: at} // room: one per buffer
	}
}

// ReadFrom returns the next packet the bottleneck has let through.
func (s *shapedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	var dl <-chan time.Time
	if d := s.deadline.Load(); d != nil && !d.IsZero() {
		t := time.NewTimer(time.Until(*d))
		defer t.Stop()
		dl = t.C
	}
	var pk shapedPacket
	select {
	case pk = <-s.q:
	case <-s.done:
		select {
		case pk = <-s.q:
		default:
			return 0, nil, s.err
		}
	case <-dl:
		return 0, nil, timeoutError{}
	}
	if wait := time.Until(pk.at); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.closed:
			t.Stop()
		}
	}
	n := copy(p, pk.buf[:pk.n])
	s.free <- pk.buf
	return n, pk.addr, nil
}

// ReadFromUDP is ReadFrom for UDP addresses.
func (s *shapedConn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	n, a, err := s.ReadFrom(p)
	ua, _ := a.(*net.UDPAddr)
	return n, ua, err
}

// Read is ReadFrom without the address.
func (s *shapedConn) Read(p []byte) (int, error) {
	n, _, err := s.ReadFrom(p)
	return n, err
}

// SetReadDeadline applies to ReadFrom's wait for a packet.
func (s *shapedConn) SetReadDeadline(t time.Time) error {
	s.deadline.Store(&t)
	return nil
}

// SetDeadline sets both deadlines.
func (s *shapedConn) SetDeadline(t time.Time) error {
	s.deadline.Store(&t)
	return s.UDPConn.SetWriteDeadline(t)
}

// Close closes the socket, which stops the reader.
func (s *shapedConn) Close() error {
	s.once.Do(func() { close(s.closed) })
	return s.UDPConn.Close()
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "client: downlink: read deadline exceeded" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var _ transport.UDPConn = (*shapedConn)(nil)
