package sfu

import (
	"context"
	"time"
)

// Measured layers. A layered track (simulcast or VP9 SVC) is announced
// with its first packet, when nothing of its layers is measured yet: its
// TrackInfo.Layers name the rids only. One goroutine of the SFU looks at
// every room's layered tracks each layersTick and tells the room
// (LayerEvents.TrackLayers) when a track's layers changed materially
// since it last told: a layer's size became known or changed, a layer
// started or stopped sending, or a layer's bitrate moved by a quarter or
// more. It tells of one track at most once per layersGap, so a room of N
// layered tracks hears at most N/2 such events a second. Bitrates are
// rounded to rateStep (roundRate), here and in every TrackInfo.

// LayerEvents is what Events may also do: hear a layered track's layers
// once they are measured, and whenever they change materially (see
// above). Every participant of the room hears it, the publisher too.
type LayerEvents interface {
	TrackLayers(TrackInfo)
}

const (
	layersTick = time.Second     // how often the layers goroutine looks
	layersGap  = 2 * time.Second // the least time between two events of a track
	rateStep   = 1000            // bit/s: bitrates told are rounded to this
	sizeAsks   = 5               // keyframe requests for a layer's unknown size
)

// layerNews is what the room was last told of a layered track's layers,
// the layers goroutine's alone (under room.mu).
type layerNews struct {
	at     int64 // unix nanos of the last TrackLayers; 0: none yet
	layers [maxLayers]Layer
	asks   [maxLayers]uint8 // keyframe requests made for a layer's size
}

// roundRate rounds a bitrate to rateStep; a layer that sends stays above 0.
func roundRate(r int) int {
	if r <= 0 {
		return 0
	}
	return max(rateStep, (r+rateStep/2)/rateStep*rateStep)
}

// changedLayer reports whether cur differs materially from was, what the
// room was told.
func changedLayer(was, cur Layer) bool {
	if was.Width != cur.Width || was.Height != cur.Height || (was.Bitrate == 0) != (cur.Bitrate == 0) {
		return true
	}
	d := cur.Bitrate - was.Bitrate
	return 4*max(d, -d) >= was.Bitrate && was.Bitrate > 0
}

// runLayers looks at every room's layered tracks until ctx ends.
func (s *SFU) runLayers(ctx context.Context) { s.everyRoom(ctx, layersTick, (*room).tickLayers) }

// tickLayers tells r's participants of the layered tracks whose layers
// changed materially at now, those told of less than layersGap ago aside.
// It also asks for a keyframe of each simulcast layer that sends but
// whose size is not known (its first keyframe was missed, and nobody
// receives it to ask), at most sizeAsks times a layer.
func (r *room) tickLayers(now int64) {
	r.mu.Lock()
	asks := r.sizeAsks[:0]
	for _, u := range r.tracks {
		if !u.layered() {
			continue
		}
		if u.svc == nil {
			for i, l := range u.layers {
				if l.size.Load() == 0 && l.live(now) && u.news.asks[i] < sizeAsks {
					u.news.asks[i]++
					asks = append(asks, layerOfTrack{u, l})
				}
			}
		}
		if u.news.at != 0 && now-u.news.at < int64(layersGap) {
			continue
		}
		changed := false
		for i := range u.layers {
			if changedLayer(u.news.layers[i], u.layerAt(i, now)) {
				changed = true
				break
			}
		}
		if !changed {
			continue
		}
		info := u.infoAt(now)
		u.news.at = now
		copy(u.news.layers[:], info.Layers)
		for _, o := range r.participants {
			if ev, ok := o.ev.(LayerEvents); ok {
				ev.TrackLayers(info)
			}
		}
	}
	r.sizeAsks = asks
	r.mu.Unlock()
	for i, a := range asks {
		a.u.requestKeyframe(a.l) // RTCP: not under the room's lock
		asks[i] = layerOfTrack{}
	}
}

// layerOfTrack is one layer of a track.
type layerOfTrack struct {
	u *upTrack
	l *layer
}
