package adminserver

import (
	"context"
	"errors"
	"net/http"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/store"
)

// RoomRef names a room of an application: exactly one of RoomID (numeric,
// 1..4294967294) and StrRoomID is set. Room 123 and room "123" are
// different rooms.
type RoomRef struct {
	RoomID    uint32
	StrRoomID string
}

// RoomInfo is a snapshot of one live room.
type RoomInfo struct {
	Room         RoomRef
	Participants []ParticipantInfo
}

// ParticipantInfo describes one participant of a live room.
type ParticipantInfo struct {
	ParticipantID string
	UserID        string
	Role          string   // "anchor" or "audience"
	Tracks        []string // kinds of the published tracks: "audio", "video", "screen"
	AudioBlocked  bool
	VideoBlocked  bool
}

// Rooms controls the live rooms of the control process. Errors matching
// ErrRoomNotFound and ErrUserNotFound are answered with 404; the text of
// any other error is logged, so it must not hold a user id or a token.
type Rooms interface {
	// Rooms lists the live rooms of application app (none: an empty slice).
	Rooms(ctx context.Context, app uint32) ([]RoomInfo, error)
	// Dismiss ends the room: every participant is told and disconnected.
	Dismiss(ctx context.Context, app uint32, room RoomRef) error
	// RemoveUser disconnects userID from the room and refuses that user's
	// rejoin with the same token until the token expires.
	RemoveUser(ctx context.Context, app uint32, room RoomRef, userID string) error
	// Block stops (blocked) or resumes (!blocked) forwarding userID's audio
	// and/or video in the room; at least one of audio and video is true.
	Block(ctx context.Context, app uint32, room RoomRef, userID string, audio, video, blocked bool) error
}

// roomRef checks a room named in a request.
func roomRef(j admin.RoomJSON) (RoomRef, error) {
	switch {
	case (j.RoomID == 0) == (j.StrRoomID == ""):
		return RoomRef{}, invalid("exactly one of roomId and strRoomId is required")
	case j.RoomID > admin.MaxRoomID:
		return RoomRef{}, invalid("roomId must be 1..%d", uint32(admin.MaxRoomID))
	case j.StrRoomID != "" && !validText(j.StrRoomID, admin.MaxStrRoomIDLen, false):
		return RoomRef{}, invalid("strRoomId must be 1-%d bytes without spaces or control characters", admin.MaxStrRoomIDLen)
	}
	return RoomRef(j), nil
}

// roomsApp loads the {app} of a rooms endpoint, or answers 503 when this
// server has no room controller.
func (h *handler) roomsApp(r *http.Request) (App, error) {
	a, err := h.loadApp(r)
	if err != nil {
		return App{}, err
	}
	if h.rooms == nil {
		return App{}, errorf(http.StatusServiceUnavailable, admin.CodeRoomsUnavailable, "this server controls no rooms")
	}
	return a, nil
}

func (h *handler) listRooms(w http.ResponseWriter, r *http.Request) error {
	a, err := h.roomsApp(r)
	if err != nil {
		return err
	}
	if err := h.appendLog(r, a.SDKAppID, store.OpRoomList); err != nil {
		return err
	}
	rooms, err := h.rooms.Rooms(r.Context(), a.SDKAppID)
	if err != nil {
		return roomsError(err)
	}
	reply := admin.RoomsJSON{Rooms: make([]admin.RoomInfoJSON, 0, len(rooms))}
	for _, ri := range rooms {
		rj := admin.RoomInfoJSON{
			RoomJSON:     admin.RoomJSON{RoomID: ri.Room.RoomID, StrRoomID: ri.Room.StrRoomID},
			Participants: make([]admin.ParticipantJSON, 0, len(ri.Participants)),
		}
		for _, p := range ri.Participants {
			tracks := p.Tracks
			if tracks == nil {
				tracks = []string{}
			}
			rj.Participants = append(rj.Participants, admin.ParticipantJSON{
				ParticipantID: p.ParticipantID, UserID: p.UserID, Role: p.Role, Tracks: tracks,
				AudioBlocked: p.AudioBlocked, VideoBlocked: p.VideoBlocked,
			})
		}
		reply.Rooms = append(reply.Rooms, rj)
	}
	return writeJSON(w, http.StatusOK, reply)
}

func (h *handler) dismissRoom(w http.ResponseWriter, r *http.Request) error {
	a, err := h.roomsApp(r)
	if err != nil {
		return err
	}
	var req admin.RoomJSON
	if err := decode(w, r, &req); err != nil {
		return err
	}
	room, err := roomRef(req)
	if err != nil {
		return err
	}
	if err := h.rooms.Dismiss(r.Context(), a.SDKAppID, room); err != nil {
		return roomsError(err, room.StrRoomID)
	}
	if err := h.appendLog(r, a.SDKAppID, store.OpRoomDismiss); err != nil {
		return err
	}
	return noContent(w)
}

func (h *handler) removeUser(w http.ResponseWriter, r *http.Request) error {
	a, err := h.roomsApp(r)
	if err != nil {
		return err
	}
	var req admin.RemoveUserRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	room, err := roomRef(req.RoomJSON)
	if err != nil {
		return err
	}
	if !validUserID(req.UserID) {
		return invalid("userId must be 1-%d bytes without spaces or control characters", admin.MaxUserIDLen)
	}
	if err := h.rooms.RemoveUser(r.Context(), a.SDKAppID, room, req.UserID); err != nil {
		return roomsError(err, room.StrRoomID, req.UserID)
	}
	if err := h.appendLog(r, a.SDKAppID, store.OpUserRemove); err != nil {
		return err
	}
	return noContent(w)
}

// blockRequest is admin.BlockRequest with blocked required: its Blocked
// hides the embedded one, so that an absent "blocked" is not false.
type blockRequest struct {
	admin.BlockRequest
	Blocked *bool `json:"blocked"`
}

func (h *handler) blockUser(w http.ResponseWriter, r *http.Request) error {
	a, err := h.roomsApp(r)
	if err != nil {
		return err
	}
	var req blockRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	room, err := roomRef(req.RoomJSON)
	if err != nil {
		return err
	}
	switch {
	case !validUserID(req.UserID):
		return invalid("userId must be 1-%d bytes without spaces or control characters", admin.MaxUserIDLen)
	case !req.Audio && !req.Video:
		return invalid("at least one of audio and video must be true")
	case req.Blocked == nil:
		return invalid("blocked (true or false) is required")
	}
	if err := h.rooms.Block(r.Context(), a.SDKAppID, room, req.UserID, req.Audio, req.Video, *req.Blocked); err != nil {
		return roomsError(err, room.StrRoomID, req.UserID)
	}
	op := store.OpUserUnblock
	if *req.Blocked {
		op = store.OpUserBlock
	}
	if err := h.appendLog(r, a.SDKAppID, op); err != nil {
		return err
	}
	return noContent(w)
}

// roomsError maps an error of Rooms to a reply; redact lists the request's
// user id and room name, cut from the logged text of an unexpected error.
func roomsError(err error, redact ...string) error {
	switch {
	case errors.Is(err, ErrRoomNotFound):
		return errorf(http.StatusNotFound, admin.CodeRoomNotFound, "the application has no such room")
	case errors.Is(err, ErrUserNotFound):
		return errorf(http.StatusNotFound, admin.CodeUserNotFound, "no such user in the room")
	default:
		return internal(err, redact...)
	}
}
