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
// session, so no IPC message was added for them:
//
//   - 103 enter: the worker's first State of the session (it carries the
//     participant id the SFU gave it on joining), preceded by 101 create
//     for the room's first participant to enter;
//   - 201..206 start/stop of video, audio and screen: a State whose
//     tracks of that kind go from none to some, or back;
//   - 105 role change: a role switch the registry allows;
//   - 104 exit: the registry forgetting an entered member, followed by
//     102 dismiss when it was the room's last.
//
// As in TRTC, leaving sends 104 alone, without 202/204 for the tracks
// that end with it.

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

// enteredLocked records that m's session is live in its room (the
// worker's first State): 101 if it is the first, 103.
func (r *registry) enteredLocked(m *member) {
	m.entered = true
	if !r.created[m.key] {
		r.created[m.key] = true
		r.postLocked(m, webhook.CreateRoom, true, 0)
	}
	r.postLocked(m, webhook.EnterRoom, true, webhook.ReasonNormal)
}

// tracksLocked posts the starts and stops between m's tracks before and
// after a State.
func (r *registry) tracksLocked(m *member, before, after []signaling.TrackState) {
	for _, k := range []struct {
		kind        string
		start, stop webhook.Type
	}{
		{"video", webhook.StartVideo, webhook.StopVideo},
		{"audio", webhook.StartAudio, webhook.StopAudio},
		{"screen", webhook.StartSubStream, webhook.StopSubStream},
	} {
		had, has := hasKind(before, k.kind), hasKind(after, k.kind)
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

// leftLocked posts 104 for an entered member that is gone, and 102 if
// its room is now empty.
func (r *registry) leftLocked(m *member, roomEmpty bool) {
	if m.entered {
		reason := m.exitReason
		if reason == 0 {
			reason = webhook.ReasonNormal
		}
		r.postLocked(m, webhook.ExitRoom, true, reason)
	}
	if roomEmpty && r.created[m.key] {
		delete(r.created, m.key)
		r.postLocked(m, webhook.DismissRoom, false, 0)
	}
}

// markExit sets the reason the exits of room key's members will carry
// (webhook.ReasonDismissed, ...), for those not marked already.
func (r *registry) markExit(key, userID string, reason int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.rooms[key] {
		if (userID == "" || m.userID == userID) && m.exitReason == 0 {
			m.exitReason = reason
		}
	}
}
