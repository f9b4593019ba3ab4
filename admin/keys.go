package admin

import (
	"context"
	"net/url"
	"time"
)

// KeyJSON describes a key of an application's ring, without its secret.
// CreatedAt and VerifyUntil are in listings only.
type KeyJSON struct {
	KID         string     `json:"kid"`
	State       string     `json:"state"` // KeySigning, KeyVerifying, KeyPending or KeyExpired
	NotBefore   time.Time  `json:"notBefore"`
	NotAfter    time.Time  `json:"notAfter"`
	CreatedAt   *time.Time `json:"createdAt,omitempty"`
	VerifyUntil *time.Time `json:"verifyUntil,omitempty"`
}

// KeysJSON is the reply listing a key ring, newest first.
type KeysJSON struct {
	Keys []KeyJSON `json:"keys"`
}

// SecretKeyJSON is the current signing key, secret included, for an app
// backend that signs its own UserSigs (for instance with TRTC's
// tls-sig-api-v2 library, which takes the key as a string).
type SecretKeyJSON struct {
	KID string `json:"kid"`
	// Secret is the key as text when it is printable ASCII, as Lethe makes
	// them and the tls-sig-api-v2 libraries take them; SecretBase64 always
	// holds its bytes.
	Secret       string    `json:"secret,omitempty"`
	SecretBase64 string    `json:"secretBase64"`
	NotBefore    time.Time `json:"notBefore"`
	NotAfter     time.Time `json:"notAfter"`
}

// ListKeys lists application app's key ring, newest first, without
// secrets (GET /v1/admin/apps/{app}/keys).
func (c *Client) ListKeys(ctx context.Context, app uint32) ([]KeyJSON, error) {
	var r KeysJSON
	if err := c.do(ctx, "GET", appPath(app, "/keys"), nil, &r); err != nil {
		return nil, err
	}
	return r.Keys, nil
}

// RotateKey ends every key's signing window now and makes a new signing
// key (POST /v1/admin/apps/{app}/keys/rotate).
func (c *Client) RotateKey(ctx context.Context, app uint32) (KeyJSON, error) {
	var k KeyJSON
	err := c.do(ctx, "POST", appPath(app, "/keys/rotate"), nil, &k)
	return k, err
}

// RevokeKey deletes key kid at once: every token it signed is refused
// from now on (POST /v1/admin/apps/{app}/keys/{kid}/revoke).
func (c *Client) RevokeKey(ctx context.Context, app uint32, kid string) error {
	return c.do(ctx, "POST", appPath(app, "/keys/"+url.PathEscape(kid)+"/revoke"), nil, nil)
}

// CurrentKey fetches application app's signing key with its secret
// (GET /v1/admin/apps/{app}/keys/current). Fetch it again before NotAfter
// and after a rotation. The fetch is logged (key.fetch).
func (c *Client) CurrentKey(ctx context.Context, app uint32) (SecretKeyJSON, error) {
	var k SecretKeyJSON
	err := c.do(ctx, "GET", appPath(app, "/keys/current"), nil, &k)
	return k, err
}
