// Package udpbatch is a UDP socket whose writes are gathered and sent with
// one sendmmsg(2) per batch instead of one sendto(2) per packet. An SFU
// writes in bursts — one incoming packet becomes one write per subscriber —
// so a writer copies its packet into a pending batch and returns, and a
// flusher goroutine sends whatever has gathered in one system call.
//
// Writes never allocate. A full batch makes writers wait for the flusher,
// like a full socket buffer would.
//
// Sends and reads are raw system calls on the non-blocking socket, which
// never sleep in the kernel: the Go runtime's poller does the waiting. An
// ordinary system call costs a forwarding server far more than its own
// work: see send and ReadFromAddrPort.
//
// It runs in the media worker: the SFU's one media socket.
package udpbatch

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxPacket is the largest datagram a Conn sends.
const MaxPacket = 1500

// DefaultBatch is the number of datagrams gathered at most per sendmmsg.
const DefaultBatch = 128

// ErrTooLarge is returned for a datagram over MaxPacket.
var ErrTooLarge = errors.New("udpbatch: datagram too large")

// Conn wraps a *net.UDPConn: batched writes, raw reads.
type Conn struct {
	*net.UDPConn
	raw syscall.RawConn
	v6  bool // the socket is AF_INET6: IPv4 peers are written v4-mapped

	mu      sync.Mutex
	space   *sync.Cond // signalled when the flusher takes a batch
	cur     *batch     // being filled by writers
	spare   *batch     // being sent by the flusher
	closed  bool
	kick    chan struct{}
	done    chan struct{}
	flushed chan struct{}

	sendOp sendOp // the flusher's

	batches, packets, errs atomic.Uint64
}

// mmsghdr is the kernel's struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [unsafe.Sizeof(uintptr(0)) - 4]byte
}

type batch struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for either family
	bufs  [][MaxPacket]byte
	n     int
}

func newBatch(size int) *batch {
	b := &batch{
		hdrs: make([]mmsghdr, size), iovs: make([]unix.Iovec, size),
		names: make([]unix.RawSockaddrInet6, size), bufs: make([][MaxPacket]byte, size),
	}
	for i := range b.hdrs {
		b.iovs[i].Base = &b.bufs[i][0]
		h := &b.hdrs[i].hdr
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	}
	return b
}

// put appends one datagram for ip:port, ip in the socket's family.
func (bt *batch) put(b []byte, ip netip.Addr, port uint16) {
	i := bt.n
	bt.n++
	bt.iovs[i].SetLen(copy(bt.bufs[i][:], b))
	putSockaddr(&bt.names[i], &bt.hdrs[i].hdr, ip, port)
}

// New wraps c; batch is the most datagrams per sendmmsg (0: DefaultBatch).
func New(c *net.UDPConn, batch int) (*Conn, error) {
	if batch <= 0 {
		batch = DefaultBatch
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udpbatch: %w", err)
	}
	domain := unix.AF_INET
	var serr error
	if err := raw.Control(func(fd uintptr) {
		domain, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	}); err != nil || serr != nil {
		return nil, fmt.Errorf("udpbatch: socket domain: %w", errors.Join(err, serr))
	}
	b := &Conn{
		UDPConn: c, raw: raw, v6: domain == unix.AF_INET6,
		cur: newBatch(batch), spare: newBatch(batch),
		kick: make(chan struct{}, 1), done: make(chan struct{}), flushed: make(chan struct{}),
	}
	b.space = sync.NewCond(&b.mu)
	b.sendOp.fn = b.sendOp.sendmmsg
	go b.flushLoop()
	return b, nil
}

// WriteToAddrPort queues b for addr and returns; it is sent with the batch.
func (c *Conn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if len(b) > MaxPacket {
		return 0, ErrTooLarge
	}
	ip := addr.Addr()
	if c.v6 && ip.Is4() {
		ip = netip.AddrFrom16(ip.As16()) // v4-mapped
	} else if !c.v6 {
		if ip = ip.Unmap(); !ip.Is4() {
			return 0, &net.OpError{Op: "write", Net: "udp4", Addr: net.UDPAddrFromAddrPort(addr), Err: syscall.EAFNOSUPPORT}
		}
	}
	c.mu.Lock()
	for c.cur.n == len(c.cur.hdrs) && !c.closed {
		c.space.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	c.cur.put(b, ip, addr.Port())
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

// ReadFromAddrPort reads one datagram. Like the sends, the read is a raw
// system call that cannot sleep — with no datagram waiting, the runtime's
// poller waits instead, honouring read deadlines — so that a busy reader
// does not keep waking the runtime's monitor thread, as every ordinary
// system call does after the process has been idle: on a machine
// forwarding media that thread's wake-ups cost as much as a fifth of the
// CPU.
func (c *Conn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	if len(b) == 0 {
		return c.UDPConn.ReadFromUDPAddrPort(b)
	}
	op := readOps.Get().(*readOp)
	op.b = b
	err := c.raw.Read(op.fn)
	n, errno, from := op.n, op.errno, sockaddrAddrPort(&op.sa)
	op.b = nil
	readOps.Put(op)
	if err == nil && errno != 0 {
		err = errno
	}
	if err != nil {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: err}
	}
	return n, from, nil
}

// readOp is one read's state, pooled with its callback so that a read
// allocates nothing.
type readOp struct {
	b     []byte
	n     int
	errno syscall.Errno
	sa    unix.RawSockaddrInet6 // large enough for either family
	fn    func(fd uintptr) bool // op.recvfrom
}

var readOps = sync.Pool{New: func() any {
	op := &readOp{}
	op.fn = op.recvfrom
	return op
}}

// recvfrom is the callback of RawConn.Read: false asks the poller to wait.
func (op *readOp) recvfrom(fd uintptr) bool {
	for {
		salen := uint32(unix.SizeofSockaddrInet6)
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&op.b[0])), uintptr(len(op.b)),
			0, uintptr(unsafe.Pointer(&op.sa)), uintptr(unsafe.Pointer(&salen)))
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		op.n, op.errno = int(r), e
		return true
	}
}

// ReadFrom reads one datagram; see ReadFromAddrPort.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// sockaddrAddrPort decodes a sockaddr_in or sockaddr_in6 from the kernel.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port := uint16(p[0])<<8 | uint16(p[1])
	if sa.Family == unix.AF_INET {
		return netip.AddrPortFrom(netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(sa)).Addr), port)
	}
	ip := netip.AddrFrom16(sa.Addr)
	if sa.Scope_id != 0 {
		ip = ip.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
	}
	return netip.AddrPortFrom(ip, port)
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
	c.send(out.hdrs[:out.n])
	if out.n > 0 {
		c.batches.Add(1)
		c.packets.Add(uint64(out.n))
	}
	out.n = 0
}

// send writes hdrs with sendmmsg(2), a datagram that fails is counted and
// skipped. The call is a raw one, without telling the scheduler: on a
// non-blocking socket it never sleeps (a full buffer returns EAGAIN and the
// runtime's poller waits instead), but a large batch runs long enough that
// the runtime would hand this goroutine's P to another thread, and take it
// back, around an ordinary system call — thread wake-ups that cost more
// than the send itself.
func (c *Conn) send(hdrs []mmsghdr) {
	op := &c.sendOp
	for len(hdrs) > 0 {
		op.hdrs = hdrs
		err := c.raw.Write(op.fn)
		sent := op.sent
		switch {
		case err != nil: // the socket is closed: nothing more goes out
			c.errs.Add(uint64(len(hdrs)))
			op.hdrs = nil
			return
		case op.errno != 0: // the first datagram failed; go on with the rest
			c.errs.Add(1)
			sent = 1
		}
		hdrs = hdrs[sent:]
	}
	op.hdrs = nil
}

// sendOp is the flusher's sendmmsg state, kept with its callback so that
// a send allocates nothing.
type sendOp struct {
	hdrs  []mmsghdr
	sent  int
	errno syscall.Errno
	fn    func(fd uintptr) bool // op.sendmmsg
}

// sendmmsg is the callback of RawConn.Write: false asks the poller to wait.
func (op *sendOp) sendmmsg(fd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&op.hdrs[0])), uintptr(len(op.hdrs)), 0, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		op.sent, op.errno = int(r), e
		return true
	}
}

// putSockaddr writes ip:port into sa in the socket's family and points h at it.
func putSockaddr(sa *unix.RawSockaddrInet6, h *unix.Msghdr, ip netip.Addr, port uint16) {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	if ip.Is4() {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		sa4.Addr = ip.As4()
		sa4.Zero = [8]uint8{}
		h.Namelen = unix.SizeofSockaddrInet4
		return
	}
	sa.Family = unix.AF_INET6
	sa.Flowinfo = 0
	sa.Addr = ip.As16()
	sa.Scope_id = 0
	if z := ip.Zone(); z != "" { // an interface index, as reads give it, or a name
		if i, err := strconv.ParseUint(z, 10, 32); err == nil {
			sa.Scope_id = uint32(i)
		} else if ifi, err := net.InterfaceByName(z); err == nil {
			sa.Scope_id = uint32(ifi.Index)
		}
	}
	h.Namelen = unix.SizeofSockaddrInet6
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
