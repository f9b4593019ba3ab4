package auth

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is what a UserSig token asserts.
//
// In a JWT they are carried as: sdkappid (number), sub (user id), roomId and
// strRoomId (optional room binding, at most one of them), iat and exp
// (required, unix seconds). A token may also carry nbf, which Verify honours.
type Claims struct {
	SDKAppID  uint32
	UserID    string
	RoomID    uint32 // numeric room binding; 0: none
	StrRoomID string // string room binding; "": none
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// jwtClaims is the JSON shape of Claims. Unknown claims are ignored.
type jwtClaims struct {
	SDKAppID  uint32 `json:"sdkappid"`
	RoomID    uint32 `json:"roomId,omitempty"`
	StrRoomID string `json:"strRoomId,omitempty"`
	jwt.RegisteredClaims
}

// SignJWT returns c as an HS256 JWT signed with key, whose header kid is
// key.ID. It checks only what would make the token unusable: a key without
// id or with a short secret, a zero SDKAppID, an empty user id, a missing
// iat or exp, exp not after iat, or both room bindings set. Whether key is
// valid at c.IssuedAt is the caller's business (the store picks the key).
func SignJWT(key Key, c Claims) (string, error) {
	if !validKeyID(key.ID) || len(key.Secret) < MinSecretLen {
		return "", ErrInvalidKey
	}
	switch {
	case c.SDKAppID == 0:
		return "", fmt.Errorf("%w: zero SDKAppID", ErrInvalidClaims)
	case c.UserID == "":
		return "", fmt.Errorf("%w: empty user id", ErrInvalidClaims)
	case c.IssuedAt.IsZero() || c.ExpiresAt.IsZero():
		return "", fmt.Errorf("%w: iat and exp are required", ErrInvalidClaims)
	case !c.ExpiresAt.After(c.IssuedAt):
		return "", fmt.Errorf("%w: exp must be after iat", ErrInvalidClaims)
	case c.RoomID != 0 && c.StrRoomID != "":
		return "", fmt.Errorf("%w: both roomId and strRoomId set", ErrInvalidClaims)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		SDKAppID:  c.SDKAppID,
		RoomID:    c.RoomID,
		StrRoomID: c.StrRoomID,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.UserID,
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
		},
	})
	t.Header["kid"] = key.ID
	s, err := t.SignedString(key.Secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return s, nil
}
