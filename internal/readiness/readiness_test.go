package readiness

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/testclock"
)

func pass(context.Context) error { return nil }

func TestHandler(t *testing.T) {
	t.Parallel()
	secret := errors.New("open /var/lib/lethe/lethe.db: read-only file system")
	tests := []struct {
		name   string
		checks []Check
		status int
		want   []Result
		failed []string
	}{
		{"none", nil, http.StatusOK, []Result{}, nil},
		{"all pass", []Check{{"workers", pass}, {"store", pass}}, http.StatusOK,
			[]Result{{"workers", StateOK}, {"store", StateOK}}, nil},
		{"one fails", []Check{{"workers", pass}, {"store", func(context.Context) error { return secret }}, {"draining", pass}},
			http.StatusServiceUnavailable, []Result{{"workers", StateOK}, {"store", StateFailing}, {"draining", StateOK}}, []string{"store"}},
		{"one hangs", []Check{{"slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}, {"workers", pass}},
			http.StatusServiceUnavailable, []Result{{"slow", StateTimeout}, {"workers", StateOK}}, []string{"slow"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var failed []string
			h := NewHandler(Config{Checks: tt.checks, Timeout: 50 * time.Millisecond, Failed: func(name string, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					t.Errorf("Failed(%s) without an error", name)
				}
				failed = append(failed, name)
			}})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d", rec.Code, tt.status)
			}
			if ct, cc := rec.Header().Get("Content-Type"), rec.Header().Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
				t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
			}
			if strings.Contains(rec.Body.String(), "lethe.db") {
				t.Errorf("the body tells why a check failed: %s", rec.Body.String())
			}
			var b Body
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatalf("body %q: %v", rec.Body.String(), err)
			}
			if b.Ready != (tt.status == http.StatusOK) || !slices.Equal(b.Checks, tt.want) {
				t.Errorf("body %+v, want ready %v and %+v", b, tt.status == http.StatusOK, tt.want)
			}
			slices.Sort(failed)
			if !slices.Equal(failed, tt.failed) {
				t.Errorf("reported failures %v, want %v", failed, tt.failed)
			}
		})
	}
}

// A throttled check runs at most once per interval, and again once the
// interval has passed; its result is kept in between, failure included.
func TestThrottle(t *testing.T) {
	t.Parallel()
	clock := testclock.New(time.Unix(1_700_000_000, 0))
	runs := 0
	var fail error
	f := Throttle(func(context.Context) error { runs++; return fail }, time.Second, clock.Now)
	ctx := context.Background()
	for range 3 {
		if err := f(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if runs != 1 {
		t.Fatalf("%d runs within the interval, want 1", runs)
	}
	fail = errors.New("disk full")
	clock.Advance(time.Second)
	if err := f(ctx); err == nil || runs != 2 {
		t.Fatalf("after the interval: %v, %d runs", err, runs)
	}
	fail = nil
	clock.Advance(999 * time.Millisecond)
	if err := f(ctx); err == nil || runs != 2 {
		t.Fatalf("the failure is not kept within the interval: %v, %d runs", err, runs)
	}
	clock.Set(time.Unix(1_600_000_000, 0)) // the clock stepped back: run again
	if err := f(ctx); err != nil || runs != 3 {
		t.Fatalf("after a step back: %v, %d runs", err, runs)
	}
}
