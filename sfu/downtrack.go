package sfu

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lethe-rtc/lethe/internal/rewrite"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// downTrack sends one published track to one subscriber. It is the
// webrtc.TrackLocal on the subscriber's PeerConnection.
type downTrack struct {
	up  *upTrack
	sub *Participant

	b       atomic.Pointer[binding] // nil until negotiated; set under sending
	needKey atomic.Bool             // drop until a keyframe starts (one layer)
	resume  atomic.Bool             // the next forwarded packet starts a new epoch

	// Simulcast: cur is the layer being sent (-1: none yet, or it must
	// start again from a keyframe), target the one the allocator chose
	// to send (-1: paused), desired the one it would send were every
	// layer being published (dynacast asks the publisher for it). Only
	// the writer changes cur, on a keyframe of target.
	cur, target, desired atomic.Int32
	// pausedBW says the allocator paused the track for bandwidth (the
	// subscriber was told); the allocator's alone.
	pausedBW bool

	// sending is held shared by each write, from reading b to the end of
	// the write, and alone to change b: once Unbind or close returns, no
	// packet goes out on the old SSRC. A client that gets one after it
	// applied the offer without it would take it for a new, undeclared
	// stream (Pion then makes up a track for it).
	sending sync.RWMutex

	mu    sync.Mutex // guards rw and vp8
	rw    *rewrite.Stream
	vp8   vp8Munger // picture ids across layer switches (simulcast VP8)
	munge bool      // whether vp8 is used
	svc   *svcDown  // an SVC track's layer selection (svc.go); nil for others

	// hdr and scratch are the header and payload copy of the packet
	// being forwarded. The subscriber's queue is drained by one sender at
	// a time, so they have one user; retransmissions have their own.
	hdr     rtp.Header
	scratch []byte

	sender *webrtc.RTPSender
}

type binding struct {
	ssrc uint32
	pt   uint8
	ws   webrtc.TrackLocalWriter
}

var _ webrtc.TrackLocal = (*downTrack)(nil)

func newDownTrack(u *upTrack, sub *Participant) *downTrack {
	d := &downTrack{up: u, sub: sub, rw: rewrite.New(u.remote.Codec().ClockRate)}
	d.cur.Store(-1)
	top := int32(len(u.layers) - 1)
	d.target.Store(top)
	d.desired.Store(top)
	if u.simulcast() && u.vp8 {
		d.munge = true
		d.scratch = make([]byte, 1500)
	}
	if u.svc != nil {
		d.svc = &svcDown{}
		d.svc.temporal.Store(7)
	}
	return d
}

// ID is the track id subscribers see: the SFU's id of the published track.
func (d *downTrack) ID() string { return d.up.id }

// StreamID is the publishing participant's id.
func (d *downTrack) StreamID() string { return d.up.owner.id }

// RID is empty: one encoding per track for now.
func (d *downTrack) RID() string { return "" }

// Kind is audio or video.
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.up.remote.Kind() }

// Bind picks the subscriber's payload type for the publisher's codec.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := d.up.remote.Codec()
	var match *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if strings.EqualFold(c.SDPFmtpLine, want.SDPFmtpLine) {
			match = &c
			break
		}
		if match == nil {
			match = &c
		}
	}
	if match == nil {
		return d.bindUnsupported(ctx) // codec.go
	}
	d.needKey.Store(d.up.isKey != nil)
	d.cur.Store(-1)
	d.sub.sent.bind(uint32(ctx.SSRC()), true) // before its RTCP stream opens
	d.setBinding(&binding{ssrc: uint32(ctx.SSRC()), pt: uint8(match.PayloadType), ws: ctx.WriteStream()})
	if t := d.target.Load(); t >= 0 {
		d.up.requestKeyframe(d.up.keyLayer(int(t)))
	}
	return *match, nil
}

// Unbind stops sending.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	if b := d.b.Load(); b != nil {
		d.sub.sent.bind(b.ssrc, false)
	}
	d.setBinding(nil)
	return nil
}

// setBinding replaces the binding once no write is using the old one.
func (d *downTrack) setBinding(b *binding) {
	d.sending.Lock()
	defer d.sending.Unlock()
	d.b.Store(b)
}

func (d *downTrack) start() {
	d.attach()
	d.sub.s.wg.Add(1)
	go func() {
		defer d.sub.s.wg.Done()
		readRTCP(d.sender, func() *downTrack { return d }, d.up.isClosed)
	}()
}

// attach makes d one of its track's subscribers: the track's readers
// queue packets for it from now on.
func (d *downTrack) attach() {
	d.up.addDown(d)
	d.up.updateWanted() // it wants the top layer until its first allocation says otherwise
}

// close stops d for good: when it returns, d writes nothing any more.
func (d *downTrack) close() {
	d.up.removeDown(d)
	d.setBinding(nil)
}

// restart makes the subscriber wait for a keyframe and start a new
// rewrite epoch with it, after the publisher resumed a paused track.
func (d *downTrack) restart() {
	d.resume.Store(true)
	d.needKey.Store(d.up.isKey != nil)
	d.cur.Store(-1)
}

// outPacket is what a subscriber's queue carries besides the bytes.
type outPacket struct {
	d      *downTrack
	resume bool // first packet after a pause: begin a new epoch
	layer  int8 // the simulcast layer it is of
	key    bool // it starts a keyframe
}

// sendLayer decides, on the writer, whether a packet of layer l (key:
// starting a keyframe) goes out to a simulcast subscriber, switching to
// the target layer on its keyframe. It reports whether to send and
// whether the packet begins a new rewrite epoch.
func (d *downTrack) sendLayer(l int8, key bool) (send, switched bool) {
	cur, target := d.cur.Load(), d.target.Load()
	switch {
	case target < 0:
		return false, false
	case int32(l) == target && cur != target:
		if !key {
			return false, false
		}
		if !d.cur.CompareAndSwap(cur, target) {
			return false, false
		}
		d.sub.ev.TrackLayer(d.up.id, d.up.layers[target].rid, int(target))
		return true, true
	case int32(l) == cur:
		return true, false
	}
	return false, false
}

// write sends pkt (12-byte header + payload) to this subscriber with h, a
// header of the caller's, rewritten for it: its sequence number,
// timestamp, SSRC and payload type, and for simulcast VP8 its picture
// ids, in scratch (the caller's, as h). pkt is not changed. resume
// starts a new rewrite epoch first; mark sets the RTP marker (the end
// of a picture, for SVC) whatever pkt's.
func (d *downTrack) write(pkt []byte, resume, mark bool, now time.Time, h *rtp.Header, scratch []byte) bool {
	d.sending.RLock()
	defer d.sending.RUnlock()
	b := d.b.Load()
	if b == nil {
		return false
	}
	seq := binary.BigEndian.Uint16(pkt[2:])
	ts := binary.BigEndian.Uint32(pkt[4:])
	payload := pkt[12:]
	if pkt[0]&0x20 != 0 { // stripExtensions checked that the padding fits
		payload = pkt[12 : len(pkt)-int(pkt[len(pkt)-1])]
	}
	d.mu.Lock()
	if resume {
		d.rw.Pause()
		d.vp8.rebase()
	}
	ok := true
	if d.svc != nil {
		seq, ok = d.svc.skips.Forward(seq) // without the holes of layers not sent
	}
	var outSeq uint16
	var outTS uint32
	if ok {
		outSeq, outTS, ok = d.rw.Rewrite(seq, ts, now)
	}
	if ok && d.munge && len(payload) <= len(scratch) {
		n := copy(scratch, payload)
		payload = scratch[:n]
		d.vp8.munge(payload)
	}
	d.mu.Unlock()
	if !ok {
		return false
	}
	// Pion's Write(b) would parse pkt into a newly allocated packet;
	// WriteRTP takes the header as it is.
	*h = rtp.Header{
		Version: 2, Marker: mark || pkt[1]&0x80 != 0, PayloadType: b.pt,
		SequenceNumber: outSeq, Timestamp: outTS, SSRC: b.ssrc,
	}
	if pkt[0]&0x20 != 0 {
		h.Padding, h.PaddingSize = true, pkt[len(pkt)-1]
	}
	n, err := b.ws.WriteRTP(h, payload)
	switch {
	case err != nil:
		d.sub.s.stats.droppedWriteError.Add(1)
		return false
	case n == 0:
		// Pion drops writes silently until SRTP is up. Whatever was lost
		// here, the subscriber must start again from a keyframe.
		d.sub.s.stats.droppedNotConnected.Add(1)
		d.needKey.Store(d.up.isKey != nil)
		d.cur.Store(-1)
		return false
	}
	d.sub.s.stats.packetsOut.Add(1)
	size := rtpSize(h, payload)
	d.sub.s.metrics.bytesOut.Add(uint64(size))
	d.sub.bwe.sent.Add(int64(size))
	return true
}

// pad sends one padding-only packet (a bandwidth probe, bwe.go) after
// the newest packet d sent, with h as its header. It reports false when
// d cannot send one now.
func (d *downTrack) pad(h *rtp.Header) bool {
	d.sending.RLock()
	defer d.sending.RUnlock()
	b := d.b.Load()
	if b == nil {
		return false
	}
	d.mu.Lock()
	seq, ts, ok := d.rw.Pad()
	d.mu.Unlock()
	if !ok {
		return false
	}
	// The padding goes as the payload (its last byte the count), not as
	// the header's PaddingSize: Pion's estimator reckons a packet's size
	// as its header and payload only, and would count a probe as 20 bytes.
	*h = rtp.Header{
		Version: 2, Padding: true, PayloadType: b.pt,
		SequenceNumber: seq, Timestamp: ts, SSRC: b.ssrc,
	}
	n, err := b.ws.WriteRTP(h, probePadding[:])
	if err != nil || n == 0 {
		return false
	}
	d.sub.s.stats.paddingOut.Add(1)
	size := rtpSize(h, probePadding[:])
	d.sub.s.metrics.bytesOut.Add(uint64(size))
	d.sub.bwe.sent.Add(int64(size))
	d.sub.bwe.padSent.Add(int64(size))
	return true
}

// rtpSize is the size of an RTP packet of header h and payload: what the
// downlink's accounting counts (bwe.go, acked.go), as the layers'
// bitrates do; SRTP's tag is left out of all of them alike.
func rtpSize(h *rtp.Header, payload []byte) int {
	return h.MarshalSize() + len(payload) + int(h.PaddingSize)
}

// probePadding is the payload of a padding-only packet: padSize bytes,
// the last of which says so. Never written to.
var probePadding = func() (b [padSize]byte) {
	b[padSize-1] = padSize
	return b
}()

// maxBadRTCP is how many failed RTCP reads readRTCP puts up with before
// it gives up on its sender.
const maxBadRTCP = 1000

// readRTCP reads what the subscriber sends on sender until it stops (or
// over says the source is gone, once a read fails) and lets the
// downTrack cur returns then answer it: its NACKs from the track's cache,
// its keyframe requests passed to the publisher. cur is fixed for an
// ordinary subscription; for a follower's slot (follow.go) it is
// whichever source the slot carries now, or nil for none.
func readRTCP(sender *webrtc.RTPSender, cur func() *downTrack, over func() bool) {
	buf := make([]byte, 1500)
	scratch := make([]byte, 1500)
	var hdr rtp.Header
	bad := 0
	for {
		pkts, _, err := sender.ReadRTCP()
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrClosedPipe), over():
			return
		default:
			// A packet the estimator's feedback reader refused (e.g. bad
			// TWCC feedback from this subscriber): the next one may do.
			if bad++; bad > maxBadRTCP {
				return
			}
			continue
		}
		if d := cur(); d != nil {
			d.handleRTCP(pkts, buf, scratch, &hdr)
		}
	}
}

// handleRTCP answers one compound RTCP packet of the subscriber's; buf,
// scratch and hdr are the reader's.
func (d *downTrack) handleRTCP(pkts []rtcp.Packet, buf, scratch []byte, hdr *rtp.Header) {
	stats := &d.sub.s.stats
	for _, pk := range pkts {
		switch pk := pk.(type) {
		case *rtcp.TransportLayerNack:
			now := d.sub.s.cfg.Now()
			for _, pair := range pk.Nacks {
				for _, seq := range pair.PacketList() {
					stats.nacksIn.Add(1)
					d.mu.Lock()
					in, ok := d.rw.Reverse(seq)
					if ok && d.svc != nil {
						in, ok = d.svc.skips.Reverse(in)
					}
					cur := d.cur.Load()
					d.mu.Unlock()
					n := 0
					if ok {
						if !d.up.simulcast() {
							cur = 0
						}
						if cur >= 0 {
							n = d.up.layers[cur].cache.Get(in, buf)
						}
					}
					if n == 0 {
						stats.nackMisses.Add(1)
						continue
					}
					if !d.sub.bwe.allowRTX(now.UnixNano(), n) {
						stats.rtxLimited.Add(1)
						continue
					}
					mark := false
					if d.svc != nil {
						d.mu.Lock()
						mark = d.svcRetransmit(buf[:n])
						d.mu.Unlock()
					}
					if d.write(buf[:n], false, mark, now, hdr, scratch) {
						stats.retransmitted.Add(1)
					}
				}
			}
		case *rtcp.ReceiverReport:
			now := d.sub.s.cfg.Now()
			for _, r := range pk.Reports {
				d.sub.bwe.noteLoss(r.FractionLost)
				d.sub.s.metrics.noteReport(r, now)
			}
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			if c := d.cur.Load(); c >= 0 && d.up.simulcast() {
				d.up.requestKeyframe(d.up.layers[c])
			} else if !d.up.simulcast() {
				d.up.requestKeyframe(d.up.layers[0])
			}
		}
	}
}
