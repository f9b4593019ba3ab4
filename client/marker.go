package client

import (
	"encoding/binary"
	"hash/crc32"
	"time"
)

// MarkerLen is the size of the marker at the end of every synthetic RTP
// payload.
const MarkerLen = 24

// markerMagic opens the marker of a single-encoding stream: "LTH1". A
// simulcast layer's marker opens with "LTL" and the layer's digit
// ("LTL0" for the lowest): layerMagic + layer.
const (
	markerMagic = 0x4c544831
	layerMagic  = 0x4c544c30
)

// MaxMarkerLayer is the highest layer a marker can name.
const MaxMarkerLayer = 9

// Marker is the trailer of a synthetic RTP payload. On the wire (big-endian):
//
//	magic "LTH1" (4) | StreamID (4) | Seq (4) | SendTime unix nanos (8) | CRC-32
//
// A simulcast layer's marker has the magic "LTL0", "LTL1", ... (the
// layer, lowest first) and is otherwise the same, so a receiver of a
// simulcast track tells the layer of every packet.
//
// The CRC (IEEE) covers every payload byte before it, marker fields
// included, so a receiver detects any change to the payload.
type Marker struct {
	StreamID uint32 // identifies the source (each layer has its own)
	Seq      uint32 // per source, +1 per packet
	SendTime int64  // unix nanoseconds when the packet was built
	// Simulcast is set for a layer of a simulcast track; Layer is then
	// its index, 0 the lowest (at most MaxMarkerLayer).
	Simulcast bool
	Layer     int
}

// Sent returns the send time as a time.Time.
func (m Marker) Sent() time.Time { return time.Unix(0, m.SendTime) }

// PutMarker writes m into the last MarkerLen bytes of payload and seals the
// whole payload with the CRC. Bytes before the marker must be final.
func PutMarker(payload []byte, m Marker) error {
	if len(payload) < MarkerLen {
		return ErrShortPayload
	}
	magic := uint32(markerMagic)
	if m.Simulcast {
		if m.Layer < 0 || m.Layer > MaxMarkerLayer {
			return ErrBadOption
		}
		magic = layerMagic + uint32(m.Layer)
	}
	b := payload[len(payload)-MarkerLen:]
	binary.BigEndian.PutUint32(b[0:], magic)
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
	var m Marker
	switch magic := binary.BigEndian.Uint32(b[0:]); {
	case magic == markerMagic:
	case magic >= layerMagic && magic <= layerMagic+MaxMarkerLayer:
		m.Simulcast, m.Layer = true, int(magic-layerMagic)
	default:
		return Marker{}, false
	}
	if binary.BigEndian.Uint32(b[20:]) != crc32.ChecksumIEEE(payload[:len(payload)-4]) {
		return Marker{}, false
	}
	m.StreamID = binary.BigEndian.Uint32(b[4:])
	m.Seq = binary.BigEndian.Uint32(b[8:])
	m.SendTime = int64(binary.BigEndian.Uint64(b[12:]))
	return m, true
}
