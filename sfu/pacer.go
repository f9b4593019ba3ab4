package sfu

import (
	"fmt"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/rtp"
)

// streamPacer is the send-side estimator's pacer on a subscriber
// PeerConnection: like gcc's NoOpPacer it sends every packet at once, but
// it forgets a stream when its sender stops. gcc's AddStream has no
// counterpart and cc's interceptor no UnbindLocalStream, so with the
// NoOpPacer the writer chain of every sender a long-lived subscriber was
// ever given (down to the RTPSender, its sender-report state and SRTP
// writer) stayed reachable until the PeerConnection closed.
type streamPacer struct {
	mu      sync.RWMutex
	writers map[uint32]interceptor.RTPWriter
}

var _ gcc.Pacer = (*streamPacer)(nil)

func newStreamPacer() *streamPacer {
	return &streamPacer{writers: make(map[uint32]interceptor.RTPWriter)}
}

// AddStream is called by the estimator for each stream bound to it.
func (p *streamPacer) AddStream(ssrc uint32, w interceptor.RTPWriter) {
	p.mu.Lock()
	p.writers[ssrc] = w
	p.mu.Unlock()
}

// remove forgets the stream of ssrc.
func (p *streamPacer) remove(ssrc uint32) {
	p.mu.Lock()
	delete(p.writers, ssrc)
	p.mu.Unlock()
}

// streams is how many streams p holds.
func (p *streamPacer) streams() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.writers)
}

// Write sends a packet on its stream's writer.
func (p *streamPacer) Write(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
	p.mu.RLock()
	w := p.writers[h.SSRC]
	p.mu.RUnlock()
	if w == nil {
		return 0, fmt.Errorf("%w: %d", gcc.ErrUnknownStream, h.SSRC)
	}
	return w.Write(h, payload, a)
}

// SetTargetBitrate does nothing: packets are not paced.
func (p *streamPacer) SetTargetBitrate(int) {}

// Close does nothing: the writers belong to their streams.
func (p *streamPacer) Close() error { return nil }

// pacerUnbinder is an interceptor that removes a stopped sender's stream
// from its PeerConnection's pacer.
type pacerUnbinder struct {
	interceptor.NoOp
	p *streamPacer
}

func (u *pacerUnbinder) UnbindLocalStream(info *interceptor.StreamInfo) { u.p.remove(info.SSRC) }

// pacerUnbinderFactory makes the pacerUnbinder of one PeerConnection.
type pacerUnbinderFactory struct{ p *streamPacer }

func (f pacerUnbinderFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &pacerUnbinder{p: f.p}, nil
}
