package auth

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Token formats, as reported in Claims.Format.
const (
	FormatJWT = "jwt" // HS256 JWT with a kid
	FormatTLS = "tls" // TRTC TLSSigAPIv2
)

// Roles a JWT may name in its role claim. TLSSigAPIv2 tokens carry none.
const (
	RoleAnchor   = "anchor"   // may publish
	RoleAudience = "audience" // receives only
)

// Consent bases a JWT may name in its consent claim: the application's
// backend states, by signing it, on which basis it obtained the consent of
// the user to the processing of their personal data. TLSSigAPIv2 tokens
// carry none. Which user consented is nowhere recorded.
const (
	ConsentAdult    = "adult"    // the user is of the age to consent, and did
	ConsentParental = "parental" // a parent or guardian consented for the user
)

// Claims is what a UserSig or privateMapKey asserts, and, once verified,
// which key verified it.
//
// In a JWT they are carried as: sdkappid (number), sub (user id), roomId and
// strRoomId (optional room binding, at most one of them), privileges
// (optional number, 0..255), role (optional, "anchor" or "audience"),
// consent (optional, "adult" or "parental"), data (optional boolean;
// false forbids sending data messages), iat and exp (required, unix
// seconds); a JWT may also carry nbf, which Verify honours. In a
// TLSSigAPIv2 token: TLS.sdkappid, TLS.identifier, TLS.time,
// TLS.time+TLS.expire, and, when it has a TLS.userbuf, the room binding and
// privileges found there.
type Claims struct {
	SDKAppID  uint32
	UserID    string
	RoomID    uint32 // numeric room binding; 0: none
	StrRoomID string // string room binding; "": none
	IssuedAt  time.Time
	ExpiresAt time.Time

	// Privileges the token grants: its privilege claim or userbuf, or
	// PrivAll when it carries none (then HasPrivateMap is false).
	Privileges Privilege
	// HasPrivateMap: the token carried privileges (a JWT privileges claim or
	// a TLS.userbuf); SignJWT writes the privileges claim only when it is set.
	HasPrivateMap bool
	// Role is the JWT's role claim: "", RoleAnchor or RoleAudience.
	Role string
	// Consent is the JWT's consent claim: "", ConsentAdult or
	// ConsentParental. Whether an application requires one is the
	// caller's business.
	Consent string
	// NoData is the JWT's data claim false: the user may not send data
	// messages (it still receives them). Absent, or true, allows it;
	// TLSSigAPIv2 tokens have no such bit and always allow it.
	NoData bool

	// Set by the verifier, ignored by the signers.
	KeyID  string // the kid of the key that verified the token
	Format string // FormatJWT or FormatTLS
}

// bound reports whether c is bound to a room.
func (c *Claims) bound() bool { return c.RoomID != 0 || c.StrRoomID != "" }

// validRole reports whether r may appear in a role claim.
func validRole(r string) bool { return r == "" || r == RoleAnchor || r == RoleAudience }

// ValidConsent reports whether c may appear in a consent claim: "" (none),
// ConsentAdult or ConsentParental.
func ValidConsent(c string) bool { return c == "" || c == ConsentAdult || c == ConsentParental }

// validIdentifier reports whether id may be a TLSSigAPIv2 identifier: 1 to
// 65535 bytes of UTF-8 without control characters (which would blur the
// lines of the signed content).
func validIdentifier(id string) bool {
	if id == "" || len(id) > 0xFFFF || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// checkSignable reports why c cannot make a token, as ErrInvalidClaims.
func checkSignable(c Claims) error {
	switch {
	case c.SDKAppID == 0:
		return errInvalidClaims("zero SDKAppID")
	case c.UserID == "":
		return errInvalidClaims("empty user id")
	case c.IssuedAt.IsZero() || c.ExpiresAt.IsZero():
		return errInvalidClaims("iat and exp are required")
	case c.ExpiresAt.Unix() <= c.IssuedAt.Unix():
		return errInvalidClaims("exp must be after iat")
	case c.RoomID != 0 && c.StrRoomID != "":
		return errInvalidClaims("both roomId and strRoomId set")
	case c.Privileges&^PrivAll != 0:
		return errInvalidClaims("privileges over 255")
	case !validRole(c.Role):
		return errInvalidClaims("unknown role")
	case !ValidConsent(c.Consent):
		return errInvalidClaims("unknown consent basis")
	}
	return nil
}

func errInvalidClaims(why string) error { return fmt.Errorf("%w: %s", ErrInvalidClaims, why) }
