package admin

import (
	"context"
	"time"
)

// UserSigRequest is the body minting a UserSig. Only UserID is required.
type UserSigRequest struct {
	UserID string `json:"userId"`
	// Format is FormatJWT (the default) or FormatTLS.
	Format string `json:"format,omitempty"`
	// TTLSeconds is the token's lifetime: 0 for an hour; capped at the
	// app's maxTokenTtlSeconds.
	TTLSeconds int64 `json:"ttlSeconds,omitempty"`
	// RoomJSON, if set, binds the token to that room.
	RoomJSON
	// Privileges are the privilege bits (0..MaxPrivileges) of the room
	// binding; nil: all of them. Only with a room.
	Privileges *uint32 `json:"privileges,omitempty"`
	// Role is RoleAnchor, RoleAudience or "" (none); JWT only.
	Role string `json:"role,omitempty"`
	// Consent is ConsentAdult, ConsentParental or "" (none): the caller's
	// statement that the user's consent was obtained, on that basis, which
	// the token then carries, signed. JWT only. It is not recorded.
	Consent string `json:"consent,omitempty"`
}

// UserSigJSON is a minted UserSig. With FormatTLS and a room,
// PrivateMapKey binds the room and privileges; pass both when entering.
type UserSigJSON struct {
	Format        string    `json:"format"`
	UserSig       string    `json:"userSig"`
	PrivateMapKey string    `json:"privateMapKey,omitempty"`
	KID           string    `json:"kid"`
	IssuedAt      time.Time `json:"issuedAt"`
	ExpiresAt     time.Time `json:"expiresAt"`
	TTLSeconds    int64     `json:"ttlSeconds"`
}

// MintUserSig mints a UserSig for a user of application app, signed now
// with its current signing key (POST /v1/admin/apps/{app}/usersig).
func (c *Client) MintUserSig(ctx context.Context, app uint32, req UserSigRequest) (UserSigJSON, error) {
	var s UserSigJSON
	err := c.do(ctx, "POST", appPath(app, "/usersig"), req, &s)
	return s, err
}
