package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

const (
	// SecretLen is the length of the secrets NewKey makes.
	SecretLen = 32
	// MinSecretLen is the shortest secret SignJWT and Verify accept.
	MinSecretLen = 32
	// MaxKeyIDLen is the longest kid Verify looks up; longer ones are unknown
	// without asking the KeyLookup.
	MaxKeyIDLen = 64
)

// Key is one HMAC signing key of an application's key ring.
type Key struct {
	ID        string // kid: public, names the key in a token's header
	Secret    []byte // never logged, never in an error
	NotBefore time.Time
	NotAfter  time.Time // zero: no expiry
}

// ValidAt reports whether tokens signed with k may be accepted at now:
// NotBefore <= now, and now < NotAfter unless NotAfter is zero.
func (k Key) ValidAt(now time.Time) bool {
	if now.Before(k.NotBefore) {
		return false
	}
	return k.NotAfter.IsZero() || now.Before(k.NotAfter)
}

// String keeps the secret out of fmt verbs and loggers.
func (k Key) String() string {
	return fmt.Sprintf("auth.Key{ID:%q}", k.ID)
}

// GoString keeps the secret out of %#v.
func (k Key) GoString() string { return k.String() }

// NewKey makes a key valid from now with no expiry: a random 16-hex-digit
// kid and a random SecretLen-byte secret, both from crypto/rand.
func NewKey(now time.Time) (Key, error) {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Key{}, fmt.Errorf("auth: new key id: %w", err)
	}
	secret := make([]byte, SecretLen)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("auth: new key secret: %w", err)
	}
	return Key{ID: hex.EncodeToString(id[:]), Secret: secret, NotBefore: now.Truncate(time.Second)}, nil
}

// KeyLookup finds the key named kid in the key ring of the application
// sdkAppID. It returns an error matching ErrUnknownApp when there is no such
// (active) application and ErrUnknownKey when the app has no such key; any
// other error is a failure of the lookup itself.
type KeyLookup interface {
	Key(ctx context.Context, sdkAppID uint32, kid string) (Key, error)
}

// KeyLookupFunc adapts a function to KeyLookup.
type KeyLookupFunc func(ctx context.Context, sdkAppID uint32, kid string) (Key, error)

// Key calls f.
func (f KeyLookupFunc) Key(ctx context.Context, sdkAppID uint32, kid string) (Key, error) {
	return f(ctx, sdkAppID, kid)
}

// validKeyID reports whether kid is one we could have made: 1..MaxKeyIDLen
// characters from [A-Za-z0-9_-]. Anything else is refused before a lookup.
func validKeyID(kid string) bool {
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
