// Package udpbatch is a UDP socket whose writes are gathered and sent with
// one sendmmsg(2) per batch instead of one sendto(2) per packet. An SFU
// writes in bursts — one incoming packet becomes one write per subscriber —
// so a writer copies its packet into a pending batch and returns, and a
// flusher goroutine sends whatever has gathered in one system call.
//
// Writes never allocate. A full batch makes writers wait for the flusher,
// like a full socket buffer would.
package udpbatch

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// MaxPacket is the largest datagram a Conn sends.
const MaxPacket = 1500

// DefaultBatch is the number of datagrams gathered at most per sendmmsg.
const DefaultBatch = 128

// ErrTooLarge is returned for a datagram over MaxPacket.
var ErrTooLarge = errors.New("udpbatch: datagram too large")

// batchWriter is the sendmmsg of x/net's ipv4 and ipv6 packet conns.
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// Conn wraps a *net.UDPConn; reads pass straight through.
type Conn struct {
	*net.UDPConn
	bw batchWriter

	mu      sync.Mutex
	space   *sync.Cond // signalled when the flusher takes a batch
	cur     *batch     // being filled by writers
	spare   *batch     // being sent by the flusher
	closed  bool
	kick    chan struct{}
	done    chan struct{}
	flushed chan struct{}

	batches, packets, errs atomic.Uint64
}

type batch struct {
	msgs  []ipv4.Message
	addrs []net.UDPAddr
	ips   [][16]byte
	bufs  [][MaxPacket]byte
	n     int
}

func newBatch(size int) *batch {
	b := &batch{
		msgs: make([]ipv4.Message, size), addrs: make([]net.UDPAddr, size),
		ips: make([][16]byte, size), bufs: make([][MaxPacket]byte, size),
	}
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{nil}
		b.msgs[i].Addr = &b.addrs[i]
	}
	return b
}

// New wraps c; batch is the most datagrams per sendmmsg (0: DefaultBatch).
func New(c *net.UDPConn, batch int) *Conn {
	if batch <= 0 {
		batch = DefaultBatch
	}
	var bw batchWriter = ipv4.NewPacketConn(c)
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		bw = v6writer{ipv6.NewPacketConn(c)}
	}
	b := &Conn{
		UDPConn: c, bw: bw, cur: newBatch(batch), spare: newBatch(batch),
		kick: make(chan struct{}, 1), done: make(chan struct{}), flushed: make(chan struct{}),
	}
	b.space = sync.NewCond(&b.mu)
	go b.flushLoop()
	return b
}

type v6writer struct{ *ipv6.PacketConn }

func (w v6writer) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	return w.PacketConn.WriteBatch(ms, flags)
}

// WriteToAddrPort queues b for addr and returns; it is sent with the batch.
func (c *Conn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if len(b) > MaxPacket {
		return 0, ErrTooLarge
	}
	c.mu.Lock()
	for c.cur.n == len(c.cur.msgs) && !c.closed {
		c.space.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	i := c.cur.n
	c.cur.n++
	bt := c.cur
	m := &bt.msgs[i]
	m.Buffers[0] = bt.bufs[i][:copy(bt.bufs[i][:], b)]
	ip := addr.Addr().Unmap()
	if ip.Is4() {
		a4 := ip.As4()
		bt.addrs[i].IP = bt.ips[i][:copy(bt.ips[i][:], a4[:])]
	} else {
		a16 := ip.As16()
		bt.addrs[i].IP = bt.ips[i][:copy(bt.ips[i][:], a16[:])]
	}
	bt.addrs[i].Port = int(addr.Port())
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return len(b), nil
}

// WriteTo queues b for addr (a *net.UDPAddr).
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: net.UnknownNetworkError(addr.Network())}
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// ReadFromAddrPort reads one datagram.
func (c *Conn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.UDPConn.ReadFromUDPAddrPort(b)
}

// flushLoop sends each gathered batch with one sendmmsg.
func (c *Conn) flushLoop() {
	defer close(c.flushed)
	for {
		select {
		case <-c.kick:
		case <-c.done:
			c.flushOnce() // what was queued before Close
			return
		}
		c.flushOnce()
	}
}

func (c *Conn) flushOnce() {
	c.mu.Lock()
	c.cur, c.spare = c.spare, c.cur
	out := c.spare
	c.space.Broadcast()
	c.mu.Unlock()
	msgs := out.msgs[:out.n]
	for len(msgs) > 0 {
		n, err := c.bw.WriteBatch(msgs, 0)
		if err != nil {
			c.errs.Add(uint64(len(msgs))) // UDP: the rest of this batch is lost
			break
		}
		msgs = msgs[n:]
	}
	if out.n > 0 {
		c.batches.Add(1)
		c.packets.Add(uint64(out.n))
	}
	out.n = 0
}

// Close sends what is queued, stops the flusher and closes the socket.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.space.Broadcast()
	c.mu.Unlock()
	close(c.done)
	<-c.flushed
	return c.UDPConn.Close()
}

// Stats counts sendmmsg calls, datagrams sent and datagrams lost to write
// errors.
type Stats struct{ Batches, Packets, Errors uint64 }

// Stats returns the counters.
func (c *Conn) Stats() Stats {
	return Stats{Batches: c.batches.Load(), Packets: c.packets.Load(), Errors: c.errs.Load()}
}
