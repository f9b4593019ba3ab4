package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lethe-rtc/lethe/e2ee"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// End-to-end encrypted synthetic media (SourceOptions.E2EE). A source
// builds each frame as usual, then joins its payloads into the encoded
// frame a codec's packetizer would have been given (VP8: the payloads
// without their payload descriptors; Opus: the one payload), puts one
// marker over that frame's last MarkerLen bytes, encrypts it (the VP8
// frame header stays clear: protocol.md §3.13) and packetizes the result
// (VP8: RFC 7741 with a one-byte descriptor, the S bit on the first
// packet). A receiver reassembles the frame, decrypts it and checks the
// marker on the plaintext: FrameReader.

// frameSealer is a Source's encryption state; the Source's lock guards it.
type frameSealer struct {
	enc   *e2ee.Encryptor
	codec e2ee.Codec
	plain []byte
	out   []byte
	wire  []byte // the packets' bytes
	pkts  [][]byte
}

// seal turns the frame f holds into encrypted payloads, with marker m
// at the end of the plaintext. The payloads are reused by the next call.
func (z *frameSealer) seal(f *frame, m Marker) ([][]byte, error) {
	z.plain = z.plain[:0]
	for _, p := range f.payloads() {
		if z.codec == e2ee.VP8 {
			p = p[1:] // the payload descriptor
		}
		z.plain = append(z.plain, p...)
	}
	if err := PutMarker(z.plain, m); err != nil {
		return nil, err
	}
	var err error
	if z.out, err = z.enc.Encrypt(z.out[:0], z.plain, z.codec); err != nil {
		return nil, fmt.Errorf("e2ee: %w", err)
	}
	z.pkts = z.pkts[:0]
	if z.codec != e2ee.VP8 {
		return append(z.pkts, z.out), nil
	}
	// VP8: packets of at most MaxPayload bytes, each a descriptor and
	// a slice of the encrypted frame, laid out one after the other in
	// z.wire.
	const room = MaxPayload - 1
	n := (len(z.out) + room - 1) / room
	need := len(z.out) + n
	if cap(z.wire) < need {
		z.wire = make([]byte, need)
	}
	buf := z.wire[:need]
	off := 0
	for i := range n {
		chunk := split(len(z.out), n, i)
		p := buf[off+i : off+i+1+chunk]
		p[0] = 0
		if i == 0 {
			p[0] = vp8DescS
		}
		copy(p[1:], z.out[off:off+chunk])
		off += chunk
		z.pkts = append(z.pkts, p)
	}
	return z.pkts, nil
}

// FrameStats counts what a FrameReader saw.
type FrameStats struct {
	Packets   uint64
	Frames    uint64 // frames reassembled
	Decrypted uint64 // frames that decrypted
	Failed    uint64 // frames that did not (another key, or not encrypted)
	// Incomplete counts VP8 frames given up without their last packet
	// (the one with the marker bit): lost beyond repair, or cut by the
	// SFU at a simulcast layer switch. A decoder drops them too; they are
	// not decrypted.
	Incomplete uint64
	// Keyframes counts decrypted VP8 keyframes; Width and Height are the
	// last one's picture size (RFC 6386 §9.1).
	Keyframes     uint64
	Width, Height int
}

// FrameReader reads an encrypted remote track: it reassembles frames from
// RTP (VP8 or Opus), decrypts each with the publisher's key and passes
// the plaintext to OnFrame and, when set, to a Checker (ObserveFrame).
// Not safe for concurrent use.
type FrameReader struct {
	// Checker, when set, checks each decrypted frame's marker.
	Checker *Checker
	// OnFrame, when set, gets each decrypted frame (valid during the call).
	OnFrame func(ts uint32, plain []byte)

	ring  *e2ee.Ring
	pid   string
	codec e2ee.Codec
	sb    *samplebuilder.SampleBuilder
	plain []byte
	st    FrameStats
}

// NewFrameReader returns a FrameReader for media of type mime (VP8 or
// Opus) from participant pid (the track's StreamID), decrypted with ring.
func NewFrameReader(ring *e2ee.Ring, pid, mime string) (*FrameReader, error) {
	c, err := e2ee.CodecFor(mime)
	if err != nil {
		return nil, fmt.Errorf("frame reader: %s: %w", mime, err)
	}
	var dep rtp.Depacketizer = &codecs.OpusPacket{}
	clock := uint32(48000)
	if c == e2ee.VP8 {
		dep, clock = &codecs.VP8Packet{}, 90000
	}
	sb := samplebuilder.New(64, dep, clock, samplebuilder.WithRTPHeaders(true))
	return &FrameReader{ring: ring, pid: pid, codec: c, sb: sb}, nil
}

// Stats returns the counters; call it from the goroutine that runs Run or
// Push, or after Run returned.
func (r *FrameReader) Stats() FrameStats { return r.st }

// Push takes one RTP packet; the frames it completes are decrypted.
func (r *FrameReader) Push(pkt *rtp.Packet) {
	if len(pkt.Payload) == 0 {
		return // padding (probes)
	}
	r.st.Packets++
	r.sb.Push(pkt)
	for s := r.sb.Pop(); s != nil; s = r.sb.Pop() {
		r.st.Frames++
		if h := s.RTPHeaders; r.codec == e2ee.VP8 && (len(h) == 0 || !h[len(h)-1].Marker) {
			r.st.Incomplete++
			continue
		}
		var err error
		r.plain, err = r.ring.Decrypt(r.plain[:0], s.Data, r.pid)
		if err != nil {
			r.st.Failed++
			continue
		}
		r.st.Decrypted++
		key := r.codec == e2ee.VP8 && isVP8FrameKey(r.plain)
		if w, h, ok := VP8FrameSize(r.plain); key && ok {
			r.st.Keyframes++
			r.st.Width, r.st.Height = w, h
		}
		if r.Checker != nil {
			r.Checker.ObserveFrame(s.PacketTimestamp, r.plain, key, r.Checker.now())
		}
		if r.OnFrame != nil {
			r.OnFrame(s.PacketTimestamp, r.plain)
		}
	}
}

// Run reads track until it ends (nil) or ctx is done (ctx's error).
func (r *FrameReader) Run(ctx context.Context, track *webrtc.TrackRemote) error {
	stop := context.AfterFunc(ctx, func() { _ = track.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 1500)
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return nil
			}
			return fmt.Errorf("frame reader: read: %w", err)
		}
		pkt := &rtp.Packet{} // the sample builder keeps it, and its bytes
		if err := pkt.Unmarshal(bytes.Clone(buf[:n])); err != nil {
			continue
		}
		r.Push(pkt)
	}
}

// isVP8FrameKey reports whether a VP8 frame (no payload descriptor) is a
// keyframe: the P bit of its frame tag is clear.
func isVP8FrameKey(f []byte) bool { return len(f) > 0 && f[0]&0x01 == 0 }

// VP8FrameSize returns the picture size of a VP8 keyframe (RFC 6386
// §9.1: frame tag, start code 9d 01 2a, 14-bit width and height); ok is
// false for anything else.
func VP8FrameSize(f []byte) (w, h int, ok bool) {
	if len(f) < 10 || !isVP8FrameKey(f) || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, false
	}
	return int(binary.LittleEndian.Uint16(f[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(f[8:]) & 0x3fff), true
}
