package keyframe

// VP8 reports whether payload, a VP8 RTP payload (RFC 7741), is the first
// packet of a key frame: the payload descriptor marks the start of
// partition 0 (S=1, PID=0) and the VP8 frame header that follows has the
// key-frame bit set (P=0) and the key-frame start code (RFC 6386 9.1).
func VP8(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	b := payload[0]
	if b&0x10 == 0 || b&0x07 != 0 { // S bit, partition index
		return false
	}
	i := 1
	if b&0x80 != 0 { // X: extended control bits
		if len(payload) <= i {
			return false
		}
		x := payload[i]
		i++
		if x&0x80 != 0 { // I: PictureID, 7 or 15 bits (M)
			if len(payload) <= i {
				return false
			}
			if payload[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	// Frame tag (3 bytes) then start code 0x9d 0x01 0x2a.
	if len(payload) < i+6 {
		return false
	}
	h := payload[i:]
	return h[0]&0x01 == 0 && h[3] == 0x9d && h[4] == 0x01 && h[5] == 0x2a
}

// H.264 NAL unit types (RFC 6184 5.2, H.264 Table 7-1).
const (
	nalIDR   = 5
	nalSPS   = 7
	nalSTAPA = 24
	nalFUA   = 28
)

// H264 reports whether payload, an H.264 RTP payload (RFC 6184), starts a
// keyframe: a single NAL unit, an aggregated NAL unit of a STAP-A, or the
// first fragment of an FU-A that is an IDR slice or a sequence parameter
// set (which encoders send just before an IDR).
func H264(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	switch t := payload[0] & 0x1f; t {
	case nalSTAPA:
		for rest := payload[1:]; len(rest) >= 2; {
			size := int(rest[0])<<8 | int(rest[1])
			rest = rest[2:]
			if size > len(rest) {
				return false
			}
			if size > 0 && isKey(rest[0]&0x1f) {
				return true
			}
			rest = rest[size:]
		}
		return false
	case nalFUA:
		return len(payload) >= 2 && payload[1]&0x80 != 0 && isKey(payload[1]&0x1f)
	default:
		return isKey(t)
	}
}

func isKey(nalType byte) bool {
	return nalType == nalIDR || nalType == nalSPS
}
