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
	// FreezeThreshold is the time without a complete frame that counts
	// as a freeze; default DefaultFreezeThreshold.
	FreezeThreshold time.Duration
}

// DefaultFreezeThreshold is CheckerOptions.FreezeThreshold's default.
const DefaultFreezeThreshold = time.Second

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

	// Padding counts padding-only packets (an SFU's probes): no marker.
	Padding uint64

	// Simulcast receivers: packets with layer markers, fed with their RTP
	// sequence numbers (Observe, ObservePacket, Run). Loss, duplicates and
	// reordering then count the subscriber's RTP sequence numbers, which
	// the SFU keeps continuous across switches, not the markers (each
	// layer's markers jump when the SFU switches away and back).
	//
	// Layer is the layer of the last packet in order, -1 before any layer
	// marker; LayerSwitches counts changes of it, LastSwitchAt the last.
	Layer         int
	LayerSwitches uint64
	LastSwitchAt  time.Time
	// BadSwitches counts switches whose first packet did not start a
	// keyframe of the new layer (a decoder would see a broken reference).
	BadSwitches uint64
	// SwitchGaps counts RTP sequence gaps right at a switch (loss there,
	// or a rewriter that let sequence numbers jump).
	SwitchGaps uint64
	// SeqJumps counts RTP sequence number moves loss does not explain:
	// within one layer, an RTP gap other than the markers' gap (padding
	// between them allowed for).
	SeqJumps uint64
	// TimestampBackwards counts packets in order whose RTP timestamp is
	// older than the one before.
	TimestampBackwards uint64

	// Frames (RTP sequence numbers needed): CompleteFrames counts frames
	// of which every packet arrived, up to the one with the marker bit.
	// FrameGapMax is the longest time without a complete frame since
	// FreezeFrom (or the first packet), the current gap included, and
	// Freezes the gaps longer than the threshold; the SinceSwitch pair
	// counts from the last layer switch instead, when that is later.
	CompleteFrames      uint64
	FrameGapMax         time.Duration
	Freezes             uint64
	FrameGapSinceSwitch time.Duration
	FreezesSinceSwitch  uint64
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

	freezeAfter time.Duration
	// RTP sequence state (packets with a sequence number only).
	rtp        seqWindow // extended RTP sequence numbers, for layered tracks
	rtpStarted bool
	hasSeq     bool   // a packet with a sequence number was seen
	lastSeq    uint32 // extended sequence of the last packet in order
	lastTS     uint32
	lastMark   bool // the last packet in order ended a frame
	frameOK    bool // every packet of the current frame so far arrived
	pads       uint32
	lastLayer  int    // layer of the last media packet in order
	lastLSeq   uint32 // its marker sequence
	// Frame gaps.
	lastComplete time.Time
	freezeFrom   time.Time
}

// NewChecker returns a Checker.
func NewChecker(opts CheckerOptions) *Checker {
	c := &Checker{now: opts.Now, freezeAfter: opts.FreezeThreshold, lastLayer: -1}
	c.st.Layer = -1
	if c.now == nil {
		c.now = time.Now
	}
	if c.freezeAfter <= 0 {
		c.freezeAfter = DefaultFreezeThreshold
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
		c.ObservePacket(&pkt, c.now())
	}
}

// Observe checks one packet, received now.
func (c *Checker) Observe(p *rtp.Packet) { c.ObservePacket(p, c.now()) }

// ObservePacket checks one packet received at now, its RTP sequence
// number and marker bit included (layer switches, frames, freezes).
func (c *Checker) ObservePacket(p *rtp.Packet, now time.Time) {
	c.observe(p.Timestamp, p.Payload, now, true, p.SequenceNumber, p.Marker, p.Padding && len(p.Payload) == 0)
}

// ObserveAt checks one payload with RTP timestamp ts, received at now,
// without its RTP header: markers, keyframes and latency only.
func (c *Checker) ObserveAt(ts uint32, payload []byte, now time.Time) {
	c.observe(ts, payload, now, false, 0, false, false)
}

// FreezeFrom starts the frame-gap measure (FrameGapMax, Freezes) at t
// afresh, e.g. once a bandwidth limit has been applied or lifted.
func (c *Checker) FreezeFrom(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.freezeFrom = t
	c.st.FrameGapMax, c.st.Freezes = 0, 0
}

// ObserveFrame checks one whole frame (the plaintext of an end-to-end
// encrypted frame: see FrameReader) with RTP timestamp ts, received at
// now: its marker, keyframes (key) and latency.
func (c *Checker) ObserveFrame(ts uint32, frame []byte, key bool, now time.Time) {
	c.observeKey(ts, frame, key, now, false, 0, false, false)
}

func (c *Checker) observe(ts uint32, payload []byte, now time.Time, hasSeq bool, seq16 uint16, mark, padding bool) {
	c.observeKey(ts, payload, c.isKeyframe(payload), now, hasSeq, seq16, mark, padding)
}

func (c *Checker) observeKey(ts uint32, payload []byte, key bool, now time.Time, hasSeq bool, seq16 uint16, mark, padding bool) {
	m, ok := ParseMarker(payload)

	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.st
	if padding {
		st.Packets++
		st.Padding++
		if hasSeq {
			ext, inOrder := c.rtpSeq(seq16)
			if inOrder {
				c.pads++
			}
			if c.rtpStarted {
				c.sequenceRTP(ext)
			}
		}
		return
	}
	inOrder, gap := true, uint32(0)
	if hasSeq {
		var ext uint32
		ext, inOrder = c.rtpSeq(seq16)
		if inOrder {
			if c.hasSeq {
				gap = ext - c.lastSeq - 1
			}
			c.frame(ts, now, key, mark, gap > c.pads)
			c.lastSeq, c.hasSeq = ext, true
		}
		if ok && m.Simulcast {
			c.sequenceRTP(ext)
		}
	}
	if ok && m.Simulcast && inOrder {
		c.layer(m, key, hasSeq, gap, now)
	}
	if inOrder {
		c.pads = 0
	}
	if st.Packets == 0 {
		st.FirstPacketAt = now
		if c.freezeFrom.IsZero() {
			c.freezeFrom = now
		}
	}
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
	if !m.Simulcast || !hasSeq {
		c.sequence(m.StreamID, m.Seq)
	}
}

// rtpSeq extends a 16-bit RTP sequence number next to the last one in
// order, and reports whether it is in order (ahead of it).
func (c *Checker) rtpSeq(seq uint16) (uint32, bool) {
	if !c.hasSeq {
		return uint32(seq), true
	}
	d := int16(seq - uint16(c.lastSeq))
	ext := c.lastSeq + uint32(int32(d))
	return ext, d > 0
}

// frame follows frames in arrival order: a frame is complete when its
// marker-bit packet arrives and none of its packets was missing.
func (c *Checker) frame(ts uint32, now time.Time, key, mark, gap bool) {
	st := &c.st
	switch {
	case !c.hasSeq:
		c.frameOK = key
	case ts != c.lastTS:
		if int32(ts-c.lastTS) < 0 {
			st.TimestampBackwards++
		}
		c.frameOK = (c.lastMark && !gap) || key
	case gap:
		c.frameOK = false
	}
	c.lastTS, c.lastMark = ts, mark
	if !mark || !c.frameOK {
		return
	}
	st.CompleteFrames++
	if !c.lastComplete.IsZero() {
		c.gap(now)
	}
	c.lastComplete = now
}

// gap records the time without a complete frame that ends at now.
func (c *Checker) gap(now time.Time) {
	st := &c.st
	if d := now.Sub(latest(c.lastComplete, c.freezeFrom)); d > 0 {
		st.FrameGapMax = max(st.FrameGapMax, d)
		if d > c.freezeAfter {
			st.Freezes++
		}
	}
	if d := now.Sub(latest(c.lastComplete, st.LastSwitchAt)); d > 0 {
		st.FrameGapSinceSwitch = max(st.FrameGapSinceSwitch, d)
		if d > c.freezeAfter {
			st.FreezesSinceSwitch++
		}
	}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// layer follows the layer of packets in order.
func (c *Checker) layer(m Marker, key, hasSeq bool, gap uint32, now time.Time) {
	st := &c.st
	switch {
	case c.lastLayer < 0:
	case m.Layer != c.lastLayer:
		st.LayerSwitches++
		st.LastSwitchAt = now
		st.FrameGapSinceSwitch, st.FreezesSinceSwitch = 0, 0
		if !key {
			st.BadSwitches++
		}
		if gap > c.pads {
			st.SwitchGaps++
		}
	case hasSeq && m.Seq-c.lastLSeq+c.pads != gap+1:
		st.SeqJumps++
	}
	c.lastLayer, c.lastLSeq = m.Layer, m.Seq
	st.Layer = m.Layer
}

// sequenceRTP counts loss, duplicates and reordering on the extended RTP
// sequence numbers of a layered track.
func (c *Checker) sequenceRTP(ext uint32) {
	if !c.rtpStarted {
		c.rtpStarted = true
		c.rtp = seqWindow{first: ext, highest: ext}
		word, mask := c.rtp.bit(ext)
		c.rtp.seen[word] |= mask
		return
	}
	c.window(&c.rtp, ext)
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
	c.window(w, seq)
}

// window records seq in w: loss, duplicates, reordering.
func (c *Checker) window(w *seqWindow, seq uint32) {
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
	if !c.lastComplete.IsZero() {
		// The gap under way counts too: a stream that stopped is frozen.
		now := c.now()
		saved := c.st
		c.gap(now)
		st.FrameGapMax, st.Freezes = c.st.FrameGapMax, c.st.Freezes
		st.FrameGapSinceSwitch, st.FreezesSinceSwitch = c.st.FrameGapSinceSwitch, c.st.FreezesSinceSwitch
		c.st = saved
	}
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
