package signaling

import (
	"bytes"
	"encoding/json"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Limits of the protocol.
const (
	MaxMessageSize = 64 << 10 // bytes of one WebSocket message
	MaxUserIDLen   = 64       // bytes
	MaxStrRoomLen  = 64       // bytes
	MaxTokenLen    = 8 << 10  // bytes of a userSig
	MaxSDPLen      = 60 << 10 // bytes of one SDP
	MaxTrackIDs    = 256      // ids in one subscribe or unsubscribe
	MaxRoomID      = 4294967294
)

// Request is a decoded, validated client message.
type Request struct {
	Type string
	ID   uint64
	// Body is one of *Join, *SDP, *Candidate, *TrackIDs, *Mute,
	// *SwitchRole, *RestartICE, or nil for leave and ping.
	Body any
}

// DecodeRequest parses one client message and checks every field. Its
// errors are *CodedError values ready to send back.
func DecodeRequest(b []byte) (Request, error) {
	if len(b) > MaxMessageSize {
		return Request{}, Errorf(CodeTooLarge, "message is %d bytes, limit %d", len(b), MaxMessageSize)
	}
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return Request{}, Errorf(CodeBadMessage, "not a JSON message object")
	}
	req := Request{Type: env.Type, ID: env.ID}
	var body interface{ validate() error }
	switch env.Type {
	case TypeJoin:
		body = new(Join)
	case TypeOffer, TypeAnswer:
		body = new(SDP)
	case TypeCandidate:
		body = new(Candidate)
	case TypeSubscribe, TypeUnsubscribe:
		body = new(TrackIDs)
	case TypeMute:
		body = new(Mute)
	case TypeTrackSettings:
		body = new(TrackSettings)
	case TypeSwitchRole:
		body = new(SwitchRole)
	case TypeRestartICE:
		body = new(RestartICE)
	case TypeLeave, TypePing:
		return req, nil
	case "":
		return req, Errorf(CodeBadMessage, "missing type")
	default:
		return req, Errorf(CodeUnknownType, "unknown type %q", Printable(env.Type, 32))
	}
	data := bytes.TrimSpace(env.Data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return req, Errorf(CodeBadMessage, "%s needs a data object", env.Type)
	}
	if err := json.Unmarshal(data, body); err != nil {
		return req, Errorf(CodeBadMessage, "%s data has the wrong shape", env.Type)
	}
	if err := body.validate(); err != nil {
		return req, err
	}
	req.Body = body
	return req, nil
}

func (j *Join) validate() error {
	switch {
	case j.SDKAppID == 0:
		return Errorf(CodeInvalidField, "sdkAppId is required")
	case !validName(j.UserID, MaxUserIDLen):
		return Errorf(CodeInvalidField, "userId must be 1-%d printable characters", MaxUserIDLen)
	case j.UserSig == "":
		return Errorf(CodeInvalidField, "userSig is required")
	case len(j.UserSig) > MaxTokenLen:
		return Errorf(CodeTokenMalformed, "userSig longer than %d bytes", MaxTokenLen)
	case len(j.PrivateMapKey) > MaxTokenLen:
		return Errorf(CodeTokenMalformed, "privateMapKey longer than %d bytes", MaxTokenLen)
	case (j.RoomID == 0) == (j.StrRoomID == ""):
		return Errorf(CodeInvalidField, "exactly one of roomId and strRoomId is required")
	case j.RoomID > MaxRoomID:
		return Errorf(CodeInvalidField, "roomId out of range")
	case j.StrRoomID != "" && !validName(j.StrRoomID, MaxStrRoomLen):
		return Errorf(CodeInvalidField, "strRoomId must be 1-%d printable characters", MaxStrRoomLen)
	}
	switch j.Role {
	case "":
		j.Role = RoleAnchor
	case RoleAnchor, RoleAudience:
	default:
		return Errorf(CodeInvalidField, "role must be anchor or audience")
	}
	return nil
}

func (s *SDP) validate() error {
	if err := s.Target.validate(); err != nil {
		return err
	}
	if s.SDP == "" || len(s.SDP) > MaxSDPLen {
		return Errorf(CodeInvalidField, "sdp must be 1-%d bytes", MaxSDPLen)
	}
	if len(s.ScreenTrackIDs) > 0 && s.Target != TargetPublisher {
		return Errorf(CodeInvalidField, "screenTrackIds belong to publisher offers")
	}
	if len(s.TrackIDs) > 0 && s.Target != TargetSubscriber {
		return Errorf(CodeInvalidField, "trackIds belong to subscriber offers")
	}
	switch {
	case s.Follow != "" && s.Follow != FollowSpeaker:
		return Errorf(CodeInvalidField, "follow must be \"speaker\"")
	case s.Follow != "" && s.Target != TargetSubscriber:
		return Errorf(CodeInvalidField, "follow belongs to subscriber offers")
	case s.Follow != "" && len(s.TrackIDs) > 0:
		return Errorf(CodeInvalidField, "follow and trackIds exclude each other")
	}
	if len(s.ScreenTrackIDs) > 16 || len(s.TrackIDs) > 16 {
		return Errorf(CodeInvalidField, "at most 16 screenTrackIds")
	}
	for _, id := range slices.Concat(s.ScreenTrackIDs, s.TrackIDs) {
		if !validName(id, 64) {
			return Errorf(CodeInvalidField, "malformed track id")
		}
	}
	return nil
}

func (c *Candidate) validate() error {
	if err := c.Target.validate(); err != nil {
		return err
	}
	if c.Candidate != nil && len(c.Candidate.Candidate) > 1024 {
		return Errorf(CodeInvalidField, "candidate too long")
	}
	return nil
}

func (t *TrackIDs) validate() error {
	if len(t.TrackIDs) == 0 || len(t.TrackIDs) > MaxTrackIDs {
		return Errorf(CodeInvalidField, "trackIds must hold 1-%d ids", MaxTrackIDs)
	}
	for _, id := range t.TrackIDs {
		if !validName(id, 64) {
			return Errorf(CodeInvalidField, "malformed track id")
		}
	}
	return nil
}

func (r *SwitchRole) validate() error {
	if r.Role != RoleAnchor && r.Role != RoleAudience {
		return Errorf(CodeInvalidField, "role must be anchor or audience")
	}
	if len(r.PrivateMapKey) > MaxTokenLen {
		return Errorf(CodeTokenMalformed, "privateMapKey longer than %d bytes", MaxTokenLen)
	}
	return nil
}

func (r *RestartICE) validate() error {
	if err := r.Target.validate(); err != nil {
		return err
	}
	if r.Target != TargetSubscriber {
		return Errorf(CodeInvalidField, "restart the publisher's ICE with an offer that has new credentials")
	}
	return nil
}

func (m *Mute) validate() error {
	if !validName(m.TrackID, 64) {
		return Errorf(CodeInvalidField, "trackId is required")
	}
	return nil
}

func (t *TrackSettings) validate() error {
	switch {
	case !validName(t.TrackID, 64):
		return Errorf(CodeInvalidField, "trackId is required")
	case t.MaxLayer != nil && (*t.MaxLayer < 0 || *t.MaxLayer >= MaxLayers):
		return Errorf(CodeInvalidField, "maxLayer must be 0-%d", MaxLayers-1)
	case t.Width < 0 || t.Width > MaxDimension || t.Height < 0 || t.Height > MaxDimension:
		return Errorf(CodeInvalidField, "width and height must be 0-%d", MaxDimension)
	case t.FPS < 0 || t.FPS > MaxFPS:
		return Errorf(CodeInvalidField, "fps must be 0-%d", MaxFPS)
	}
	return nil
}

func (t Target) validate() error {
	if t != TargetPublisher && t != TargetSubscriber {
		return Errorf(CodeInvalidField, "target must be publisher or subscriber")
	}
	return nil
}

// validName reports whether s is 1..maxLen bytes of valid UTF-8, every
// character printable and none a space.
func validName(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		// Printable and not a space: no control, format (bidi overrides,
		// zero-width characters, BOM, soft hyphen) or invisible character
		// that would let one name pass for another.
		if r == ' ' || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Printable shortens s to n runes and replaces anything that could forge a
// log line or confuse a terminal with '?', for echoing client input in
// errors and diagnostics.
func Printable(s string, n int) string {
	out := make([]rune, 0, n)
	for _, r := range s {
		if len(out) == n {
			break
		}
		if r < 0x20 || r == 0x7f || !unicode.IsPrint(r) {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}

// Encode builds one server or client message. data may be nil.
func Encode(typ string, id uint64, data any) ([]byte, error) {
	env := Envelope{Type: typ, ID: id}
	if data != nil {
		raw, err := json.Marshal(data)
		if err != nil {
			return nil, err
		}
		env.Data = raw
	}
	return json.Marshal(env)
}
