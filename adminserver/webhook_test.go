package adminserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/store"
	"github.com/lethe-rtc/lethe/webhook"
)

// TestWebhookRoutes: PATCH sets and removes an app's webhook, refusing bad
// URLs and keys without echoing them; GET shows the URL and the key's
// fingerprint, never the key; the test endpoint delivers a signed test
// event, or says why not.
func TestWebhookRoutes(t *testing.T) {
	t.Parallel()
	const key = "S3cretCallbackKey0123"
	got := make(chan *http.Request, 4)
	bodies := make(chan []byte, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer recv.Close()
	var d *webhook.Dispatcher
	e := newEnv(t, func(c *Config) {
		fs := c.Store.(*fakeStore)
		var err error
		d, err = webhook.New(webhook.Config{Lookup: func(ctx context.Context, app uint32) (webhook.Target, error) {
			w, err := fs.Webhook(ctx, app)
			if errors.Is(err, store.ErrNotFound) {
				return webhook.Target{}, webhook.ErrNoWebhook
			}
			return webhook.Target{URL: w.URL, Key: w.Key}, err
		}})
		if err != nil {
			t.Fatal(err)
		}
		c.Webhooks = d
	})
	defer d.Close()

	if r := e.do("POST", e.appPath("/webhook/test"), nil); r.status != http.StatusConflict || r.code() != admin.CodeNoWebhook {
		t.Fatalf("test without webhook: %d %s", r.status, r.body)
	}
	for _, bad := range []admin.WebhookPatch{
		{URL: "ftp://h/x-bad-scheme", Key: key},
		{URL: "https://user:pw-echo@h/cb", Key: key},
		{URL: recv.URL, Key: "short-echo"},
		{URL: recv.URL},
		{Key: key},
	} {
		r := e.do("PATCH", e.appPath(""), admin.UpdateAppRequest{Webhook: &bad})
		if r.status != http.StatusBadRequest || r.code() != admin.CodeInvalidField {
			t.Errorf("PATCH %+v: %d %s", bad, r.status, r.body)
		}
		if bytes.Contains(r.body, []byte("echo")) || bytes.Contains(r.body, []byte(key)) {
			t.Errorf("the refusal echoes the value: %s", r.body)
		}
	}
	r := e.do("PATCH", e.appPath(""), admin.UpdateAppRequest{Webhook: &admin.WebhookPatch{URL: recv.URL + "/cb", Key: key}})
	if r.status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	for _, r := range []reply{r, e.do("GET", e.appPath(""), nil)} {
		var a admin.AppJSON
		r.decode(t, &a)
		if a.Webhook == nil || a.Webhook.URL != recv.URL+"/cb" || a.Webhook.KeyFingerprint != webhook.Fingerprint([]byte(key)) || a.Webhook.Deliveries == nil {
			t.Fatalf("app's webhook: %s", r.body)
		}
		if bytes.Contains(r.body, []byte(key)) {
			t.Fatalf("the reply holds the key: %s", r.body)
		}
	}
	if r := e.do("GET", "/v1/admin/apps", nil); bytes.Contains(r.body, []byte(key)) {
		t.Fatalf("the list holds the key: %s", r.body)
	}
	r = e.do("POST", e.appPath("/webhook/test"), nil)
	var tr admin.WebhookTestJSON
	r.decode(t, &tr)
	if r.status != http.StatusOK || !tr.Delivered || tr.Status != http.StatusOK {
		t.Fatalf("test: %d %s", r.status, r.body)
	}
	req, body := <-got, <-bodies
	if req.URL.Path != "/cb" || req.Header.Get("SdkAppId") != itoa(e.app.SDKAppID) ||
		!admin.VerifyWebhook([]byte(key), body, req.Header.Get("Sign")) || !strings.Contains(string(body), `"EventType":100`) {
		t.Fatalf("test delivery %s %v: %s", req.URL.Path, req.Header, body)
	}
	// Removal.
	if r := e.do("PATCH", e.appPath(""), admin.UpdateAppRequest{Webhook: &admin.WebhookPatch{}}); r.status != http.StatusOK || bytes.Contains(r.body, []byte(`"webhook"`)) {
		t.Fatalf("PATCH removal: %d %s", r.status, r.body)
	}
	if r := e.do("POST", e.appPath("/webhook/test"), nil); r.status != http.StatusConflict {
		t.Fatalf("test after removal: %d %s", r.status, r.body)
	}
}

// TestWebhookTestFailure: a receiver that answers 500 is reported, with
// its status and without the URL; without a dispatcher the endpoint is 503.
func TestWebhookTestFailure(t *testing.T) {
	t.Parallel()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer recv.Close()
	var d *webhook.Dispatcher
	e := newEnv(t, func(c *Config) {
		var err error
		d, err = webhook.New(webhook.Config{Lookup: func(context.Context, uint32) (webhook.Target, error) {
			return webhook.Target{URL: recv.URL + "/private-path", Key: []byte("0123456789abcdef")}, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		c.Webhooks = d
	})
	defer d.Close()
	r := e.do("POST", e.appPath("/webhook/test"), nil)
	var tr admin.WebhookTestJSON
	r.decode(t, &tr)
	if r.status != http.StatusOK || tr.Delivered || tr.Status != http.StatusInternalServerError || tr.Error == "" {
		t.Fatalf("test: %d %s", r.status, r.body)
	}
	if bytes.Contains(r.body, []byte("private-path")) {
		t.Fatalf("the reply names the URL: %s", r.body)
	}
	e2 := newEnv(t)
	if r := e2.do("POST", e2.appPath("/webhook/test"), nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("without dispatcher: %d %s", r.status, r.body)
	}
}
