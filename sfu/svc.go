package sfu

import (
	"encoding/binary"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lethe-rtc/lethe/internal/rewrite"
	"github.com/lethe-rtc/lethe/internal/vp9"
)

// SVC: a VP9 track published as one RTP stream with spatial and temporal
// layers (Chromium's scalabilityMode L3T3_KEY, say) is offered to the
// allocator as layers s0, s1, s2 (spatial, lowest first), like simulcast
// layers. Layer k costs what spatial layers 0 to k together cost, measured
// from the packets' spatial layer ids; its size is the one the
// scalability structure states. Each subscriber's writer keeps, packet by
// packet (internal/vp9's Selector), the spatial layers up to the one
// chosen for it and the temporal layers its fps setting asks for, and
// closes the holes the dropped packets leave in its sequence numbers
// (rewrite.Skips). There is one encoding, so dynacast has nothing to turn
// off: the publisher always sends every layer.

const frameWindow = 2 * int64(time.Second)

// svcLayers is how many spatial layers an SVC track offers; spatial
// layers above the top one count as part of it.
const svcLayers = maxLayers

// svcTrack is what an SVC track keeps besides its layers.
type svcTrack struct {
	desc  vp9.Descriptor // the reader's: the packet being handled
	rates frameRates
}

// frameRates measures pictures a second per temporal layer, over windows
// of frameWindow (long enough for a base layer of a few pictures a second
// to be counted within a few percent): the reader counts, anyone reads.
type frameRates struct {
	start  int64
	counts [8]int64
	rate   [8]atomic.Int64 // pictures a second of temporal layers 0..t together, ×100
}

func (f *frameRates) add(now int64, tid uint8) {
	if f.start == 0 {
		f.start = now
	}
	if d := now - f.start; d >= frameWindow {
		var cum int64
		for t := range f.counts {
			cum += f.counts[t]
			f.rate[t].Store(cum * 100 * int64(time.Second) / d)
			f.counts[t] = 0
		}
		f.start = now
	}
	f.counts[tid&7]++
}

// temporalFor returns the highest temporal layer to send a subscriber
// that asks for fps pictures a second (0: any): the lowest whose rate,
// with all below it, reaches fps within 20% (7.5 for 8 asked), else all.
func (s *svcTrack) temporalFor(fps int) int {
	if fps <= 0 {
		return 7
	}
	for t := range s.rates.rate {
		r := s.rates.rate[t].Load()
		if r > 0 && r*5/4 >= int64(fps)*100 {
			return t
		}
	}
	return 7
}

// noteSVC takes one packet (payload after the RTP header) of an SVC
// track on the reader: it meters it by its spatial layer, records the
// layers' sizes from a scalability structure and counts pictures. It
// reports whether the packet starts a keyframe.
func (u *upTrack) noteSVC(payload []byte, now int64, size int) bool {
	s := u.svc
	d := &s.desc
	if vp9.Parse(payload, d) != nil {
		*d = vp9.Descriptor{}
		return false
	}
	l := u.layers[min(int(d.SID), svcLayers-1)]
	l.meter.add(now, size)
	l.last.Store(now)
	if d.V && d.HasSizes {
		for i := range int(d.NumSpatial) {
			if d.Width[i] > 0 && d.Height[i] > 0 {
				u.layers[min(i, svcLayers-1)].size.Store(int64(d.Width[i])<<32 | int64(d.Height[i]))
			}
		}
	}
	if d.B && d.SID == 0 {
		s.rates.add(now, d.TID)
	}
	return d.Keyframe()
}

// svcBitrate is layer j's cost: spatial layers 0 to j together, each as
// last measured (a nominal figure for j when nothing of it was).
func (u *upTrack) svcBitrate(j int, now int64) int {
	if u.layers[j].known(now) == 0 {
		return nominal[svcLayers-1][min(j, 2)]
	}
	r := 0
	for k := 0; k <= j; k++ {
		r += u.layers[k].known(now)
	}
	return r
}

// layerName is the name subscribers see for layer i: its rid, or "s<i>"
// for an SVC track's spatial layers.
func (u *upTrack) layerName(i int) string {
	if u.svc != nil {
		return "s" + strconv.Itoa(i)
	}
	return u.layers[i].rid
}

// keyLayer is the encoding whose keyframe layer i needs.
func (u *upTrack) keyLayer(i int) *layer {
	if u.svc != nil || i < 0 {
		return u.layers[0]
	}
	return u.layers[i]
}

// svcDown is what a subscriber's downTrack of an SVC track keeps.
type svcDown struct {
	sel      vp9.Selector   // the writer's alone
	desc     vp9.Descriptor // the writer's alone
	skips    rewrite.Skips  // guarded by downTrack.mu
	temporal atomic.Int32   // the highest temporal layer to send
}

// setFPS sets the temporal layers of an SVC track sent to d from the
// subscriber's fps setting.
func (d *downTrack) setFPS(fps int) {
	if d.svc != nil {
		d.svc.temporal.Store(int32(d.up.svc.temporalFor(fps)))
	}
}

// selectSVC decides, on the writer, whether the packet pkt (12-byte
// header and payload) of an SVC track goes out to d, and whether it
// begins a new rewrite epoch (resume: it must) and ends a picture (the
// marker to set).
func (d *downTrack) selectSVC(pkt []byte, resume bool) (send, epoch, mark bool) {
	sv := d.svc
	cur := d.cur.Load()
	if resume || cur < 0 {
		sv.sel.Reset()
	}
	seq := binary.BigEndian.Uint16(pkt[2:])
	var dec vp9.Decision
	if vp9.Parse(pkt[12:], &sv.desc) == nil {
		target := int(d.target.Load())
		if target >= svcLayers-1 {
			target = 7 // the top layer takes any above it
		}
		dec = sv.sel.Select(&sv.desc, binary.BigEndian.Uint32(pkt[4:]), target, int(sv.temporal.Load()))
	}
	if dec.NeedKeyframe {
		d.up.requestKeyframe(d.up.layers[0])
	}
	if !dec.Forward {
		d.mu.Lock()
		sv.skips.Skip(seq)
		d.mu.Unlock()
		return false, false, false
	}
	if dec.Switched || cur < 0 {
		now := int32(min(sv.sel.Spatial(), svcLayers-1))
		if d.cur.CompareAndSwap(cur, now) && now != cur {
			d.sub.ev.TrackLayer(d.up.id, d.up.layerName(int(now)), int(now))
		}
	}
	return true, dec.Started, dec.EndOfPicture
}

// svcRetransmit returns whether a packet of an SVC track asked for again
// (NACK), pkt, ends a picture as d was sent it: it ends a layer frame and
// the packet after it was not sent. (Whether it was sent at all, d's
// Skips knows.) Called with d.mu held.
func (d *downTrack) svcRetransmit(pkt []byte) (mark bool) {
	var desc vp9.Descriptor
	if len(pkt) < 12 || vp9.Parse(pkt[12:], &desc) != nil {
		return false
	}
	return desc.E && d.svc.skips.Skipped(binary.BigEndian.Uint16(pkt[2:])+1)
}
