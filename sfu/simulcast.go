package sfu

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/lethe-rtc/lethe/internal/h264"
)

// Simulcast: a publisher's video m-section may carry up to maxLayers
// encodings of the same source (RFC 8853: a=rid and a=simulcast), each an
// RTP stream of its own that names its rid in the rtp-stream-id header
// extension (RFC 8852). The SFU takes them as one track with layers,
// lowest first in the order of the a=simulcast line (Lethe's clients
// send "q", "h", "f"), and sends each subscriber one of them as a single
// stream (downtrack.go).

// maxLayers bounds the simulcast layers of one track.
const maxLayers = 3

// layerLive is how long after its last packet a layer still counts as
// being sent: a publisher stops a layer when its own uplink is short, or
// when nobody wants it (dynacast).
const layerLive = 1500 * time.Millisecond

// simulcastLayers returns, by mid, the rids of each sending m-section of
// an offer that declares simulcast, checking what RFC 8853 and the SFU
// require: video only; every rid of a=simulcast:send has an a=rid:<id>
// send line; rids of 1-16 letters, digits, '-' or '_', none twice; no
// more than maxLayers. Alternatives ("a,b") are refused: a layer is one
// encoding. A paused rid ("~a") is a layer like the others: browsers mark
// so every encoding that is not active (RTCRtpSender.setParameters), and
// dynacast makes some inactive, so that every offer a publisher makes
// while nobody wants a layer (an ICE restart, a screen share) pauses it;
// the layer is simply one that does not send for now. An a=rid without
// a=simulcast is refused too.
func simulcastLayers(sd *sdp.SessionDescription) (map[string][]string, error) {
	out := make(map[string][]string)
	for _, m := range sd.MediaDescriptions {
		if !sending(sd, m) {
			continue
		}
		mid, _ := m.Attribute("mid")
		line, hasSim := m.Attribute("simulcast")
		rids := map[string]bool{}
		for _, a := range m.Attributes {
			if a.Key != "rid" {
				continue
			}
			f := strings.Fields(a.Value)
			if len(f) < 2 || !validRID(f[0]) {
				return nil, refuse(ErrBadSDP, "malformed a=rid line")
			}
			if f[1] == "send" {
				rids[f[0]] = true
			}
		}
		if !hasSim {
			if len(rids) > 0 {
				return nil, refuse(ErrBadSDP, "a=rid without a=simulcast")
			}
			continue
		}
		if m.MediaName.Media != "video" {
			return nil, refuse(ErrNotAllowed, "simulcast on an m-section that is not video")
		}
		f := strings.Fields(line)
		if len(f) != 2 || f[0] != "send" {
			return nil, refuse(ErrBadSDP, "a=simulcast must be \"send <rid>;<rid>...\" in a publisher offer")
		}
		var list []string
		for _, rid := range strings.Split(f[1], ";") {
			rid = strings.TrimPrefix(rid, "~") // paused: still a layer
			switch {
			case strings.Contains(rid, ","):
				return nil, refuse(ErrNotAllowed, "simulcast alternatives are not supported")
			case !validRID(rid):
				return nil, refuse(ErrBadSDP, "malformed rid in a=simulcast")
			case !rids[rid]:
				return nil, refuse(ErrBadSDP, "rid %q of a=simulcast has no a=rid send line", rid)
			case slices.Contains(list, rid):
				return nil, refuse(ErrBadSDP, "rid %q twice in a=simulcast", rid)
			}
			list = append(list, rid)
		}
		if len(list) > maxLayers {
			return nil, refuse(ErrNotAllowed, "%d simulcast layers, at most %d", len(list), maxLayers)
		}
		if strings.EqualFold(firstCodec(m), "VP9") {
			// VP9 is taken with its layers in one encoding (SVC, svc.go);
			// layers of simulcast would need picture ids rewritten across
			// switches, which the SFU does not do for VP9.
			return nil, refuse(ErrNotAllowed, "VP9 with simulcast: send one VP9 encoding with spatial layers (scalabilityMode L3T3_KEY) instead")
		}
		out[mid] = list
	}
	return out, nil
}

// firstCodec returns the encoding name of the first format of m, the one
// its sender prefers; "" if it has no rtpmap.
func firstCodec(m *sdp.MediaDescription) string {
	if len(m.MediaName.Formats) == 0 {
		return ""
	}
	pt := m.MediaName.Formats[0]
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		if p, enc, ok := strings.Cut(a.Value, " "); ok && p == pt {
			name, _, _ := strings.Cut(enc, "/")
			return name
		}
	}
	return ""
}

// validRID reports whether s is an RFC 8851 rid-id the SFU takes: 1-16
// of A-Z, a-z, 0-9, '-' and '_'.
func validRID(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// meter measures a layer's bitrate over windows of meterWindow: the
// reader adds, anyone reads the last full window's rate.
type meter struct {
	start int64 // unix nanos the current window began; the reader's
	bytes int64 // in the current window; the reader's
	rate  atomic.Int64
}

const meterWindow = int64(time.Second)

func (m *meter) add(now int64, n int) {
	if m.start == 0 {
		m.start = now
	}
	if d := now - m.start; d >= meterWindow {
		m.rate.Store(m.bytes * 8 * int64(time.Second) / d)
		m.start, m.bytes = now, 0
	}
	m.bytes += int64(n)
}

// bitrate is l's measured rate in bit/s, 0 when it is not being sent.
func (l *layer) bitrate(now int64) int {
	if !l.live(now) {
		return 0
	}
	return int(l.meter.rate.Load())
}

// live reports whether l's packets are arriving.
func (l *layer) live(now int64) bool {
	last := l.last.Load()
	return last != 0 && now-last < int64(layerLive)
}

// dimensions returns l's width and height, 0 when not known.
func (l *layer) dimensions() (int, int) {
	v := l.size.Load()
	return int(v >> 32), int(v & 0xffffffff)
}

// noteVP8Size records the size a VP8 keyframe payload (descriptor
// included) states (RFC 6386 9.1).
func (l *layer) noteVP8Size(payload []byte) {
	n := vp8DescriptorLen(payload)
	if n < 0 || len(payload) < n+10 {
		return
	}
	f := payload[n:]
	if f[0]&1 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return // not a keyframe's frame header
	}
	w := int64(binary.LittleEndian.Uint16(f[6:]) & 0x3fff)
	h := int64(binary.LittleEndian.Uint16(f[8:]) & 0x3fff)
	l.size.Store(w<<32 | h)
}

// noteH264Size records the size an H.264 keyframe's SPS states, when the
// packet holds one.
func (l *layer) noteH264Size(payload []byte) {
	if w, h, ok := h264.Size(payload); ok {
		l.size.Store(int64(w)<<32 | int64(h))
	}
}

// vp8DescriptorLen returns the length of the VP8 payload descriptor at
// the start of payload (RFC 7741 4.2), or -1 if it does not fit.
func vp8DescriptorLen(b []byte) int {
	if len(b) < 1 {
		return -1
	}
	n := 1
	if b[0]&0x80 == 0 {
		return n
	}
	if len(b) < 2 {
		return -1
	}
	x := b[1]
	n = 2
	if x&0x80 != 0 { // I: picture id
		if len(b) < n+1 {
			return -1
		}
		if b[n]&0x80 != 0 {
			n += 2
		} else {
			n++
		}
	}
	if x&0x40 != 0 { // L: TL0PICIDX
		n++
	}
	if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
		n++
	}
	if len(b) < n {
		return -1
	}
	return n
}

// vp8Munger keeps a subscriber's VP8 picture ids and TL0PICIDX
// continuous across the layers it is switched between: each layer counts
// its own, and a receiver's frame reference logic would take a jump back
// for old frames. Not safe for concurrent use: its downTrack's mu guards
// it.
type vp8Munger struct {
	started  bool
	pidOff   uint16 // output minus input picture id, modulo 2^15
	tl0Off   uint8
	lastPID  uint16 // last output picture id
	lastTL0  uint8
	havePID  bool
	rebasing bool // the next packet starts a new layer
}

// rebase makes the next packet's ids follow on from the last ones sent.
func (m *vp8Munger) rebase() { m.rebasing = true }

// munge rewrites the ids of the VP8 payload b in place.
func (m *vp8Munger) munge(b []byte) {
	if len(b) < 3 || b[0]&0x80 == 0 {
		return
	}
	x, n := b[1], 2
	if x&0x80 != 0 {
		if len(b) < n+1 {
			return
		}
		wide := b[n]&0x80 != 0
		var in uint16
		if wide {
			if len(b) < n+2 {
				return
			}
			in = binary.BigEndian.Uint16(b[n:]) & 0x7fff
		} else {
			in = uint16(b[n] & 0x7f)
		}
		if m.rebasing || !m.started {
			if m.started {
				m.pidOff = m.lastPID + 1 - in
			}
		}
		out := (in + m.pidOff) & 0x7fff
		if wide {
			binary.BigEndian.PutUint16(b[n:], 0x8000|out)
			n += 2
		} else {
			out &= 0x7f
			b[n] = byte(out)
			n++
		}
		if !m.havePID || int16((out-m.lastPID)<<1) > 0 {
			m.lastPID = out
		}
		m.havePID = true
	}
	if x&0x40 != 0 && len(b) > n {
		in := b[n]
		if m.rebasing && m.started {
			m.tl0Off = m.lastTL0 + 1 - in
		}
		out := in + m.tl0Off
		b[n] = out
		if int8(out-m.lastTL0) > 0 || !m.started {
			m.lastTL0 = out
		}
	}
	m.started = true
	m.rebasing = false
}

// dynacast tracks which layers of a track some subscriber wants, and
// tells the publisher when that changes: at once when a layer becomes
// wanted, after dynacastHold when one stops being (a subscriber that
// flips between two layers would otherwise make the publisher's encoder
// start and stop). The lowest layer is always wanted: a new subscriber
// gets a picture at once.
type dynacast struct {
	mu      sync.Mutex
	told    uint8 // the layers the publisher was last told (bit i: layer i)
	pending bool  // a check is scheduled
	n       int
}

// dynacastHold is how long a layer stays wanted after the last
// subscriber stopped wanting it.
const dynacastHold = 3 * time.Second

func (d *dynacast) init(layers int) {
	d.n = layers
	d.told = uint8(1<<layers) - 1 // a publisher starts with every layer on
}

// wantedLayers returns the layers some subscriber of u wants now.
func (u *upTrack) wantedLayers() uint8 {
	mask := uint8(1)
	if downs := u.downs.Load(); downs != nil {
		for _, d := range *downs {
			if l := d.desired.Load(); l >= 0 {
				mask |= 1 << l
			}
		}
	}
	return mask
}

// updateWanted tells the publisher of a layer that became wanted, and
// schedules the check for layers no longer wanted.
func (u *upTrack) updateWanted() {
	if !u.simulcast() || u.isClosed() {
		return
	}
	want := u.wantedLayers()
	d := &u.wanted
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case want&^d.told != 0: // more: at once (with any fewer as well)
		d.told = want
		u.owner.ev.LayersWanted(u.info(), u.layerStates(want))
	case d.told&^want != 0 && !d.pending:
		d.pending = true
		u.owner.s.cfg.AfterFunc(dynacastHold, u.settleWanted)
	}
}

// settleWanted tells the publisher the layers wanted now, after the hold.
func (u *upTrack) settleWanted() {
	d := &u.wanted
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pending = false
	if u.isClosed() {
		return
	}
	if want := u.wantedLayers(); want != d.told {
		d.told = want
		u.owner.ev.LayersWanted(u.info(), u.layerStates(want))
	}
}

func (u *upTrack) layerStates(mask uint8) []LayerState {
	out := make([]LayerState, len(u.layers))
	for i, l := range u.layers {
		out[i] = LayerState{RID: l.rid, Active: mask&(1<<i) != 0}
	}
	return out
}
