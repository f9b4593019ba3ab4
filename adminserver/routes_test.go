package adminserver

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

// lastLog is the newest log entry of app, or a zero one.
func lastLog(e *env, app uint32) logged {
	l := e.store.entries()
	for i := len(l) - 1; i >= 0; i-- {
		if l[i].app == app {
			return l[i]
		}
	}
	return logged{}
}

func TestApps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	r := e.do("POST", "/v1/admin/apps", map[string]any{
		"name": "Acme Meetings", "tags": []string{"prod", "eu west"},
		"policy": map[string]any{"maxTokenTtlSeconds": 7200, "requirePrivateMapKey": true, "maxAnchorsPerRoom": 4, "maxParticipantsPerRoom": 50},
	})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created admin.AppJSON
	r.decode(t, &created)
	want := admin.AppJSON{
		SDKAppID: created.SDKAppID, Name: "Acme Meetings", Tags: []string{"prod", "eu west"}, Status: "active", CreatedAt: testNow,
		Policy: admin.PolicyJSON{KeyLifetimeSeconds: 86400, MaxTokenTTLSeconds: 7200, RequirePrivateMapKey: true, MaxAnchorsPerRoom: 4, MaxParticipantsPerRoom: 50,
			RetentionSeconds: 604800},
	}
	if !equalApp(created, want) {
		t.Errorf("created %+v, want %+v", created, want)
	}
	if loc := r.header.Get("Location"); loc != "/v1/admin/apps/"+itoa(created.SDKAppID) {
		t.Errorf("Location %q", loc)
	}
	if l := lastLog(e, created.SDKAppID); l.op != store.OpAppCreate || l.appended {
		t.Errorf("create logged %+v, want app.create by the store", l)
	}

	var list admin.AppsJSON
	e.do("GET", "/v1/admin/apps", nil).decode(t, &list)
	if len(list.Apps) != 2 || list.Apps[1].SDKAppID != created.SDKAppID || list.Apps[0].Name != "demo" {
		t.Errorf("list %+v", list)
	}

	path := "/v1/admin/apps/" + itoa(created.SDKAppID)
	var got admin.AppJSON
	e.do("GET", path, nil).decode(t, &got)
	if !equalApp(got, want) {
		t.Errorf("get %+v", got)
	}
	if l := lastLog(e, created.SDKAppID); l.op != store.OpAppGet || !l.appended {
		t.Errorf("get logged %+v", l)
	}

	// PATCH: only the fields given change, policy fields included.
	r = e.do("PATCH", path, map[string]any{"name": "Acme", "policy": map[string]any{"maxAnchorsPerRoom": 2}})
	r.decode(t, &got)
	want.Name, want.Policy.MaxAnchorsPerRoom = "Acme", 2
	if r.status != 200 || !equalApp(got, want) {
		t.Errorf("patch: %d %+v, want %+v", r.status, got, want)
	}
	for _, require := range []bool{true, false} {
		r = e.do("PATCH", path, map[string]any{"policy": map[string]any{"requireConsent": require}})
		r.decode(t, &got)
		want.Policy.RequireConsent = require
		if r.status != 200 || !equalApp(got, want) || !strings.Contains(string(r.body), `"requireConsent":`) {
			t.Errorf("patch requireConsent %v: %d %s", require, r.status, r.body)
		}
	}
	r = e.do("PATCH", path, map[string]any{"tags": []string{}})
	r.decode(t, &got)
	want.Tags = []string{}
	if r.status != 200 || !equalApp(got, want) {
		t.Errorf("patch tags: %d %+v", r.status, got)
	}
	if l := lastLog(e, created.SDKAppID); l.op != store.OpAppUpdate || l.appended {
		t.Errorf("update logged %+v", l)
	}

	for _, tc := range []struct {
		action, status string
		op             Operation
	}{{"suspend", "suspended", store.OpAppSuspend}, {"resume", "active", store.OpAppResume}} {
		r = e.do("POST", path+"/"+tc.action, nil)
		r.decode(t, &got)
		if r.status != 200 || got.Status != tc.status {
			t.Errorf("%s: %d %s", tc.action, r.status, r.body)
		}
		if l := lastLog(e, created.SDKAppID); l.op != tc.op || l.appended {
			t.Errorf("%s logged %+v", tc.action, l)
		}
	}
	e.store.mu.Lock()
	e.store.apps[created.SDKAppID].Status = store.StatusTerminated
	e.store.mu.Unlock()
	if r := e.do("POST", path+"/resume", nil); r.status != http.StatusConflict || r.code() != admin.CodeAppNotActive {
		t.Errorf("resume terminated: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/admin/apps/1499999999/suspend", nil); r.status != 404 || r.code() != admin.CodeAppNotFound {
		t.Errorf("suspend unknown: %d %s", r.status, r.body)
	}
}

func equalApp(a, b admin.AppJSON) bool {
	return a.SDKAppID == b.SDKAppID && a.Name == b.Name && slices.Equal(a.Tags, b.Tags) && a.Status == b.Status &&
		a.CreatedAt.Equal(b.CreatedAt) && a.Policy == b.Policy
}

func TestAppLogRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do("GET", e.appPath(""), nil)
	e.do("POST", e.appPath("/suspend"), nil)
	var lr admin.LogJSON
	r := e.do("GET", e.appPath("/log?limit=2"), nil)
	r.decode(t, &lr)
	if r.status != 200 || len(lr.Entries) != 2 {
		t.Fatalf("log: %d %s", r.status, r.body)
	}
	if lr.Entries[0].Operation != "log.read" || lr.Entries[1].Operation != "app.suspend" || lr.Entries[1].AppName != "demo" ||
		lr.Entries[1].SDKAppID != e.app.SDKAppID || lr.Entries[1].Status != "suspended" {
		t.Errorf("entries %+v", lr.Entries)
	}
	// Exactly the six fields (and the entry id), nothing else.
	var raw struct {
		Entries []map[string]any `json:"entries"`
	}
	r.decode(t, &raw)
	var keys []string
	for k := range raw.Entries[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"appName", "createdAt", "id", "operation", "sdkAppId", "status", "tags"}; !slices.Equal(keys, want) {
		t.Errorf("entry fields %v, want %v", keys, want)
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.app.SDKAppID

	r := e.do("POST", e.appPath("/keys/rotate"), nil)
	var rotated admin.KeyJSON
	r.decode(t, &rotated)
	if r.status != http.StatusCreated || rotated.KID != "k2" || rotated.State != "signing" {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), string(secretOf(2))) {
		t.Error("rotate replied with the secret")
	}
	if l := lastLog(e, id); l.op != store.OpKeyRotate || l.appended {
		t.Errorf("rotate logged %+v", l)
	}

	r = e.do("GET", e.appPath("/keys"), nil)
	var kr admin.KeysJSON
	r.decode(t, &kr)
	if r.status != 200 || len(kr.Keys) != 2 || kr.Keys[0].KID != "k2" || kr.Keys[0].State != "signing" || kr.Keys[1].State != "verifying" {
		t.Errorf("keys: %d %s", r.status, r.body)
	}
	for _, n := range []int{1, 2} {
		if s := secretOf(n); strings.Contains(string(r.body), string(s)) || strings.Contains(string(r.body), base64.StdEncoding.EncodeToString(s)) {
			t.Error("key list holds a secret")
		}
	}
	if l := lastLog(e, id); l.op != store.OpKeyList || !l.appended {
		t.Errorf("list logged %+v", l)
	}

	r = e.do("GET", e.appPath("/keys/current"), nil)
	var cur admin.SecretKeyJSON
	r.decode(t, &cur)
	if r.status != 200 || cur.KID != "k2" || cur.Secret != string(secretOf(2)) ||
		cur.SecretBase64 != base64.StdEncoding.EncodeToString(secretOf(2)) || !cur.NotBefore.Equal(testNow) {
		t.Errorf("current: %d %s", r.status, r.body)
	}
	if l := lastLog(e, id); l.op != store.OpKeyFetch || !l.appended {
		t.Errorf("fetch logged %+v", l)
	}

	if r := e.do("POST", e.appPath("/keys/k1/revoke"), nil); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("revoke: %d %s", r.status, r.body)
	}
	if l := lastLog(e, id); l.op != store.OpKeyRevoke || l.appended {
		t.Errorf("revoke logged %+v", l)
	}
	if r := e.do("POST", e.appPath("/keys/k1/revoke"), nil); r.status != 404 || r.code() != admin.CodeKeyNotFound {
		t.Errorf("revoke twice: %d %s", r.status, r.body)
	}

	// A secret that is not printable ASCII comes in base64 only.
	e.store.SigningKeyFunc = func(context.Context, uint32, time.Time) (auth.Key, error) {
		return auth.Key{ID: "bin", Secret: []byte{0, 1, 2, 0xff}, NotBefore: testNow}, nil
	}
	r = e.do("GET", e.appPath("/keys/current"), nil)
	cur = admin.SecretKeyJSON{}
	r.decode(t, &cur)
	if cur.Secret != "" || cur.SecretBase64 != "AAEC/w==" {
		t.Errorf("binary secret: %s", r.body)
	}
	e.store.SigningKeyFunc = func(context.Context, uint32, time.Time) (auth.Key, error) {
		return auth.Key{}, auth.ErrUnknownKey
	}
	if r := e.do("GET", e.appPath("/keys/current"), nil); r.status != http.StatusConflict || r.code() != admin.CodeNoSigningKey {
		t.Errorf("no signing key: %d %s", r.status, r.body)
	}
	e.store.SigningKeyFunc = nil

	e.do("POST", e.appPath("/suspend"), nil)
	before := len(e.store.entries())
	if r := e.do("GET", e.appPath("/keys/current"), nil); r.status != http.StatusConflict || r.code() != admin.CodeAppNotActive {
		t.Errorf("suspended: %d %s", r.status, r.body)
	}
	if len(e.store.entries()) != before {
		t.Error("a refused key fetch was logged")
	}
	r = e.do("POST", e.appPath("/keys/rotate"), nil)
	rotated = admin.KeyJSON{}
	r.decode(t, &rotated)
	if r.status != http.StatusCreated || rotated.State != "verifying" {
		t.Errorf("rotate while suspended: %d %s", r.status, r.body)
	}
}

// jwtClaims parses a minted JWT with the key, the way a verifier would.
func parseJWT(t *testing.T, tok string, secret []byte) jwt.MapClaims {
	t.Helper()
	var mc jwt.MapClaims
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return testNow })).
		ParseWithClaims(tok, &mc, func(tk *jwt.Token) (any, error) { return secret, nil })
	if err != nil {
		t.Fatalf("minted JWT: %v", err)
	}
	return mc
}

func TestMintUserSig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.app.SDKAppID
	secret := secretOf(1)
	mint := func(body map[string]any) (admin.UserSigJSON, reply) {
		t.Helper()
		r := e.do("POST", e.appPath("/usersig"), body)
		var m admin.UserSigJSON
		if r.status == 200 {
			r.decode(t, &m)
		}
		return m, r
	}

	m, r := mint(map[string]any{"userId": "alice"})
	if r.status != 200 || m.Format != "jwt" || m.KID != "k1" || m.TTLSeconds != 3600 || !m.ExpiresAt.Equal(testNow.Add(time.Hour)) || m.PrivateMapKey != "" {
		t.Fatalf("default mint: %d %s", r.status, r.body)
	}
	mc := parseJWT(t, m.UserSig, secret)
	if mc["sub"] != "alice" || mc["sdkappid"] != float64(id) || mc["roomId"] != nil || mc["privileges"] != nil {
		t.Errorf("claims %v", mc)
	}
	if l := lastLog(e, id); l.op != store.OpUserSigMint || !l.appended {
		t.Errorf("mint logged %+v", l)
	}

	m, _ = mint(map[string]any{"userId": "bob", "roomId": 123, "privileges": 2 | 8 | 32, "role": "audience", "ttlSeconds": 600})
	mc = parseJWT(t, m.UserSig, secret)
	if mc["roomId"] != float64(123) || mc["strRoomId"] != nil || mc["privileges"] != float64(42) || mc["role"] != "audience" ||
		m.TTLSeconds != 600 || mc["exp"] != float64(testNow.Add(10*time.Minute).Unix()) {
		t.Errorf("bound JWT: %v %+v", mc, m)
	}
	m, _ = mint(map[string]any{"userId": "bob", "strRoomId": "123"})
	mc = parseJWT(t, m.UserSig, secret)
	if mc["strRoomId"] != "123" || mc["roomId"] != nil || mc["privileges"] != float64(255) || mc["consent"] != nil {
		t.Errorf("string room JWT: %v", mc)
	}
	// A consent goes into the token, and nowhere else: the log entry is
	// the operation alone.
	for _, basis := range []string{admin.ConsentAdult, admin.ConsentParental} {
		m, r = mint(map[string]any{"userId": "carl", "consent": basis})
		if mc = parseJWT(t, m.UserSig, secret); r.status != 200 || mc["consent"] != basis {
			t.Errorf("consent %s: %d %v", basis, r.status, mc)
		}
		if l := lastLog(e, id); l.op != store.OpUserSigMint {
			t.Errorf("mint with consent logged %+v", l)
		}
	}

	// The TTL is capped at the app's MaxTokenTTL.
	if r := e.do("PATCH", e.appPath(""), map[string]any{"policy": map[string]any{"maxTokenTtlSeconds": 300}}); r.status != 200 {
		t.Fatal(r.status)
	}
	for _, ttl := range []int64{0, 301, 86400 * 365, 1 << 62} {
		m, r = mint(map[string]any{"userId": "carol", "ttlSeconds": ttl})
		if r.status != 200 || m.TTLSeconds != 300 || !m.ExpiresAt.Equal(testNow.Add(5*time.Minute)) {
			t.Errorf("ttl %d: %d %s", ttl, r.status, r.body)
		}
	}

	// TLS: a plain UserSig, and a privateMapKey with the room.
	m, r = mint(map[string]any{"userId": "dave", "format": "tls"})
	if r.status != 200 || m.Format != "tls" || m.UserSig == "" || m.PrivateMapKey != "" {
		t.Errorf("tls: %d %s", r.status, r.body)
	}
	m, r = mint(map[string]any{"userId": "dave", "format": "tls", "strRoomId": "room-1", "privileges": 255})
	if r.status != 200 || m.UserSig == "" || m.PrivateMapKey == "" || m.PrivateMapKey == m.UserSig {
		t.Errorf("tls with room: %d %s", r.status, r.body)
	}
	for _, tok := range []string{m.UserSig, m.PrivateMapKey} {
		if strings.ContainsAny(tok, "+/=") {
			t.Errorf("TLS token not in the URL-safe variant: %s", tok)
		}
	}

	e.store.SigningKeyFunc = func(context.Context, uint32, time.Time) (auth.Key, error) {
		return auth.Key{}, errors.New("store: signing key: " + auth.ErrUnknownKey.Error())
	}
	if _, r := mint(map[string]any{"userId": "erin"}); r.status != 500 {
		t.Errorf("broken store: %d", r.status)
	}
	e.store.SigningKeyFunc = nil
	e.do("POST", e.appPath("/suspend"), nil)
	if _, r := mint(map[string]any{"userId": "erin"}); r.status != http.StatusConflict || r.code() != admin.CodeAppNotActive {
		t.Errorf("suspended: %d %s", r.status, r.body)
	}
}

func TestRooms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.app.SDKAppID
	e.rooms.RoomsFunc = func(_ context.Context, app uint32) ([]RoomInfo, error) {
		return []RoomInfo{
			{Room: RoomRef{RoomID: 123}, Participants: []ParticipantInfo{
				{ParticipantID: "p1", UserID: "alice", Role: "anchor", Tracks: []string{"audio", "video"}, VideoBlocked: true},
				{ParticipantID: "p2", UserID: "bob", Role: "audience"},
			}},
			{Room: RoomRef{StrRoomID: "123"}, Participants: []ParticipantInfo{}},
		}, nil
	}
	r := e.do("GET", e.appPath("/rooms"), nil)
	const want = `{"rooms":[{"roomId":123,"participants":[` +
		`{"participantId":"p1","userId":"alice","role":"anchor","tracks":["audio","video"],"audioBlocked":false,"videoBlocked":true},` +
		`{"participantId":"p2","userId":"bob","role":"audience","tracks":[],"audioBlocked":false,"videoBlocked":false}]},` +
		`{"strRoomId":"123","participants":[]}]}` + "\n"
	if r.status != 200 || string(r.body) != want {
		t.Errorf("rooms: %d\n%s\nwant\n%s", r.status, r.body, want)
	}
	if l := lastLog(e, id); l.op != store.OpRoomList || !l.appended {
		t.Errorf("list logged %+v", l)
	}

	for _, tc := range []struct {
		path string
		body map[string]any
		call roomCall
		op   Operation
	}{
		{"/rooms/dismiss", map[string]any{"roomId": 123}, roomCall{method: "Dismiss", app: id, room: RoomRef{RoomID: 123}}, store.OpRoomDismiss},
		{"/rooms/dismiss", map[string]any{"strRoomId": "123"}, roomCall{method: "Dismiss", app: id, room: RoomRef{StrRoomID: "123"}}, store.OpRoomDismiss},
		{"/rooms/remove-user", map[string]any{"roomId": 7, "userId": "alice"}, roomCall{method: "RemoveUser", app: id, room: RoomRef{RoomID: 7}, userID: "alice"}, store.OpUserRemove},
		{"/rooms/block", map[string]any{"strRoomId": "r", "userId": "bob", "audio": true, "blocked": true},
			roomCall{method: "Block", app: id, room: RoomRef{StrRoomID: "r"}, userID: "bob", audio: true, blocked: true}, store.OpUserBlock},
		{"/rooms/block", map[string]any{"roomId": 9, "userId": "bob", "audio": true, "video": true, "blocked": false},
			roomCall{method: "Block", app: id, room: RoomRef{RoomID: 9}, userID: "bob", audio: true, video: true}, store.OpUserUnblock},
	} {
		r := e.do("POST", e.appPath(tc.path), tc.body)
		if r.status != http.StatusNoContent {
			t.Errorf("%s %v: %d %s", tc.path, tc.body, r.status, r.body)
			continue
		}
		calls := e.rooms.recorded()
		if got := calls[len(calls)-1]; got != tc.call {
			t.Errorf("%s: call %+v, want %+v", tc.path, got, tc.call)
		}
		if l := lastLog(e, id); l.op != tc.op || !l.appended {
			t.Errorf("%s logged %+v, want %s", tc.path, l, tc.op)
		}
	}

	// Controller errors.
	e.rooms.DismissFunc = func(context.Context, uint32, RoomRef) error { return errors.Join(errors.New("x"), ErrRoomNotFound) }
	e.rooms.RemoveUserFunc = func(context.Context, uint32, RoomRef, string) error { return ErrUserNotFound }
	before := len(e.store.entries())
	if r := e.do("POST", e.appPath("/rooms/dismiss"), map[string]any{"roomId": 1}); r.status != 404 || r.code() != admin.CodeRoomNotFound {
		t.Errorf("dismiss missing room: %d %s", r.status, r.body)
	}
	if r := e.do("POST", e.appPath("/rooms/remove-user"), map[string]any{"roomId": 1, "userId": "zed"}); r.status != 404 || r.code() != admin.CodeUserNotFound {
		t.Errorf("remove missing user: %d %s", r.status, r.body)
	}
	if len(e.store.entries()) != before {
		t.Error("failed room operations were logged")
	}

	// Without a room controller: 503 (after authentication and the app check).
	e2 := newEnv(t, func(c *Config) { c.Rooms = nil })
	if r := e2.do("GET", e2.appPath("/rooms"), nil); r.status != http.StatusServiceUnavailable || r.code() != admin.CodeRoomsUnavailable {
		t.Errorf("no controller: %d %s", r.status, r.body)
	}
	if r := e2.do("GET", "/v1/admin/apps/1499999999/rooms", nil); r.status != 404 {
		t.Errorf("no controller, unknown app: %d", r.status)
	}
}

// TestMintedTokensVerify: what the API mints, auth's verifier admits, for
// the user and room it was minted for and no other.
func TestMintedTokensVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.app.SDKAppID
	v := &auth.Verifier{
		Now: func() time.Time { return testNow.Add(time.Minute) },
		Keys: auth.KeyLookupFunc(func(_ context.Context, app uint32) (auth.Ring, error) {
			if app != id {
				return auth.Ring{}, auth.ErrUnknownApp
			}
			k, err := e.store.SigningKey(context.Background(), id, testNow)
			return auth.Ring{Keys: []auth.Key{k}}, err
		}),
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		want auth.Want
		priv auth.Privilege
	}{
		{"jwt", map[string]any{"userId": "alice"}, auth.Want{SDKAppID: id, UserID: "alice"}, auth.PrivAll},
		{"jwt room", map[string]any{"userId": "alice", "roomId": 5, "privileges": 3}, auth.Want{SDKAppID: id, UserID: "alice", RoomID: 5}, 3},
		{"tls", map[string]any{"userId": "alice", "format": "tls"}, auth.Want{SDKAppID: id, UserID: "alice"}, auth.PrivAll},
		{"tls room", map[string]any{"userId": "alice", "format": "tls", "strRoomId": "s", "privileges": 2 | 8},
			auth.Want{SDKAppID: id, UserID: "alice", StrRoomID: "s"}, 2 | 8},
		{"jwt consent", map[string]any{"userId": "alice", "consent": "parental"}, auth.Want{SDKAppID: id, UserID: "alice"}, auth.PrivAll},
	} {
		r := e.do("POST", e.appPath("/usersig"), tc.body)
		var m admin.UserSigJSON
		r.decode(t, &m)
		c, err := v.VerifyJoin(context.Background(), m.UserSig, m.PrivateMapKey, tc.want)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		consent, _ := tc.body["consent"].(string)
		if c.Privileges != tc.priv || c.UserID != "alice" || c.Consent != consent {
			t.Errorf("%s: claims %+v", tc.name, c)
		}
		other := tc.want
		other.UserID = "mallory"
		if _, err := v.VerifyJoin(context.Background(), m.UserSig, m.PrivateMapKey, other); err == nil {
			t.Errorf("%s: admits another user", tc.name)
		}
		if tc.want.RoomID != 0 || tc.want.StrRoomID != "" {
			other = tc.want
			other.RoomID, other.StrRoomID = 0, "5"
			if _, err := v.VerifyJoin(context.Background(), m.UserSig, m.PrivateMapKey, other); err == nil {
				t.Errorf("%s: admits another room", tc.name)
			}
		}
	}
}
