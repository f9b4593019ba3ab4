package sfu

import (
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pion/transport/v5/packetio"
)

// Bounds of what Pion's SRTP sessions of one PeerConnection keep.
const (
	// rtpBufferSize is what an RTP read stream buffers while nobody
	// reads it: Pion's own default.
	rtpBufferSize = 1000 * 1000
	// rtcpBufferSize is what an RTCP read stream buffers (Pion's default
	// is 100 kB). The SFU reads the RTCP of every stream it uses as it
	// comes; the rest is never read.
	rtcpBufferSize = 8 * 1024
	// maxRTCPStreams bounds the RTCP read streams of one PeerConnection.
	// Pion makes one for every SSRC an RTCP packet names, and keeps the
	// ones it has no use for until the PeerConnection closes; a client
	// that names too many is removed. A subscriber's answer of at most
	// 60 KiB negotiates a few hundred tracks at most, each one stream.
	maxRTCPStreams = 1024
)

// srtpBuffers is the BufferFactory of one PeerConnection's SRTP
// sessions: Pion calls it for every read stream it makes, RTP or RTCP,
// for a stream it reads itself or for one the client's packets made.
//
// The SSRC an RTCP packet is about is encrypted, so no gate can drop it
// earlier (internal/ssrcgate); here it is known, after the packet
// authenticated. RTCP of a publisher about an SSRC its offer does not
// declare is discarded as it comes; every RTCP stream holds at most
// rtcpBufferSize; and the client that makes more than maxRTCPStreams at
// once loses its participant (over).
type srtpBuffers struct {
	// declared, if set, reports the SSRCs whose RTCP is kept, sorted:
	// those the publisher's offer declares, or the SFU's own bound
	// senders' toward a subscriber. Nil keeps all.
	declared func() []uint32
	over     func() // runs once, when the streams pass maxRTCPStreams
	live     atomic.Int64
	once     sync.Once
}

// factory is the webrtc.SettingEngine's BufferFactory.
func (f *srtpBuffers) factory(kind packetio.BufferPacketType, ssrc uint32) io.ReadWriteCloser {
	b := packetio.NewBuffer()
	if kind != packetio.RTCPBufferPacket {
		b.SetLimitSize(rtpBufferSize)
		return buffer{b}
	}
	if f.live.Add(1) > maxRTCPStreams && f.over != nil {
		f.once.Do(f.over)
	}
	if f.declared != nil {
		if _, ok := slices.BinarySearch(f.declared(), ssrc); !ok {
			return &discard{f: f, closed: make(chan struct{})}
		}
	}
	b.SetLimitSize(rtcpBufferSize)
	return &counted{buffer: buffer{b}, f: f}
}

// sentSSRCs is the set of SSRCs a subscriber PeerConnection's senders
// are bound to. RTCP about any other SSRC (a sender that has stopped,
// whose receiver still reports on it, or one the client made up) is
// discarded: Pion would keep each such stream, unread, until the
// PeerConnection closes, and a subscriber that stays while others come
// and go would hold a buffer for every track it was ever sent.
type sentSSRCs struct {
	mu   sync.Mutex
	ssrc atomic.Pointer[[]uint32] // sorted; replaced, never changed
}

// bind adds ssrc (on) or removes it.
func (s *sentSSRCs) bind(ssrc uint32, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur []uint32
	if p := s.ssrc.Load(); p != nil {
		cur = *p
	}
	i, found := slices.BinarySearch(cur, ssrc)
	if found == on {
		return
	}
	next := slices.Clone(cur)
	if on {
		next = slices.Insert(next, i, ssrc)
	} else {
		next = slices.Delete(next, i, i+1)
	}
	s.ssrc.Store(&next)
}

// list returns the SSRCs, sorted; the caller must not change it.
func (s *sentSSRCs) list() []uint32 {
	if p := s.ssrc.Load(); p != nil {
		return *p
	}
	return nil
}

// buffer is a packetio.Buffer as an io.ReadWriteCloser, with the packet
// attributes Pion's SRTP streams pass along.
type buffer struct{ *packetio.Buffer }

func (b buffer) Read(p []byte) (int, error) {
	n, _, err := b.Buffer.Read(p, nil)
	return n, err
}

func (b buffer) Write(p []byte) (int, error) { return b.Buffer.Write(p, nil) }

func (b buffer) ReadWithAttributes(p []byte, a packetio.Attributes) (int, packetio.Attributes, error) {
	return b.Buffer.Read(p, a)
}

func (b buffer) WriteWithAttributes(p []byte, a packetio.Attributes) (int, error) {
	return b.Buffer.Write(p, a)
}

// counted is an RTCP stream's buffer, counted among the live ones until
// it is closed.
type counted struct {
	buffer
	f    *srtpBuffers
	done atomic.Bool
}

func (c *counted) Close() error {
	if c.done.CompareAndSwap(false, true) {
		c.f.live.Add(-1)
	}
	return c.buffer.Close()
}

// discard keeps nothing written to it; reads wait until it is closed.
type discard struct {
	f      *srtpBuffers
	closed chan struct{}
	once   sync.Once
}

func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

func (d *discard) Read([]byte) (int, error) {
	<-d.closed
	return 0, io.EOF
}

func (d *discard) Close() error {
	d.once.Do(func() {
		d.f.live.Add(-1)
		close(d.closed)
	})
	return nil
}
