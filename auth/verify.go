package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	// DefaultLeeway is the clock skew Verify tolerates when Leeway is zero.
	DefaultLeeway = 5 * time.Second
	// DefaultMaxTokenLen is the size cap Verify applies, to either format,
	// when MaxTokenLen is zero.
	DefaultMaxTokenLen = 8192
	// MaxTLSDocLen caps the decompressed JSON of a TLSSigAPIv2 token; a
	// token that inflates beyond it is malformed (a zip bomb).
	MaxTLSDocLen = 16 << 10
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

// Verifier checks UserSigs and privateMapKeys in both formats. Its zero value
// with Keys set is ready to use.
type Verifier struct {
	Keys        KeyLookup
	Now         func() time.Time // nil: time.Now
	Leeway      time.Duration    // 0: DefaultLeeway
	MaxTokenLen int              // 0: DefaultMaxTokenLen
}

// Verify checks a UserSig and returns its claims if it admits want. It is
// VerifyJoin without a separate privateMapKey: when the app requires one,
// only a token that carries its own privileges and room binding is accepted.
func (v *Verifier) Verify(ctx context.Context, token string, want Want) (Claims, error) {
	return v.VerifyJoin(ctx, token, "", want)
}

// VerifyJoin checks the UserSig and, if not empty, the privateMapKey that a
// client presents to enter want's room, with a single lookup of the app's
// key ring, and returns the claims that admit it.
//
// The format of each token is detected: a JWT has three dot-separated
// base64url segments; a TLSSigAPIv2 token uses the alphabet A-Z a-z 0-9 * -
// and _. Either way: the size is capped before any parsing; the key ring is
// looked up under want.SDKAppID, never under the app the token names, so a
// token of one app cannot admit anyone to another; the signature is checked
// in constant time (a JWT against the key its kid names, a TLSSigAPIv2 token
// against every key of the ring, all of them tried); revoked keys refuse
// everything; then exp and iat (both required; iat not in the future, exp
// not past, each with the leeway), nbf if present, the lifetime exp-iat
// against the ring's MaxTokenTTL, iat against the key's signing window, the
// app, the user and, if the token is bound to a room, the room: roomId 123
// and strRoomId "123" are different rooms.
//
// With a privateMapKey (see VerifyPrivateMapKey), the result carries its
// room binding and the privileges of both tokens (their intersection when
// the UserSig carries privileges too); its role and consent are the
// UserSig's, or the privateMapKey's when the UserSig names none. Without one, a token that carries no
// privileges grants PrivAll; and if the ring requires a privateMapKey, the
// UserSig must itself carry privileges and a room binding, or the entry is
// refused with ErrPrivateMapKeyRequired.
//
// Every refusal matches exactly one of the sentinel errors (see errors.go);
// an error matching none of them is a failure of the key lookup. Enforcing
// the privilege bits (PrivEnter, PrivCreateRoom, ...) and the role is the
// caller's business, and so is requiring a consent.
func (v *Verifier) VerifyJoin(ctx context.Context, userSig, privateMapKey string, want Want) (Claims, error) {
	ck, err := v.newCheck(ctx, want)
	if err != nil {
		return Claims{}, err
	}
	c, err := ck.verify(userSig)
	if err != nil {
		return Claims{}, err
	}
	if privateMapKey == "" {
		if ck.ring.RequirePrivateMapKey && !(c.HasPrivateMap && c.bound()) {
			return Claims{}, ErrPrivateMapKeyRequired
		}
		return c, nil
	}
	pm, err := ck.verifyPrivateMap(privateMapKey)
	if err != nil {
		return Claims{}, fmt.Errorf("privateMapKey: %w", err)
	}
	if c.HasPrivateMap {
		c.Privileges &= pm.Privileges
	} else {
		c.Privileges = pm.Privileges
	}
	c.HasPrivateMap = true
	c.RoomID, c.StrRoomID = pm.RoomID, pm.StrRoomID
	if c.Role == "" {
		c.Role = pm.Role
	}
	if c.Consent == "" {
		c.Consent = pm.Consent
	}
	c.NoData = c.NoData || pm.NoData // either token may forbid it
	return c, nil
}

// VerifyPrivateMapKey checks a privateMapKey alone, as for a switchRole, and
// returns its claims if it admits want: a TLSSigAPIv2 token with a
// TLS.userbuf (whose own sdkappid, account and absolute dwExpTime are
// checked too), or a JWT with a privileges claim and a room binding. Its
// room must be want's room (ErrRoomMismatch otherwise); a token without
// privileges or room binding is not a privateMapKey (ErrMalformed). All the
// checks of Verify apply.
func (v *Verifier) VerifyPrivateMapKey(ctx context.Context, token string, want Want) (Claims, error) {
	ck, err := v.newCheck(ctx, want)
	if err != nil {
		return Claims{}, err
	}
	return ck.verifyPrivateMap(token)
}

// check is one verification: its parameters and the key ring, looked up at
// most once, when first needed.
type check struct {
	ctx      context.Context
	keys     KeyLookup
	want     Want
	now      time.Time
	leeway   time.Duration
	maxLen   int
	looked   bool
	ring     Ring
	ringErr  error
	macSpace [64]byte // scratch for TLSSigAPIv2 MACs
}

func (v *Verifier) newCheck(ctx context.Context, want Want) (*check, error) {
	if v.Keys == nil {
		return nil, errors.New("auth: verifier has no key lookup")
	}
	ck := &check{ctx: ctx, keys: v.Keys, want: want, now: time.Now(), leeway: v.Leeway, maxLen: v.MaxTokenLen}
	if v.Now != nil {
		ck.now = v.Now()
	}
	if ck.leeway == 0 {
		ck.leeway = DefaultLeeway
	}
	if ck.maxLen <= 0 {
		ck.maxLen = DefaultMaxTokenLen
	}
	return ck, nil
}

// lookup returns want's key ring, asking the KeyLookup only the first time.
func (ck *check) lookup() (*Ring, error) {
	if !ck.looked {
		ck.looked = true
		r, err := ck.keys.Ring(ck.ctx, ck.want.SDKAppID)
		switch {
		case errors.Is(err, ErrUnknownApp):
			ck.ringErr = ErrUnknownApp
		case err != nil:
			ck.ringErr = fmt.Errorf("auth: key lookup: %w", err)
		default:
			ck.ring = r
		}
	}
	if ck.ringErr != nil {
		return nil, ck.ringErr
	}
	return &ck.ring, nil
}

// verify checks token in whichever format it is, up to its room binding.
func (ck *check) verify(token string) (Claims, error) {
	if len(token) > ck.maxLen {
		return Claims{}, fmt.Errorf("%w: over %d bytes", ErrMalformed, ck.maxLen)
	}
	if ck.want.SDKAppID == 0 {
		return Claims{}, ErrUnknownApp
	}
	if strings.IndexByte(token, '.') >= 0 {
		return ck.verifyJWT(token)
	}
	return ck.verifyTLS(token)
}

// verifyPrivateMap is verify for a token that must carry privileges and a
// room binding.
func (ck *check) verifyPrivateMap(token string) (Claims, error) {
	c, err := ck.verify(token)
	if err != nil {
		return Claims{}, err
	}
	if !c.HasPrivateMap || !c.bound() {
		return Claims{}, fmt.Errorf("%w: not a privateMapKey (no privileges or room)", ErrMalformed)
	}
	return c, nil
}

// times checks a verified token's iat, exp and nbf (nil: none) against the
// ring's lifetime cap, the key's signing window and the clock.
func (ck *check) times(k *Key, iat, exp time.Time, nbf *time.Time) error {
	switch {
	case !exp.After(iat):
		return fmt.Errorf("%w: exp not after iat", ErrMalformed)
	case exp.Sub(iat) > ck.ring.maxTTL():
		return ErrLifetime
	case iat.After(ck.now.Add(ck.leeway)):
		return fmt.Errorf("%w: issued in the future", ErrExpired)
	case nbf != nil && nbf.After(ck.now.Add(ck.leeway)):
		return fmt.Errorf("%w: not valid yet", ErrExpired)
	case ck.now.After(exp.Add(ck.leeway)):
		return ErrExpired
	case !k.signedAt(iat, ck.leeway):
		return fmt.Errorf("%w: issued outside its key's signing window", ErrExpired)
	}
	return nil
}

// bind checks the user and the room binding of verified claims.
func (ck *check) bind(c *Claims) error {
	if c.UserID != ck.want.UserID {
		return ErrUserMismatch
	}
	if c.bound() && (c.RoomID != ck.want.RoomID || c.StrRoomID != ck.want.StrRoomID) {
		return ErrRoomMismatch
	}
	return nil
}
