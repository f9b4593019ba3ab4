package admin

import (
	"context"
	"time"
)

// AppJSON is an application on the wire.
type AppJSON struct {
	SDKAppID  uint32     `json:"sdkAppId"`
	Name      string     `json:"name"`
	Tags      []string   `json:"tags"`
	Status    string     `json:"status"` // StatusActive, StatusSuspended or StatusTerminated
	CreatedAt time.Time  `json:"createdAt"`
	Policy    PolicyJSON `json:"policy"`
	// PurgeAt: when a terminated app's data is purged; absent otherwise.
	PurgeAt *time.Time `json:"purgeAt,omitempty"`
	// Webhook is the app's callback, if it has one; only GET and PATCH of
	// one app show it.
	Webhook *WebhookJSON `json:"webhook,omitempty"`
}

// PolicyJSON is an application's key ring and room configuration on the
// wire, durations in whole seconds.
type PolicyJSON struct {
	KeyLifetimeSeconds     int64 `json:"keyLifetimeSeconds"`
	MaxTokenTTLSeconds     int64 `json:"maxTokenTtlSeconds"`
	RequirePrivateMapKey   bool  `json:"requirePrivateMapKey"`
	MaxAnchorsPerRoom      int   `json:"maxAnchorsPerRoom"`
	MaxParticipantsPerRoom int   `json:"maxParticipantsPerRoom"`
	RetentionSeconds       int64 `json:"retentionSeconds"`
	// RequireConsent: every join must carry the app backend's signed
	// statement of the user's consent (a JWT consent claim).
	RequireConsent bool `json:"requireConsent"`
}

// PolicyPatch is a partial policy in a request: nil fields keep their
// value (their default, on create). Bounds: docs/api.md, section 2.
type PolicyPatch struct {
	KeyLifetimeSeconds     *int64 `json:"keyLifetimeSeconds,omitempty"`
	MaxTokenTTLSeconds     *int64 `json:"maxTokenTtlSeconds,omitempty"`
	RequirePrivateMapKey   *bool  `json:"requirePrivateMapKey,omitempty"`
	MaxAnchorsPerRoom      *int   `json:"maxAnchorsPerRoom,omitempty"`
	MaxParticipantsPerRoom *int   `json:"maxParticipantsPerRoom,omitempty"`
	RetentionSeconds       *int64 `json:"retentionSeconds,omitempty"`
	RequireConsent         *bool  `json:"requireConsent,omitempty"`
}

// AppsJSON is the reply listing the applications, oldest first.
type AppsJSON struct {
	Apps []AppJSON `json:"apps"`
}

// CreateAppRequest is the body creating an application.
type CreateAppRequest struct {
	Name   string       `json:"name"`
	Tags   []string     `json:"tags,omitempty"`
	Policy *PolicyPatch `json:"policy,omitempty"`
}

// UpdateAppRequest is the body changing an application: only what is not
// nil changes. Tags, if not nil, is the new complete list (empty: no tags).
type UpdateAppRequest struct {
	Name   *string      `json:"name,omitempty"`
	Tags   *[]string    `json:"tags,omitempty"`
	Policy *PolicyPatch `json:"policy,omitempty"`
	// Webhook sets the app's callback URL and key; an empty URL removes
	// the webhook (docs/api.md, webhooks).
	Webhook *WebhookPatch `json:"webhook,omitempty"`
}

// DeletionJSON is the reply to a deletion request.
type DeletionJSON struct {
	// Deleted: the application, its keys and its log are purged.
	Deleted bool `json:"deleted"`
	// Checkpointed: the WAL was checkpointed, so nothing of the app is
	// left in the database files; if false, the next sweep does it.
	Checkpointed bool `json:"checkpointed"`
}

// ListApps lists the applications, oldest first (GET /v1/admin/apps).
func (c *Client) ListApps(ctx context.Context) ([]AppJSON, error) {
	var r AppsJSON
	if err := c.do(ctx, "GET", "/v1/admin/apps", nil, &r); err != nil {
		return nil, err
	}
	return r.Apps, nil
}

// CreateApp creates an active application with its first signing key
// (POST /v1/admin/apps).
func (c *Client) CreateApp(ctx context.Context, req CreateAppRequest) (AppJSON, error) {
	var a AppJSON
	err := c.do(ctx, "POST", "/v1/admin/apps", req, &a)
	return a, err
}

// GetApp returns application app (GET /v1/admin/apps/{app}).
func (c *Client) GetApp(ctx context.Context, app uint32) (AppJSON, error) {
	var a AppJSON
	err := c.do(ctx, "GET", appPath(app, ""), nil, &a)
	return a, err
}

// UpdateApp changes the name, tags or policy of application app and
// returns it as it now is (PATCH /v1/admin/apps/{app}).
func (c *Client) UpdateApp(ctx context.Context, app uint32, req UpdateAppRequest) (AppJSON, error) {
	var a AppJSON
	err := c.do(ctx, "PATCH", appPath(app, ""), req, &a)
	return a, err
}

// SuspendApp suspends application app: its users are refused at once
// (POST /v1/admin/apps/{app}/suspend).
func (c *Client) SuspendApp(ctx context.Context, app uint32) (AppJSON, error) {
	var a AppJSON
	err := c.do(ctx, "POST", appPath(app, "/suspend"), nil, &a)
	return a, err
}

// ResumeApp makes a suspended application active again
// (POST /v1/admin/apps/{app}/resume).
func (c *Client) ResumeApp(ctx context.Context, app uint32) (AppJSON, error) {
	var a AppJSON
	err := c.do(ctx, "POST", appPath(app, "/resume"), nil, &a)
	return a, err
}

// TerminateApp ends application app for good: its keys are deleted at
// once and its data purged at PurgeAt (POST /v1/admin/apps/{app}/terminate).
func (c *Client) TerminateApp(ctx context.Context, app uint32) (AppJSON, error) {
	var a AppJSON
	err := c.do(ctx, "POST", appPath(app, "/terminate"), nil, &a)
	return a, err
}

// DeleteApp deletes application app, its keys and its log now, on request
// (POST /v1/admin/apps/{app}/delete).
func (c *Client) DeleteApp(ctx context.Context, app uint32) (DeletionJSON, error) {
	var d DeletionJSON
	err := c.do(ctx, "POST", appPath(app, "/delete"), nil, &d)
	return d, err
}
