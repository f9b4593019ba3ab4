package adminserver

import (
	"net/http"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/store"
)

func TestTerminateRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("POST", e.appPath("/terminate"), nil)
	var got admin.AppJSON
	r.decode(t, &got)
	due := testNow.Add(3 * 24 * time.Hour) // the fake's server-wide cap is shorter than the default
	if r.status != 200 || got.Status != "terminated" || got.PurgeAt == nil || !got.PurgeAt.Equal(due) {
		t.Fatalf("terminate: %d %s", r.status, r.body)
	}
	if l := lastLog(e, e.app.SDKAppID); l.op != store.OpAppTerminate || l.appended {
		t.Errorf("terminate logged %+v, want app.terminate by the store", l)
	}
	// Again, a day later: the deadline stays.
	e.clock.Advance(24 * time.Hour)
	r = e.do("POST", e.appPath("/terminate"), nil)
	r.decode(t, &got)
	if r.status != 200 || !got.PurgeAt.Equal(due) {
		t.Errorf("terminate again: %d %s", r.status, r.body)
	}
	for _, action := range []string{"/resume", "/suspend"} {
		if r := e.do("POST", e.appPath(action), nil); r.status != http.StatusConflict || r.code() != admin.CodeAppNotActive {
			t.Errorf("%s after termination: %d %s", action, r.status, r.body)
		}
	}
	if r := e.do("GET", e.appPath(""), nil); r.status != 200 {
		t.Errorf("get a terminated app: %d", r.status)
	} else if r.decode(t, &got); got.PurgeAt == nil || !got.PurgeAt.Equal(due) {
		t.Errorf("get a terminated app: %s", r.body)
	}
	if r := e.do("POST", "/v1/admin/apps/1499999999/terminate", nil); r.status != 404 || r.code() != admin.CodeAppNotFound {
		t.Errorf("terminate unknown: %d %s", r.status, r.body)
	}
	if r := e.do("GET", e.appPath("/terminate"), nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET terminate: %d %v", r.status, r.header)
	}

	// The pending purges, and how late the oldest is.
	var rr admin.RetentionJSON
	r = e.do("GET", "/v1/admin/retention", nil)
	r.decode(t, &rr)
	if r.status != 200 || rr.RetentionCapSeconds != 3*24*3600 || len(rr.Pending) != 1 || rr.Pending[0].SDKAppID != e.app.SDKAppID ||
		!rr.Pending[0].DueAt.Equal(due) || rr.OldestOverdueSeconds != 0 {
		t.Errorf("retention: %d %s", r.status, r.body)
	}
	e.clock.Advance(3*24*time.Hour + 90*time.Second) // a day and 90 s past the deadline
	e.do("GET", "/v1/admin/retention", nil).decode(t, &rr)
	if rr.OldestOverdueSeconds != 24*3600+90 {
		t.Errorf("overdue %d s, want %d", rr.OldestOverdueSeconds, 24*3600+90)
	}
}

func TestDeleteRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var created admin.AppJSON
	e.do("POST", "/v1/admin/apps", map[string]any{"name": "doomed"}).decode(t, &created)
	path := "/v1/admin/apps/" + itoa(created.SDKAppID)

	var dr admin.DeletionJSON
	r := e.do("POST", path+"/delete", nil)
	r.decode(t, &dr)
	if r.status != 200 || !dr.Deleted || !dr.Checkpointed {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := e.do("GET", path, nil); r.status != 404 || r.code() != admin.CodeAppNotFound {
		t.Errorf("get after delete: %d %s", r.status, r.body)
	}
	if l := lastLog(e, created.SDKAppID); l != (logged{}) {
		t.Errorf("log of a deleted app still holds %+v", l)
	}
	var rr admin.RetentionJSON
	e.do("GET", "/v1/admin/retention", nil).decode(t, &rr)
	if len(rr.Pending) != 0 {
		t.Errorf("pending after delete: %+v", rr.Pending)
	}
	if r := e.do("POST", path+"/delete", nil); r.status != 404 || r.code() != admin.CodeAppNotFound {
		t.Errorf("delete twice: %d %s", r.status, r.body)
	}
	if _, err := e.store.App(t.Context(), e.app.SDKAppID); err != nil {
		t.Errorf("the other app: %v", err)
	}
	// A checkpoint blocked by readers: deleted, the files cleared later.
	e.store.mu.Lock()
	e.store.DeletionErr = store.ErrBusy
	e.store.mu.Unlock()
	r = e.do("POST", e.appPath("/delete"), nil)
	dr = admin.DeletionJSON{}
	r.decode(t, &dr)
	if r.status != 200 || !dr.Deleted || dr.Checkpointed {
		t.Errorf("delete with a busy checkpoint: %d %s", r.status, r.body)
	}
}

func TestRetentionPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		seconds any
		status  int
	}{
		{3600, 200},
		{604800, 200},
		{3599, 400},
		{604801, 400},
		{0, 400},
		{-1, 400},
		{int64(1) << 62, 400},
		{"7d", 400},
	} {
		r := e.do("PATCH", e.appPath(""), map[string]any{"policy": map[string]any{"retentionSeconds": tc.seconds}})
		if r.status != tc.status {
			t.Errorf("retentionSeconds %v: %d %s", tc.seconds, r.status, r.body)
		}
	}
	var got admin.AppJSON
	e.do("GET", e.appPath(""), nil).decode(t, &got)
	if got.Policy.RetentionSeconds != 604800 || got.PurgeAt != nil {
		t.Errorf("after the patches: %+v", got)
	}
}
