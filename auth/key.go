package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

const (
	// SecretLen is the length of the secrets NewKey makes: 64 hexadecimal
	// characters (32 random bytes), the shape of a TRTC SecretKey.
	SecretLen = 64
	// MinSecretLen is the shortest secret the signers and Verify accept.
	MinSecretLen = 32
	// MaxKeyIDLen is the longest kid Verify looks for; longer ones are unknown
	// without asking the KeyLookup.
	MaxKeyIDLen = 64
	// DefaultMaxTokenTTL caps token lifetimes when a Ring's MaxTokenTTL is 0.
	DefaultMaxTokenTTL = 24 * time.Hour
)

// Key is one HMAC signing key of an application's key ring.
//
// Its secret is an ASCII string kept as bytes, used as they are as the
// HMAC-SHA256 key by both token formats, exactly as TRTC's libraries use
// their SecretKey; so an app backend that fetches the secret from Lethe can
// sign with the official tls-sig-api-v2 libraries.
//
// NotBefore..NotAfter is the key's signing window: a token signed with the
// key is accepted only if its iat lies in that window (give or take the
// verifier's leeway), so no token of the key outlives NotAfter by more than
// the app's MaxTokenTTL (see LastTokenExpiry). A zero NotAfter leaves the
// window open. A revoked key refuses every token at once.
type Key struct {
	ID        string // kid: public, names the key in a JWT's header
	Secret    []byte // never logged, never in an error
	NotBefore time.Time
	NotAfter  time.Time // zero: no end
	Revoked   bool
}

// ValidAt reports whether now lies in k's signing window: NotBefore <= now,
// and now < NotAfter unless NotAfter is zero. It says nothing of Revoked.
func (k Key) ValidAt(now time.Time) bool {
	if now.Before(k.NotBefore) {
		return false
	}
	return k.NotAfter.IsZero() || now.Before(k.NotAfter)
}

// signedAt reports whether a token issued at iat may have been signed with
// k: iat within [NotBefore-leeway, NotAfter+leeway].
func (k Key) signedAt(iat time.Time, leeway time.Duration) bool {
	if iat.Before(k.NotBefore.Add(-leeway)) {
		return false
	}
	return k.NotAfter.IsZero() || !iat.After(k.NotAfter.Add(leeway))
}

// LastTokenExpiry is the instant after which no token signed with k can be
// accepted by a Verifier with this leeway under this MaxTokenTTL: a token
// may be issued up to NotAfter+leeway, live maxTokenTTL, and be accepted
// leeway after its exp. The store may destroy k once that is past. It is the
// zero time when NotAfter is zero (the key never stops signing).
func (k Key) LastTokenExpiry(maxTokenTTL, leeway time.Duration) time.Time {
	if k.NotAfter.IsZero() {
		return time.Time{}
	}
	return k.NotAfter.Add(leeway + maxTokenTTL + leeway)
}

// String keeps the secret out of fmt verbs and loggers.
func (k Key) String() string {
	return fmt.Sprintf("auth.Key{ID:%q}", k.ID)
}

// GoString keeps the secret out of %#v.
func (k Key) GoString() string { return k.String() }

// NewKey makes a key whose signing window is [now, now+lifetime), both
// truncated to the second: a random 16-hex-digit kid and a secret of
// SecretLen hex characters (32 random bytes), both from crypto/rand.
func NewKey(now time.Time, lifetime time.Duration) (Key, error) {
	if lifetime < time.Second {
		return Key{}, fmt.Errorf("%w: lifetime must be at least 1s", ErrInvalidKey)
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Key{}, fmt.Errorf("auth: new key id: %w", err)
	}
	var raw [SecretLen / 2]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Key{}, fmt.Errorf("auth: new key secret: %w", err)
	}
	secret := make([]byte, SecretLen)
	hex.Encode(secret, raw[:])
	nb := now.Truncate(time.Second)
	return Key{
		ID:        hex.EncodeToString(id[:]),
		Secret:    secret,
		NotBefore: nb,
		NotAfter:  nb.Add(lifetime.Truncate(time.Second)),
	}, nil
}

// Ring is an application's key ring and token policy, as the verifier needs
// them: every key that may still have signed a valid token (current, next,
// retired but not yet destroyed, and revoked ones, which refuse everything),
// the cap on a token's lifetime, and whether every entry needs a
// privateMapKey.
type Ring struct {
	Keys                 []Key
	MaxTokenTTL          time.Duration // 0: DefaultMaxTokenTTL
	RequirePrivateMapKey bool
}

// maxTTL is r.MaxTokenTTL or its default.
func (r *Ring) maxTTL() time.Duration {
	if r.MaxTokenTTL <= 0 {
		return DefaultMaxTokenTTL
	}
	return r.MaxTokenTTL
}

// key returns the key of r named kid.
func (r *Ring) key(kid string) (Key, bool) {
	for _, k := range r.Keys {
		if k.ID == kid {
			return k, true
		}
	}
	return Key{}, false
}

// KeyLookup returns the key ring of the application sdkAppID. It returns an
// error matching ErrUnknownApp when there is no such application or it is
// not active; any other error is a failure of the lookup itself. A verifier
// calls it at most once per verification.
type KeyLookup interface {
	Ring(ctx context.Context, sdkAppID uint32) (Ring, error)
}

// KeyLookupFunc adapts a function to KeyLookup.
type KeyLookupFunc func(ctx context.Context, sdkAppID uint32) (Ring, error)

// Ring calls f.
func (f KeyLookupFunc) Ring(ctx context.Context, sdkAppID uint32) (Ring, error) {
	return f(ctx, sdkAppID)
}

// ValidKeyID reports whether kid is one we could have made: 1..MaxKeyIDLen
// characters from [A-Za-z0-9_-]. Anything else is refused before a lookup.
func ValidKeyID(kid string) bool {
	if len(kid) == 0 || len(kid) > MaxKeyIDLen {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
