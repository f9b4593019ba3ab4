package sfu

import (
	"cmp"
	"slices"
	"sync"

	"github.com/lethe-rtc/lethe/internal/speaker"
)

// room is the set of participants and published tracks under one key.
// Lock order: room.mu before Participant.mu; nothing holding
// Participant.mu takes room.mu.
type room struct {
	key string
	s   *SFU

	mu           sync.Mutex
	participants []*Participant // in join order
	tracks       map[string]*upTrack
	dropped      bool     // removed from the SFU: nobody may join any more
	data         dataRoom // who has data channels, and the room's data rate (data.go)
	// Active speakers (speakers.go): the ranking, the last list sent, and
	// a buffer of candidates, all the speakers goroutine's under mu.
	ranking  *speaker.Ranking
	speakers []Speaker
	cands    []speaker.Speaker
	// sizeAsks is the layers goroutine's buffer (layers.go).
	sizeAsks []layerOfTrack
}

func newRoom(s *SFU, key string) *room {
	return &room{key: key, s: s, tracks: make(map[string]*upTrack), ranking: speaker.NewRanking(&s.cfg.Speakers),
		data: dataRoom{bytes: newBucket(s.cfg.Data.RoomByteRate)}}
}

// join adds p and returns the others, hidden ones left out, as they were
// before it came; the others hear of p unless it is hidden. It fails if
// the room was dropped meanwhile.
func (r *room) join(p *Participant) ([]ParticipantInfo, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dropped {
		return nil, false
	}
	p.room = r
	others := make([]ParticipantInfo, 0, len(r.participants))
	for _, o := range r.participants {
		if !o.isHidden() {
			others = append(others, r.infoLocked(o))
		}
	}
	if !p.isHidden() {
		info := r.infoLocked(p)
		for _, o := range r.participants {
			o.ev.ParticipantJoined(info)
		}
	}
	r.participants = append(r.participants, p)
	r.s.stats.participants.Add(1)
	if len(r.speakers) > 0 {
		p.ev.Speakers(r.speakers)
	}
	return others, true
}

// leave removes p and everything it published.
func (r *room) leave(p *Participant) {
	r.mu.Lock()
	i := slices.Index(r.participants, p)
	if i < 0 {
		r.mu.Unlock()
		return
	}
	r.participants = slices.Delete(r.participants, i, i+1)
	r.s.stats.participants.Add(-1)
	var gone []*upTrack
	for id, u := range r.tracks {
		if u.owner == p {
			delete(r.tracks, id)
			gone = append(gone, u)
		}
	}
	for _, u := range gone {
		info := u.info()
		for _, o := range r.participants {
			o.ev.TrackUnpublished(info)
		}
	}
	hidden := p.isHidden()
	for _, o := range r.participants {
		if !hidden {
			o.ev.ParticipantLeft(p.id)
		}
		if len(gone) > 0 {
			o.kick()
		}
	}
	r.mu.Unlock()
	for _, u := range gone {
		u.close()
	}
	r.s.dropRoomIfEmpty(r)
}

// publish makes u visible to everyone, its owner included.
func (r *room) publish(u *upTrack) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.participants, u.owner) {
		return false
	}
	r.tracks[u.id] = u
	info := u.info()
	for _, o := range r.participants {
		o.ev.TrackPublished(info)
		if o != u.owner {
			o.kick()
		}
	}
	return true
}

// unpublish removes u after its publisher stopped sending it.
func (r *room) unpublish(u *upTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tracks[u.id] != u {
		return
	}
	delete(r.tracks, u.id)
	info := u.info()
	for _, o := range r.participants {
		o.ev.TrackUnpublished(info)
		if o != u.owner {
			o.kick()
		}
	}
}

// muted tells everyone that u was paused or resumed.
func (r *room) muted(u *upTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	info := u.info()
	for _, o := range r.participants {
		o.ev.TrackMuted(info)
		if o.following() != nil && o != u.owner {
			o.kick() // a muted source is left (follow.go)
		}
	}
}

// updated announces p's new role and unpublishes the tracks of p that it
// may no longer send. To the others, p becoming hidden is a leave and
// coming out of hiding a join; p itself hears ParticipantUpdated.
func (r *room) updated(p *Participant, send Media, wasHidden, hidden bool) {
	r.mu.Lock()
	var gone []*upTrack
	for id, u := range r.tracks {
		if u.owner == p && send&u.media == 0 {
			delete(r.tracks, id)
			gone = append(gone, u)
		}
	}
	info := r.infoLocked(p)
	for _, o := range r.participants {
		for _, u := range gone {
			o.ev.TrackUnpublished(u.info())
		}
		switch {
		case o == p || (!wasHidden && !hidden):
			o.ev.ParticipantUpdated(info)
		case wasHidden && !hidden:
			o.ev.ParticipantJoined(info)
		case !wasHidden && hidden:
			o.ev.ParticipantLeft(p.id)
		}
		if len(gone) > 0 && o != p {
			o.kick()
		}
	}
	r.mu.Unlock()
	for _, u := range gone {
		u.close()
	}
}

// tracksOf lists p's published tracks.
func (r *room) tracksOf(p *Participant) []*upTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*upTrack
	for _, u := range r.tracks {
		if u.owner == p {
			out = append(out, u)
		}
	}
	return out
}

// track returns a published track by id.
func (r *room) track(id string) *upTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tracks[id]
}

// wantedBy lists the tracks p should receive now.
func (r *room) wantedBy(p *Participant) []*upTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*upTrack
	for _, u := range r.tracks {
		if u.owner != p && p.wants(u) {
			out = append(out, u)
		}
	}
	return out
}

func (r *room) members() []*Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.participants)
}

func (r *room) infoLocked(p *Participant) ParticipantInfo {
	p.mu.Lock()
	role := p.role
	p.mu.Unlock()
	info := ParticipantInfo{ID: p.id, UserID: p.cfg.UserID, Role: role, Tracks: []TrackInfo{}}
	for _, u := range r.tracks {
		if u.owner == p {
			info.Tracks = append(info.Tracks, u.info())
		}
	}
	slices.SortFunc(info.Tracks, func(a, b TrackInfo) int { return cmp.Compare(a.ID, b.ID) })
	return info
}
