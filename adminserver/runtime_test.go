package adminserver

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/lethe-rtc/lethe/admin"
)

// RuntimeFunc adapts a function to Runtime.
type runtimeFunc func(ctx context.Context, gc bool) admin.RuntimeJSON

func (f runtimeFunc) Runtime(ctx context.Context, gc bool) admin.RuntimeJSON { return f(ctx, gc) }

func TestClientRuntime(t *testing.T) {
	t.Parallel()
	want := admin.RuntimeJSON{Processes: []admin.ProcessJSON{
		{Role: "control", PID: 10, RSSBytes: 1 << 20, FDs: 12, Goroutines: 30, HeapAlloc: 5000, Sessions: 2},
		{Role: "worker", Index: 1, PID: 11, RSSBytes: -1, FDs: -1, Error: "worker 1: context deadline exceeded"},
	}}
	gcs := make(chan bool, 8)
	e := newEnv(t, func(c *Config) {
		c.Runtime = runtimeFunc(func(_ context.Context, gc bool) admin.RuntimeJSON { gcs <- gc; return want })
	})
	got, err := e.client(testAdminKey).Runtime(context.Background())
	if err != nil || <-gcs {
		t.Fatalf("Runtime: %v (or it asked for a GC)", err)
	}
	if _, err := e.client(testAdminKey).RuntimeAfterGC(context.Background()); err != nil || !<-gcs {
		t.Fatalf("RuntimeAfterGC: %v (or it did not ask for a GC)", err)
	}
	if r := e.do("GET", "/v1/admin/runtime?gc=maybe", nil); r.status != http.StatusBadRequest {
		t.Errorf("gc=maybe: %d, want 400", r.status)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Runtime = %+v, want %+v", got, want)
	}
	sameJSON(t, e, "/v1/admin/runtime", got)
	if r := e.do("POST", "/v1/admin/runtime", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.status)
	}
}

func TestRuntimeUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.client(testAdminKey).Runtime(context.Background())
	if admin.ErrorCode(err) != admin.CodeUnavailable {
		t.Fatalf("Runtime without a Runtime: %v, want %s", err, admin.CodeUnavailable)
	}
	if r := e.do("GET", "/v1/admin/runtime", nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", r.status)
	}
}
