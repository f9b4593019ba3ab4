package auth

import "errors"

// Verification errors. Verify returns an error that matches (errors.Is)
// exactly one of these, or, for a failure of the key lookup itself (a broken
// store), an error that matches none of them.
var (
	// ErrMalformed: not a well-formed token of ours: over the size cap, not
	// three base64url segments, bad JSON, a claim of the wrong type, a required
	// claim (exp, iat, sub, sdkappid) missing, or both room bindings present.
	ErrMalformed = errors.New("auth: malformed token")
	// ErrSignature: the signature does not verify with the named key, or the
	// token's alg is anything but HS256 (none, HS384, HS512, RS256, unknown or
	// missing). A token whose alg we do not accept cannot be verified with our
	// keys, so it is refused as a bad signature rather than as malformed.
	ErrSignature = errors.New("auth: bad token signature")
	// ErrExpired: the token is expired, not yet valid (nbf), issued in the
	// future (iat), each beyond the leeway; or its key is outside its own
	// validity window.
	ErrExpired = errors.New("auth: token expired or not yet valid")
	// ErrUnknownApp: no such SDKAppID, or the token belongs to another app.
	ErrUnknownApp = errors.New("auth: unknown application")
	// ErrUnknownKey: the kid is not a key of the wanted app.
	ErrUnknownKey = errors.New("auth: unknown signing key")
	// ErrUserMismatch: the token was issued for another user id.
	ErrUserMismatch = errors.New("auth: token issued for another user")
	// ErrRoomMismatch: the token is bound to another room.
	ErrRoomMismatch = errors.New("auth: token bound to another room")
)

// Signing errors, returned by NewKey and SignJWT only.
var (
	// ErrInvalidKey: the key has no id or a secret shorter than MinSecretLen.
	ErrInvalidKey = errors.New("auth: invalid key")
	// ErrInvalidClaims: the claims cannot make a valid token.
	ErrInvalidClaims = errors.New("auth: invalid claims")
)
