package client

import (
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// repairedRID is an interceptor that makes each retransmission (RTX) of a
// simulcast layer name its layer in the repaired-rtp-stream-id header
// extension, as RFC 8852 has it, instead of rtp-stream-id.
//
// Why: Pion's NACK responder builds an RTX packet from the original's
// header, extensions and all, so the layer's rid reaches the server in the
// rtp-stream-id of a new SSRC. Pion's receiver takes that for the layer's
// media coming from another SSRC, and moves the layer's track to it: from
// the first NACK the publisher answers on (loss, an ICE restart) the server
// reads the layer's RTX flow alone, and the layer freezes. With
// repaired-rtp-stream-id it takes the SSRC as the layer's RTX. Browsers
// send it so.
//
// It must come before the NACK responder in the registry: it then wraps
// the writer the responder sends RTX on.
type repairedRID struct {
	interceptor.NoOp
}

type repairedRIDFactory struct{}

func (repairedRIDFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &repairedRID{}, nil
}

// BindLocalStream rewrites the RTX packets of a stream that has an RTX
// SSRC and a negotiated rtp-stream-id.
func (*repairedRID) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var rid, repaired uint8
	for _, e := range info.RTPHeaderExtensions {
		switch e.URI {
		case sdp.SDESRTPStreamIDURI:
			rid = uint8(e.ID) //nolint:gosec // extension ids are 1-14
		case sdp.SDESRepairRTPStreamIDURI:
			repaired = uint8(e.ID) //nolint:gosec // extension ids are 1-14
		}
	}
	rtx := info.SSRCRetransmission
	if rtx == 0 || rid == 0 {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC != rtx || h.GetExtension(rid) == nil {
			return w.Write(h, payload, a)
		}
		// The responder keeps h for the next retransmission of the same
		// packet: change a copy.
		c := h.Clone()
		v := c.GetExtension(rid)
		_ = c.DelExtension(rid)
		if repaired != 0 {
			if err := c.SetExtension(repaired, v); err != nil {
				return 0, err
			}
		}
		return w.Write(&c, payload, a)
	})
}
