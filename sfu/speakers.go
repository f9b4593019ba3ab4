package sfu

import (
	"context"
	"time"

	"github.com/lethe-rtc/lethe/internal/speaker"
	"github.com/pion/sdp/v3"
)

// Active speakers. Publishers' audio carries its level in the RFC 6464
// header extension (negotiated on the publisher PeerConnection); each
// audio track's reader reads it from the packet's header before stripping
// it (nothing is decoded, nothing kept but a few counters per 50 ms) and
// feeds the track's speaker.Track. One goroutine of the SFU asks every
// room twice per Config.Speakers.Interval who speaks, and tells the room
// when its ranked list changed (Events.Speakers), at most once per
// Interval. Muted and blocked tracks never speak, hidden participants
// (an audience) are never listed, and whoever leaves drops out of the
// next list.

// Speaker is one participant speaking now: Level is 0 (-127 dBov) .. 1
// (0 dBov), linear in dB, from the mean amplitude of its active audio
// packets over the last second (speaker.Track.State): how loud it speaks.
// A participant with several audio tracks has the level of its loudest.
type Speaker struct {
	ParticipantID string
	Level         float64
}

// levelExtID returns the id that the publisher's offer gave the audio
// level extension on recv's m-section, or 0 if it gave none.
func levelExtID(u *upTrack) uint8 {
	for _, e := range u.recv.GetParameters().HeaderExtensions {
		if e.URI == sdp.AudioLevelURI && e.ID > 0 && e.ID < 256 {
			return uint8(e.ID)
		}
	}
	return 0
}

// runSpeakers asks every room who speaks until ctx ends.
func (s *SFU) runSpeakers(ctx context.Context) {
	s.everyRoom(ctx, s.cfg.Speakers.Interval/2, (*room).tickSpeakers)
}

// everyRoom calls tick for each room, with the time, every interval
// until ctx ends; the rooms are gathered first, so that no room's tick
// runs under the SFU's lock.
func (s *SFU) everyRoom(ctx context.Context, interval time.Duration, tick func(r *room, now int64)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var rooms []*room
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		for _, r := range s.rooms {
			rooms = append(rooms, r)
		}
		s.mu.Unlock()
		now := s.cfg.Now().UnixNano()
		for _, r := range rooms {
			tick(r, now)
		}
		clear(rooms)
		rooms = rooms[:0]
	}
}

// tickSpeakers tells r's participants who speaks at now, if that changed.
func (r *room) tickSpeakers(now int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cands := r.cands[:0]
	for _, u := range r.tracks {
		if u.level == nil {
			continue
		}
		if u.paused() {
			u.level.Reset() // when it resumes, it has to speak for the attack again
			continue
		}
		speaking, level := u.level.State(now)
		if !speaking || u.owner.isHidden() {
			continue
		}
		found := false
		for i := range cands {
			if cands[i].ID == u.owner.id {
				cands[i].Level = max(cands[i].Level, level)
				found = true
			}
		}
		if !found {
			cands = append(cands, speaker.Speaker{ID: u.owner.id, Level: level})
		}
	}
	r.cands = cands
	list, changed := r.ranking.Update(now, cands)
	clear(cands)
	if !changed {
		return
	}
	// A new slice for each list: the events may hold on to it.
	out := make([]Speaker, len(list))
	for i, sp := range list {
		out[i] = Speaker{ParticipantID: sp.ID, Level: sp.Level}
	}
	r.speakers = out
	for _, o := range r.participants {
		o.ev.Speakers(out)
		if o.following() != nil {
			o.kick() // follow.go
		}
	}
}
