package adminserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/store"
)

// The SDK's Client talking HTTP to the real handler (on httptest, with the
// fake store and rooms): every method, the errors it decodes, the context.

// client is an admin.Client for e's server, with the admin key as read
// from its file (newline included).
func (e *env) client(key string) *admin.Client {
	e.t.Helper()
	c, err := admin.New(e.srv.URL, key, admin.WithHTTPClient(e.srv.Client()))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// sameJSON: v, marshalled, is the server's reply to GET path byte for
// byte, as `lethe app --json` prints it.
func sameJSON(t *testing.T, e *env, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", path, nil); string(r.body) != string(b)+"\n" {
		t.Errorf("GET %s:\nserver %s\nclient %s", path, r.body, b)
	}
}

func TestClientApps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(testAdminKey)
	ctx := t.Context()

	apps, err := c.ListApps(ctx)
	if err != nil || len(apps) != 1 || apps[0].SDKAppID != e.app.SDKAppID || apps[0].Name != "demo" {
		t.Fatalf("ListApps: %+v, %v", apps, err)
	}
	sameJSON(t, e, "/v1/admin/apps", admin.AppsJSON{Apps: apps})

	a, err := c.CreateApp(ctx, admin.CreateAppRequest{Name: "Acme Meetings", Tags: []string{"prod", "eu"},
		Policy: &admin.PolicyPatch{MaxTokenTTLSeconds: new(int64(7200)), MaxAnchorsPerRoom: new(4)}})
	want := admin.AppJSON{SDKAppID: a.SDKAppID, Name: "Acme Meetings", Tags: []string{"prod", "eu"}, Status: admin.StatusActive, CreatedAt: testNow,
		Policy: admin.PolicyJSON{KeyLifetimeSeconds: 86400, MaxTokenTTLSeconds: 7200, MaxAnchorsPerRoom: 4, RetentionSeconds: 604800}}
	if err != nil || !equalApp(a, want) {
		t.Fatalf("CreateApp: %+v, %v; want %+v", a, err, want)
	}
	if a, err := c.CreateApp(ctx, admin.CreateAppRequest{Name: "bare"}); err != nil || a.Tags == nil || len(a.Tags) != 0 || a.Policy.MaxTokenTTLSeconds != 86400 {
		t.Errorf("CreateApp with only a name: %+v, %v", a, err)
	}
	id := a.SDKAppID
	got, err := c.GetApp(ctx, id)
	if err != nil || !equalApp(got, want) {
		t.Errorf("GetApp: %+v, %v", got, err)
	}
	sameJSON(t, e, "/v1/admin/apps/"+itoa(id), got)

	// UpdateApp sends only what is set: the name stays, the tags go.
	got, err = c.UpdateApp(ctx, id, admin.UpdateAppRequest{Tags: &[]string{}, Policy: &admin.PolicyPatch{RequirePrivateMapKey: new(true)}})
	want.Tags, want.Policy.RequirePrivateMapKey = []string{}, true
	if err != nil || !equalApp(got, want) {
		t.Errorf("UpdateApp: %+v, %v; want %+v", got, err, want)
	}
	got, err = c.UpdateApp(ctx, id, admin.UpdateAppRequest{Name: new("Acme")})
	want.Name = "Acme"
	if err != nil || !equalApp(got, want) {
		t.Errorf("UpdateApp name: %+v, %v", got, err)
	}
	if _, err := c.UpdateApp(ctx, id, admin.UpdateAppRequest{}); admin.ErrorCode(err) != admin.CodeInvalidField {
		t.Errorf("UpdateApp nothing: %v", err)
	}

	for _, tc := range []struct {
		name string
		call func(context.Context, uint32) (admin.AppJSON, error)
		want string
		op   Operation
	}{
		{"SuspendApp", c.SuspendApp, admin.StatusSuspended, store.OpAppSuspend},
		{"ResumeApp", c.ResumeApp, admin.StatusActive, store.OpAppResume},
		{"TerminateApp", c.TerminateApp, admin.StatusTerminated, store.OpAppTerminate},
	} {
		got, err := tc.call(ctx, id)
		if err != nil || got.Status != tc.want || got.SDKAppID != id {
			t.Errorf("%s: %+v, %v", tc.name, got, err)
		}
		if l := lastLog(e, id); l.op != tc.op {
			t.Errorf("%s logged %+v", tc.name, l)
		}
	}
	if got, _ := c.GetApp(ctx, id); got.PurgeAt == nil || !got.PurgeAt.Equal(testNow.Add(3*24*time.Hour)) {
		t.Errorf("terminated app: purgeAt %v", got.PurgeAt)
	}
	if _, err := c.ResumeApp(ctx, id); admin.ErrorCode(err) != admin.CodeAppNotActive {
		t.Errorf("ResumeApp terminated: %v", err)
	}

	ret, err := c.Retention(ctx)
	if err != nil || ret.RetentionCapSeconds != 3*24*3600 || len(ret.Pending) != 1 || ret.Pending[0].SDKAppID != id || ret.OldestOverdueSeconds != 0 {
		t.Errorf("Retention: %+v, %v", ret, err)
	}
	sameJSON(t, e, "/v1/admin/retention", ret)

	d, err := c.DeleteApp(ctx, id)
	if err != nil || d != (admin.DeletionJSON{Deleted: true, Checkpointed: true}) {
		t.Errorf("DeleteApp: %+v, %v", d, err)
	}
	if _, err := c.DeleteApp(ctx, id); admin.ErrorCode(err) != admin.CodeAppNotFound {
		t.Errorf("DeleteApp twice: %v", err)
	}
	if ret, _ := c.Retention(ctx); len(ret.Pending) != 0 {
		t.Errorf("Retention after DeleteApp: %+v", ret)
	}
}

func TestClientLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(testAdminKey)
	id := e.app.SDKAppID
	if _, err := c.GetApp(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SuspendApp(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	entries, err := c.AppLog(t.Context(), id, 2)
	if err != nil || len(entries) != 2 {
		t.Fatalf("AppLog: %+v, %v", entries, err)
	}
	if e0, e1 := entries[0], entries[1]; e0.Operation != "log.read" || e1.Operation != "app.suspend" || e1.SDKAppID != id ||
		e1.AppName != "demo" || e1.Status != admin.StatusSuspended || e1.Tags == nil || e0.ID <= e1.ID {
		t.Errorf("AppLog entries %+v", entries)
	}
	if entries, err := c.AppLog(t.Context(), id, 0); err != nil || len(entries) != 4 { // app.get, app.suspend, the first log.read and this one
		t.Errorf("AppLog, the default limit: %d entries, %v", len(entries), err)
	}
	for _, limit := range []int{-1, admin.MaxLogLimit + 1} {
		if _, err := c.AppLog(t.Context(), id, limit); admin.ErrorCode(err) != admin.CodeInvalidField {
			t.Errorf("AppLog limit %d: %v", limit, err)
		}
	}
}

func TestClientKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(testAdminKey)
	ctx := t.Context()
	id := e.app.SDKAppID

	k, err := c.RotateKey(ctx, id)
	if err != nil || k.KID != "k2" || k.State != admin.KeySigning || k.CreatedAt != nil || !k.NotBefore.Equal(testNow) {
		t.Fatalf("RotateKey: %+v, %v", k, err)
	}
	keys, err := c.ListKeys(ctx, id)
	if err != nil || len(keys) != 2 || keys[0].KID != "k2" || keys[0].State != admin.KeySigning || keys[1].State != admin.KeyVerifying ||
		keys[1].VerifyUntil == nil {
		t.Fatalf("ListKeys: %+v, %v", keys, err)
	}
	sameJSON(t, e, e.appPath("/keys"), admin.KeysJSON{Keys: keys})

	cur, err := c.CurrentKey(ctx, id)
	if err != nil || cur.KID != "k2" || cur.Secret != string(secretOf(2)) || cur.SecretBase64 == "" {
		t.Errorf("CurrentKey: kid %q, %v", cur.KID, err)
	}
	if l := lastLog(e, id); l.op != store.OpKeyFetch {
		t.Errorf("CurrentKey logged %+v", l)
	}

	if err := c.RevokeKey(ctx, id, "k1"); err != nil {
		t.Errorf("RevokeKey: %v", err)
	}
	if keys, _ := c.ListKeys(ctx, id); len(keys) != 1 {
		t.Errorf("after RevokeKey: %+v", keys)
	}
	for kid, code := range map[string]string{"k1": admin.CodeKeyNotFound, "../k2": admin.CodeInvalidField, strings.Repeat("k", 65): admin.CodeInvalidField} {
		if err := c.RevokeKey(ctx, id, kid); admin.ErrorCode(err) != code {
			t.Errorf("RevokeKey(%q): %v, want %s", kid, err, code)
		}
	}
	if _, err := c.SuspendApp(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CurrentKey(ctx, id); admin.ErrorCode(err) != admin.CodeAppNotActive {
		t.Errorf("CurrentKey while suspended: %v", err)
	}
}

func TestClientMintUserSig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(testAdminKey)
	id := e.app.SDKAppID
	for _, tc := range []struct {
		name   string
		req    admin.UserSigRequest
		format string
		ttl    int64
		pmk    bool
		claims map[string]any // of the JWT
	}{
		{"defaults", admin.UserSigRequest{UserID: "alice"}, admin.FormatJWT, 3600, false, map[string]any{"sub": "alice", "privileges": nil, "role": nil}},
		{"jwt bound", admin.UserSigRequest{UserID: "bob", TTLSeconds: 600, RoomJSON: admin.RoomJSON{RoomID: 123}, Privileges: new(uint32(0)), Role: admin.RoleAudience},
			admin.FormatJWT, 600, false, map[string]any{"sub": "bob", "roomId": float64(123), "privileges": float64(0), "role": "audience"}},
		{"jwt string room", admin.UserSigRequest{UserID: "bob", RoomJSON: admin.RoomJSON{StrRoomID: "123"}},
			admin.FormatJWT, 3600, false, map[string]any{"strRoomId": "123", "roomId": nil, "privileges": float64(255)}},
		{"tls", admin.UserSigRequest{UserID: "carol", Format: admin.FormatTLS}, admin.FormatTLS, 3600, false, nil},
		{"tls room", admin.UserSigRequest{UserID: "carol", Format: admin.FormatTLS, RoomJSON: admin.RoomJSON{StrRoomID: "standup"}, TTLSeconds: 1800},
			admin.FormatTLS, 1800, true, nil},
	} {
		s, err := c.MintUserSig(t.Context(), id, tc.req)
		if err != nil || s.Format != tc.format || s.KID != "k1" || s.TTLSeconds != tc.ttl || !s.IssuedAt.Equal(testNow) ||
			!s.ExpiresAt.Equal(testNow.Add(time.Duration(tc.ttl)*time.Second)) || (s.PrivateMapKey != "") != tc.pmk || s.UserSig == "" {
			t.Errorf("%s: %+v, %v", tc.name, s, err)
			continue
		}
		if tc.claims != nil {
			mc := parseJWT(t, s.UserSig, secretOf(1))
			for k, v := range tc.claims {
				if mc[k] != v {
					t.Errorf("%s: claim %s = %v, want %v", tc.name, k, mc[k], v)
				}
			}
		}
	}
	for name, req := range map[string]admin.UserSigRequest{
		"no user":        {},
		"privileges 256": {UserID: "a", RoomJSON: admin.RoomJSON{RoomID: 1}, Privileges: new(uint32(256))},
		"role with tls":  {UserID: "a", Format: admin.FormatTLS, Role: admin.RoleAnchor},
		"two rooms":      {UserID: "a", RoomJSON: admin.RoomJSON{RoomID: 1, StrRoomID: "1"}},
	} {
		if _, err := c.MintUserSig(t.Context(), id, req); admin.ErrorCode(err) != admin.CodeInvalidField {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestClientRooms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(testAdminKey)
	ctx := t.Context()
	id := e.app.SDKAppID
	e.rooms.RoomsFunc = func(context.Context, uint32) ([]RoomInfo, error) {
		return []RoomInfo{
			{Room: RoomRef{RoomID: 42}, Participants: []ParticipantInfo{{ParticipantID: "p1", UserID: "alice", Role: "anchor", AudioBlocked: true}}},
			{Room: RoomRef{StrRoomID: "42"}},
		}, nil
	}
	rooms, err := c.ListRooms(ctx, id)
	want := []admin.RoomInfoJSON{
		{RoomJSON: admin.RoomJSON{RoomID: 42}, Participants: []admin.ParticipantJSON{
			{ParticipantID: "p1", UserID: "alice", Role: admin.RoleAnchor, Tracks: []string{}, AudioBlocked: true}}},
		{RoomJSON: admin.RoomJSON{StrRoomID: "42"}, Participants: []admin.ParticipantJSON{}},
	}
	if err != nil || !slices.EqualFunc(rooms, want, func(a, b admin.RoomInfoJSON) bool {
		return a.RoomJSON == b.RoomJSON && slices.EqualFunc(a.Participants, b.Participants, func(p, q admin.ParticipantJSON) bool {
			return p.ParticipantID == q.ParticipantID && p.UserID == q.UserID && p.Role == q.Role && slices.Equal(p.Tracks, q.Tracks) &&
				p.Tracks != nil && p.AudioBlocked == q.AudioBlocked && p.VideoBlocked == q.VideoBlocked
		})
	}) {
		t.Errorf("ListRooms: %+v, %v", rooms, err)
	}
	sameJSON(t, e, e.appPath("/rooms"), admin.RoomsJSON{Rooms: rooms})

	for _, tc := range []struct {
		name string
		call func() error
		want roomCall
		op   Operation
	}{
		{"DismissRoom", func() error { return c.DismissRoom(ctx, id, admin.RoomJSON{RoomID: 42}) },
			roomCall{method: "Dismiss", app: id, room: RoomRef{RoomID: 42}}, store.OpRoomDismiss},
		{"DismissRoom string", func() error { return c.DismissRoom(ctx, id, admin.RoomJSON{StrRoomID: "42"}) },
			roomCall{method: "Dismiss", app: id, room: RoomRef{StrRoomID: "42"}}, store.OpRoomDismiss},
		{"RemoveUser", func() error {
			return c.RemoveUser(ctx, id, admin.RemoveUserRequest{RoomJSON: admin.RoomJSON{StrRoomID: "standup"}, UserID: "alice"})
		}, roomCall{method: "RemoveUser", app: id, room: RoomRef{StrRoomID: "standup"}, userID: "alice"}, store.OpUserRemove},
		{"BlockUser", func() error {
			return c.BlockUser(ctx, id, admin.BlockRequest{RoomJSON: admin.RoomJSON{RoomID: 42}, UserID: "alice", Video: true, Blocked: true})
		}, roomCall{method: "Block", app: id, room: RoomRef{RoomID: 42}, userID: "alice", video: true, blocked: true}, store.OpUserBlock},
		{"BlockUser unblock", func() error {
			return c.BlockUser(ctx, id, admin.BlockRequest{RoomJSON: admin.RoomJSON{RoomID: 42}, UserID: "alice", Audio: true, Video: true})
		}, roomCall{method: "Block", app: id, room: RoomRef{RoomID: 42}, userID: "alice", audio: true, video: true}, store.OpUserUnblock},
	} {
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if calls := e.rooms.recorded(); calls[len(calls)-1] != tc.want {
			t.Errorf("%s: call %+v, want %+v", tc.name, calls[len(calls)-1], tc.want)
		}
		if l := lastLog(e, id); l.op != tc.op {
			t.Errorf("%s logged %+v", tc.name, l)
		}
	}

	e.rooms.DismissFunc = func(context.Context, uint32, RoomRef) error { return ErrRoomNotFound }
	e.rooms.RemoveUserFunc = func(context.Context, uint32, RoomRef, string) error { return ErrUserNotFound }
	if err := c.DismissRoom(ctx, id, admin.RoomJSON{RoomID: 1}); admin.ErrorCode(err) != admin.CodeRoomNotFound {
		t.Errorf("DismissRoom of no room: %v", err)
	}
	if err := c.RemoveUser(ctx, id, admin.RemoveUserRequest{RoomJSON: admin.RoomJSON{RoomID: 1}, UserID: "zed"}); admin.ErrorCode(err) != admin.CodeUserNotFound {
		t.Errorf("RemoveUser of no user: %v", err)
	}
	if err := c.BlockUser(ctx, id, admin.BlockRequest{RoomJSON: admin.RoomJSON{RoomID: 1}, UserID: "a", Blocked: true}); admin.ErrorCode(err) != admin.CodeInvalidField {
		t.Errorf("BlockUser of neither audio nor video: %v", err)
	}
}

// TestClientErrors: every error reply is an *admin.Error with the status,
// the code and the message; the Client adds nothing of its own.
func TestClientErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	noRooms := newEnv(t, func(c *Config) { c.Rooms = nil })
	c := e.client(testAdminKey)
	id := e.app.SDKAppID
	for _, tc := range []struct {
		name   string
		call   func(ctx context.Context) error
		status int
		code   string
	}{
		{"wrong key", func(ctx context.Context) error {
			_, err := e.client("not-the-admin-key-0123456789").ListApps(ctx)
			return err
		}, 401, admin.CodeUnauthorized},
		{"unknown app", func(ctx context.Context) error { _, err := c.GetApp(ctx, 1499999999); return err }, 404, admin.CodeAppNotFound},
		{"app zero", func(ctx context.Context) error { _, err := c.GetApp(ctx, 0); return err }, 400, admin.CodeInvalidField},
		{"unknown key", func(ctx context.Context) error { return c.RevokeKey(ctx, id, "nope") }, 404, admin.CodeKeyNotFound},
		{"name with CRLF", func(ctx context.Context) error {
			_, err := c.CreateApp(ctx, admin.CreateAppRequest{Name: "a\r\nb"})
			return err
		}, 400, admin.CodeInvalidField},
		{"body over 1 MiB", func(ctx context.Context) error {
			_, err := c.CreateApp(ctx, admin.CreateAppRequest{Name: strings.Repeat("a", admin.MaxBodyBytes)})
			return err
		}, 413, admin.CodeBodyTooLarge},
		{"no room controller", func(ctx context.Context) error {
			_, err := noRooms.client(testAdminKey).ListRooms(ctx, noRooms.app.SDKAppID)
			return err
		}, 503, admin.CodeRoomsUnavailable},
	} {
		err := tc.call(t.Context())
		ae, ok := errors.AsType[*admin.Error](err)
		if !ok || ae.Status != tc.status || ae.Code != tc.code || ae.Message == "" || ae.RetryAfter != 0 {
			t.Errorf("%s: %#v, want %d %s", tc.name, err, tc.status, tc.code)
			continue
		}
		if want := ae.Message + " (" + tc.code + ", HTTP "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %q, want it to begin %q", tc.name, err, want)
		}
		if strings.Contains(err.Error(), strings.TrimSpace(testAdminKey)) {
			t.Errorf("%s: the error shows the admin key", tc.name)
		}
	}
}

func TestClientRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.RateLimit.PerSecond, c.RateLimit.Burst = 0.5, 2
	})
	c := e.client(testAdminKey)
	for i := range 2 {
		if _, err := c.ListApps(t.Context()); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err := c.ListApps(t.Context())
	ae, ok := errors.AsType[*admin.Error](err)
	if !ok || ae.Status != http.StatusTooManyRequests || ae.Code != admin.CodeRateLimited || ae.RetryAfter != 2*time.Second {
		t.Fatalf("over the limit: %#v, want 429 rate_limited, retry after 2s", err)
	}
	e.clock.Advance(ae.RetryAfter)
	if _, err := c.ListApps(t.Context()); err != nil {
		t.Errorf("after RetryAfter: %v", err)
	}
}

// TestClientContext: a call ends with its context, even while the server
// is still working on it.
func TestClientContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(testAdminKey)
	id := e.app.SDKAppID
	arrived := make(chan struct{}, 2)
	e.rooms.RoomsFunc = func(ctx context.Context, _ uint32) ([]RoomInfo, error) {
		arrived <- struct{}{}
		<-ctx.Done() // the server's request ends when the client goes
		return nil, ctx.Err()
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.ListApps(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v", err)
	}

	ctx, cancel = context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	if _, err := c.ListRooms(ctx, id); !errors.Is(err, context.Canceled) || admin.ErrorCode(err) != "" {
		t.Errorf("cancelled in flight: %v", err)
	}

	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.ListRooms(ctx, id); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
}
