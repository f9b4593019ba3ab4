package client

import "encoding/binary"

// MaxPayload is the largest RTP payload a synthetic source builds.
const MaxPayload = 1200

// frame is the reusable output of a payloader: the RTP payloads of one
// frame, each ending with MarkerLen zero bytes where the Source writes the
// marker. Its buffers are reused from frame to frame.
type frame struct {
	bufs [][]byte
	// body[i] is where payload i's free body starts: the bytes from there
	// to the marker are zeros the codec lets carry any value (VP8 token
	// partition data, an H.264 slice body, Opus padding). SourceOptions.Fill
	// goes there.
	body []int
	n    int
}

func (f *frame) reset() { f.n = 0 }

// add returns a zeroed payload of size bytes with no free body until
// setBody says otherwise.
func (f *frame) add(size int) []byte {
	if f.n == len(f.bufs) {
		f.bufs = append(f.bufs, make([]byte, 0, MaxPayload))
		f.body = append(f.body, 0)
	}
	b := f.bufs[f.n]
	if cap(b) < size {
		b = make([]byte, size)
	}
	b = b[:size]
	clear(b)
	f.bufs[f.n] = b
	f.body[f.n] = size - MarkerLen
	f.n++
	return b
}

// setBody marks the bytes of the payload last added from off up to the
// marker as free body.
func (f *frame) setBody(off int) {
	i := f.n - 1
	f.body[i] = min(max(off, 0), len(f.bufs[i])-MarkerLen)
}

func (f *frame) payloads() [][]byte { return f.bufs[:f.n] }

// size is the total of the payloads' lengths.
func (f *frame) size() int {
	n := 0
	for _, b := range f.payloads() {
		n += len(b)
	}
	return n
}

// fill writes the repeating pattern into every payload's free body,
// continuing at *phase, which it advances.
func (f *frame) fill(pattern []byte, phase *int) {
	if len(pattern) == 0 {
		return
	}
	for i, b := range f.payloads() {
		for j := f.body[i]; j < len(b)-MarkerLen; j++ {
			b[j] = pattern[*phase]
			if *phase++; *phase == len(pattern) {
				*phase = 0
			}
		}
	}
}

// payloader turns one frame of about size bytes into RTP payloads.
type payloader interface {
	build(f *frame, key bool, size int)
}

// split divides total bytes into n nearly equal parts; part i's size.
func split(total, n, i int) int {
	s := total / n
	if i < total%n {
		s++
	}
	return s
}

// VP8 (RFC 7741 payload descriptor; RFC 6386 frame header).
const (
	vp8FirstPartLen = 32 // zero-filled first partition
	vp8KeyHeaderLen = 10 // frame tag, start code, width, height
	vp8TagLen       = 3  // interframes carry only the frame tag
	vp8DescS        = 0x10
)

type vp8Payloader struct {
	width, height uint16
}

// build writes one VP8 frame. The first packet holds the payload
// descriptor, the frame header and the whole first partition; everything
// after it, markers included, is token-partition data.
func (v vp8Payloader) build(f *frame, key bool, size int) {
	hdr := vp8TagLen
	if key {
		hdr = vp8KeyHeaderLen
	}
	minFirst := 1 + hdr + vp8FirstPartLen + MarkerLen
	size = max(size, minFirst)
	n := (size + MaxPayload - 1) / MaxPayload
	for i := range n {
		p := f.add(max(split(size, n, i), 1+MarkerLen))
		if i > 0 {
			f.setBody(1) // descriptor 0x00: continuation, partition 0
			continue
		}
		f.setBody(1 + hdr + vp8FirstPartLen) // the first partition stays zero
		p[0] = vp8DescS
		tag := uint32(vp8FirstPartLen)<<5 | 1<<4 // show_frame, version 0
		if !key {
			tag |= 1 // inter frame
		}
		p[1], p[2], p[3] = byte(tag), byte(tag>>8), byte(tag>>16)
		if key {
			p[4], p[5], p[6] = 0x9d, 0x01, 0x2a
			binary.LittleEndian.PutUint16(p[7:], v.width&0x3fff)
			binary.LittleEndian.PutUint16(p[9:], v.height&0x3fff)
		}
	}
}

// H.264 (RFC 6184, packetization-mode 1).
const (
	// h264SPS: baseline (66), constraint_set0..2, level 3.1, sps id 0,
	// log2_max_frame_num 4, pic_order_cnt_type 2, 1 ref frame,
	// 320x240 (20x15 macroblocks), frame_mbs_only, direct_8x8_inference.
	h264SPS = "\x67\x42\xe0\x1f\xda\x05\x07\xe4"
	// h264PPS: ids 0, CAVLC, 1 slice group, deblocking control present.
	h264PPS = "\x68\xce\x3c\x80"
	// Slice headers (first_mb 0, I or P, pps 0, frame_num 0, qp delta 0,
	// deblocking off) for an IDR slice and a non-IDR P slice.
	h264IDRHeader = "\x65\x88\x84\xa0"
	h264PHeader   = "\x41\x9a\x02\x80"

	h264TypeFiller = 12
	h264TypeSTAPA  = 24
	h264TypeFUA    = 28
)

type h264Payloader struct{}

// build writes one H.264 access unit. A keyframe starts with a STAP-A of
// SPS, PPS and a filler NAL that carries that packet's marker; the slice
// follows as one NAL unit packet or as FU-A fragments. Each packet's
// marker ends its payload and so is part of the NAL unit's bytes.
func (h264Payloader) build(f *frame, key bool, size int) {
	nal := h264PHeader
	if key {
		nal = h264IDRHeader
		p := f.add(1 + 2 + len(h264SPS) + 2 + len(h264PPS) + 2 + 1 + MarkerLen)
		p[0] = 0x60 | h264TypeSTAPA
		i := 1
		for _, u := range []string{h264SPS, h264PPS} {
			binary.BigEndian.PutUint16(p[i:], uint16(len(u)))
			i += 2 + copy(p[i+2:], u)
		}
		binary.BigEndian.PutUint16(p[i:], 1+MarkerLen)
		p[i+2] = h264TypeFiller
	}
	// NAL body length (after the NAL header byte), markers excluded.
	body := max(size-1-MarkerLen, len(nal)-1)
	if 1+body+MarkerLen <= MaxPayload {
		p := f.add(1 + body + MarkerLen)
		f.setBody(copy(p, nal))
		return
	}
	const room = MaxPayload - 2 - MarkerLen
	n := (body + room - 1) / room
	indicator := nal[0]&0xe0 | h264TypeFUA
	for i := range n {
		chunk := split(body, n, i)
		p := f.add(2 + chunk + MarkerLen)
		p[0] = indicator
		p[1] = nal[0] & 0x1f
		f.setBody(2)
		switch i {
		case 0:
			p[1] |= 0x80
			f.setBody(2 + copy(p[2:], nal[1:]))
		case n - 1:
			p[1] |= 0x40
		}
	}
}

// Opus (RFC 6716 §3.2.5, code 3 packet with padding).
const (
	opusTOC        = 0xfb // config 31 (CELT FB 20 ms), mono, code 3
	opusCount      = 0x41 // CBR, padding present, 1 frame
	opusMinPacket  = 4 + 1 + MarkerLen
	opusFrameBytes = 2
)

type opusPayloader struct{}

// build writes one 20 ms Opus packet of exactly size bytes (at least
// opusMinPacket): TOC, frame count, padding length, the 2-byte frame
// FF FE, then padding that ends with the marker.
func (opusPayloader) build(f *frame, _ bool, size int) {
	size = max(size, opusMinPacket)
	// l padding-length bytes: l-1 bytes of 255 (254 each) and a final
	// byte 0..254, so 4+l+pad covers every size with the smallest l.
	l := (size - 4 + 254) / 255
	pad := size - 4 - l
	p := f.add(size)
	p[0], p[1] = opusTOC, opusCount
	for i := range l - 1 {
		p[2+i] = 255
	}
	p[1+l] = byte(pad - 254*(l-1))
	p[2+l], p[3+l] = 0xff, 0xfe
	f.setBody(4 + l) // padding, which RFC 6716 lets carry any value
}
