package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
)

// Key and URL bounds.
const (
	MinKeyLen = 16
	MaxKeyLen = 64
	MaxURLLen = 2048
)

// Target is where an application's events go, and the key they are
// signed with.
type Target struct {
	URL string
	Key []byte
}

// CheckURL reports whether u may be a callback URL: absolute http or
// https, with a host, without userinfo or fragment, at most MaxURLLen
// bytes. Any host is allowed (the operator's own network included): the
// admin API is the operator's.
func CheckURL(u string) error {
	if len(u) > MaxURLLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrURL, MaxURLLen)
	}
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return fmt.Errorf("%w: does not parse", ErrURL)
	case p.Scheme != "http" && p.Scheme != "https":
		return fmt.Errorf("%w: the scheme must be http or https", ErrURL)
	case p.Host == "" || p.Hostname() == "":
		return fmt.Errorf("%w: no host", ErrURL)
	case p.User != nil:
		return fmt.Errorf("%w: userinfo is not allowed", ErrURL)
	case p.Fragment != "" || p.RawFragment != "":
		return fmt.Errorf("%w: a fragment is not allowed", ErrURL)
	case p.Opaque != "":
		return fmt.Errorf("%w: not a hierarchical URL", ErrURL)
	}
	return nil
}

// CheckKey reports whether k may be a callback key: MinKeyLen..MaxKeyLen
// ASCII letters and digits (TRTC's alphabet; its keys of up to 32 fit).
func CheckKey(k string) error {
	if len(k) < MinKeyLen || len(k) > MaxKeyLen {
		return fmt.Errorf("%w: must be %d..%d letters and digits", ErrKey, MinKeyLen, MaxKeyLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return fmt.Errorf("%w: must be %d..%d letters and digits", ErrKey, MinKeyLen, MaxKeyLen)
		}
	}
	return nil
}

// Fingerprint names key without revealing it: "sha256:" and the first 8
// bytes of its SHA-256, in hex. What GET shows instead of the key.
func Fingerprint(key []byte) string {
	s := sha256.Sum256(key)
	return "sha256:" + hex.EncodeToString(s[:8])
}
