package udpbatch

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func listen(t testing.TB) *net.UDPConn { return listenOn(t, "udp4", "127.0.0.1:0") }

func listenOn(t testing.TB, network, addr string) *net.UDPConn {
	a, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP(network, a)
	if err != nil {
		t.Skipf("no %s socket on %s here: %v", network, addr, err)
	}
	_ = c.SetReadBuffer(4 << 20)
	return c
}

func wrap(t testing.TB, c *net.UDPConn, batch int) *Conn {
	b, err := New(c, batch)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// read reads one datagram within 5 s.
func read(t *testing.T, c *net.UDPConn) []byte {
	t.Helper()
	buf := make([]byte, 2000)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// A datagram the kernel refuses (port 0) is counted, and the ones batched
// around it still go out.
func TestFailedDatagramSkipped(t *testing.T) {
	dst := listen(t)
	defer dst.Close()
	c := wrap(t, listen(t), 16)
	to := dst.LocalAddr().(*net.UDPAddr).AddrPort()
	bad := netip.AddrPortFrom(to.Addr(), 0)
	bt := newBatch(3)
	for i, a := range []netip.AddrPort{to, bad, to} {
		bt.put([]byte{byte(i)}, a.Addr(), a.Port())
	}
	c.send(bt.hdrs[:bt.n])
	if got := read(t, dst); got[0] != 0 {
		t.Fatalf("first datagram: got %v", got)
	}
	if got := read(t, dst); got[0] != 2 {
		t.Fatalf("third datagram: got %v", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Errors != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// An IPv6 socket reaches IPv6 peers, and IPv4 ones when it is dual-stack;
// an IPv4 socket refuses an IPv6 peer at once.
func TestFamilies(t *testing.T) {
	v6 := listenOn(t, "udp6", "[::1]:0")
	defer v6.Close()
	v4 := listen(t)
	defer v4.Close()

	c := wrap(t, listenOn(t, "udp", "[::]:0"), 0)
	for _, dst := range []*net.UDPConn{v6, v4} {
		to := dst.LocalAddr().(*net.UDPAddr).AddrPort()
		if _, err := c.WriteToAddrPort([]byte("hi"), to); err != nil {
			t.Fatal(err)
		}
		if got := read(t, dst); string(got) != "hi" {
			t.Fatalf("to %v: got %q", to, got)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c4 := wrap(t, listen(t), 0)
	defer c4.Close()
	if _, err := c4.WriteTo([]byte("hi"), v6.LocalAddr()); err == nil {
		t.Fatal("IPv6 peer on an IPv4 socket: no error")
	}
}

// Every datagram written arrives, in order per destination, from the
// wrapped socket's address, even from several writers at once.
func TestWritesArrive(t *testing.T) {
	src := wrap(t, listen(t), 16)
	dsts := []*net.UDPConn{listen(t), listen(t)}
	const perWriter = 500
	var wg sync.WaitGroup
	for w, d := range dsts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := d.LocalAddr().(*net.UDPAddr)
			for i := range perWriter {
				b := make([]byte, 100+w)
				binary.BigEndian.PutUint32(b, uint32(i))
				if _, err := src.WriteTo(b, to); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					time.Sleep(time.Millisecond) // let the receiver keep up
				}
			}
		}()
	}
	for w, d := range dsts {
		buf := make([]byte, 2000)
		for i := range perWriter {
			_ = d.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := d.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("dst %d: packet %d: %v", w, i, err)
			}
			if got := binary.BigEndian.Uint32(buf); n != 100+w || got != uint32(i) {
				t.Fatalf("dst %d: got #%d (%d bytes), want #%d", w, got, n, i)
			}
			if from.Port != src.LocalAddr().(*net.UDPAddr).Port {
				t.Fatalf("from %v", from)
			}
		}
		d.Close()
	}
	wg.Wait()
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	st := src.Stats()
	if st.Packets != 2*perWriter || st.Batches == 0 || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%d datagrams in %d sendmmsg calls", st.Packets, st.Batches)
	if _, err := src.WriteTo([]byte{1}, dsts[0].LocalAddr()); err == nil {
		t.Fatal("write after Close succeeded")
	}
}

// Reads give the sender's address in either family and honour deadlines.
func TestReads(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}} {
		t.Run(tc.network, func(t *testing.T) {
			c := wrap(t, listenOn(t, tc.network, tc.addr), 0)
			defer c.Close()
			peer := listenOn(t, tc.network, tc.addr)
			defer peer.Close()
			if _, err := peer.WriteTo([]byte("ping"), c.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 100)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := c.ReadFromAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			if want := peer.LocalAddr().(*net.UDPAddr).AddrPort(); string(buf[:n]) != "ping" || from != want {
				t.Fatalf("got %q from %v, want ping from %v", buf[:n], from, want)
			}
			if _, err := peer.WriteTo([]byte("pong"), c.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			n, addr, err := c.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "pong" || addr.String() != peer.LocalAddr().String() {
				t.Fatalf("ReadFrom: %q from %v, %v", buf[:n], addr, err)
			}
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			var ne net.Error
			if _, _, err := c.ReadFromAddrPort(buf); !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("read past the deadline: %v, want a timeout", err)
			}
		})
	}
}

// A read blocked in the poller ends when the socket is closed.
func TestReadUnblocksOnClose(t *testing.T) {
	c := wrap(t, listen(t), 0)
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFromAddrPort(make([]byte, 100))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("got %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read still blocked after Close")
	}
}

// Neither a batched write nor a read allocates: they run for every packet.
func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := wrap(t, listen(t), 0)
	defer c.Close()
	peer := listen(t)
	defer peer.Close()
	toPeer := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	toC := c.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt, buf := make([]byte, 1200), make([]byte, 2000)
	roundTrip := func() {
		if _, err := c.WriteToAddrPort(pkt, toPeer); err != nil {
			t.Fatal(err)
		}
		if _, _, err := peer.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.WriteToUDPAddrPort(pkt, toC); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.ReadFromAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip() // warm the pool and the poller
	if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
		t.Fatalf("%v allocations per write and read", n)
	}
}

func TestTooLarge(t *testing.T) {
	src := wrap(t, listen(t), 4)
	defer src.Close()
	if _, err := src.WriteTo(make([]byte, MaxPacket+1), src.LocalAddr()); err != ErrTooLarge {
		t.Fatalf("got %v", err)
	}
}

// The cost of one 1,200-byte datagram: batched, and plain sendto.
func BenchmarkWrite(b *testing.B) {
	dst := listen(b)
	defer dst.Close()
	go func() {
		buf := make([]byte, 2000)
		for {
			if _, _, err := dst.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}()
	to := dst.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := make([]byte, 1200)
	b.Run("sendmmsg", func(b *testing.B) {
		c := wrap(b, listen(b), 0)
		defer c.Close()
		b.ReportAllocs()
		for b.Loop() {
			_, _ = c.WriteToAddrPort(pkt, to)
		}
	})
	b.Run("sendto", func(b *testing.B) {
		c := listen(b)
		defer c.Close()
		b.ReportAllocs()
		for b.Loop() {
			_, _ = c.WriteToUDPAddrPort(pkt, to)
		}
	})
}
