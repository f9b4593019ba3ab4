package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtClaims is the JSON shape of Claims. Unknown claims are ignored.
type jwtClaims struct {
	SDKAppID   uint32  `json:"sdkappid"`
	RoomID     uint32  `json:"roomId,omitempty"`
	StrRoomID  string  `json:"strRoomId,omitempty"`
	Privileges *uint32 `json:"privileges,omitempty"`
	Role       string  `json:"role,omitempty"`
	Consent    string  `json:"consent,omitempty"`
	Data       *bool   `json:"data,omitempty"`
	jwt.RegisteredClaims
}

// SignJWT returns c as an HS256 JWT signed with key, whose header kid is
// key.ID. The privileges claim is written when c.HasPrivateMap is set, the
// role and consent claims when c.Role and c.Consent are set. It checks
// only what would make the token unusable: a key without a valid id or
// with a short secret, a zero SDKAppID, an empty user id, a missing iat or
// exp, exp not after iat, both room bindings, privileges over 255, an
// unknown role or consent basis. The lifetime cap and
// the key's signing window are the caller's business (the store picks the
// key, the caller the lifetime).
func SignJWT(key Key, c Claims) (string, error) {
	if !ValidKeyID(key.ID) || len(key.Secret) < MinSecretLen {
		return "", ErrInvalidKey
	}
	if err := checkSignable(c); err != nil {
		return "", err
	}
	jc := jwtClaims{
		SDKAppID:  c.SDKAppID,
		RoomID:    c.RoomID,
		StrRoomID: c.StrRoomID,
		Role:      c.Role,
		Consent:   c.Consent,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.UserID,
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
		},
	}
	if c.HasPrivateMap {
		p := uint32(c.Privileges)
		jc.Privileges = &p
	}
	if c.NoData {
		no := false
		jc.Data = &no
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jc)
	t.Header["kid"] = key.ID
	s, err := t.SignedString(key.Secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return s, nil
}

// verifyJWT checks an HS256 JWT: the strictness of its JSON
// (checkJWTJSON), structure and alg, kid, the key in the ring, the HMAC
// (compared in constant time by golang-jwt), then the claims.
func (ck *check) verifyJWT(token string) (Claims, error) {
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
		if !ValidKeyID(kid) {
			lookupErr = ErrUnknownKey
			return nil, lookupErr
		}
		ring, err := ck.lookup()
		if err != nil {
			lookupErr = err
			return nil, lookupErr
		}
		k, ok := ring.key(kid)
		switch {
		case !ok:
			lookupErr = ErrUnknownKey
		case k.Revoked:
			lookupErr = fmt.Errorf("%w: revoked", ErrUnknownKey)
		case len(k.Secret) < MinSecretLen:
			lookupErr = fmt.Errorf("%w: unusable secret", ErrUnknownKey)
		}
		if lookupErr != nil {
			return nil, lookupErr
		}
		key = k
		return k.Secret, nil
	}

	if err := checkJWTJSON(token); err != nil {
		return Claims{}, err
	}
	var jc jwtClaims
	_, err := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithoutClaimsValidation(), // checked below, like TLSSigAPIv2 tokens
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
	case jc.IssuedAt == nil || jc.ExpiresAt == nil:
		return Claims{}, fmt.Errorf("%w: iat or exp missing", ErrMalformed)
	case jc.RoomID != 0 && jc.StrRoomID != "":
		return Claims{}, fmt.Errorf("%w: two room bindings", ErrMalformed)
	case jc.Privileges != nil && Privilege(*jc.Privileges)&^PrivAll != 0:
		return Claims{}, fmt.Errorf("%w: privileges over 255", ErrMalformed)
	case !validRole(jc.Role):
		return Claims{}, fmt.Errorf("%w: unknown role", ErrMalformed)
	case !ValidConsent(jc.Consent):
		return Claims{}, fmt.Errorf("%w: unknown consent basis", ErrMalformed)
	case jc.SDKAppID != ck.want.SDKAppID:
		return Claims{}, fmt.Errorf("%w: token of another app", ErrUnknownApp)
	}
	var nbf *time.Time
	if jc.NotBefore != nil {
		nbf = &jc.NotBefore.Time
	}
	if err := ck.times(&key, jc.IssuedAt.Time, jc.ExpiresAt.Time, nbf); err != nil {
		return Claims{}, err
	}
	c := Claims{
		SDKAppID:   jc.SDKAppID,
		UserID:     jc.Subject,
		RoomID:     jc.RoomID,
		StrRoomID:  jc.StrRoomID,
		IssuedAt:   jc.IssuedAt.Time,
		ExpiresAt:  jc.ExpiresAt.Time,
		Privileges: PrivAll,
		Role:       jc.Role,
		Consent:    jc.Consent,
		NoData:     jc.Data != nil && !*jc.Data,
		KeyID:      key.ID,
		Format:     FormatJWT,
	}
	if jc.Privileges != nil {
		c.Privileges, c.HasPrivateMap = Privilege(*jc.Privileges), true
	}
	if err := ck.bind(&c); err != nil {
		return Claims{}, err
	}
	return c, nil
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
	default:
		return ErrMalformed
	}
}
