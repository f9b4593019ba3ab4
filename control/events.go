package control

import (
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/lethe-rtc/lethe/webhook"
)

// Events receives the room events of every application, for its webhook
// (package webhook's Dispatcher implements it). Post must never block:
// the registry calls it under its lock, which is what keeps a room's
// events in order.
type Events interface {
	Post(e webhook.Event)
}

var _ Events = (*webhook.Dispatcher)(nil)

// The events come from what the control process already sees of every
// session, so no IPC message was added for them. All but 105 follow the
// worker's own reports, which reach the control process in order on one
// socket — State after State, then Closed — whatever the client does
// meanwhile (it may be gone before its first State is read):
//
//   - 103 enter: the session's first State (it carries the participant id
//     the SFU gave it on joining), preceded by 101 create for the first
//     member of its room to enter;
//   - 201..206 start/stop of video, audio and screen: a State whose
//     tracks of that kind go from none to some, or back;
//   - 104 exit: the worker's Closed of an entered session (its code gives
//     the reason), followed by 102 dismiss if it was the room's last;
//   - 105 role change: a role switch the registry allows.
//
// As in TRTC, an exit sends 104 without 202/204 for the tracks that end
// with it, unless the worker saw them end first (a client that
// unpublishes, or whose PeerConnection closes, before it leaves).

// roleCode is TRTC's code of a role.
func roleCode(r signaling.Role) int {
	if r == signaling.RoleAudience {
		return webhook.RoleAudience
	}
	return webhook.RoleAnchor
}

// postLocked posts an event of m's room; r.mu is held.
func (r *registry) postLocked(m *member, typ webhook.Type, withUser bool, reason int) {
	if r.events == nil {
		return
	}
	e := webhook.Event{App: m.app, Type: typ, RoomID: m.roomID, StrRoomID: m.strRoomID, Reason: reason, At: r.now()}
	if withUser {
		e.UserID, e.Role = m.userID, roleCode(m.role)
	}
	r.events.Post(e)
}

// stateEventsLocked posts what a State of m says: 101 and 103 on the
// first, starts and stops of kinds of tracks against before.
func (r *registry) stateEventsLocked(m *member, before []signaling.TrackState) {
	if !m.entered {
		if m.participantID == "" {
			return
		}
		m.entered = true
		if r.entered[m.key]++; r.entered[m.key] == 1 {
			r.postLocked(m, webhook.CreateRoom, true, 0)
		}
		r.postLocked(m, webhook.EnterRoom, true, webhook.ReasonNormal)
	}
	for _, k := range []struct {
		kind        string
		start, stop webhook.Type
	}{
		{"video", webhook.StartVideo, webhook.StopVideo},
		{"audio", webhook.StartAudio, webhook.StopAudio},
		{"screen", webhook.StartSubStream, webhook.StopSubStream},
	} {
		had, has := hasKind(before, k.kind), hasKind(m.tracks, k.kind)
		switch {
		case !had && has:
			r.postLocked(m, k.start, true, 0)
		case had && !has:
			r.postLocked(m, k.stop, true, 0)
		}
	}
}

func hasKind(ts []signaling.TrackState, kind string) bool {
	for _, t := range ts {
		if t.Kind == kind {
			return true
		}
	}
	return false
}

// closed forgets c's session, which the worker closed (or which never
// opened): 104 if it had entered, and 102 if it was its room's last.
func (r *registry) closed(c *conn, cl signaling.Closed) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.live[c]
	if m == nil {
		return
	}
	delete(r.live, c)
	if !m.entered {
		return
	}
	r.postLocked(m, webhook.ExitRoom, true, exitReason(cl.Code))
	if r.entered[m.key]--; r.entered[m.key] <= 0 {
		delete(r.entered, m.key)
		r.postLocked(m, webhook.DismissRoom, false, 0)
	}
}

// exitReason is the Reason of a 104 whose session closed with code.
func exitReason(code signaling.Code) int {
	switch code {
	case signaling.CodeRemoved:
		return webhook.ReasonRemoved
	case signaling.CodeRoomDismissed:
		return webhook.ReasonDismissed
	case signaling.CodeWorkerUnavailable:
		// Not CodeMediaFailed: a client closing its PeerConnection before
		// its WebSocket ends so too, and that is a normal exit.
		return webhook.ReasonTimeout
	}
	return webhook.ReasonNormal
}
