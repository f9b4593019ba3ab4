package adminserver

import (
	"net/http"
	"time"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

// defaultTTL is a minted token's lifetime when the request names none
// (capped by the app's MaxTokenTTL).
const defaultTTL = time.Hour

// mintUserSig signs a UserSig for a user of an active app with the app's
// current signing key. The lifetime is capped at the app's MaxTokenTTL.
// With a room: a JWT is bound to it and carries the privileges; a TLS
// UserSig comes, as in TRTC, with a privateMapKey for that room and the
// privileges. The privileges are all eight bits unless given. A consent
// (JWT only) is written into the token and nowhere else.
func (h *handler) mintUserSig(w http.ResponseWriter, r *http.Request) error {
	a, err := h.loadApp(r)
	if err != nil {
		return err
	}
	var req admin.UserSigRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Format == "" {
		req.Format = admin.FormatJWT
	}
	if req.Format != admin.FormatJWT && req.Format != admin.FormatTLS {
		return invalid("format must be %q or %q", admin.FormatJWT, admin.FormatTLS)
	}
	if !validUserID(req.UserID) {
		return invalid("userId must be 1-%d bytes without spaces or control characters", admin.MaxUserIDLen)
	}
	var room RoomRef
	if req.RoomID != 0 || req.StrRoomID != "" {
		if room, err = roomRef(req.RoomJSON); err != nil {
			return err
		}
	}
	switch {
	case req.TTLSeconds < 0:
		return invalid("ttlSeconds must be positive")
	case req.Privileges != nil && *req.Privileges > admin.MaxPrivileges:
		return invalid("privileges must be 0..%d", admin.MaxPrivileges)
	case req.Privileges != nil && room == (RoomRef{}):
		return invalid("privileges need a room: give roomId or strRoomId")
	case req.Role != "" && req.Role != auth.RoleAnchor && req.Role != auth.RoleAudience:
		return invalid("role must be %q or %q", auth.RoleAnchor, auth.RoleAudience)
	case req.Role != "" && req.Format != admin.FormatJWT:
		return invalid("role is a JWT claim; a TLS UserSig carries none")
	case req.Consent != "" && req.Consent != admin.ConsentAdult && req.Consent != admin.ConsentParental:
		return invalid("consent must be %q or %q", admin.ConsentAdult, admin.ConsentParental)
	case req.Consent != "" && req.Format != admin.FormatJWT:
		return invalid("consent is a JWT claim; a TLSSigAPIv2 token has no room for it: use format %q", admin.FormatJWT)
	}
	if a.Status != store.StatusActive {
		return errorf(http.StatusConflict, admin.CodeAppNotActive, "the application is %s", a.Status)
	}

	maxTTL := a.Policy.MaxTokenTTL
	if maxTTL <= 0 {
		maxTTL = store.DefaultMaxTokenTTL
	}
	ttl := min(defaultTTL, maxTTL)
	if req.TTLSeconds > 0 {
		ttl = min(time.Duration(min(req.TTLSeconds, maxSeconds))*time.Second, maxTTL)
	}
	now := h.now().Truncate(time.Second)
	key, err := h.signingKey(r, a)
	if err != nil {
		return err
	}
	c := auth.Claims{
		SDKAppID:  a.SDKAppID,
		UserID:    req.UserID,
		IssuedAt:  now,
		ExpiresAt: now.Add(ttl),
		Role:      req.Role,
		Consent:   req.Consent,
	}
	// With a room, a token always carries privileges: all unless given.
	priv, hasPriv := auth.PrivAll, room != (RoomRef{})
	if req.Privileges != nil {
		priv = auth.Privilege(*req.Privileges)
	}
	if err := h.appendLog(r, a.SDKAppID, store.OpUserSigMint); err != nil {
		return err
	}

	reply := admin.UserSigJSON{Format: req.Format, KID: key.ID, IssuedAt: now.UTC(), ExpiresAt: c.ExpiresAt.UTC(), TTLSeconds: int64(ttl / time.Second)}
	switch req.Format {
	case admin.FormatJWT:
		bound := c
		bound.RoomID, bound.StrRoomID = room.RoomID, room.StrRoomID
		bound.Privileges, bound.HasPrivateMap = priv, hasPriv
		reply.UserSig, err = auth.SignJWT(key, bound)
	case admin.FormatTLS: // as TRTC: a plain UserSig, and a privateMapKey for the room
		reply.UserSig, err = auth.SignTLS(key, c, nil)
		if err == nil && room != (RoomRef{}) {
			pm := auth.PrivateMap{RoomID: room.RoomID, StrRoomID: room.StrRoomID, Privileges: priv}
			reply.PrivateMapKey, err = auth.SignTLS(key, c, &pm)
		}
	}
	if err != nil {
		return internal(err, req.UserID, room.StrRoomID)
	}
	return writeJSON(w, http.StatusOK, reply)
}
