package client

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// collector is an RTPWriter that keeps copies of what it is given.
type collector struct{ pkts []rtp.Packet }

func (c *collector) WriteRTP(p *rtp.Packet) error {
	q := *p
	q.Payload = bytes.Clone(p.Payload)
	c.pkts = append(c.pkts, q)
	return nil
}

// frames groups packets by RTP timestamp, in order.
func (c *collector) frames() [][]rtp.Packet {
	var out [][]rtp.Packet
	for i, p := range c.pkts {
		if i == 0 || p.Timestamp != c.pkts[i-1].Timestamp {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], p)
	}
	return out
}

// vp8Header is what the test's own parser reads from a VP8 frame.
type vp8Header struct {
	key           bool
	version       int
	show          bool
	firstPartSize int
	width, height int
	headerLen     int
}

func parseVP8Header(t *testing.T, b []byte) vp8Header {
	t.Helper()
	if len(b) < 3 {
		t.Fatalf("frame of %d bytes", len(b))
	}
	tag := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
	h := vp8Header{
		key:           tag&1 == 0,
		version:       int(tag>>1) & 7,
		show:          tag>>4&1 == 1,
		firstPartSize: int(tag >> 5),
		headerLen:     3,
	}
	if h.key {
		if len(b) < 10 || !bytes.Equal(b[3:6], []byte{0x9d, 0x01, 0x2a}) {
			t.Fatalf("keyframe without start code: % x", b[:min(len(b), 10)])
		}
		h.width = int(binary.LittleEndian.Uint16(b[6:]) & 0x3fff)
		h.height = int(binary.LittleEndian.Uint16(b[8:]) & 0x3fff)
		h.headerLen = 10
	}
	return h
}

func newTestSource(t *testing.T, newSrc func(RTPWriter, SourceOptions) (*Source, error), opts SourceOptions) (*Source, *collector) {
	t.Helper()
	w := &collector{}
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Unix(1000, 0) }
	}
	s, err := newSrc(w, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, w
}

func TestVP8Packets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		bitrate int
		width   int
		height  int
	}{
		{"tiny frames", 8_000, 0, 0},
		{"one packet", 200_000, 640, 360},
		{"split frames", 1_000_000, 1280, 720},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, w := newTestSource(t, NewVP8Source, SourceOptions{Bitrate: tt.bitrate, FPS: 25, Width: tt.width, Height: tt.height, MarkerStream: 77})
			for i := range 4 {
				if i == 2 {
					s.RequestKeyframe()
				}
				if err := s.WriteFrame(); err != nil {
					t.Fatal(err)
				}
			}
			wantW, wantH := max(tt.width, 320), max(tt.height, 240)
			if tt.width == 0 {
				wantW, wantH = 320, 240
			}
			var seq uint32
			frames := w.frames()
			if len(frames) != 4 {
				t.Fatalf("%d frames", len(frames))
			}
			for fi, fr := range frames {
				wantKey := fi == 0 || fi == 2
				var bitstream []byte
				for pi, p := range fr {
					pl := p.Payload
					if len(pl) > MaxPayload {
						t.Fatalf("payload %d bytes", len(pl))
					}
					desc := pl[0]
					if s := desc&0x10 != 0; s != (pi == 0) {
						t.Fatalf("frame %d packet %d: S bit %v", fi, pi, s)
					}
					if desc&0x80 != 0 || desc&0x07 != 0 {
						t.Fatalf("descriptor %#x: want no X, partition 0", desc)
					}
					if p.Marker != (pi == len(fr)-1) {
						t.Fatalf("frame %d packet %d: RTP marker %v", fi, pi, p.Marker)
					}
					m, ok := ParseMarker(pl)
					if !ok || m.Seq != seq || m.StreamID != 77 {
						t.Fatalf("marker %+v %v, want seq %d", m, ok, seq)
					}
					seq++
					if pi == 0 {
						h := parseVP8Header(t, pl[1:])
						if h.key != wantKey || h.version != 0 || !h.show {
							t.Fatalf("frame %d header %+v", fi, h)
						}
						if h.firstPartSize < 16 || h.firstPartSize > 32 {
							t.Fatalf("first partition %d bytes", h.firstPartSize)
						}
						if h.key && (h.width != wantW || h.height != wantH) {
							t.Fatalf("size %dx%d", h.width, h.height)
						}
						// Header and first partition end before the marker.
						end := 1 + h.headerLen + h.firstPartSize
						if end > len(pl)-MarkerLen {
							t.Fatalf("first partition ends at %d, marker at %d", end, len(pl)-MarkerLen)
						}
						if !bytes.Equal(pl[1+h.headerLen:end], make([]byte, h.firstPartSize)) {
							t.Fatal("first partition not zero")
						}
					}
					bitstream = append(bitstream, pl[1:]...)
				}
				// In the depacketized frame every marker is token partition data.
				h := parseVP8Header(t, bitstream)
				if len(bitstream) <= h.headerLen+h.firstPartSize {
					t.Fatal("no token partition")
				}
				if fi > 0 && fr[0].Timestamp-frames[fi-1][0].Timestamp != 90000/25 {
					t.Fatalf("timestamp step %d", fr[0].Timestamp-frames[fi-1][0].Timestamp)
				}
			}
			if tt.bitrate == 1_000_000 && len(frames[0]) < 2 {
				t.Fatal("large keyframe not split")
			}
			for i := 1; i < len(w.pkts); i++ {
				if w.pkts[i].SequenceNumber != w.pkts[i-1].SequenceNumber+1 {
					t.Fatal("RTP sequence not contiguous")
				}
			}
		})
	}
}

// parseOpusCode3 parses an Opus code 3 packet per RFC 6716 §3.2.5 and
// returns the frames and the padding.
func parseOpusCode3(t *testing.T, p []byte) (frames [][]byte, padding []byte) {
	t.Helper()
	if len(p) < 2 {
		t.Fatalf("packet of %d bytes", len(p))
	}
	if p[0]&0x03 != 3 {
		t.Fatalf("TOC %#x: not code 3", p[0])
	}
	vbr, hasPad, m := p[1]&0x80 != 0, p[1]&0x40 != 0, int(p[1]&0x3f)
	if m == 0 || vbr {
		t.Fatalf("frame count byte %#x", p[1])
	}
	i, pad := 2, 0
	if hasPad {
		for {
			if i >= len(p) {
				t.Fatal("padding length runs off the packet")
			}
			b := int(p[i])
			i++
			if b == 255 {
				pad += 254
				continue
			}
			pad += b
			break
		}
	}
	n := len(p) - i - pad
	if n < 0 || n%m != 0 {
		t.Fatalf("%d bytes of frame data for %d frames", n, m)
	}
	for k := range m {
		frames = append(frames, p[i+k*n/m:i+(k+1)*n/m])
	}
	return frames, p[len(p)-pad:]
}

func TestOpusPackets(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, opusMinPacket, 80, 258, 259, 260, 261, 514, 515, 1000, 1200} {
		var f frame
		opusPayloader{}.build(&f, false, size)
		if f.n != 1 {
			t.Fatalf("size %d: %d packets", size, f.n)
		}
		p := f.payloads()[0]
		if len(p) != max(size, opusMinPacket) {
			t.Fatalf("size %d: got %d bytes", size, len(p))
		}
		if err := PutMarker(p, Marker{Seq: uint32(size)}); err != nil {
			t.Fatal(err)
		}
		if p[0] != 0xfb || p[0]>>3 != 31 || p[0]&0x04 != 0 {
			t.Fatalf("TOC %#x", p[0])
		}
		frames, pad := parseOpusCode3(t, p)
		if len(frames) != 1 || !bytes.Equal(frames[0], []byte{0xff, 0xfe}) {
			t.Fatalf("size %d: frames % x", size, frames)
		}
		if len(pad) < MarkerLen {
			t.Fatalf("size %d: padding %d bytes", size, len(pad))
		}
		// The marker is the packet's last MarkerLen bytes, so it lies in
		// the padding.
		if m, ok := ParseMarker(p); !ok || m.Seq != uint32(size) {
			t.Fatalf("size %d: marker %+v %v", size, m, ok)
		}
	}

	s, w := newTestSource(t, NewOpusSource, SourceOptions{Bitrate: 64_000})
	for range 3 {
		if err := s.WriteFrame(); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range w.pkts {
		if len(p.Payload) != 64_000/8/50 {
			t.Fatalf("payload %d bytes", len(p.Payload))
		}
		if i > 0 && p.Timestamp-w.pkts[i-1].Timestamp != 960 {
			t.Fatalf("timestamp step %d", p.Timestamp-w.pkts[i-1].Timestamp)
		}
	}
	if st := s.Stats(); st.Keyframes != 0 || st.Frames != 3 || st.Packets != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// bitReader reads H.264 RBSP bits and exp-Golomb codes.
type bitReader struct {
	b   []byte
	pos int
}

func (r *bitReader) u(n int) uint {
	var v uint
	for range n {
		v = v<<1 | uint(r.b[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v
}

func (r *bitReader) ue() uint {
	zeros := 0
	for r.u(1) == 0 {
		zeros++
	}
	return 1<<zeros - 1 + r.u(zeros)
}

func TestH264ParameterSets(t *testing.T) {
	t.Parallel()
	r := &bitReader{b: []byte(h264SPS)}
	if r.u(8) != 0x67 {
		t.Fatal("not an SPS NAL")
	}
	profile, _, level := r.u(8), r.u(8), r.u(8)
	if profile != 66 || level != 31 {
		t.Fatalf("profile %d level %d", profile, level)
	}
	spsID, log2FrameNum, pocType, refs := r.ue(), r.ue(), r.ue(), r.ue()
	gaps := r.u(1)
	w, h := (r.ue()+1)*16, (r.ue()+1)*16
	frameMbsOnly, direct8x8, crop, vui, stop := r.u(1), r.u(1), r.u(1), r.u(1), r.u(1)
	if spsID != 0 || log2FrameNum != 0 || pocType != 2 || refs != 1 || gaps != 0 {
		t.Fatal("unexpected SPS fields")
	}
	if w != 320 || h != 240 || frameMbsOnly != 1 || direct8x8 != 1 || crop != 0 || vui != 0 || stop != 1 {
		t.Fatalf("SPS %dx%d", w, h)
	}
	if r.pos > len(h264SPS)*8 || r.u(len(h264SPS)*8-r.pos) != 0 {
		t.Fatal("SPS trailing bits")
	}

	r = &bitReader{b: []byte(h264PPS)}
	if r.u(8) != 0x68 || r.ue() != 0 || r.ue() != 0 {
		t.Fatal("PPS ids")
	}
	cabac, bottom, groups, l0, l1, wp, wbi := r.u(1), r.u(1), r.ue(), r.ue(), r.ue(), r.u(1), r.u(2)
	qp, qs, cqp := r.ue(), r.ue(), r.ue() // se(0) is coded as ue(0)
	deblock, cip, redundant, stop := r.u(1), r.u(1), r.u(1), r.u(1)
	if cabac|bottom|groups|l0|l1|wp|wbi|qp|qs|cqp|cip|redundant != 0 || deblock != 1 || stop != 1 {
		t.Fatal("unexpected PPS fields")
	}

	// Slice headers: IDR (I slice) and non-IDR (P slice).
	r = &bitReader{b: []byte(h264IDRHeader)}
	if r.u(8) != 0x65 || r.ue() != 0 || r.ue() != 7 || r.ue() != 0 || r.u(4) != 0 || r.ue() != 0 ||
		r.u(2) != 0 || r.ue() != 0 || r.ue() != 1 {
		t.Fatal("IDR slice header")
	}
	r = &bitReader{b: []byte(h264PHeader)}
	if r.u(8) != 0x41 || r.ue() != 0 || r.ue() != 5 || r.ue() != 0 || r.u(4) != 0 ||
		r.u(3) != 0 || r.ue() != 0 || r.ue() != 1 {
		t.Fatal("P slice header")
	}
}

func TestH264Packets(t *testing.T) {
	t.Parallel()
	s, w := newTestSource(t, NewH264Source, SourceOptions{Bitrate: 1_000_000, FPS: 25})
	for range 2 {
		if err := s.WriteFrame(); err != nil {
			t.Fatal(err)
		}
	}
	frames := w.frames()
	if len(frames) != 2 {
		t.Fatalf("%d frames", len(frames))
	}
	for fi, fr := range frames {
		for _, p := range fr {
			if _, ok := ParseMarker(p.Payload); !ok {
				t.Fatal("bad marker")
			}
			if len(p.Payload) > MaxPayload {
				t.Fatalf("payload %d bytes", len(p.Payload))
			}
		}
		if !fr[len(fr)-1].Marker {
			t.Fatal("RTP marker missing on the last packet")
		}
		pkts := fr
		wantType := byte(1)
		if fi == 0 {
			wantType = 5
			// STAP-A: SPS, PPS, filler holding the marker; sizes add up.
			st := fr[0].Payload
			if st[0]&0x1f != h264TypeSTAPA || st[0]&0x60 == 0 {
				t.Fatalf("first keyframe packet type %d", st[0]&0x1f)
			}
			var units [][]byte
			for i := 1; i < len(st); {
				if i+2 > len(st) {
					t.Fatal("truncated aggregation unit size")
				}
				n := int(binary.BigEndian.Uint16(st[i:]))
				i += 2
				if n == 0 || i+n > len(st) {
					t.Fatalf("aggregation unit of %d bytes at %d/%d", n, i, len(st))
				}
				units = append(units, st[i:i+n])
				i += n
			}
			if len(units) != 3 || string(units[0]) != h264SPS || string(units[1]) != h264PPS ||
				units[2][0]&0x1f != h264TypeFiller {
				t.Fatalf("STAP-A units % x", units)
			}
			if !isH264Keyframe(st) {
				t.Fatal("STAP-A not recognised as keyframe")
			}
			pkts = fr[1:]
		}
		// FU-A: reassemble the slice.
		if len(pkts) < 2 {
			t.Fatalf("frame %d: %d slice packets, want FU-A", fi, len(pkts))
		}
		var nal []byte
		for i, p := range pkts {
			pl := p.Payload
			if pl[0]&0x1f != h264TypeFUA || pl[0]&0x80 != 0 {
				t.Fatalf("FU indicator %#x", pl[0])
			}
			start, end := pl[1]&0x80 != 0, pl[1]&0x40 != 0
			if start != (i == 0) || end != (i == len(pkts)-1) || pl[1]&0x20 != 0 {
				t.Fatalf("FU header %#x at %d/%d", pl[1], i, len(pkts))
			}
			if pl[1]&0x1f != wantType {
				t.Fatalf("NAL type %d, want %d", pl[1]&0x1f, wantType)
			}
			if start {
				nal = append(nal, pl[0]&0xe0|pl[1]&0x1f)
			}
			nal = append(nal, pl[2:]...)
		}
		hdr := h264PHeader
		if wantType == 5 {
			hdr = h264IDRHeader
		}
		if !bytes.HasPrefix(nal, []byte(hdr)) {
			t.Fatalf("slice starts % x", nal[:4])
		}
		if got := isH264Keyframe(pkts[0].Payload); got != (wantType == 5) {
			t.Fatalf("isH264Keyframe = %v", got)
		}
	}

	// Small frames are single NAL unit packets.
	var f frame
	h264Payloader{}.build(&f, false, 100)
	if f.n != 1 || f.payloads()[0][0] != h264PHeader[0] || len(f.payloads()[0]) != 100 {
		t.Fatalf("small frame: %d packets", f.n)
	}
}

func TestSourceKeyframes(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	s, w := newTestSource(t, NewVP8Source, SourceOptions{
		KeyframeInterval: time.Second,
		Now:              func() time.Time { return now },
	})
	var keys []bool
	step := func() {
		t.Helper()
		n := len(w.pkts)
		if err := s.WriteFrame(); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, isVP8Keyframe(w.pkts[n].Payload))
		now = now.Add(400 * time.Millisecond)
	}
	step()              // first: key, t=0
	step()              // 0.4
	s.RequestKeyframe() // asked
	step()              // 0.8: key
	step()              // 1.2
	step()              // 1.6
	step()              // 2.0: interval since 0.8
	want := []bool{true, false, true, false, false, true}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("keyframes %v, want %v", keys, want)
		}
	}
	if st := s.Stats(); st.Keyframes != 3 || st.Frames != 6 || st.WriteErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// fakeTicker is a Ticker driven by the test.
type fakeTicker struct{ c chan time.Time }

func (f fakeTicker) C() <-chan time.Time { return f.c }
func (f fakeTicker) Stop()               {}

func TestSourceStartClose(t *testing.T) {
	t.Parallel()
	tick := fakeTicker{c: make(chan time.Time)}
	var period time.Duration
	s, err := NewOpusSource(&syncCollector{}, SourceOptions{NewTicker: func(d time.Duration) Ticker {
		period = d
		return tick
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s.Start(ctx)
	s.Start(ctx) // no second goroutine
	for range 3 {
		tick.c <- time.Time{} // blocks until the loop takes it
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if period != 20*time.Millisecond {
		t.Fatalf("period %v", period)
	}
	// The first frame is written at Start, one per tick after that; the
	// frame after the third tick may or may not be out before Close.
	if f := s.Stats().Frames; f < 3 || f > 4 {
		t.Fatalf("%d frames", f)
	}
	s.Start(ctx) // after Close: nothing
}

// timedCollector records when each packet was written, and its size.
type timedCollector struct {
	mu    sync.Mutex
	at    []time.Time
	sizes []int
	got   chan struct{} // one send per packet, never blocking
}

func (c *timedCollector) WriteRTP(p *rtp.Packet) error {
	c.mu.Lock()
	c.at = append(c.at, time.Now())
	c.sizes = append(c.sizes, len(p.Payload))
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
	return nil
}

func (c *timedCollector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.at)
}

// A paced source spreads a frame's packets out: each packet waits at least
// its predecessor's share of the frame's spread, size ÷ (Pacing × Bitrate).
func TestSourcePacing(t *testing.T) {
	t.Parallel()
	const bitrate, pacing = 1_700_000, 2.5
	w := &timedCollector{got: make(chan struct{}, 1)}
	s, err := NewVP8Source(w, SourceOptions{Bitrate: bitrate, Pacing: pacing,
		NewTicker: func(time.Duration) Ticker { return fakeTicker{c: make(chan time.Time)} }})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(t.Context()) // writes the first frame, a keyframe, then waits for a tick that never comes
	frame := &collector{}
	ref, err := NewVP8Source(frame, SourceOptions{Bitrate: bitrate})
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.WriteFrame(); err != nil { // the same keyframe, unpaced, to know its size
		t.Fatal(err)
	}
	n := len(frame.pkts)
	if n < 3 {
		t.Fatalf("keyframe of %d packets: too few to pace", n)
	}
	for w.count() < n {
		select {
		case <-w.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d packets written", w.count(), n)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, sz := range w.sizes[:n] {
		total += sz
	}
	spread := min(time.Duration(float64(8*total)/(pacing*bitrate)*float64(time.Second)), time.Second/30*9/10)
	for i := 1; i < n; i++ {
		want := spread * time.Duration(w.sizes[i-1]) / time.Duration(total)
		if got := w.at[i].Sub(w.at[i-1]); got < want {
			t.Fatalf("packet %d came %v after the one before, want at least %v", i, got, want)
		}
	}
}

// Close does not wait for a paced frame to finish.
func TestSourcePacingStopsOnClose(t *testing.T) {
	t.Parallel()
	w := &timedCollector{got: make(chan struct{}, 1)}
	// One frame a second paced at a thousandth of the bitrate: the frame
	// would take 0.9 s.
	s, err := NewVP8Source(w, SourceOptions{Bitrate: 1_000_000, FPS: 1, Pacing: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(t.Context())
	<-w.got // the first packet is out; the rest are being paced
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Frames != 0 || st.Packets == 0 || int(st.Packets) != w.count() {
		t.Fatalf("stats %+v after %d packets: the frame should have been cut short", st, w.count())
	}
}

func TestSourceBadOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []SourceOptions{{FPS: -1}, {Bitrate: -5}, {Width: 1 << 14}, {KeyframeInterval: -time.Second}, {Pacing: -1}} {
		if _, err := NewVP8Source(&collector{}, o); err == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
}

type syncCollector struct{ n int }

func (s *syncCollector) WriteRTP(*rtp.Packet) error { s.n++; return nil }

type discard struct{}

func (discard) WriteRTP(*rtp.Packet) error { return nil }

func benchmarkSource(b *testing.B, newSrc func(RTPWriter, SourceOptions) (*Source, error), bitrate int) {
	s, err := newSrc(discard{}, SourceOptions{Bitrate: bitrate})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.WriteFrame()
	}
	st := s.Stats()
	b.ReportMetric(float64(st.Packets)/float64(st.Frames), "pkts/frame")
}

func BenchmarkSourceVP8(b *testing.B)  { benchmarkSource(b, NewVP8Source, 300_000) }
func BenchmarkSourceH264(b *testing.B) { benchmarkSource(b, NewH264Source, 1_000_000) }
func BenchmarkSourceOpus(b *testing.B) { benchmarkSource(b, NewOpusSource, 32_000) }
