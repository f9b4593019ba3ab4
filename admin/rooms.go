package admin

import "context"

// RoomJSON names a room of an application: exactly one of RoomID
// (1..MaxRoomID) and StrRoomID. Room 123 and room "123" are different
// rooms.
type RoomJSON struct {
	RoomID    uint32 `json:"roomId,omitempty"`
	StrRoomID string `json:"strRoomId,omitempty"`
}

// ParticipantJSON is a participant of a live room. ParticipantID is ""
// until the media worker has confirmed the join; AudioBlocked and
// VideoBlocked say what BlockUser blocked.
type ParticipantJSON struct {
	ParticipantID string   `json:"participantId"`
	UserID        string   `json:"userId"`
	Role          string   `json:"role"`   // RoleAnchor or RoleAudience
	Tracks        []string `json:"tracks"` // kinds of the published tracks: "audio", "video", "screen"
	AudioBlocked  bool     `json:"audioBlocked"`
	VideoBlocked  bool     `json:"videoBlocked"`
}

// RoomInfoJSON is a live room and its participants.
type RoomInfoJSON struct {
	RoomJSON
	Participants []ParticipantJSON `json:"participants"`
}

// RoomsJSON is the reply listing an application's live rooms.
type RoomsJSON struct {
	Rooms []RoomInfoJSON `json:"rooms"`
}

// RemoveUserRequest is the body removing a user from a room.
type RemoveUserRequest struct {
	RoomJSON
	UserID string `json:"userId"`
}

// BlockRequest is the body blocking (Blocked) or unblocking a user's audio
// and/or video in a room; at least one of Audio and Video is true.
type BlockRequest struct {
	RoomJSON
	UserID  string `json:"userId"`
	Audio   bool   `json:"audio"`
	Video   bool   `json:"video"` // the sub-stream (screen) included
	Blocked bool   `json:"blocked"`
}

// ListRooms lists application app's live rooms and their participants
// (GET /v1/admin/apps/{app}/rooms).
func (c *Client) ListRooms(ctx context.Context, app uint32) ([]RoomInfoJSON, error) {
	var r RoomsJSON
	if err := c.do(ctx, "GET", appPath(app, "/rooms"), nil, &r); err != nil {
		return nil, err
	}
	return r.Rooms, nil
}

// DismissRoom ends a room: every participant is told and disconnected
// (POST /v1/admin/apps/{app}/rooms/dismiss).
func (c *Client) DismissRoom(ctx context.Context, app uint32, room RoomJSON) error {
	return c.do(ctx, "POST", appPath(app, "/rooms/dismiss"), room, nil)
}

// RemoveUser disconnects a user from a room and refuses the tokens they
// joined with until those expire (POST /v1/admin/apps/{app}/rooms/remove-user).
func (c *Client) RemoveUser(ctx context.Context, app uint32, req RemoveUserRequest) error {
	return c.do(ctx, "POST", appPath(app, "/rooms/remove-user"), req, nil)
}

// BlockUser stops or resumes forwarding a user's audio and/or video to
// the room (POST /v1/admin/apps/{app}/rooms/block).
func (c *Client) BlockUser(ctx context.Context, app uint32, req BlockRequest) error {
	return c.do(ctx, "POST", appPath(app, "/rooms/block"), req, nil)
}
