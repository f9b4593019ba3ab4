// Package h264 reads the picture size an H.264 stream announces in its
// sequence parameter sets (ITU-T H.264 7.3.2.1.1), from RTP payloads
// (RFC 6184). The SFU learns a simulcast layer's resolution from it, as
// it does from a VP8 keyframe's header, so that a subscriber's wish for a
// size can pick a layer.
//
// It reads only as far as the frame cropping fields, bounds every value
// it decodes and never panics on hostile input. It runs in the media
// worker, on publishers' packets.
package h264

import (
	"errors"
)

// NAL unit types this package looks at (H.264 Table 7-1, RFC 6184 5.2).
const (
	nalSPS   = 7
	nalSTAPA = 24
	nalFUA   = 28
)

// MaxDimension bounds the width and height an SPS may announce; larger
// ones are refused as malformed (H.264 level 6.2 stops at 8192).
const MaxDimension = 16384

// ErrMalformed is returned for an SPS that does not parse, or announces
// a size out of bounds.
var ErrMalformed = errors.New("h264: malformed sequence parameter set")

// Size returns the picture size of the first SPS in an RTP payload: a
// single SPS NAL unit, an STAP-A holding one, or the first fragment of
// one (FU-A, when the fields up to the cropping are in it). ok is false
// when the payload holds none, or none that parses.
func Size(payload []byte) (width, height int, ok bool) {
	if len(payload) < 2 {
		return 0, 0, false
	}
	switch payload[0] & 0x1f {
	case nalSPS:
		return sizeOf(payload)
	case nalSTAPA:
		for rest := payload[1:]; len(rest) >= 2; {
			n := int(rest[0])<<8 | int(rest[1])
			rest = rest[2:]
			if n > len(rest) {
				return 0, 0, false
			}
			if n > 0 && rest[0]&0x1f == nalSPS {
				return sizeOf(rest[:n])
			}
			rest = rest[n:]
		}
	case nalFUA:
		if payload[1]&0x80 != 0 && payload[1]&0x1f == nalSPS { // start of an SPS
			return sizeOf(append([]byte{payload[0]&0xe0 | nalSPS}, payload[2:]...))
		}
	}
	return 0, 0, false
}

func sizeOf(nal []byte) (int, int, bool) {
	w, h, err := ParseSPS(nal)
	return w, h, err == nil
}

// profiles whose SPS carries chroma_format_idc and what follows it.
func highProfile(p uint32) bool {
	switch p {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// ParseSPS returns the cropped picture size an SPS NAL unit (its header
// byte first, emulation prevention bytes still in) announces.
func ParseSPS(nal []byte) (width, height int, err error) {
	if len(nal) < 4 || nal[0]&0x1f != nalSPS {
		return 0, 0, ErrMalformed
	}
	r := bitReader{b: unescape(nal[1:])}
	profile := r.bits(8)
	r.bits(16) // constraint flags, level
	r.ue()     // seq_parameter_set_id
	chroma := uint32(1)
	separatePlanes := false
	if highProfile(profile) {
		if chroma = r.ue(); chroma > 3 {
			return 0, 0, ErrMalformed
		}
		if chroma == 3 {
			separatePlanes = r.bits(1) == 1
		}
		r.ue()              // bit_depth_luma_minus8
		r.ue()              // bit_depth_chroma_minus8
		r.bits(1)           // qpprime_y_zero_transform_bypass_flag
		if r.bits(1) == 1 { // seq_scaling_matrix_present_flag
			lists := 8
			if chroma == 3 {
				lists = 12
			}
			for i := range lists {
				if r.bits(1) == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					r.scalingList(size)
				}
			}
		}
	}
	r.ue()          // log2_max_frame_num_minus4
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.bits(1) // delta_pic_order_always_zero_flag
		r.se()    // offset_for_non_ref_pic
		r.se()    // offset_for_top_to_bottom_field
		n := r.ue()
		if n > 255 {
			return 0, 0, ErrMalformed
		}
		for range n {
			r.se()
		}
	}
	r.ue()    // max_num_ref_frames
	r.bits(1) // gaps_in_frame_num_value_allowed_flag
	wMBs := r.ue() + 1
	hUnits := r.ue() + 1
	frameMBsOnly := r.bits(1)
	if frameMBsOnly == 0 {
		r.bits(1) // mb_adaptive_frame_field_flag
	}
	r.bits(1) // direct_8x8_inference_flag
	var cropL, cropR, cropT, cropB uint32
	if r.bits(1) == 1 {
		cropL, cropR, cropT, cropB = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.bad || wMBs > MaxDimension/16 || hUnits > MaxDimension/16 {
		return 0, 0, ErrMalformed
	}
	// Crop units (H.264 7.4.2.1.1): in luma samples, by chroma format.
	unitX, unitY := uint32(1), 2-frameMBsOnly
	if chroma != 0 && !separatePlanes {
		subW, subH := uint32(2), uint32(2) // 4:2:0
		switch chroma {
		case 2:
			subH = 1
		case 3:
			subW, subH = 1, 1
		}
		unitX, unitY = subW, subH*(2-frameMBsOnly)
	}
	w := int64(wMBs) * 16
	h := int64(2-frameMBsOnly) * int64(hUnits) * 16
	w -= int64(cropL+cropR) * int64(unitX)
	h -= int64(cropT+cropB) * int64(unitY)
	if w <= 0 || h <= 0 || w > MaxDimension || h > MaxDimension {
		return 0, 0, ErrMalformed
	}
	return int(w), int(h), nil
}

// unescape removes the emulation prevention bytes (0x000003 → 0x0000).
func unescape(b []byte) []byte {
	var out []byte
	zeros := 0
	for i, c := range b {
		if zeros >= 2 && c == 3 {
			if out == nil {
				out = append(make([]byte, 0, len(b)), b[:i]...)
			}
			zeros = 0
			continue
		}
		if out != nil {
			out = append(out, c)
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	if out == nil {
		return b
	}
	return out
}

// bitReader reads an RBSP most significant bit first. Reading past the
// end, or an Exp-Golomb code too long for 32 bits, sets bad and yields 0.
type bitReader struct {
	b   []byte
	pos int // in bits
	bad bool
}

func (r *bitReader) bits(n int) uint32 {
	var v uint32
	for range n {
		if r.pos >= 8*len(r.b) {
			r.bad = true
			return 0
		}
		v = v<<1 | uint32(r.b[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v
}

// ue reads an unsigned Exp-Golomb code (H.264 9.1).
func (r *bitReader) ue() uint32 {
	zeros := 0
	for r.bits(1) == 0 {
		if r.bad || zeros == 31 {
			r.bad = true
			return 0
		}
		zeros++
	}
	return 1<<zeros - 1 + r.bits(zeros)
}

// se reads a signed Exp-Golomb code.
func (r *bitReader) se() int32 {
	k := r.ue()
	if k&1 == 1 {
		return int32((k + 1) / 2)
	}
	return -int32(k / 2)
}

// scalingList skips a scaling_list() of size entries (H.264 7.3.2.1.1.1).
func (r *bitReader) scalingList(size int) {
	last, next := int32(8), int32(8)
	for range size {
		if next != 0 {
			delta := r.se()
			if r.bad {
				return
			}
			next = (last + delta + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
}
