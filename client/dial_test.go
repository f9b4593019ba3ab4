package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/client"
)

// A refusal before the upgrade carries the server's reason into the error.
func TestDialRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"connection cap", `{"error":{"code":"too_many_connections_from_address","message":"your address holds the maximum of 200 connections; close one first"}}`,
			503, "(HTTP 503: your address holds the maximum of 200 connections; close one first)"},
		{"plain text", "shutting down\n", 503, "(HTTP 503)"},
		{"host", `{"error":{"code":"host_not_allowed","message":"not that host"}}`, 421, "(HTTP 421: not that host)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), client.Options{})
			if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to end %q", err, tc.want)
			}
		})
	}
}
