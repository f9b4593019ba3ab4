package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// Type is a TRTC event code (EventType).
type Type int

// TRTC's event codes. The group of an event (EventGroupId) is its code's
// hundreds: 1 room events, 2 media events.
const (
	CreateRoom     Type = 101 // the first participant entered
	DismissRoom    Type = 102 // the last one left
	EnterRoom      Type = 103
	ExitRoom       Type = 104
	ChangeRole     Type = 105
	StartVideo     Type = 201
	StopVideo      Type = 202
	StartAudio     Type = 203
	StopAudio      Type = 204
	StartSubStream Type = 205 // screen sharing ("assistant stream")
	StopSubStream  Type = 206
	// Test is Lethe's own: what `lethe app webhook test` sends. Not a
	// TRTC code; receivers should answer it 200 and ignore it.
	Test Type = 100
)

// Group is the event's EventGroupId: 1 room, 2 media.
func (t Type) Group() int { return int(t) / 100 }

// TRTC's roles in EventInfo.Role.
const (
	RoleAnchor   = 20
	RoleAudience = 21
)

// Reasons in EventInfo.Reason. For 103: ReasonNormal. For 104:
// ReasonNormal (left or closed), ReasonTimeout (the media worker
// hosting the session failed), ReasonRemoved (an operator removed the user),
// ReasonDismissed (an operator dismissed the room).
const (
	ReasonNormal    = 1
	ReasonTimeout   = 2
	ReasonRemoved   = 3
	ReasonDismissed = 4
)

// Event is one room event of an application.
type Event struct {
	App       uint32
	Type      Type
	RoomID    uint32 // numeric room; StrRoomID empty
	StrRoomID string // string room
	UserID    string // empty for 102
	Role      int    // RoleAnchor, RoleAudience or 0 (none)
	Reason    int    // 0: none
	At        time.Time
}

// body is the callback's JSON, in TRTC's field names.
type body struct {
	EventGroupID int   `json:"EventGroupId"`
	EventType    int   `json:"EventType"`
	CallbackTs   int64 `json:"CallbackTs"` // ms
	EventInfo    info  `json:"EventInfo"`
}

type info struct {
	RoomID    any    `json:"RoomId"`    // a number, or a string for a string room
	EventTs   int64  `json:"EventTs"`   // s
	EventMsTs int64  `json:"EventMsTs"` // ms
	UserID    string `json:"UserId,omitempty"`
	Role      int    `json:"Role,omitempty"`
	Reason    int    `json:"Reason,omitempty"`
}

// Marshal returns e's callback body as sent at now (CallbackTs).
func (e Event) Marshal(now time.Time) ([]byte, error) {
	var room any = e.RoomID
	if e.StrRoomID != "" {
		room = e.StrRoomID
	}
	return json.Marshal(body{
		EventGroupID: e.Type.Group(), EventType: int(e.Type), CallbackTs: now.UnixMilli(),
		EventInfo: info{
			RoomID: room, EventTs: e.At.Unix(), EventMsTs: e.At.UnixMilli(),
			UserID: e.UserID, Role: e.Role, Reason: e.Reason,
		},
	})
}

// Sign is the Sign header of body under key: base64 (standard, padded) of
// HMAC-SHA256(key, body).
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify reports whether sign is body's signature under key, in constant
// time: what a receiver does.
func Verify(key, body []byte, sign string) bool {
	got, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
