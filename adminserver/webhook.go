package adminserver

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/store"
	"github.com/lethe-rtc/lethe/webhook"
)

// Webhooks delivers the applications' callbacks; *webhook.Dispatcher
// implements it. SendTest returns an error matching webhook.ErrNoWebhook
// for an app without callback and webhook.ErrDelivery for a failed
// delivery (with the receiver's status, if it answered).
type Webhooks interface {
	Stats(app uint32) webhook.Stats
	SendTest(ctx context.Context, app uint32) (int, error)
}

var _ Webhooks = (*webhook.Dispatcher)(nil)

// checkWebhook checks a webhook patch: an empty URL removes the webhook;
// otherwise an http(s) URL and a key of the allowed form. Neither value is
// echoed in an error.
func checkWebhook(p admin.WebhookPatch) (store.Webhook, error) {
	if p.URL == "" {
		if p.Key != "" {
			return store.Webhook{}, invalid("webhook: a key without a URL: give both, or an empty URL to remove the webhook")
		}
		return store.Webhook{}, nil
	}
	if err := webhook.CheckURL(p.URL); err != nil {
		return store.Webhook{}, invalid("webhook.url: %s", strings.TrimPrefix(err.Error(), "webhook: "))
	}
	if err := webhook.CheckKey(p.Key); err != nil {
		return store.Webhook{}, invalid("webhook.key: %s", strings.TrimPrefix(err.Error(), "webhook: "))
	}
	return store.Webhook{URL: p.URL, Key: []byte(p.Key)}, nil
}

// withWebhook adds app j's webhook — URL, key fingerprint, delivery
// counts — to j, if it has one. A store error leaves it out (the app's
// other fields are still true).
func (h *handler) withWebhook(r *http.Request, j admin.AppJSON) admin.AppJSON {
	w, err := h.store.Webhook(r.Context(), j.SDKAppID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.log.Warn("webhook not read", logApp, j.SDKAppID, logErr, err.Error())
		}
		return j
	}
	j.Webhook = &admin.WebhookJSON{URL: w.URL, KeyFingerprint: webhook.Fingerprint(w.Key)}
	if h.hooks != nil {
		s := h.hooks.Stats(j.SDKAppID)
		j.Webhook.Deliveries = &admin.WebhookStatsJSON{Queued: s.Queued, Delivered: s.Delivered, Failed: s.Failed, Dropped: s.Dropped}
	}
	return j
}

func (h *handler) testWebhook(w http.ResponseWriter, r *http.Request) error {
	a, err := h.loadApp(r)
	if err != nil {
		return err
	}
	if h.hooks == nil {
		return errorf(http.StatusServiceUnavailable, admin.CodeUnavailable, "this server delivers no webhooks")
	}
	status, err := h.hooks.SendTest(r.Context(), a.SDKAppID)
	switch {
	case err == nil:
		return writeJSON(w, http.StatusOK, admin.WebhookTestJSON{Delivered: true, Status: status})
	case errors.Is(err, webhook.ErrNoWebhook):
		return errorf(http.StatusConflict, admin.CodeNoWebhook, "the application has no webhook: PATCH it with one")
	case errors.Is(err, webhook.ErrDelivery):
		// The error names no URL (package webhook keeps only its kind).
		return writeJSON(w, http.StatusOK, admin.WebhookTestJSON{Status: status, Error: strings.TrimPrefix(err.Error(), "webhook: ")})
	default:
		return internal(err)
	}
}
