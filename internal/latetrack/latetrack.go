// Package latetrack wraps a Pion local track so that it keeps its write
// stream after it is unbound: it sends what a peer could still have in
// flight when it removed a track, for the tests (of the SFU and of the Go
// SDK) of what must happen to such stragglers. It runs in tests only and
// imports nothing of the project.
package latetrack

import (
	"errors"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Track is a webrtc.TrackLocal that remembers its last binding.
type Track struct {
	webrtc.TrackLocal

	mu   sync.Mutex
	ws   webrtc.TrackLocalWriter
	ssrc uint32
	pt   uint8
}

// New wraps t.
func New(t webrtc.TrackLocal) *Track { return &Track{TrackLocal: t} }

// Bind binds the wrapped track and keeps the binding's write stream.
func (l *Track) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	c, err := l.TrackLocal.Bind(ctx)
	l.mu.Lock()
	l.ws, l.ssrc, l.pt = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType)
	l.mu.Unlock()
	return c, err
}

// WriteLate sends one packet with payload on the SSRC of the last binding,
// bound or not.
func (l *Track) WriteLate(seq uint16, payload []byte) error {
	return l.WriteAs(l.SSRC(), seq, 0, payload)
}

// SSRC is the SSRC of the last binding; 0 before any.
func (l *Track) SSRC() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ssrc
}

// WriteAs sends one packet with payload on the last binding's stream but
// with any SSRC: what a hostile sender does.
func (l *Track) WriteAs(ssrc uint32, seq uint16, ts uint32, payload []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ws == nil {
		return errors.New("latetrack: never bound")
	}
	_, err := l.ws.WriteRTP(&rtp.Header{Version: 2, PayloadType: l.pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, payload)
	return err
}
