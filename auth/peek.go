package auth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Peek reads what a token claims to be, without verifying it: the
// application, the user and the room binding, as a Want to verify it
// against. It is for callers that receive a token alone (a WHIP or WHEP
// request's Authorization header) and must learn whose it is before they
// can look up the keys that verify it; nothing it returns may be trusted
// until Verify has accepted the token with that Want (Verify checks the
// token's app, user and room against it). Tokens over DefaultMaxTokenLen
// and any that does not decode are ErrMalformed.
func Peek(token string) (Want, error) {
	if token == "" || len(token) > DefaultMaxTokenLen {
		return Want{}, malformed("length")
	}
	if strings.IndexByte(token, '.') >= 0 {
		return peekJWT(token)
	}
	d, err := decodeTLS(token)
	if err != nil {
		return Want{}, err
	}
	w := Want{SDKAppID: d.sdkAppID, UserID: d.identifier}
	if d.hasUserbuf {
		_, _, pm, err := DecodeUserBuf(d.userbufRaw)
		if err != nil {
			return Want{}, err
		}
		w.RoomID, w.StrRoomID = pm.RoomID, pm.StrRoomID
	}
	return w, nil
}

func peekJWT(token string) (Want, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Want{}, malformed("not three segments")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Want{}, malformed("payload base64")
	}
	var c struct {
		SDKAppID  uint32 `json:"sdkappid"`
		Subject   string `json:"sub"`
		RoomID    uint32 `json:"roomId"`
		StrRoomID string `json:"strRoomId"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return Want{}, malformed("payload JSON")
	}
	if c.SDKAppID == 0 || c.Subject == "" {
		return Want{}, malformed("sdkappid or sub missing")
	}
	return Want{SDKAppID: c.SDKAppID, UserID: c.Subject, RoomID: c.RoomID, StrRoomID: c.StrRoomID}, nil
}
