package sfu

import (
	"encoding/binary"
	"time"

	"github.com/lethe-rtc/lethe/internal/ackrate"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// ackedEstimator is a subscriber's bandwidth estimator (Pion's gcc) with
// an ackrate.Meter beside it: each packet the estimator sees sent, and
// each TWCC feedback it reads, the meter sees too, so the allocator knows
// what the downlink delivered of what was sent (bwe.go) — which Pion's
// estimator keeps to itself.
type ackedEstimator struct {
	cc.BandwidthEstimator
	acks *ackrate.Meter
	now  func() int64 // unix nanos
}

var _ cc.BandwidthEstimator = (*ackedEstimator)(nil)

// AddStream records the size and departure of each packet of the stream
// by its transport-wide sequence number (set before, by the TWCC header
// interceptor).
func (e *ackedEstimator) AddStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	next := e.BandwidthEstimator.AddStream(info, w)
	id := 0
	for _, x := range info.RTPHeaderExtensions {
		if x.URI == sdp.TransportCCURI {
			id = x.ID
			break
		}
	}
	if id == 0 {
		return next
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if ext := h.GetExtension(uint8(id)); len(ext) >= 2 {
			e.acks.Sent(binary.BigEndian.Uint16(ext), rtpSize(h, payload), e.now())
		}
		return next.Write(h, payload, a)
	})
}

// WriteRTCP shows the meter each TWCC feedback before the estimator reads it.
func (e *ackedEstimator) WriteRTCP(pkts []rtcp.Packet, a interceptor.Attributes) error {
	for _, p := range pkts {
		if fb, ok := p.(*rtcp.TransportLayerCC); ok {
			e.acks.Feedback(fb)
		}
	}
	return e.BandwidthEstimator.WriteRTCP(pkts, a)
}

// newAckedEstimator makes a subscriber PeerConnection's estimator
// (newEstimator) with its meter, on the clock now.
func newAckedEstimator(pacer gcc.Pacer, now func() time.Time) (cc.BandwidthEstimator, error) {
	e, err := newEstimator(pacer)
	if err != nil {
		return nil, err
	}
	return &ackedEstimator{BandwidthEstimator: e, acks: new(ackrate.Meter), now: func() int64 { return now().UnixNano() }}, nil
}
