package audiolevel

import "encoding/binary"

// Silence is the level of a packet with no audio: RFC 6464 levels are
// 0 (loudest, 0 dBov) to 127 (-127 dBov and below).
const Silence = 127

// Parse returns the level (0..127, as -dBov) and the voice activity flag
// of the RFC 6464 extension with the given id (1..14 for one-byte headers,
// 1..255 for two-byte ones) in the RTP packet b. ok is false when b is not
// an RTP packet, has no such extension, or the extension is malformed.
func Parse(b []byte, id uint8) (level uint8, voice bool, ok bool) {
	if id == 0 || len(b) < 12 || b[0]>>6 != 2 || b[0]&0x10 == 0 {
		return 0, false, false
	}
	h := 12 + 4*int(b[0]&0x0f) // CSRCs
	if len(b) < h+4 {
		return 0, false, false
	}
	profile := binary.BigEndian.Uint16(b[h:])
	end := h + 4 + 4*int(binary.BigEndian.Uint16(b[h+2:]))
	if len(b) < end {
		return 0, false, false
	}
	ext := b[h+4 : end]
	switch {
	case profile == 0xBEDE: // RFC 8285 one-byte header
		for i := 0; i < len(ext); {
			if ext[i] == 0 { // padding
				i++
				continue
			}
			eid, n := ext[i]>>4, int(ext[i]&0x0f)+1
			if eid == 0 || eid == 15 { // padding with a length, or reserved: stop reading
				return 0, false, false
			}
			i++
			if i+n > len(ext) {
				return 0, false, false
			}
			if eid == id {
				return ext[i] & 0x7f, ext[i]&0x80 != 0, true
			}
			i += n
		}
	case profile&0xfff0 == 0x1000: // RFC 8285 two-byte header
		for i := 0; i < len(ext); {
			if ext[i] == 0 { // padding
				i++
				continue
			}
			if i+2 > len(ext) {
				return 0, false, false
			}
			eid, n := ext[i], int(ext[i+1])
			i += 2
			if i+n > len(ext) {
				return 0, false, false
			}
			if eid == id {
				if n < 1 {
					return 0, false, false
				}
				return ext[i] & 0x7f, ext[i]&0x80 != 0, true
			}
			i += n
		}
	}
	return 0, false, false
}
