package sfu

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lethe-rtc/lethe/internal/audiolevel"
	"github.com/lethe-rtc/lethe/internal/keyframe"
	"github.com/lethe-rtc/lethe/internal/queue"
	"github.com/lethe-rtc/lethe/internal/rtpcache"
	"github.com/lethe-rtc/lethe/internal/speaker"
	"github.com/lethe-rtc/lethe/internal/vp9"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// upTrack is one track a participant publishes: its reader goroutines
// (one per simulcast layer), its NACK caches and the subscribers it feeds.
type upTrack struct {
	id     string
	owner  *Participant
	remote *webrtc.TrackRemote // the first layer's: codec, kind, ids
	recv   *webrtc.RTPReceiver
	kind   string
	media  Media // Audio, Video or Screen
	codec  string
	client string // the publisher's own track id
	mid    string
	// layers are the track's encodings, lowest first: one with rid ""
	// for a track without simulcast, else one per rid of the
	// publisher's a=simulcast line, in its order (simulcast.go).
	layers []*layer
	// isKey reports whether a payload starts a keyframe; nil for audio,
	// where any packet is a fine place to start.
	isKey func([]byte) bool
	vp8   bool // VP8: picture ids are rewritten across layer switches
	// svc is set for a VP9 track of one encoding: its layers are the
	// spatial layers of that stream, all read from layers[0] (svc.go).
	svc *svcTrack

	downs   atomic.Pointer[[]*downTrack] // copy-on-write, read once per packet
	downsMu sync.Mutex                   // serialises writers of downs
	muted   atomic.Bool                  // paused by the publisher
	blocked atomic.Bool                  // stopped by an operator
	closed  atomic.Bool
	readers atomic.Int32 // layer readers running; the last one to end ends the track
	rateMu  sync.Mutex   // guards rate: the layers' readers share it
	rate    bucket       // the track's bitrate cap
	wanted  dynacast     // which layers some subscriber wants (simulcast.go)
	// level is an audio track's speaker state, fed from the RFC 6464
	// extension of id levelID (speakers.go); nil without one.
	level   *speaker.Track
	levelID uint8
	// news is what the room was last told of its layers (layers.go).
	news layerNews
}

// layer is one encoding of a track: a simulcast layer, or the only one.
type layer struct {
	index  int
	rid    string
	remote atomic.Pointer[webrtc.TrackRemote] // nil until its first packet
	cache  *rtpcache.Cache
	meter  meter        // its bitrate; the reader's alone but for reads
	last   atomic.Int64 // unix nanos of its last packet; 0: none yet
	size   atomic.Int64 // width<<32 | height from its last keyframe, when the codec tells
	// lastPLI is the unix nanos of the last keyframe request for it.
	lastPLI atomic.Int64
	// lastRate is its bitrate when last measured while sent (bwe.go).
	lastRate atomic.Int64
}

// upTrackMade, when set (by tests only), hears of every upTrack made.
var upTrackMade func(*upTrack)

func newUpTrack(p *Participant, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver, rids []string) *upTrack {
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
	if len(rids) == 0 {
		rids = []string{""}
	}
	for i, rid := range rids {
		u.layers = append(u.layers, &layer{index: i, rid: rid, cache: rtpcache.New(size)})
	}
	switch strings.ToLower(codec) {
	case strings.ToLower(webrtc.MimeTypeVP8):
		u.isKey, u.vp8 = keyframe.VP8, true
	case strings.ToLower(webrtc.MimeTypeH264):
		u.isKey = keyframe.H264
	case strings.ToLower(webrtc.MimeTypeVP9):
		u.isKey = vp9.IsKeyframe
		if len(u.layers) == 1 {
			// The spatial layers: read from the one encoding, layers[0];
			// the others have no stream or cache of their own.
			u.svc = &svcTrack{}
			for i := 1; i < svcLayers; i++ {
				u.layers = append(u.layers, &layer{index: i})
			}
		}
	}
	u.wanted.init(len(u.layers))
	if u.media == Audio && !p.s.cfg.NoSpeakers {
		if u.levelID = levelExtID(u); u.levelID != 0 {
			u.level = speaker.NewTrack(&p.s.cfg.Speakers)
		}
	}
	if upTrackMade != nil {
		upTrackMade(u)
	}
	return u
}

// simulcast reports whether u has more than one encoding.
func (u *upTrack) simulcast() bool { return len(u.layers) > 1 && u.svc == nil }

// layered reports whether u has layers to choose from: simulcast or SVC.
func (u *upTrack) layered() bool { return len(u.layers) > 1 }

// layerOf returns u's layer of rid, or nil.
func (u *upTrack) layerOf(rid string) *layer {
	for _, l := range u.layers {
		if l.rid == rid {
			return l
		}
	}
	return nil
}

func (u *upTrack) info() TrackInfo { return u.infoAt(u.owner.s.cfg.Now().UnixNano()) }

// infoAt describes u with its layers as measured at now.
func (u *upTrack) infoAt(now int64) TrackInfo {
	ti := TrackInfo{
		ID: u.id, ParticipantID: u.owner.id, Kind: u.kind, Codec: u.codec,
		ClientTrackID: u.client, Mid: u.mid, Screen: u.media == Screen,
		Muted: u.paused(), Blocked: u.blocked.Load(),
	}
	if u.layered() {
		ti.Layers = make([]Layer, len(u.layers))
		for i := range u.layers {
			ti.Layers[i] = u.layerAt(i, now)
		}
	}
	return ti
}

// layerAt describes layer i of a layered track as measured at now, its
// bitrate rounded (layers.go).
func (u *upTrack) layerAt(i int, now int64) Layer {
	l := u.layers[i]
	w, h := l.dimensions()
	rate := l.bitrate(now)
	if u.svc != nil && rate > 0 {
		rate = u.svcBitrate(i, now) // what a subscriber of it receives
	}
	return Layer{RID: u.layerName(i), Width: w, Height: h, Bitrate: roundRate(rate)}
}

// start begins reading layer l of u from remote, its first packet just
// in. It reports false if u has ended already.
func (u *upTrack) start(l *layer, remote *webrtc.TrackRemote) bool {
	if u.isClosed() || !l.remote.CompareAndSwap(nil, remote) {
		return false
	}
	u.readers.Add(1)
	return true
}

// run reads layer l until it ends, feeding its cache and the subscribers.
// It reports whether it was the last of u's layers to end.
func (u *upTrack) run(l *layer) bool {
	remote := l.remote.Load()
	u.owner.s.wg.Add(1)
	go func() { // RTCP from the publisher feeds the report interceptors
		defer u.owner.s.wg.Done()
		for {
			var err error
			if l.rid == "" {
				_, _, err = u.recv.ReadRTCP()
			} else {
				_, _, err = u.recv.ReadSimulcastRTCP(l.rid)
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1500)
	for {
		n, _, err := remote.Read(buf)
		if err != nil {
			u.closed.Store(true)
			return u.readers.Add(-1) == 0
		}
		u.handle(l, buf[:n])
	}
}

// handle takes one packet of layer l from the publisher: strip, cache,
// fan out.
func (u *upTrack) handle(l *layer, raw []byte) {
	stats := &u.owner.s.stats
	// The audio level is in the extensions, which stripping overwrites.
	level, hasLevel := uint8(0), false
	if u.level != nil {
		level, _, hasLevel = audiolevel.Parse(raw, u.levelID)
	}
	pkt, ok := stripExtensions(raw)
	if !ok {
		return
	}
	stats.packetsIn.Add(1)
	u.owner.s.metrics.bytesIn.Add(uint64(len(raw)))
	now := u.owner.s.cfg.Now().UnixNano()
	if !u.admit(l, now, len(raw)) {
		return // not cached either: a NACK for it finds nothing
	}
	l.cache.Store(pkt)
	var key bool
	if u.svc != nil {
		key = u.noteSVC(pkt[12:], now, len(pkt))
	} else {
		l.meter.add(now, len(pkt))
		l.last.Store(now)
		key = u.isKey != nil && u.isKey(pkt[12:])
	}
	switch {
	case u.svc != nil:
	case key && u.vp8:
		l.noteVP8Size(pkt[12:])
	case key:
		l.noteH264Size(pkt[12:])
	}
	if u.paused() {
		stats.droppedMuted.Add(1)
		return
	}
	if hasLevel {
		// The V flag is not read: without vad=on negotiated (RFC 6464
		// section 4) it means nothing.
		u.level.Observe(level, now)
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
		u.forward(d, shared, l, key)
	}
	shared.Release()
}

// forward hands the packet of layer l to one subscriber without ever
// blocking. key says whether it starts a keyframe.
func (u *upTrack) forward(d *downTrack, shared *queue.Packet, l *layer, key bool) {
	stats := &u.owner.s.stats
	if d.b.Load() == nil {
		return // not negotiated yet
	}
	if u.simulcast() {
		// Packets of the layer sent and of the one switched to; the
		// subscriber's writer switches on the target's keyframe.
		cur, target := int(d.cur.Load()), int(d.target.Load())
		switch {
		case target < 0:
			return // paused for it
		case l.index == target && cur != target && !key:
			stats.droppedNoKeyframe.Add(1)
			u.requestKeyframe(l)
			return
		case l.index != cur && l.index != target:
			return
		}
	} else if d.target.Load() < 0 {
		return // paused for it
	} else if d.needKey.Load() {
		if u.isKey != nil && !key {
			stats.droppedNoKeyframe.Add(1)
			u.requestKeyframe(l)
			return
		}
		d.needKey.Store(false)
	}
	// The packet that resumes a paused track starts a new rewrite epoch;
	// the flag travels with it, behind anything queued before the pause.
	op := outPacket{d: d, resume: d.resume.Swap(false), layer: int8(l.index), key: key}
	if !d.sub.queue.PushPacket(op, shared) {
		stats.droppedQueueFull.Add(1)
	}
}

// admit reports whether a packet of size bytes of layer l is within the
// track's and its publisher's bitrate caps at now, and takes it from both
// if so. Beyond them it counts the drop and tells the publisher (RTCP
// REMB with the cap it went over, for the layer's SSRC), at most once
// per BitrateWindow.
func (u *upTrack) admit(l *layer, now int64, size int) bool {
	p := u.owner
	bits := int64(size) * 8
	limit := 0
	u.rateMu.Lock()
	switch {
	case !u.rate.has(now, bits):
		limit = p.s.cfg.MaxTrackBitrate
	case !p.admit(now, bits):
		limit = p.s.cfg.MaxParticipantBitrate
	default:
		u.rate.take(now, bits)
		u.rateMu.Unlock()
		return true
	}
	u.rateMu.Unlock()
	p.s.stats.droppedBitrate.Add(1)
	last := p.lastREMB.Load()
	if now-last >= int64(BitrateWindow) && p.lastREMB.CompareAndSwap(last, now) {
		if r := l.remote.Load(); r != nil {
			_ = p.pub.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{
				Bitrate: float32(limit), SSRCs: []uint32{uint32(r.SSRC())}}})
		}
	}
	return false
}

// requestKeyframe sends a PLI for layer l to the publisher, at most once
// per PLIInterval however many subscribers ask.
func (u *upTrack) requestKeyframe(l *layer) {
	if u.isKey == nil {
		return
	}
	r := l.remote.Load()
	if r == nil {
		return // nothing of it has come yet: its first packet will
	}
	now := u.owner.s.cfg.Now().UnixNano()
	last := l.lastPLI.Load()
	if now-last < int64(u.owner.s.cfg.PLIInterval) || !l.lastPLI.CompareAndSwap(last, now) {
		return
	}
	u.owner.s.stats.keyframeRequests.Add(1)
	_ = u.owner.pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(r.SSRC())}})
}

// requestKeyframes asks for a keyframe of every layer that has begun.
func (u *upTrack) requestKeyframes() {
	for _, l := range u.layers {
		u.requestKeyframe(l)
	}
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
		u.requestKeyframes()
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

// close stops the readers; run returns soon after.
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
