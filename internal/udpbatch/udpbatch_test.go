package udpbatch

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func listen(t testing.TB) *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	return c
}

// Every datagram written arrives, in order per destination, from the
// wrapped socket's address, even from several writers at once.
func TestWritesArrive(t *testing.T) {
	src := New(listen(t), 16)
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

func TestTooLarge(t *testing.T) {
	src := New(listen(t), 4)
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
			if _, _, err := dst.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	to := dst.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := make([]byte, 1200)
	b.Run("sendmmsg", func(b *testing.B) {
		c := New(listen(b), 0)
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
