package adminserver

import (
	"net/http"
	"sync"
	"testing"
)

// /metrics is served behind the admin key, and every request's status is
// reported.
func TestMetricsBehindAdminKey(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		statuses []int
	)
	e := newEnv(t, func(c *Config) {
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			_, _ = w.Write([]byte("lethe_up 1\n"))
		})
		c.Requests = func(status int) {
			mu.Lock()
			statuses = append(statuses, status)
			mu.Unlock()
		}
	})
	r := e.do("GET", MetricsPath, nil)
	if r.status != http.StatusOK || string(r.body) != "lethe_up 1\n" || r.header.Get("Content-Type") != "text/plain; version=0.0.4" {
		t.Fatalf("with the key: %d %q %q", r.status, r.body, r.header.Get("Content-Type"))
	}
	if r := e.do("GET", MetricsPath, nil, "Authorization", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("without the key: %d %s", r.status, r.body)
	}
	if r := e.do("POST", MetricsPath, nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) != 3 || statuses[0] != 200 || statuses[1] != 401 || statuses[2] != 405 {
		t.Fatalf("statuses %v, want 200, 401, 405", statuses)
	}

	// Without a metrics handler there is no such endpoint.
	if r := newEnv(t).do("GET", MetricsPath, nil); r.status != http.StatusNotFound {
		t.Fatalf("no metrics handler: %d", r.status)
	}
}
