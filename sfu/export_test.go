package sfu

import (
	"runtime"
	"sync/atomic"
)

// CountUpTracks makes every published track made from now on counted
// until the garbage collector frees it, and returns the count: a track
// nobody can reach any more must not stay live.
func CountUpTracks() *atomic.Int64 {
	var live atomic.Int64
	upTrackMade = func(u *upTrack) {
		live.Add(1)
		runtime.AddCleanup(u, func(*atomic.Int64) { live.Add(-1) }, &live)
	}
	return &live
}

// StopCountingUpTracks undoes CountUpTracks.
func StopCountingUpTracks() { upTrackMade = nil }

// SettingsHeld is how many tracks p holds a subscriber's wishes for.
func (p *Participant) SettingsHeld() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.settings)
}
