package admin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/admin"
)

// The Client against the real handler is tested in package adminserver,
// beside the handler's fakes. Here: what only a server other than Lethe's
// does (a proxy, a redirect), and New.

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url    string
		refuse bool
	}{
		{"http://127.0.0.1:7880", false},
		{"http://127.0.0.1:7880/", false},
		{"http://localhost:7880", false},
		{"http://[::1]:7880", false},
		{"http://127.9.8.7", false},
		{"https://lethe.example.com", false},
		{"https://lethe.example.com/behind/a/proxy/", false},
		{"http://example.com:7880", true},
		{"http://10.0.0.1:7880", true},
		{"http://localhost.example.com", true},
		{"ftp://127.0.0.1", true},
		{"127.0.0.1:7880", true},
		{"//127.0.0.1:7880", true},
		{"http://", true},
		{"", true},
		{"http://user:hunter2@127.0.0.1:7880", true},
		{"http://127.0.0.1:7880?x=1", true},
		{"http://127.0.0.1:7880/?", true},
		{"http://127.0.0.1:7880#top", true},
		{"http://127.0.0.1:7880/%zz", true},
	} {
		_, err := admin.New(tc.url, "key")
		if _, refused := errors.AsType[*admin.BaseURLError](err); refused != tc.refuse || (err != nil && !refused) {
			t.Errorf("New(%q) = %v, want refused %v", tc.url, err, tc.refuse)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("New(%q): the error shows the password: %v", tc.url, err)
		}
	}
	for _, key := range []string{"", " \n", "\t"} {
		if _, err := admin.New("http://127.0.0.1:7880", key); !errors.Is(err, admin.ErrNoKey) {
			t.Errorf("New with key %q: %v, want ErrNoKey", key, err)
		}
	}
}

// stranger is a server that is not Lethe's: it answers every request with
// fn and counts them.
func stranger(t *testing.T, fn http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		fn(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestRepliesNotFromTheAPI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		reply  http.HandlerFunc
		want   admin.Error
		errStr string
	}{
		{"proxy error page", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<h1>502</h1>")
		}, admin.Error{Status: 502, Message: "Bad Gateway"}, "Bad Gateway (HTTP 502)"},
		{"JSON without a code", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"message":"nope"}}`)
		}, admin.Error{Status: 404, Message: "Not Found"}, "Not Found (HTTP 404)"},
		{"Retry-After in seconds", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusServiceUnavailable)
		}, admin.Error{Status: 503, Message: "Service Unavailable", RetryAfter: 2 * time.Minute}, "Service Unavailable (HTTP 503)"},
		{"Retry-After unreadable", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "soon")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"error":{"code":"rate_limited","message":"too many requests"}}`)
		}, admin.Error{Status: 429, Code: admin.CodeRateLimited, Message: "too many requests"}, "too many requests (rate_limited, HTTP 429)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := stranger(t, tc.reply)
			c, err := admin.New(srv.URL, "key")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ListApps(t.Context())
			e, ok := errors.AsType[*admin.Error](err)
			if !ok || *e != tc.want || err.Error() != tc.errStr {
				t.Errorf("err = %#v (%v), want %#v (%s)", err, err, tc.want, tc.errStr)
			}
			if got := admin.ErrorCode(err); got != tc.want.Code {
				t.Errorf("ErrorCode = %q, want %q", got, tc.want.Code)
			}
		})
	}
}

func TestMalformedReply(t *testing.T) {
	t.Parallel()
	srv, _ := stranger(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"apps":`) })
	c, err := admin.New(srv.URL, "key")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListApps(t.Context()); err == nil || !strings.Contains(err.Error(), "admin: reply") || admin.ErrorCode(err) != "" {
		t.Errorf("truncated reply: %v", err)
	}
}

// TestBaseURLPath: the API's paths follow the base URL's, as behind a
// proxy that serves Lethe under a prefix; the key goes in the header.
func TestBaseURLPath(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	srv, _ := stranger(t, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Method + " " + r.URL.EscapedPath() + "?" + r.URL.RawQuery + " " + r.Header.Get("Authorization"))
		if r.Method == "GET" {
			_, _ = io.WriteString(w, `{"entries":[]}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	c, err := admin.New(srv.URL+"/lethe/", " the-key\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeKey(t.Context(), 1400000001, "a/b c"); err != nil {
		t.Fatal(err)
	}
	if want := "POST /lethe/v1/admin/apps/1400000001/keys/a%2Fb%20c/revoke? Bearer the-key"; got.Load() != want {
		t.Errorf("request %q, want %q", got.Load(), want)
	}
	if entries, err := c.AppLog(t.Context(), 7, 5); err != nil || len(entries) != 0 {
		t.Fatalf("log: %v, %v", entries, err)
	}
	if want := "GET /lethe/v1/admin/apps/7/log?limit=5 Bearer the-key"; got.Load() != want {
		t.Errorf("request %q, want %q", got.Load(), want)
	}
	if _, err := c.AppLog(t.Context(), 7, 0); err != nil {
		t.Fatal(err)
	}
	if want := "GET /lethe/v1/admin/apps/7/log? Bearer the-key"; got.Load() != want {
		t.Errorf("limit 0: request %q, want %q (the server's default)", got.Load(), want)
	}
}

// TestNoRedirects: the admin key is never sent where a redirect points,
// even with a caller's http.Client that would follow it.
func TestNoRedirects(t *testing.T) {
	t.Parallel()
	elsewhere, hits := stranger(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect was followed, Authorization %q", r.Header.Get("Authorization"))
	})
	srv, _ := stranger(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	follows := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	for name, opts := range map[string][]admin.Option{"default": nil, "WithHTTPClient": {admin.WithHTTPClient(follows)}} {
		c, err := admin.New(srv.URL, "key", opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetApp(t.Context(), 1)
		if e, ok := errors.AsType[*admin.Error](err); !ok || e.Status != http.StatusTemporaryRedirect {
			t.Errorf("%s: err = %v, want the 307 as an *Error", name, err)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests reached the redirect's target", hits.Load())
	}
	if follows.CheckRedirect(nil, nil) != nil {
		t.Error("WithHTTPClient changed the caller's http.Client")
	}
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	e := &admin.Error{Status: 404, Code: admin.CodeAppNotFound, Message: "no such application"}
	for err, want := range map[error]string{
		e:                                     admin.CodeAppNotFound,
		fmt.Errorf("get: %w", e):              admin.CodeAppNotFound,
		errors.Join(context.Canceled, e):      admin.CodeAppNotFound,
		context.Canceled:                      "",
		fmt.Errorf("x: %w", io.ErrClosedPipe): "",
	} {
		if got := admin.ErrorCode(err); got != want {
			t.Errorf("ErrorCode(%v) = %q, want %q", err, got, want)
		}
	}
	if got := admin.ErrorCode(nil); got != "" {
		t.Errorf("ErrorCode(nil) = %q", got)
	}
}
