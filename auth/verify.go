package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// DefaultLeeway is the clock skew Verify tolerates when Leeway is zero.
	DefaultLeeway = 5 * time.Second
	// DefaultMaxTokenLen is the size cap Verify applies when MaxTokenLen is zero.
	DefaultMaxTokenLen = 8192
)

// Want is what the caller is about to admit: the application the connection
// is for, the user id it claims and the room it asks for. A zero RoomID and
// empty StrRoomID mean "no room"; then only a token without room binding is
// accepted.
type Want struct {
	SDKAppID  uint32
	UserID    string
	RoomID    uint32
	StrRoomID string
}

// Verifier checks UserSig JWTs. Its zero value with Keys set is ready to use.
type Verifier struct {
	Keys        KeyLookup
	Now         func() time.Time // nil: time.Now
	Leeway      time.Duration    // 0: DefaultLeeway
	MaxTokenLen int              // 0: DefaultMaxTokenLen
}

// Verify checks token and returns its claims if it admits want.
//
// In order: the size cap (before any parsing); the JWT structure, alg
// (HS256 only) and kid; the key, looked up under want.SDKAppID and never
// under the app the token names, so a token of one app cannot admit anyone
// to another even if the kid exists there; the HMAC signature (compared in
// constant time by golang-jwt); exp (required), nbf and iat (required, not in
// the future), each with the leeway; the sdkappid claim against want; the
// key's own validity window; sub against want.UserID; and the room binding,
// if the token has one, against want's room: roomId 123 and strRoomId "123"
// are different rooms.
//
// Every refusal matches exactly one of the sentinel errors (see errors.go);
// an error matching none of them is a failure of the key lookup.
func (v *Verifier) Verify(ctx context.Context, token string, want Want) (Claims, error) {
	maxLen := v.MaxTokenLen
	if maxLen <= 0 {
		maxLen = DefaultMaxTokenLen
	}
	if len(token) > maxLen {
		return Claims{}, fmt.Errorf("%w: over %d bytes", ErrMalformed, maxLen)
	}
	if v.Keys == nil {
		return Claims{}, errors.New("auth: verifier has no key lookup")
	}
	if want.SDKAppID == 0 {
		return Claims{}, ErrUnknownApp
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	leeway := v.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}

	var (
		key       Key
		lookupErr error // set by keyFunc, so that it comes back untranslated
	)
	keyFunc := func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 { // WithValidMethods checked it already
			lookupErr = fmt.Errorf("%w: alg", ErrSignature)
			return nil, lookupErr
		}
		kid, ok := t.Header["kid"].(string)
		if !ok {
			lookupErr = fmt.Errorf("%w: kid missing", ErrMalformed)
			return nil, lookupErr
		}
		if !validKeyID(kid) {
			lookupErr = ErrUnknownKey
			return nil, lookupErr
		}
		k, err := v.Keys.Key(ctx, want.SDKAppID, kid)
		switch {
		case errors.Is(err, ErrUnknownApp):
			lookupErr = ErrUnknownApp
		case errors.Is(err, ErrUnknownKey):
			lookupErr = ErrUnknownKey
		case err != nil:
			lookupErr = fmt.Errorf("auth: key lookup: %w", err)
		case len(k.Secret) < MinSecretLen:
			lookupErr = fmt.Errorf("%w: unusable secret", ErrUnknownKey)
		}
		if lookupErr != nil {
			return nil, lookupErr
		}
		key = k
		return k.Secret, nil
	}

	var jc jwtClaims
	_, err := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithStrictDecoding(),
	).ParseWithClaims(token, &jc, keyFunc)
	if lookupErr != nil {
		return Claims{}, lookupErr
	}
	if err != nil {
		return Claims{}, translate(err)
	}

	switch {
	case jc.Subject == "":
		return Claims{}, fmt.Errorf("%w: sub missing", ErrMalformed)
	case jc.IssuedAt == nil:
		return Claims{}, fmt.Errorf("%w: iat missing", ErrMalformed)
	case jc.RoomID != 0 && jc.StrRoomID != "":
		return Claims{}, fmt.Errorf("%w: two room bindings", ErrMalformed)
	case jc.SDKAppID != want.SDKAppID:
		return Claims{}, fmt.Errorf("%w: token of another app", ErrUnknownApp)
	case !key.ValidAt(now):
		return Claims{}, fmt.Errorf("%w: key outside its validity", ErrExpired)
	case jc.Subject != want.UserID:
		return Claims{}, ErrUserMismatch
	case (jc.RoomID != 0 || jc.StrRoomID != "") &&
		(jc.RoomID != want.RoomID || jc.StrRoomID != want.StrRoomID):
		return Claims{}, ErrRoomMismatch
	}
	return Claims{
		SDKAppID:  jc.SDKAppID,
		UserID:    jc.Subject,
		RoomID:    jc.RoomID,
		StrRoomID: jc.StrRoomID,
		IssuedAt:  jc.IssuedAt.Time,
		ExpiresAt: jc.ExpiresAt.Time,
	}, nil
}

// translate maps a golang-jwt error to exactly one of our sentinels, without
// wrapping it: its text is not ours to show. The order matters, as one
// golang-jwt error can wrap several of its sentinels.
func translate(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// alg missing or not a registered method: not verifiable with our keys.
		return fmt.Errorf("%w: alg", ErrSignature)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing), errors.Is(err, jwt.ErrInvalidType):
		return fmt.Errorf("%w: claims", ErrMalformed)
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fmt.Errorf("%w: not valid yet", ErrExpired)
	default:
		return ErrMalformed
	}
}
