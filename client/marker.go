package client

import (
	"encoding/binary"
	"hash/crc32"
	"time"
)

// MarkerLen is the size of the marker at the end of every synthetic RTP
// payload.
const MarkerLen = 24

// markerMagic opens every marker: "LTH1".
const markerMagic = 0x4c544831

// Marker is the trailer of a synthetic RTP payload. On the wire (big-endian):
//
//	magic "LTH1" (4) | StreamID (4) | Seq (4) | SendTime unix nanos (8) | CRC-32
//
// The CRC (IEEE) covers every payload byte before it, marker fields
// included, so a receiver detects any change to the payload.
type Marker struct {
	StreamID uint32 // identifies the source
	Seq      uint32 // per source, +1 per packet
	SendTime int64  // unix nanoseconds when the packet was built
}

// Sent returns the send time as a time.Time.
func (m Marker) Sent() time.Time { return time.Unix(0, m.SendTime) }

// PutMarker writes m into the last MarkerLen bytes of payload and seals the
// whole payload with the CRC. Bytes before the marker must be final.
func PutMarker(payload []byte, m Marker) error {
	if len(payload) < MarkerLen {
		return ErrShortPayload
	}
	b := payload[len(payload)-MarkerLen:]
	binary.BigEndian.PutUint32(b[0:], markerMagic)
	binary.BigEndian.PutUint32(b[4:], m.StreamID)
	binary.BigEndian.PutUint32(b[8:], m.Seq)
	binary.BigEndian.PutUint64(b[12:], uint64(m.SendTime))
	binary.BigEndian.PutUint32(b[20:], crc32.ChecksumIEEE(payload[:len(payload)-4]))
	return nil
}

// ParseMarker reads the marker at the end of payload. It reports false when
// the payload is too short, the magic is wrong, or the CRC does not match.
func ParseMarker(payload []byte) (Marker, bool) {
	if len(payload) < MarkerLen {
		return Marker{}, false
	}
	b := payload[len(payload)-MarkerLen:]
	if binary.BigEndian.Uint32(b[0:]) != markerMagic {
		return Marker{}, false
	}
	if binary.BigEndian.Uint32(b[20:]) != crc32.ChecksumIEEE(payload[:len(payload)-4]) {
		return Marker{}, false
	}
	return Marker{
		StreamID: binary.BigEndian.Uint32(b[4:]),
		Seq:      binary.BigEndian.Uint32(b[8:]),
		SendTime: int64(binary.BigEndian.Uint64(b[12:])),
	}, true
}
