package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/adminserver"
	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

// cliRooms is a fake room controller: it records its calls.
type cliRooms struct {
	mu    sync.Mutex
	calls []string
}

func (r *cliRooms) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *cliRooms) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return ""
	}
	return r.calls[len(r.calls)-1]
}

func (r *cliRooms) Rooms(context.Context, uint32) ([]adminserver.RoomInfo, error) {
	return []adminserver.RoomInfo{
		{Room: adminserver.RoomRef{RoomID: 42}, Participants: []adminserver.ParticipantInfo{
			{ParticipantID: "p1", UserID: "alice", Role: "anchor", Tracks: []string{"audio", "video"}, AudioBlocked: true},
		}},
		{Room: adminserver.RoomRef{StrRoomID: "42"}},
	}, nil
}

func (r *cliRooms) Dismiss(_ context.Context, app uint32, room adminserver.RoomRef) error {
	r.record("dismiss " + roomString(room))
	return nil
}

func (r *cliRooms) RemoveUser(_ context.Context, app uint32, room adminserver.RoomRef, userID string) error {
	if userID == "ghost" {
		return adminserver.ErrUserNotFound
	}
	r.record("remove " + roomString(room) + " " + userID)
	return nil
}

func (r *cliRooms) Block(_ context.Context, app uint32, room adminserver.RoomRef, userID string, audio, video, blocked bool) error {
	r.record("block " + roomString(room) + " " + userID + " " + strconv.FormatBool(audio) + " " + strconv.FormatBool(video) + " " + strconv.FormatBool(blocked))
	return nil
}

func roomString(r adminserver.RoomRef) string {
	if r.RoomID != 0 {
		return strconv.FormatUint(uint64(r.RoomID), 10)
	}
	return strconv.Quote(r.StrRoomID)
}

// cliEnv is a real store in a temp data dir behind the admin API on an
// httptest server on 127.0.0.1, with a fake room controller.
type cliEnv struct {
	t       *testing.T
	store   *store.Store
	info    store.Info
	rooms   *cliRooms
	url     string
	keyFile string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	ctx := context.Background()
	st, info, err := store.Bootstrap(ctx, filepath.Join(t.TempDir(), "data"), time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	key, err := os.ReadFile(info.AdminKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	rooms := &cliRooms{}
	h, err := adminserver.NewHandler(adminserver.Config{Store: st, Rooms: rooms, AdminKey: key,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &cliEnv{t: t, store: st, info: info, rooms: rooms, url: srv.URL, keyFile: info.AdminKeyPath}
}

// run runs `lethe app` with the env's server and key file, after args.
func (e *cliEnv) run(args ...string) (stdout, stderr string, err error) {
	e.t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"--server", e.url, "--admin-key-file", e.keyFile}, args...)
	err = appCommand(context.Background(), full, &out, &errb)
	return out.String(), errb.String(), err
}

// ok runs args and fails the test on error.
func (e *cliEnv) ok(args ...string) string {
	e.t.Helper()
	out, errs, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("lethe app %v: %v\nstderr: %s", args, err, errs)
	}
	return out
}

// okJSON runs args with --json and decodes stdout into v.
func (e *cliEnv) okJSON(v any, args ...string) {
	e.t.Helper()
	out := e.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.t.Fatalf("lethe app %v --json: %v\n%s", args, err, out)
	}
}

func TestAppCommandApps(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	def := strconv.FormatUint(uint64(e.info.DefaultApp.SDKAppID), 10)

	if out := e.ok("list"); !strings.Contains(out, "SDKAPPID") || !strings.Contains(out, def) || !strings.Contains(out, "default") {
		t.Errorf("list:\n%s", out)
	}

	var created struct {
		SDKAppID uint32   `json:"sdkAppId"`
		Name     string   `json:"name"`
		Tags     []string `json:"tags"`
		Policy   struct {
			MaxTokenTTLSeconds int64 `json:"maxTokenTtlSeconds"`
			MaxAnchors         int   `json:"maxAnchorsPerRoom"`
		} `json:"policy"`
	}
	e.okJSON(&created, "create", "--name", "Acme Meetings", "--tag", "prod", "--tag", "eu", "--max-token-ttl", "2h")
	if created.Name != "Acme Meetings" || strings.Join(created.Tags, ",") != "prod,eu" || created.Policy.MaxTokenTTLSeconds != 7200 {
		t.Fatalf("created %+v", created)
	}
	id := strconv.FormatUint(uint64(created.SDKAppID), 10)

	out := e.ok("get", id)
	for _, want := range []string{"Acme Meetings", "prod, eu", "active", "max token ttl", "2h0m0s", "unlimited"} {
		if !strings.Contains(out, want) {
			t.Errorf("get lacks %q:\n%s", want, out)
		}
	}
	// Flags after the positional argument, and the common flags after the subcommand.
	out = e.ok("update", id, "--name", "Acme", "--clear-tags", "--max-anchors", "3", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Name != "Acme" || len(created.Tags) != 0 || created.Policy.MaxAnchors != 3 ||
		created.Policy.MaxTokenTTLSeconds != 7200 {
		t.Errorf("update: %v %+v", err, created)
	}
	// The consent policy: on, shown, and off again.
	var policy struct {
		Policy struct {
			RequireConsent bool `json:"requireConsent"`
		} `json:"policy"`
	}
	e.okJSON(&policy, "update", id, "--require-consent")
	if !policy.Policy.RequireConsent || !regexp.MustCompile(`require consent +true`).MatchString(e.ok("get", id)) {
		t.Errorf("update --require-consent: %+v", policy)
	}
	e.okJSON(&policy, "update", id, "--require-consent=false")
	if policy.Policy.RequireConsent {
		t.Errorf("update --require-consent=false: %+v", policy)
	}
	e.okJSON(&policy, "create", "--name", "kids", "--require-consent")
	if !policy.Policy.RequireConsent {
		t.Errorf("create --require-consent: %+v", policy)
	}
	if out := e.ok("suspend", id); !strings.Contains(out, "suspended") {
		t.Errorf("suspend:\n%s", out)
	}
	if _, _, err := e.run("usersig", id, "--user", "alice"); err == nil || !strings.Contains(err.Error(), "app_not_active") {
		t.Errorf("usersig while suspended: %v", err)
	}
	if out := e.ok("resume", id); !strings.Contains(out, "active") {
		t.Errorf("resume:\n%s", out)
	}
	out = e.ok("log", id, "--limit", "10")
	for _, op := range []string{"app.create", "app.update", "app.suspend", "app.resume", "app.get"} {
		if !strings.Contains(out, op) {
			t.Errorf("log lacks %s:\n%s", op, out)
		}
	}
}

func TestAppCommandKeysAndUserSig(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	app := e.info.DefaultApp.SDKAppID
	id := strconv.FormatUint(uint64(app), 10)

	out := e.ok("keys", id)
	if !strings.Contains(out, "signing") || strings.Count(out, "\n") != 2 {
		t.Errorf("keys:\n%s", out)
	}
	var rotated struct{ KID, State string }
	e.okJSON(&rotated, "rotate", id)
	if rotated.KID == "" || rotated.State != "signing" {
		t.Fatalf("rotate: %+v", rotated)
	}
	var keys struct{ Keys []struct{ KID, State string } }
	e.okJSON(&keys, "keys", id)
	if len(keys.Keys) != 2 || keys.Keys[0].KID != rotated.KID {
		t.Errorf("keys after rotate: %+v", keys)
	}
	old := keys.Keys[1].KID

	var cur struct{ KID, Secret string }
	e.okJSON(&cur, "current-key", id)
	if cur.KID != rotated.KID || len(cur.Secret) < auth.MinSecretLen {
		t.Errorf("current-key: kid %q, %d-byte secret", cur.KID, len(cur.Secret))
	}
	if out := e.ok("current-key", id); !strings.Contains(out, cur.Secret) {
		t.Error("current-key table lacks the secret")
	}

	v := &auth.Verifier{Keys: e.store}
	var m struct{ UserSig, PrivateMapKey string }
	e.okJSON(&m, "usersig", id, "--user", "alice", "--room", "5", "--privileges", "enter,recv-audio", "--role", "audience", "--ttl", "10m")
	c, err := v.VerifyJoin(context.Background(), m.UserSig, m.PrivateMapKey, auth.Want{SDKAppID: app, UserID: "alice", RoomID: 5})
	if err != nil || c.Privileges != auth.PrivEnter|auth.PrivRecvAudio || c.Role != "audience" || c.ExpiresAt.Sub(c.IssuedAt) != 10*time.Minute {
		t.Errorf("jwt: %+v, %v", c, err)
	}
	e.okJSON(&m, "usersig", id, "--user", "bob", "--format", "tls", "--str-room", "5", "--privileges", "255")
	if m.PrivateMapKey == "" {
		t.Fatal("tls with a room: no privateMapKey")
	}
	if _, err := v.VerifyJoin(context.Background(), m.UserSig, m.PrivateMapKey, auth.Want{SDKAppID: app, UserID: "bob", StrRoomID: "5"}); err != nil {
		t.Errorf("tls: %v", err)
	}
	if _, err := v.VerifyJoin(context.Background(), m.UserSig, m.PrivateMapKey, auth.Want{SDKAppID: app, UserID: "bob", RoomID: 5}); err == nil {
		t.Error("tls privateMapKey for strRoomId \"5\" admits room 5")
	}
	if out := e.ok("usersig", id, "--user", "carol"); !strings.HasPrefix(out, "userSig ") || !strings.Contains(out, "expires") {
		t.Errorf("usersig table:\n%s", out)
	}
	e.okJSON(&m, "usersig", id, "--user", "dora", "--consent", "parental")
	if c, err := v.Verify(context.Background(), m.UserSig, auth.Want{SDKAppID: app, UserID: "dora"}); err != nil || c.Consent != auth.ConsentParental {
		t.Errorf("usersig --consent parental: %+v, %v", c, err)
	}

	if out := e.ok("revoke", id, old); strings.TrimSpace(out) != "revoked" {
		t.Errorf("revoke: %q", out)
	}
	_, _, err = e.run("revoke", id, old)
	var ae *admin.Error
	if !errors.As(err, &ae) || ae.Code != admin.CodeKeyNotFound || ae.Status != 404 {
		t.Errorf("revoke twice: %v", err)
	}
}

func TestAppCommandRooms(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	id := strconv.FormatUint(uint64(e.info.DefaultApp.SDKAppID), 10)

	out := e.ok("rooms", id)
	for _, want := range []string{"ROOM", "42", `"42"`, "p1", "alice", "anchor", "audio,video"} {
		if !strings.Contains(out, want) {
			t.Errorf("rooms lacks %q:\n%s", want, out)
		}
	}
	for _, tc := range []struct {
		args      []string
		out, call string
	}{
		{[]string{"dismiss", id, "--room", "42"}, "dismissed", "dismiss 42"},
		{[]string{"dismiss", id, "--str-room", "42"}, "dismissed", `dismiss "42"`},
		{[]string{"remove-user", id, "--room", "7", "--user", "alice"}, "removed", "remove 7 alice"},
		{[]string{"block", id, "--str-room", "r", "--user", "bob", "--video"}, "blocked", `block "r" bob false true true`},
		{[]string{"block", id, "--room", "1", "--user", "bob"}, "blocked", "block 1 bob true true true"},
		{[]string{"unblock", id, "--room", "1", "--user", "bob", "--audio"}, "unblocked", "block 1 bob true false false"},
	} {
		out := e.ok(tc.args...)
		if strings.TrimSpace(out) != tc.out || e.rooms.last() != tc.call {
			t.Errorf("%v: printed %q, call %q; want %q, %q", tc.args, out, e.rooms.last(), tc.out, tc.call)
		}
	}
	if out := e.ok("dismiss", id, "--room", "42", "--json"); out != "" {
		t.Errorf("--json of a 204: %q", out)
	}
	if _, _, err := e.run("remove-user", id, "--room", "7", "--user", "ghost"); err == nil || !strings.Contains(err.Error(), "user_not_found") {
		t.Errorf("remove ghost: %v", err)
	}
}

func TestAppCommandErrors(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	id := strconv.FormatUint(uint64(e.info.DefaultApp.SDKAppID), 10)
	adminKey, err := os.ReadFile(e.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := filepath.Join(t.TempDir(), "wrong.key")
	if err := os.WriteFile(wrongKey, []byte("this-is-not-the-admin-key-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyKey := filepath.Join(t.TempDir(), "empty.key")
	if err := os.WriteFile(emptyKey, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "which subcommand"},
		{"unknown subcommand", []string{"explode"}, "unknown subcommand"},
		{"wrong key", []string{"--admin-key-file", wrongKey, "list"}, "unauthorized"},
		{"empty key", []string{"list", "--admin-key-file", emptyKey}, "empty"},
		{"missing key file", []string{"list", "--admin-key-file", filepath.Join(t.TempDir(), "nope")}, "no such file"},
		{"plain http off loopback", []string{"list", "--server", "http://example.com:7880"}, "non-loopback"},
		{"bad server URL", []string{"list", "--server", "ftp://127.0.0.1"}, "--server"},
		{"user in URL", []string{"list", "--server", "http://u:p@127.0.0.1:1"}, "--server"},
		{"missing APP", []string{"get"}, "want 1 argument"},
		{"extra argument", []string{"get", id, "more"}, "want 1 argument"},
		{"bad APP", []string{"get", "01"}, "SDKAppID"},
		{"unknown app", []string{"get", "1499999999"}, "app_not_found"},
		{"create without name", []string{"create"}, "--name is required"},
		{"create name CRLF", []string{"create", "--name", "a\r\nb"}, "invalid_field"},
		{"update nothing", []string{"update", id}, "nothing to update"},
		{"tags and clear", []string{"update", id, "--tag", "a", "--clear-tags"}, "exclusive"},
		{"fractional ttl", []string{"usersig", id, "--user", "a", "--ttl", "1500ms"}, "whole seconds"},
		{"usersig no user", []string{"usersig", id}, "--user is required"},
		{"both rooms", []string{"dismiss", id, "--room", "1", "--str-room", "1"}, "exclusive"},
		{"no room", []string{"dismiss", id}, "--room or --str-room"},
		{"room zero", []string{"dismiss", id, "--room", "0"}, "--room must be"},
		{"bad privilege", []string{"usersig", id, "--user", "a", "--room", "1", "--privileges", "fly"}, "unknown privilege"},
		{"privileges over 255", []string{"usersig", id, "--user", "a", "--room", "1", "--privileges", "256"}, "0..255"},
		{"unknown consent", []string{"usersig", id, "--user", "a", "--consent", "yes"}, "--consent must be adult or parental"},
		{"consent in tls", []string{"usersig", id, "--user", "a", "--format", "tls", "--consent", "adult"}, "invalid_field"},
		{"unknown flag", []string{"list", "--verbose"}, "flag provided but not defined"},
		{"terminate without --yes", []string{"terminate", id}, "add --yes"},
		{"delete without --yes", []string{"delete", id}, "add --yes"},
		{"delete bad APP", []string{"delete", "01", "--yes"}, "SDKAppID"},
		{"retention too short", []string{"update", id, "--retention", "30m"}, "invalid_field"},
		{"retention fraction", []string{"update", id, "--retention", "1h30m0.5s"}, "whole seconds"},
	} {
		out, errs, err := e.run(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		key := strings.TrimSpace(string(adminKey))
		if strings.Contains(out+errs, key) || (err != nil && strings.Contains(err.Error(), key)) {
			t.Errorf("%s: the admin key was printed", tc.name)
		}
	}
}

func TestAppCommandLifecycle(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	var a struct {
		SDKAppID uint32 `json:"sdkAppId"`
		Policy   struct {
			RetentionSeconds int64 `json:"retentionSeconds"`
		} `json:"policy"`
	}
	e.okJSON(&a, "create", "--name", "CANARY-CLI-TERMINATED", "--retention", "2h")
	if a.Policy.RetentionSeconds != 7200 {
		t.Fatalf("create --retention 2h: %+v", a)
	}
	id := strconv.FormatUint(uint64(a.SDKAppID), 10)
	if out := e.ok("get", id); !strings.Contains(out, "retention after termination") || !strings.Contains(out, "2h0m0s") {
		t.Errorf("get:\n%s", out)
	}
	if _, _, err := e.run("terminate", id); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("terminate without --yes: %v", err)
	}
	if got, err := e.store.App(context.Background(), a.SDKAppID); err != nil || got.Status != store.StatusActive {
		t.Fatalf("terminated without --yes: %+v, %v", got, err)
	}
	out := e.ok("terminate", id, "--yes")
	if !strings.Contains(out, "terminated") || !strings.Contains(out, "purge at") {
		t.Errorf("terminate:\n%s", out)
	}
	if _, _, err := e.run("usersig", id, "--user", "alice"); err == nil || !strings.Contains(err.Error(), "app_not_active") {
		t.Errorf("usersig after termination: %v", err)
	}
	if out := e.ok("keys", id); strings.Count(out, "\n") != 1 {
		t.Errorf("keys after termination:\n%s", out)
	}
	out = e.ok("retention")
	for _, want := range []string{"retention cap", "168h0m0s", "oldest overdue", "0s", id} {
		if !strings.Contains(out, want) {
			t.Errorf("retention lacks %q:\n%s", want, out)
		}
	}

	var b struct{ SDKAppID uint32 }
	e.okJSON(&b, "create", "--name", "CANARY-CLI-DELETED", "--tag", "CANARY-CLI-TAG")
	del := strconv.FormatUint(uint64(b.SDKAppID), 10)
	e.ok("current-key", del) // a secret handed out, and logged
	if out := e.ok("delete", del, "--yes"); strings.TrimSpace(out) != "deleted" {
		t.Errorf("delete: %q", out)
	}
	if _, _, err := e.run("get", del); err == nil || !strings.Contains(err.Error(), "app_not_found") {
		t.Errorf("get after delete: %v", err)
	}
	if _, _, err := e.run("delete", del, "--yes"); err == nil || !strings.Contains(err.Error(), "app_not_found") {
		t.Errorf("delete twice: %v", err)
	}
	var rr struct {
		Pending []struct {
			SDKAppID uint32 `json:"sdkAppId"`
		} `json:"pending"`
	}
	e.okJSON(&rr, "retention")
	if len(rr.Pending) != 1 || rr.Pending[0].SDKAppID != a.SDKAppID {
		t.Errorf("retention --json: %+v", rr)
	}
	// Deleted on request: nothing of it is left in the database files.
	var raw []byte
	for _, f := range []string{e.info.DBPath, e.info.DBPath + "-wal", e.info.DBPath + "-shm"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	if !bytes.Contains(raw, []byte("CANARY-CLI-TERMINATED")) {
		t.Error("the terminated app's name is not in the files: the check below proves nothing")
	}
	for _, c := range []string{"CANARY-CLI-DELETED", "CANARY-CLI-TAG"} {
		if bytes.Contains(raw, []byte(c)) {
			t.Errorf("%s still in the database files after the deletion", c)
		}
	}
}

func TestParsePrivileges(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]uint32{
		"0": 0, "255": 255, "0x2a": 42, "enter": 2, "enter,recv-audio,recv-video": 42,
		"create|enter|send-audio|recv-audio|send-video|recv-video|send-sub|recv-sub": 255, "all": 255,
	} {
		if got, err := parsePrivileges(s); err != nil || got != want {
			t.Errorf("parsePrivileges(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"256", "-1", "root", "enter,,x"} {
		if _, err := parsePrivileges(s); err == nil {
			t.Errorf("parsePrivileges(%q): no error", s)
		}
	}
}
