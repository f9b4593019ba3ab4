package ssrcgate

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/pion/ice/v4"
)

// rtp returns an RTP header of payload type pt on ssrc, with a payload.
func rtp(pt byte, ssrc uint32) []byte {
	b := make([]byte, 20)
	b[0], b[1] = 0x80, pt
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return b
}

func TestPass(t *testing.T) {
	t.Parallel()
	rtcpRR := []byte{0x81, 201, 0, 7, 0, 0, 0, 5, 1, 2, 3, 4}
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"allowed RTP", rtp(111, 5), true},
		{"allowed RTP, marker set", rtp(0x80|96, 7), true},
		{"undeclared RTP", rtp(111, 6), false},
		{"RTP of payload type 95 with the marker bit: RTCP to Pion too", rtp(0x80|95, 6), true},
		{"RTCP receiver report", rtcpRR, true},
		{"RTCP of another SSRC", []byte{0x80, 200, 0, 6, 0, 0, 0, 9, 0, 0, 0, 0}, true},
		{"STUN binding request", []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, true},
		{"DTLS handshake", []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, true},
		{"short RTP-looking datagram", []byte{0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0}, true},
		{"empty", nil, true},
	}
	var g Gate
	g.Allow([]uint32{7, 5, 5})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := g.Pass(tc.b); got != tc.want {
				t.Errorf("Pass = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGateCountsAndReplaces(t *testing.T) {
	t.Parallel()
	var g Gate
	var seen []uint64
	g.OnDrop = func(n uint64) { seen = append(seen, n) }
	if g.Pass(rtp(96, 1)) {
		t.Error("a gate told nothing passed RTP")
	}
	g.Allow([]uint32{1, 2})
	in := []uint32{3}
	if !g.Pass(rtp(96, 1)) || !g.Pass(rtp(96, 2)) || g.Pass(rtp(96, 3)) {
		t.Error("Allow(1, 2) not applied")
	}
	g.Allow(in)
	in[0] = 4 // not kept
	if g.Pass(rtp(96, 1)) || !g.Pass(rtp(96, 3)) || g.Pass(rtp(96, 4)) {
		t.Error("Allow(3) did not replace the set")
	}
	if g.Dropped() != 4 || len(seen) != 4 || seen[0] != 1 || seen[3] != 4 {
		t.Errorf("Dropped = %d, OnDrop saw %v; want 4 drops counted 1..4", g.Dropped(), seen)
	}
}

// fakeMux hands out one fakeConn.
type fakeMux struct {
	ice.UDPMux
	c       net.PacketConn
	removed string
}

func (m *fakeMux) GetConn(string, net.Addr) (net.PacketConn, error) { return m.c, nil }
func (m *fakeMux) RemoveConnByUfrag(u string)                       { m.removed = u }
func (m *fakeMux) Close() error                                     { panic("the shared mux was closed") }

// fakeConn reads the datagrams it was given, then io.EOF.
type fakeConn struct {
	net.PacketConn
	in [][]byte
}

func (c *fakeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if len(c.in) == 0 {
		return 0, nil, io.EOF
	}
	n := copy(b, c.in[0])
	c.in = c.in[1:]
	return n, &net.UDPAddr{}, nil
}

// fakeAddrPortConn adds netip.AddrPort reads.
type fakeAddrPortConn struct{ *fakeConn }

func (c fakeAddrPortConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, _, err := c.ReadFrom(b)
	return n, netip.AddrPort{}, err
}

func (fakeAddrPortConn) WriteToAddrPort(b []byte, _ netip.AddrPort) (int, error) { return len(b), nil }

func TestMuxSkipsDropped(t *testing.T) {
	t.Parallel()
	stream := func() [][]byte {
		return [][]byte{rtp(96, 9), rtp(96, 1), rtp(96, 9), rtp(96, 9), {22, 0xfe, 0xfd}, rtp(96, 9)}
	}
	read := func(c net.PacketConn) (got []int, err error) {
		b := make([]byte, 64)
		for {
			var n int
			if ap, ok := c.(ice.AddrPortReaderWriter); ok {
				n, _, err = ap.ReadFromAddrPort(b)
			} else {
				n, _, err = c.ReadFrom(b)
			}
			if err != nil {
				return got, err
			}
			got = append(got, n)
		}
	}
	for _, tc := range []struct {
		name     string
		conn     net.PacketConn
		addrPort bool
	}{
		{"net.Addr reads", &fakeConn{in: stream()}, false},
		{"netip.AddrPort reads", fakeAddrPortConn{&fakeConn{in: stream()}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g Gate
			g.Allow([]uint32{1})
			inner := &fakeMux{c: tc.conn}
			m := g.Mux(inner)
			c, err := m.GetConn("u", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := c.(ice.AddrPortReaderWriter); ok != tc.addrPort {
				t.Errorf("gated conn offers AddrPort I/O: %v, want %v", ok, tc.addrPort)
			}
			got, err := read(c)
			if err != io.EOF || len(got) != 2 || got[0] != 20 || got[1] != 3 {
				t.Errorf("read %v, %v; want the allowed RTP packet and the DTLS record, then EOF", got, err)
			}
			if g.Dropped() != 4 {
				t.Errorf("Dropped = %d, want 4", g.Dropped())
			}
			m.RemoveConnByUfrag("u")
			if inner.removed != "u" {
				t.Error("RemoveConnByUfrag not passed on")
			}
			if err := m.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// FuzzPass: Pass never panics, and passes whatever is not RTP.
func FuzzPass(f *testing.F) {
	f.Add([]byte{0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 6})
	f.Add([]byte{0x80, 200, 0, 1})
	f.Add([]byte{})
	f.Add([]byte{0xbf, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	var g Gate
	g.Allow([]uint32{6})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, isRTP := rtpSSRC(b); !isRTP && !g.Pass(b) {
			t.Fatalf("dropped a datagram that is not RTP: %x", b)
		}
	})
}

func BenchmarkPass(b *testing.B) {
	var g Gate
	g.Allow([]uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	pkt := rtp(96, 11)
	b.ReportAllocs()
	for b.Loop() {
		if !g.Pass(pkt) {
			b.Fatal("dropped")
		}
	}
}

type fakeTCPMux struct {
	c       net.PacketConn
	removed string
}

func (m *fakeTCPMux) GetConnByUfrag(string, bool, net.IP) (net.PacketConn, error) { return m.c, nil }
func (m *fakeTCPMux) RemoveConnByUfrag(u string)                                  { m.removed = u }
func (m *fakeTCPMux) Close() error                                                { panic("the shared mux was closed") }
func (m *fakeTCPMux) LocalAddr() net.Addr                                         { return &net.TCPAddr{Port: 7982} }

// ICE-TCP connections pass through the same gate as UDP ones.
func TestTCPMuxSkipsDropped(t *testing.T) {
	t.Parallel()
	var g Gate
	g.Allow([]uint32{1})
	inner := &fakeTCPMux{c: &fakeConn{in: [][]byte{rtp(96, 9), rtp(96, 1), {22, 0xfe, 0xfd}, rtp(96, 9)}}}
	m := g.TCPMux(inner)
	c, err := m.GetConnByUfrag("u", false, net.IPv4(127, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	b := make([]byte, 64)
	for {
		n, _, err := c.ReadFrom(b)
		if err != nil {
			break
		}
		got = append(got, n)
	}
	if len(got) != 2 || got[0] != 20 || got[1] != 3 || g.Dropped() != 2 {
		t.Errorf("read %v, dropped %d; want the allowed RTP packet and the DTLS record, 2 dropped", got, g.Dropped())
	}
	if a, ok := m.(interface{ LocalAddr() net.Addr }); !ok || a.LocalAddr().(*net.TCPAddr).Port != 7982 {
		t.Error("the listener's address is hidden from Pion")
	}
	m.RemoveConnByUfrag("u")
	if inner.removed != "u" {
		t.Error("RemoveConnByUfrag not passed on")
	}
	if err := m.Close(); err != nil {
		t.Error(err)
	}
}

// Learn lets a bounded number of new SSRCs in (simulcast layers, which
// the offer names by RID only), keeps those still in use across offers,
// and forgets the others so that a new track's layers fit again.
func TestLearn(t *testing.T) {
	t.Parallel()
	var g Gate
	g.Allow([]uint32{5})
	if g.Pass(rtp(96, 100)) {
		t.Fatal("learned without a budget")
	}
	g.Learn(3, nil)
	for _, ssrc := range []uint32{100, 101, 102} {
		if !g.Pass(rtp(96, ssrc)) {
			t.Fatalf("SSRC %d not learned within the budget", ssrc)
		}
	}
	if g.Pass(rtp(96, 103)) {
		t.Fatal("a fourth SSRC learned over a budget of 3")
	}
	if !g.Pass(rtp(96, 101)) || !g.Pass(rtp(96, 5)) {
		t.Fatal("a learned or allowed SSRC dropped")
	}
	if got := g.Passing(); len(got) != 4 || got[0] != 5 || got[3] != 102 {
		t.Fatalf("Passing = %v", got)
	}
	// The next offer: the track of 100 and 102 goes on, 101 ended.
	g.Learn(3, []uint32{100, 102})
	if g.Pass(rtp(96, 101)) != true { // learned again: one place is free
		t.Fatal("the free place was not taken")
	}
	if g.Pass(rtp(96, 104)) {
		t.Fatal("learned over the budget after the second offer")
	}
	// An offer without simulcast: nothing learned passes any more.
	g.Learn(0, nil)
	if g.Pass(rtp(96, 100)) || len(g.Learned()) != 0 {
		t.Fatal("a learned SSRC passes after Learn(0)")
	}
	if g.Dropped() != 4 {
		t.Fatalf("Dropped = %d, want 4", g.Dropped())
	}
}
