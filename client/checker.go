package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// CheckerOptions configure a Checker.
type CheckerOptions struct {
	// MimeType of the media (webrtc.MimeTypeVP8, ...), used to recognise
	// keyframes; other codecs count none.
	MimeType string
	// Now reads the clock to which marker send times are compared; default
	// time.Now. Latency is meaningful when sender and receiver share it.
	Now func() time.Time
}

// CheckerStats is a snapshot of what a Checker has seen.
type CheckerStats struct {
	Packets    uint64
	Bytes      uint64 // payload bytes
	BadRTP     uint64 // buffers that were not RTP packets (Run only)
	BadMarkers uint64 // payloads without a valid marker
	Streams    int    // distinct marker stream ids
	// Lost counts marker sequence numbers skipped and not (yet) seen; a
	// late packet decrements it and counts as Reordered.
	Lost       uint64
	Duplicates uint64
	Reordered  uint64
	Keyframes  uint64

	FirstPacketAt   time.Time
	FirstKeyframeAt time.Time
	// TimeToFirstKeyframe is FirstKeyframeAt - FirstPacketAt.
	TimeToFirstKeyframe time.Duration

	// Latency from marker send time to arrival, from a histogram with
	// buckets about 6% wide.
	LatencyP50, LatencyP95, LatencyP99, LatencyMax time.Duration
}

// seqWindow is the state of one marker stream: the highest sequence seen
// and a bitmap of the last seqWindowBits sequences.
type seqWindow struct {
	id      uint32
	first   uint32
	highest uint32
	seen    [seqWindowBits / 64]uint64
}

const seqWindowBits = 1024

func (w *seqWindow) bit(seq uint32) (word int, mask uint64) {
	i := seq % seqWindowBits
	return int(i / 64), 1 << (i % 64)
}

// Checker verifies synthetic media: markers, marker sequence gaps,
// duplicates, keyframes and latency. Feed it with Observe or let Run read a
// remote track. Safe for concurrent use; Observe does not allocate once a
// stream is known.
type Checker struct {
	now        func() time.Time
	isKeyframe func([]byte) bool

	mu      sync.Mutex
	st      CheckerStats
	streams []seqWindow
	lastKey uint32 // RTP timestamp of the last keyframe counted
	hist    LatencyHistogram
}

// NewChecker returns a Checker.
func NewChecker(opts CheckerOptions) *Checker {
	c := &Checker{now: opts.Now}
	if c.now == nil {
		c.now = time.Now
	}
	switch {
	case strings.EqualFold(opts.MimeType, webrtc.MimeTypeVP8):
		c.isKeyframe = isVP8Keyframe
	case strings.EqualFold(opts.MimeType, webrtc.MimeTypeH264):
		c.isKeyframe = isH264Keyframe
	default:
		c.isKeyframe = func([]byte) bool { return false }
	}
	return c
}

// Run reads RTP from track into the Checker until the track ends (nil) or
// ctx is done (ctx's error).
func (c *Checker) Run(ctx context.Context, track *webrtc.TrackRemote) error {
	stop := context.AfterFunc(ctx, func() { _ = track.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return nil
			}
			return fmt.Errorf("checker: read: %w", err)
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			c.mu.Lock()
			c.st.BadRTP++
			c.mu.Unlock()
			continue
		}
		c.Observe(&pkt)
	}
}

// Observe checks one packet, received now.
func (c *Checker) Observe(p *rtp.Packet) {
	c.ObserveAt(p.Timestamp, p.Payload, c.now())
}

// ObserveAt checks one payload with RTP timestamp ts, received at now.
func (c *Checker) ObserveAt(ts uint32, payload []byte, now time.Time) {
	m, ok := ParseMarker(payload)
	key := c.isKeyframe(payload)

	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.st
	if st.Packets == 0 {
		st.FirstPacketAt = now
	}
	st.Packets++
	st.Bytes += uint64(len(payload))
	if key && (st.Keyframes == 0 || ts != c.lastKey) {
		if st.Keyframes == 0 {
			st.FirstKeyframeAt = now
		}
		st.Keyframes++
		c.lastKey = ts
	}
	if !ok {
		st.BadMarkers++
		return
	}
	c.hist.Record(now.Sub(m.Sent()))
	c.sequence(m.StreamID, m.Seq)
}

func (c *Checker) sequence(id, seq uint32) {
	var w *seqWindow
	for i := range c.streams {
		if c.streams[i].id == id {
			w = &c.streams[i]
			break
		}
	}
	if w == nil {
		c.streams = append(c.streams, seqWindow{id: id, first: seq, highest: seq})
		w = &c.streams[len(c.streams)-1]
		word, mask := w.bit(seq)
		w.seen[word] |= mask
		return
	}
	st := &c.st
	switch d := int32(seq - w.highest); {
	case d > 0:
		st.Lost += uint64(d - 1)
		if d >= seqWindowBits {
			w.seen = [seqWindowBits / 64]uint64{}
		} else {
			for s := w.highest + 1; s != seq; s++ {
				word, mask := w.bit(s)
				w.seen[word] &^= mask
			}
		}
		w.highest = seq
		word, mask := w.bit(seq)
		w.seen[word] |= mask
	case d == 0:
		st.Duplicates++
	case -d >= seqWindowBits || int32(seq-w.first) < 0:
		st.Reordered++ // too old to tell, or from before the first packet
	default:
		word, mask := w.bit(seq)
		if w.seen[word]&mask != 0 {
			st.Duplicates++
			return
		}
		w.seen[word] |= mask
		st.Reordered++
		if st.Lost > 0 {
			st.Lost--
		}
	}
}

// Stats returns a snapshot.
func (c *Checker) Stats() CheckerStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.st
	st.Streams = len(c.streams)
	if st.Keyframes > 0 {
		st.TimeToFirstKeyframe = st.FirstKeyframeAt.Sub(st.FirstPacketAt)
	}
	st.LatencyP50 = c.hist.Quantile(0.50)
	st.LatencyP95 = c.hist.Quantile(0.95)
	st.LatencyP99 = c.hist.Quantile(0.99)
	st.LatencyMax = c.hist.Max()
	return st
}

// isVP8Keyframe reports whether payload starts a VP8 keyframe (RFC 7741:
// S bit, partition 0, P bit of the payload header clear).
func isVP8Keyframe(p []byte) bool {
	if len(p) < 1 || p[0]&0x10 == 0 || p[0]&0x07 != 0 {
		return false
	}
	i := 1
	if p[0]&0x80 != 0 { // extended control bits
		if len(p) < 2 {
			return false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // PictureID, 7 or 15 bits
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // TID / KEYIDX
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}

// isH264Keyframe reports whether payload carries an SPS or the start of an
// IDR slice (single NAL, STAP-A, or the first FU-A fragment).
func isH264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; t {
	case 5, 7:
		return true
	case h264TypeSTAPA:
		for i := 1; i+2 < len(p); {
			n := int(binary.BigEndian.Uint16(p[i:]))
			i += 2
			if t := p[i] & 0x1f; t == 5 || t == 7 {
				return true
			}
			i += n
		}
	case h264TypeFUA:
		return len(p) > 1 && p[1]&0x80 != 0 && p[1]&0x1f == 5
	}
	return false
}

// Latency returns a copy of the latency histogram so far, for merging the
// latencies of many tracks.
func (c *Checker) Latency() LatencyHistogram {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hist
}
