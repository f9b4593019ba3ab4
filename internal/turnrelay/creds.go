package turnrelay

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST API's credentials are made of
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretSize is the length of the secrets NewSecret makes.
const SecretSize = 32

// NewSecret returns a random secret for the credentials of one start of
// the server.
func NewSecret() ([]byte, error) {
	b := make([]byte, SecretSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("turnrelay: secret: %w", err)
	}
	return b, nil
}

// Username is the TURN REST API username of session valid until expiry.
func Username(expiry time.Time, session string) string {
	return strconv.FormatInt(expiry.Unix(), 10) + ":" + session
}

// Credential is the TURN password for username under secret:
// base64(HMAC-SHA1(secret, username)).
func Credential(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// maxSession bounds a session's part of a username.
const maxSession = 64

// ParseUsername splits a username made by Username.
func ParseUsername(u string) (expiry time.Time, session string, err error) {
	ts, session, ok := strings.Cut(u, ":")
	if !ok || session == "" || len(session) > maxSession {
		return time.Time{}, "", ErrBadUsername
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}, "", ErrBadUsername
	}
	return time.Unix(secs, 0), session, nil
}
