package sfu

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lethe-rtc/lethe/internal/keyframe"
	"github.com/lethe-rtc/lethe/internal/queue"
	"github.com/lethe-rtc/lethe/internal/rtpcache"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// upTrack is one track a participant publishes: its reader goroutine, its
// NACK cache and the subscribers it feeds.
type upTrack struct {
	id     string
	owner  *Participant
	remote *webrtc.TrackRemote
	recv   *webrtc.RTPReceiver
	kind   string
	media  Media // Audio, Video or Screen
	codec  string
	client string // the publisher's own track id
	mid    string
	cache  *rtpcache.Cache
	// isKey reports whether a payload starts a keyframe; nil for audio,
	// where any packet is a fine place to start.
	isKey func([]byte) bool

	downs   atomic.Pointer[[]*downTrack] // copy-on-write, read once per packet
	downsMu sync.Mutex                   // serialises writers of downs
	muted   atomic.Bool                  // paused by the publisher
	blocked atomic.Bool                  // stopped by an operator
	closed  atomic.Bool
	lastPLI atomic.Int64 // unix nanos of the last keyframe request
	rate    bucket       // the track's bitrate cap; the reader's alone
}

func newUpTrack(p *Participant, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *upTrack {
	codec := remote.Codec().MimeType
	u := &upTrack{
		id: newID("TR_"), owner: p, remote: remote, recv: recv,
		kind: remote.Kind().String(), codec: codec, client: remote.ID(),
		rate: newBucket(p.s.cfg.MaxTrackBitrate),
	}
	for _, t := range p.pub.GetTransceivers() {
		if t.Receiver() == recv {
			u.mid = t.Mid()
		}
	}
	size := p.s.cfg.AudioCache
	u.media = Audio
	if remote.Kind() == webrtc.RTPCodecTypeVideo {
		size, u.media = p.s.cfg.VideoCache, Video
	}
	u.cache = rtpcache.New(size)
	switch strings.ToLower(codec) {
	case strings.ToLower(webrtc.MimeTypeVP8):
		u.isKey = keyframe.VP8
	case strings.ToLower(webrtc.MimeTypeH264):
		u.isKey = keyframe.H264
	}
	return u
}

func (u *upTrack) info() TrackInfo {
	return TrackInfo{
		ID: u.id, ParticipantID: u.owner.id, Kind: u.kind, Codec: u.codec,
		ClientTrackID: u.client, Mid: u.mid, Screen: u.media == Screen,
		Muted: u.paused(), Blocked: u.blocked.Load(),
	}
}

// run reads the track until it ends, feeding the cache and subscribers.
func (u *upTrack) run() {
	u.owner.s.wg.Add(1)
	go func() { // RTCP from the publisher feeds the report interceptors
		defer u.owner.s.wg.Done()
		for {
			if _, _, err := u.recv.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1500)
	for {
		n, _, err := u.remote.Read(buf)
		if err != nil {
			u.closed.Store(true)
			return
		}
		u.handle(buf[:n])
	}
}

// handle takes one packet from the publisher: strip, cache, fan out.
func (u *upTrack) handle(raw []byte) {
	stats := &u.owner.s.stats
	pkt, ok := stripExtensions(raw)
	if !ok {
		return
	}
	stats.packetsIn.Add(1)
	if !u.admit(len(raw)) {
		return // not cached either: a NACK for it finds nothing
	}
	u.cache.Store(pkt)
	if u.paused() {
		stats.droppedMuted.Add(1)
		return
	}
	downs := u.downs.Load()
	if downs == nil || len(*downs) == 0 {
		return
	}
	// One copy for every subscriber: each queue holds the shared packet.
	shared, ok := queue.NewPacket(pkt)
	if !ok {
		return // longer than any read buffer: cannot happen
	}
	for _, d := range *downs {
		u.forward(d, shared)
	}
	shared.Release()
}

// forward hands the packet to one subscriber without ever blocking.
func (u *upTrack) forward(d *downTrack, shared *queue.Packet) {
	pkt := shared.Data()
	stats := &u.owner.s.stats
	if d.b.Load() == nil {
		return // not negotiated yet
	}
	if d.needKey.Load() {
		if u.isKey != nil && !u.isKey(pkt[12:]) {
			stats.droppedNoKeyframe.Add(1)
			u.requestKeyframe()
			return
		}
		d.needKey.Store(false)
	}
	// The packet that resumes a paused track starts a new rewrite epoch;
	// the flag travels with it, behind anything queued before the pause.
	if !d.sub.queue.PushPacket(outPacket{d: d, resume: d.resume.Swap(false)}, shared) {
		stats.droppedQueueFull.Add(1)
	}
}

// admit reports whether a packet of size bytes is within the track's and
// its publisher's bitrate caps, and takes it from both if so. Beyond
// them it counts the drop and tells the publisher (RTCP REMB with the cap
// it went over, for this track's SSRC), at most once per BitrateWindow.
func (u *upTrack) admit(size int) bool {
	p := u.owner
	now, bits := p.s.cfg.Now().UnixNano(), int64(size)*8
	limit := 0
	switch {
	case !u.rate.has(now, bits):
		limit = p.s.cfg.MaxTrackBitrate
	case !p.admit(now, bits):
		limit = p.s.cfg.MaxParticipantBitrate
	default:
		u.rate.take(now, bits)
		return true
	}
	p.s.stats.droppedBitrate.Add(1)
	last := p.lastREMB.Load()
	if now-last >= int64(BitrateWindow) && p.lastREMB.CompareAndSwap(last, now) {
		_ = p.pub.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{
			Bitrate: float32(limit), SSRCs: []uint32{uint32(u.remote.SSRC())}}})
	}
	return false
}

// requestKeyframe sends a PLI to the publisher, at most once per
// PLIInterval however many subscribers ask.
func (u *upTrack) requestKeyframe() {
	if u.isKey == nil {
		return
	}
	now := u.owner.s.cfg.Now().UnixNano()
	last := u.lastPLI.Load()
	if now-last < int64(u.owner.s.cfg.PLIInterval) || !u.lastPLI.CompareAndSwap(last, now) {
		return
	}
	u.owner.s.stats.keyframeRequests.Add(1)
	_ = u.owner.pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(u.remote.SSRC())}})
}

// paused reports whether the track is held back: muted by its publisher
// or blocked by an operator.
func (u *upTrack) paused() bool { return u.muted.Load() || u.blocked.Load() }

// setPaused sets one of the two pause flags and reports whether the
// track's effective state changed. Subscribers restart cleanly on resume:
// a keyframe, and a new rewrite epoch from the first packet after the
// pause.
func (u *upTrack) setPaused(flag *atomic.Bool, v bool) bool {
	before := u.paused()
	flag.Store(v)
	after := u.paused()
	if before == after {
		return false
	}
	if !after {
		if downs := u.downs.Load(); downs != nil {
			for _, d := range *downs {
				d.restart()
			}
		}
		u.requestKeyframe()
	}
	return true
}

func (u *upTrack) addDown(d *downTrack) {
	u.downsMu.Lock()
	defer u.downsMu.Unlock()
	var next []*downTrack
	if cur := u.downs.Load(); cur != nil {
		next = slices.Clone(*cur)
	}
	next = append(next, d)
	u.downs.Store(&next)
}

func (u *upTrack) removeDown(d *downTrack) {
	u.downsMu.Lock()
	defer u.downsMu.Unlock()
	cur := u.downs.Load()
	if cur == nil {
		return
	}
	next := slices.DeleteFunc(slices.Clone(*cur), func(x *downTrack) bool { return x == d })
	u.downs.Store(&next)
}

func (u *upTrack) isClosed() bool { return u.closed.Load() }

// close stops the reader; run returns soon after.
func (u *upTrack) close() {
	u.closed.Store(true)
	_ = u.recv.Stop()
}

// stripExtensions drops CSRCs and header extensions in place, since their
// ids were negotiated with the publisher, not with each subscriber. It
// returns the packet as a 12-byte fixed header followed by the payload.
func stripExtensions(b []byte) ([]byte, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return nil, false
	}
	h := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < h+4 {
			return nil, false
		}
		h += 4 + 4*int(binary.BigEndian.Uint16(b[h+2:]))
	}
	if len(b) < h {
		return nil, false
	}
	if b[0]&0x20 != 0 { // padding: the last byte counts it (itself included), and it must fit
		if len(b) == h || b[len(b)-1] == 0 || int(b[len(b)-1]) > len(b)-h {
			return nil, false
		}
	}
	if h == 12 {
		return b, true
	}
	copy(b[h-12:h], b[:12])
	out := b[h-12:]
	out[0] &= 0xe0 // keep version and padding; clear extension and CSRC count
	return out, true
}
