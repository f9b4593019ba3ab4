package auth

import "errors"

// Verification errors. Verify, VerifyJoin and VerifyPrivateMapKey return an
// error that matches (errors.Is) exactly one of these, or, for a failure of
// the key lookup itself (a broken store), an error that matches none of them.
var (
	// ErrMalformed: not a well-formed token of ours: over the size cap; a JWT
	// that is not three base64url segments, has bad JSON (not UTF-8, two
	// members of one name anywhere in its header or claims, a claim's name
	// in another case, a crit header),
	// a claim of the wrong type (exp, iat, nbf, sdkappid, roomId and
	// privileges are plain JSON integers: no string, fraction, exponent,
	// sign or null), a required claim (exp, iat, sub, kid) missing, both
	// room bindings, privileges over 255 or an unknown role; a TLSSigAPIv2
	// token outside its base64 alphabet, non-canonical base64, bad or
	// oversized zlib data, JSON that is not exactly the documented object
	// (TLS.sdkappid, TLS.time and TLS.expire JSON numbers, never strings),
	// or a userbuf that does not parse or names another user; a
	// privateMapKey without privileges or room binding.
	ErrMalformed = errors.New("auth: malformed token")
	// ErrSignature: the signature does not verify, or the token is of a
	// scheme we do not accept (a JWT alg other than HS256: none, HS384, HS512,
	// RS256, ES256, unknown or missing; a TLS.ver other than "2.0"). A token
	// we cannot verify with our keys is refused as a bad signature rather
	// than as malformed. A TLSSigAPIv2 token names no key, so one signed with
	// a key foreign to the ring (another app's, or a destroyed one while
	// another key of the ring could have signed at its iat) is refused with
	// ErrSignature too.
	ErrSignature = errors.New("auth: bad token signature")
	// ErrExpired: the token (or a privateMapKey's own dwExpTime) is expired,
	// not yet valid (nbf), or issued in the future (iat), each beyond the
	// leeway; or it was issued (iat) outside its key's signing window.
	ErrExpired = errors.New("auth: token expired or not yet valid")
	// ErrLifetime: the token's lifetime (exp - iat) is beyond the
	// application's MaxTokenTTL.
	ErrLifetime = errors.New("auth: token lifetime beyond the cap")
	// ErrUnknownApp: no such (active) SDKAppID, or the token (or its userbuf)
	// names another app.
	ErrUnknownApp = errors.New("auth: unknown application")
	// ErrUnknownKey: an unknown, revoked or destroyed key: a JWT kid that is
	// absurd or not in the app's ring, a key of the ring that is revoked, or a
	// TLSSigAPIv2 token issued when no key of the ring could sign.
	ErrUnknownKey = errors.New("auth: unknown signing key")
	// ErrUserMismatch: the token was issued for another user id.
	ErrUserMismatch = errors.New("auth: token issued for another user")
	// ErrRoomMismatch: the token or privateMapKey is bound to another room
	// (roomId 123 and strRoomId "123" are different rooms), or is bound to a
	// room while none is wanted.
	ErrRoomMismatch = errors.New("auth: token bound to another room")
	// ErrPrivateMapKeyRequired: the application requires a privateMapKey
	// (privileges bound to the room) for every entry and none was given.
	ErrPrivateMapKeyRequired = errors.New("auth: privateMapKey required")
)

// Signing errors, returned by NewKey, SignJWT, SignTLS and EncodeUserBuf only.
var (
	// ErrInvalidKey: the key has no id or a secret shorter than MinSecretLen,
	// or NewKey was given a lifetime that is not positive.
	ErrInvalidKey = errors.New("auth: invalid key")
	// ErrInvalidClaims: the claims cannot make a valid token.
	ErrInvalidClaims = errors.New("auth: invalid claims")
)
