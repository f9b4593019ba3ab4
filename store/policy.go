package store

import (
	"fmt"
	"time"
)

// Bounds of a Policy. They are also CHECK constraints of the apps table.
const (
	DefaultKeyLifetime = 24 * time.Hour
	MinKeyLifetime     = 10 * time.Minute
	MaxKeyLifetime     = 7 * 24 * time.Hour

	DefaultMaxTokenTTL = 24 * time.Hour
	MaxMaxTokenTTL     = 7 * 24 * time.Hour

	// MaxLimit bounds MaxAnchors and MaxParticipants.
	MaxLimit = 1_000_000

	// MaxRetention is the promise: an application's data (its row, keys
	// and log) is purged at most this long after its termination. It is
	// also the default. MinRetention is the shortest retention an app or
	// the server may ask for; it is not below retention.MaxInterval, so
	// the sweeper always sees a purge before it falls due.
	DefaultRetention = 7 * 24 * time.Hour
	MaxRetention     = 7 * 24 * time.Hour
	MinRetention     = time.Hour
)

// MaintainEvery is the longest period between two MaintainKeys runs that
// keeps a signing key always available: the renewal margin of the shortest
// key lifetime (MinKeyLifetime/4) with room to spare.
const MaintainEvery = time.Minute

// Policy is an application's configuration of its key ring and rooms.
type Policy struct {
	// KeyLifetime is the signing window of each new key: MinKeyLifetime ..
	// MaxKeyLifetime, whole seconds.
	KeyLifetime time.Duration
	// MaxTokenTTL caps a token's lifetime (exp - iat): 1 s .. MaxMaxTokenTTL,
	// whole seconds. A key is destroyed once NotAfter + MaxTokenTTL (and a
	// minute of leeway) is past.
	MaxTokenTTL time.Duration
	// RequirePrivateMapKey: every entry needs a room binding with privilege bits.
	RequirePrivateMapKey bool
	// RequireConsent: every entry needs the app backend's signed statement
	// that the user's consent was obtained (a JWT consent claim, adult or
	// parental). Who consented is never recorded.
	RequireConsent bool
	// MaxAnchors and MaxParticipants limit one room; 0 is unlimited.
	MaxAnchors, MaxParticipants int
	// Retention is how long after termination the app's data is kept
	// before it is purged: MinRetention .. MaxRetention, whole seconds. A
	// server-wide cap (WithRetention) may shorten it further.
	Retention time.Duration
}

// DefaultPolicy is the policy of a new application unless told otherwise.
func DefaultPolicy() Policy {
	return Policy{KeyLifetime: DefaultKeyLifetime, MaxTokenTTL: DefaultMaxTokenTTL, Retention: DefaultRetention}
}

// withDefaults fills a zero KeyLifetime, MaxTokenTTL or Retention with its
// default.
func (p Policy) withDefaults() Policy {
	if p.KeyLifetime == 0 {
		p.KeyLifetime = DefaultKeyLifetime
	}
	if p.MaxTokenTTL == 0 {
		p.MaxTokenTTL = DefaultMaxTokenTTL
	}
	if p.Retention == 0 {
		p.Retention = DefaultRetention
	}
	return p
}

// Validate reports, as ErrInvalid, the first bound p breaks.
func (p Policy) Validate() error {
	switch {
	case p.KeyLifetime < MinKeyLifetime || p.KeyLifetime > MaxKeyLifetime || p.KeyLifetime%time.Second != 0:
		return fmt.Errorf("%w: key lifetime must be whole seconds in %v..%v", ErrInvalid, MinKeyLifetime, MaxKeyLifetime)
	case p.MaxTokenTTL <= 0 || p.MaxTokenTTL > MaxMaxTokenTTL || p.MaxTokenTTL%time.Second != 0:
		return fmt.Errorf("%w: max token TTL must be whole seconds in 1s..%v", ErrInvalid, MaxMaxTokenTTL)
	case !validRetention(p.Retention):
		return fmt.Errorf("%w: retention must be whole seconds in %v..%v", ErrInvalid, MinRetention, MaxRetention)
	case p.MaxAnchors < 0 || p.MaxAnchors > MaxLimit:
		return fmt.Errorf("%w: max anchors must be 0 (unlimited) .. %d", ErrInvalid, MaxLimit)
	case p.MaxParticipants < 0 || p.MaxParticipants > MaxLimit:
		return fmt.Errorf("%w: max participants must be 0 (unlimited) .. %d", ErrInvalid, MaxLimit)
	case p.MaxParticipants != 0 && p.MaxAnchors > p.MaxParticipants:
		return fmt.Errorf("%w: max anchors exceeds max participants", ErrInvalid)
	}
	return nil
}

// renewMargin is how long before the signing key's window ends its
// successor is made: min(1h, KeyLifetime/4).
func renewMargin(keyLifetime time.Duration) time.Duration {
	return min(time.Hour, keyLifetime/4)
}

// keyLeeway is added to NotAfter + MaxTokenTTL before a key is destroyed,
// to cover the verifier's clock leeway.
const keyLeeway = time.Minute

// validRetention reports whether d is whole seconds in MinRetention..MaxRetention.
func validRetention(d time.Duration) bool {
	return d >= MinRetention && d <= MaxRetention && d%time.Second == 0
}
