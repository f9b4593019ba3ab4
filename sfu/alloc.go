package sfu

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// allocInterval is how often a subscriber's layers are chosen again: the
// bandwidth estimate, the layers being published and its wishes change.
const allocInterval = 500 * time.Millisecond

// SetTrackSettings records a subscriber's wishes for a track it receives
// (or will: a track of the room it may receive); an unknown track fails
// with ErrUnknownTrack.
func (p *Participant) SetTrackSettings(trackID string, s TrackSettings) error {
	u := p.room.track(trackID)
	if u == nil || u.owner == p {
		return fmt.Errorf("%w: %s", ErrUnknownTrack, trackID)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.settings[trackID] = s
	p.mu.Unlock()
	p.allocate()
	return nil
}

// allocLoop runs allocate every allocInterval until p closes.
func (p *Participant) allocLoop() {
	defer p.wg.Done()
	tick := time.NewTicker(allocInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
			p.allocate()
		}
	}
}

// allocate chooses the layer each of p's tracks is sent at: what p's
// settings allow, what is being published, and what its downlink
// carries (bwe.go).
func (p *Participant) allocate() {
	p.allocMu.Lock()
	defer p.allocMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	downs := p.allocDowns[:0]
	for _, d := range p.down {
		downs = append(downs, d)
	}
	// In a stable order: the allocator ranks ties by it.
	slices.SortFunc(downs, func(x, y *downTrack) int { return strings.Compare(x.up.id, y.up.id) })
	p.allocDowns = downs
	prefs := p.allocPrefs[:0]
	for _, d := range downs {
		st, ok := p.settings[d.up.id]
		if !ok {
			st = TrackSettings{MaxLayer: -1}
		}
		prefs = append(prefs, st)
	}
	p.allocPrefs = prefs
	defer clear(downs)  // the scratch keeps no track alive once it ended
	var unsent []string // wishes for tracks p is not sent: maybe ended
	if len(p.settings) > len(downs) {
		for id := range p.settings {
			if p.down[id] == nil {
				unsent = append(unsent, id)
			}
		}
	}
	p.mu.Unlock()
	p.forgetEnded(unsent)

	now := p.s.cfg.Now()
	if p.bwe.est != nil {
		p.allocateBW(now, downs, prefs)
		return
	}
	for i, d := range downs {
		d.choose(now.UnixNano(), maxLayerFor(d.up, prefs[i]), noCap)
		d.setFPS(prefs[i].FPS)
	}
}

// forgetEnded drops p's wishes for those of the tracks ids that have left
// the room, so that a long-lived subscriber's wishes do not grow with
// every track it ever saw.
func (p *Participant) forgetEnded(ids []string) {
	for _, id := range ids {
		if p.room.track(id) != nil {
			continue
		}
		p.mu.Lock()
		if p.down[id] == nil {
			delete(p.settings, id)
		}
		p.mu.Unlock()
	}
}

// maxLayerFor returns the highest layer of u that settings s allow, -1
// when s pauses it.
func maxLayerFor(u *upTrack, s TrackSettings) int {
	top := len(u.layers) - 1
	switch {
	case s.Paused:
		return -1
	case s.MaxLayer >= 0 && s.MaxLayer < top:
		top = s.MaxLayer
	}
	if s.Width <= 0 && s.Height <= 0 || !u.layered() {
		return top
	}
	// The smallest layer at least the size asked for (the top if none
	// is). A layer of unknown size is taken as the top one's divided by
	// 2 per layer below it; with the top's unknown too, nothing is known.
	n := len(u.layers)
	tw, th := u.layers[n-1].dimensions()
	for i := range n {
		w, h := u.layers[i].dimensions()
		if w == 0 {
			// Its next keyframe tells (a layer's first keyframe may have
			// come before anyone read it); requests are throttled.
			u.requestKeyframe(u.layers[i])
			if tw == 0 {
				return top
			}
			w, h = tw>>(n-1-i), th>>(n-1-i)
		}
		if w >= s.Width && h >= s.Height {
			return min(top, i)
		}
	}
	return top
}

// noCap is choose's budget when the bandwidth sets no cap.
const noCap = -2

// choose sets the layer d is sent at: desired is the highest its
// settings allow (-1: paused by them), capped by budget (the layer the
// bandwidth allows, -1 for none; budget < -1: no cap). The target is the
// highest layer not above that which is being published, else the lowest
// one that is; dynacast asks the publisher for desired.
func (d *downTrack) choose(now int64, desired, budget int) {
	u := d.up
	if budget >= -1 && budget < desired {
		desired = budget
	}
	target := desired
	if desired >= 0 && u.layered() {
		target = -1
		for i := desired; i >= 0; i-- {
			if u.layers[i].live(now) {
				target = i
				break
			}
		}
		if target < 0 {
			for i := desired + 1; i < len(u.layers); i++ {
				if u.layers[i].live(now) {
					target = i
					break
				}
			}
		}
		if target < 0 {
			target = desired // nothing arrives yet: wait for the wanted one
		}
	}
	prevDesired := d.desired.Swap(int32(desired))
	prev := d.target.Swap(int32(target))
	if prevDesired != int32(desired) {
		u.updateWanted()
	}
	if prev == int32(target) {
		return
	}
	switch {
	case target < 0:
		d.cur.Store(-1) // resuming starts from a keyframe
	case u.svc != nil:
		if int32(target) > d.cur.Load() {
			u.requestKeyframe(u.layers[0]) // a spatial layer up starts at a keyframe
		}
	case !u.simulcast():
		d.restart()
		u.requestKeyframe(u.layers[0])
	default:
		u.requestKeyframe(u.layers[target])
	}
}
