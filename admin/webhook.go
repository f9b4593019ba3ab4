package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// WebhookPatch sets an application's callback: URL, any http or https
// URL without userinfo or fragment; Key, 16..64 ASCII letters and digits,
// which signs every callback (the Sign header). An empty URL removes the
// webhook, and needs no key.
type WebhookPatch struct {
	URL string `json:"url"`
	Key string `json:"key,omitempty"`
}

// WebhookJSON is an application's callback as the API shows it: the key
// itself never, only its fingerprint ("sha256:" and 16 hex digits).
type WebhookJSON struct {
	URL            string            `json:"url"`
	KeyFingerprint string            `json:"keyFingerprint"`
	Deliveries     *WebhookStatsJSON `json:"deliveries,omitempty"`
}

// WebhookStatsJSON counts one application's deliveries since the server
// started; kept in memory only.
type WebhookStatsJSON struct {
	Queued    int    `json:"queued"`    // waiting now
	Delivered uint64 `json:"delivered"` // answered 2xx
	Failed    uint64 `json:"failed"`    // given up after the last retry
	Dropped   uint64 `json:"dropped"`   // refused: the app's queue was full
}

// WebhookTestJSON is the outcome of a test delivery.
type WebhookTestJSON struct {
	Delivered bool   `json:"delivered"`
	Status    int    `json:"status,omitempty"` // the receiver's HTTP status; 0: no answer
	Error     string `json:"error,omitempty"`  // why not delivered
}

// TestWebhook sends application app's callback one test event (EventType
// 100) at once, without retries (POST /v1/admin/apps/{app}/webhook/test).
func (c *Client) TestWebhook(ctx context.Context, app uint32) (WebhookTestJSON, error) {
	var r WebhookTestJSON
	err := c.do(ctx, "POST", appPath(app, "/webhook/test"), nil, &r)
	return r, err
}

// VerifyWebhook reports whether sign (a callback's Sign header) is the
// signature of body (the callback's raw body) under key: base64 of
// HMAC-SHA256(key, body), compared in constant time. What an app backend
// calls before trusting a callback.
func VerifyWebhook(key, body []byte, sign string) bool {
	got, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
