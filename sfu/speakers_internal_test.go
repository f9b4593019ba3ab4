package sfu

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/speaker"
)

// listEvents records the Speakers lists it gets.
type listEvents struct {
	nullEvents
	mu    sync.Mutex
	lists [][]Speaker
}

func (e *listEvents) Speakers(l []Speaker) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lists = append(e.lists, l)
}

func (e *listEvents) last() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.lists) == 0 {
		return "none"
	}
	var ids []string
	for _, s := range e.lists[len(e.lists)-1] {
		ids = append(ids, s.ParticipantID)
	}
	return fmt.Sprint(ids)
}

// TestTickSpeakers drives one room's speakers on an injected clock: loud
// tracks are listed, louder first; muted, blocked and hidden never; a
// participant with two tracks once; a muted track that resumes must speak
// for the attack again.
func TestTickSpeakers(t *testing.T) {
	t.Parallel()
	s := testSFU(Config{})
	r := newRoom(s, "room")
	ev := &listEvents{}
	tracks := map[string]*upTrack{}
	add := func(pid, tid string) *upTrack {
		var p *Participant
		for _, o := range r.participants {
			if o.id == pid {
				p = o
			}
		}
		if p == nil {
			p = testParticipant(s, pid, 1)
			p.ev, p.room = ev, r
			r.participants = append(r.participants, p)
		}
		u := testUpTrack(p, nil, 1)
		u.id, u.media, u.level = tid, Audio, speaker.NewTrack(&s.cfg.Speakers)
		r.tracks[tid] = u
		tracks[tid] = u
		return u
	}
	add("PA_a", "TR_a")
	add("PA_b", "TR_b1")
	add("PA_b", "TR_b2")
	add("PA_muted", "TR_m").muted.Store(true)
	add("PA_blocked", "TR_x").blocked.Store(true)
	add("PA_hidden", "TR_h").owner.hidden = true
	levels := map[string]uint8{"TR_a": 40, "TR_b1": 20, "TR_b2": 127, "TR_m": 0, "TR_x": 0, "TR_h": 0}

	now := int64(0)
	run := func(d time.Duration) {
		for end := now + int64(d); now < end; {
			now += int64(20 * time.Millisecond)
			for id, u := range tracks {
				if !u.paused() { // handle observes only what it forwards
					u.level.Observe(levels[id], now)
				}
			}
			if now%int64(100*time.Millisecond) == 0 {
				r.tickSpeakers(now)
			}
		}
	}
	run(time.Second)
	if got := ev.last(); got != "[PA_b PA_a]" {
		t.Fatalf("after a second: %s, want [PA_b PA_a] (muted, blocked and hidden never listed)", got)
	}
	// a mutes: gone at the next tick.
	tracks["TR_a"].muted.Store(true)
	run(300 * time.Millisecond)
	if got := ev.last(); got != "[PA_b]" {
		t.Fatalf("after a muted: %s, want [PA_b]", got)
	}
	// a resumes: back only after speaking for the attack.
	tracks["TR_a"].muted.Store(false)
	run(100 * time.Millisecond)
	if got := ev.last(); got != "[PA_b]" {
		t.Fatalf("just after a resumed: %s, want [PA_b]", got)
	}
	run(time.Second)
	if got := ev.last(); got != "[PA_b PA_a]" {
		t.Fatalf("a second after a resumed: %s, want [PA_b PA_a]", got)
	}
	// b leaves (its tracks go with it, as room.leave does).
	delete(r.tracks, "TR_b1")
	delete(r.tracks, "TR_b2")
	run(300 * time.Millisecond)
	if got := ev.last(); got != "[PA_a]" {
		t.Fatalf("after b left: %s, want [PA_a]", got)
	}
}
