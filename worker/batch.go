package worker

import "github.com/lethe-rtc/lethe/signaling"

// partEvent is one participant event waiting to go to a client.
type partEvent struct {
	typ  string // signaling.TypeParticipantJoined, -Updated or -Left
	info signaling.ParticipantInfo
}

// collapse turns a run of participant events into what a client that saw
// the room before them needs to see it after them: per participant, in
// the order they first appear, a join (new, still there), a leave (known
// before, gone), an update (known before, still there, changed), or
// nothing (came and went in between). Whether a participant was known
// before follows from its first event: a join means it was not.
func collapse(evs []partEvent) signaling.Participants {
	type fate struct {
		before, after bool
		info          signaling.ParticipantInfo
	}
	fates := make(map[string]*fate, len(evs))
	var order []string
	for _, e := range evs {
		id := e.info.ParticipantID
		f := fates[id]
		if f == nil {
			f = &fate{before: e.typ != signaling.TypeParticipantJoined}
			fates[id] = f
			order = append(order, id)
		}
		switch e.typ {
		case signaling.TypeParticipantLeft:
			f.after = false
		default:
			f.after, f.info = true, e.info
		}
	}
	var out signaling.Participants
	for _, id := range order {
		switch f := fates[id]; {
		case f.before && !f.after:
			out.Left = append(out.Left, id)
		case !f.before && f.after:
			out.Joined = append(out.Joined, f.info)
		case f.before && f.after:
			out.Updated = append(out.Updated, f.info)
		}
	}
	return out
}

// encodeParticipants is the message for a collapsed run: the single
// event's own message when there is one, else a participants message;
// nil when nothing is left to say.
func encodeParticipants(p signaling.Participants) ([]byte, error) {
	switch {
	case len(p.Left)+len(p.Joined)+len(p.Updated) == 0:
		return nil, nil
	case len(p.Left) == 1 && len(p.Joined)+len(p.Updated) == 0:
		return signaling.Encode(signaling.TypeParticipantLeft, 0, signaling.ParticipantLeft{ParticipantID: p.Left[0]})
	case len(p.Joined) == 1 && len(p.Left)+len(p.Updated) == 0:
		return signaling.Encode(signaling.TypeParticipantJoined, 0, p.Joined[0])
	case len(p.Updated) == 1 && len(p.Left)+len(p.Joined) == 0:
		return signaling.Encode(signaling.TypeParticipantUpdated, 0, p.Updated[0])
	}
	return signaling.Encode(signaling.TypeParticipants, 0, p)
}
