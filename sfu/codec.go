package sfu

import (
	"maps"
	"slices"
	"strings"

	"github.com/pion/webrtc/v4"
)

// CodecEvents is what Events may also do: hear that a track is not sent
// to the subscriber because its answer has no codec of the track's (a
// VP9 track, a client without VP9). The track's m-section goes inactive
// at the next offer and the track is not offered to it again.
type CodecEvents interface {
	TrackUnsupported(trackID, codec string)
}

// bindUnsupported binds a track whose codec the subscriber's answer
// lacks: rather than fail the whole answer (Pion would refuse it, and
// with it every other track), it takes the first codec the answer has
// for the m-section and sends nothing on it; the subscriber is told, and
// the track is taken out of its next offer.
func (d *downTrack) bindUnsupported(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var placeholder *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) {
			placeholder = &c
			break
		}
	}
	if placeholder == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	d.sub.refuseCodec(d.up)
	return *placeholder, nil // no binding: d writes nothing
}

// refuseCodec takes u out of what p is sent, and tells it why.
func (p *Participant) refuseCodec(u *upTrack) {
	p.mu.Lock()
	ids := slices.Collect(maps.Keys(p.noCodec))
	p.mu.Unlock()
	var ended []string // forgotten: the map holds live tracks only
	for _, id := range ids {
		if p.room.track(id) == nil {
			ended = append(ended, id)
		}
	}
	p.mu.Lock()
	if p.noCodec == nil {
		p.noCodec = make(map[string]bool)
	}
	for _, id := range ended {
		delete(p.noCodec, id)
	}
	p.noCodec[u.id] = true
	p.mu.Unlock()
	p.kick()
	if ev, ok := p.ev.(CodecEvents); ok {
		ev.TrackUnsupported(u.id, u.codec)
	}
}
