package adminserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no store", Config{AdminKey: []byte(testAdminKey)}},
		{"no key", Config{Store: newFakeStore()}},
		{"short key", Config{Store: newFakeStore(), AdminKey: []byte("0123456789abcde")}},
		{"white space key", Config{Store: newFakeStore(), AdminKey: []byte("   \n\t                 \n")}},
	} {
		if _, err := NewHandler(tc.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", tc.name, err)
		}
	}
	if _, err := NewHandler(Config{Store: newFakeStore(), AdminKey: []byte(testAdminKey)}); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}

// userTokens are UserSigs of both formats, signed with a key of the app:
// valid for the SFU, worthless on the admin API.
func userTokens(t *testing.T, e *env) map[string]string {
	t.Helper()
	k, err := e.store.SigningKey(context.Background(), e.app.SDKAppID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	c := auth.Claims{SDKAppID: e.app.SDKAppID, UserID: "alice", IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}
	jwt, err := auth.SignJWT(k, c)
	if err != nil {
		t.Fatal(err)
	}
	tls, err := auth.SignTLS(k, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"jwt": jwt, "tls": tls}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := strings.TrimSpace(testAdminKey)
	toks := userTokens(t, e)
	cases := []struct {
		name string
		auth string // "" sends no Authorization header
	}{
		{"no header", ""},
		{"empty bearer", "Bearer "},
		{"scheme only", "Bearer"},
		{"wrong key", "Bearer " + strings.Repeat("x", len(key))},
		{"key prefix", "Bearer " + key[:len(key)-1]},
		{"key plus a byte", "Bearer " + key + "x"},
		{"two spaces", "Bearer  " + key},
		{"no scheme", key},
		{"basic scheme", "Basic " + key},
		{"user JWT", "Bearer " + toks["jwt"]},
		{"user TLS UserSig", "Bearer " + toks["tls"]},
		{"huge header", "Bearer " + strings.Repeat("k", 4096)},
	}
	routes := []struct{ method, path string }{
		{"GET", "/v1/admin/apps"},
		{"POST", "/v1/admin/apps"},
		{"GET", e.appPath("/keys/current")},
		{"POST", e.appPath("/usersig")},
		{"POST", e.appPath("/rooms/remove-user")},
		{"DELETE", e.appPath("")},        // 405 only after authentication
		{"GET", "/v1/admin/nonexistent"}, // 404 likewise
	}
	for _, tc := range cases {
		for _, rt := range routes {
			r := e.do(rt.method, rt.path, `{"name":"x","userId":"alice","roomId":1}`, "Authorization", tc.auth)
			if r.status != http.StatusUnauthorized || r.code() != admin.CodeUnauthorized {
				t.Errorf("%s: %s %s = %d %s, want 401 unauthorized", tc.name, rt.method, rt.path, r.status, r.code())
			}
			if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("%s: WWW-Authenticate = %q", tc.name, got)
			}
		}
	}
	if l := e.store.entries(); len(l) != 0 {
		t.Errorf("unauthenticated requests reached the store: %v", l)
	}
	if c := e.rooms.recorded(); len(c) != 0 {
		t.Errorf("unauthenticated requests reached the rooms: %v", c)
	}

	// The right key, with either case of the scheme, and also two headers.
	for _, h := range []string{"Bearer " + key, "bearer " + key, "BEARER " + key} {
		if r := e.do("GET", "/v1/admin/apps", nil, "Authorization", h); r.status != http.StatusOK {
			t.Errorf("%q: %d %s", h, r.status, r.body)
		}
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/admin/apps", nil)
	req.Header.Add("Authorization", "Bearer "+key)
	req.Header.Add("Authorization", "Bearer "+key)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("two Authorization headers: %d, want 401", resp.StatusCode)
	}
}

func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/", 404, admin.CodeNotFound, ""},
		{"GET", "/v1/admin/", 404, admin.CodeNotFound, ""},
		{"GET", "/v1/admin/apps/1/unknown", 404, admin.CodeNotFound, ""},
		{"DELETE", "/v1/admin/apps", 405, admin.CodeMethodNotAllowed, "GET, POST, HEAD"},
		{"PUT", e.appPath(""), 405, admin.CodeMethodNotAllowed, "GET, PATCH, HEAD"},
		{"GET", e.appPath("/suspend"), 405, admin.CodeMethodNotAllowed, "POST"},
		{"POST", e.appPath("/keys/current"), 405, admin.CodeMethodNotAllowed, "GET, HEAD"},
		{"GET", e.appPath("/keys/k1/revoke"), 405, admin.CodeMethodNotAllowed, "POST"},
	} {
		r := e.do(tc.method, tc.path, nil)
		if r.status != tc.status || r.code() != tc.code || r.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d %s Allow %q, want %d %s %q", tc.method, tc.path, r.status, r.code(), r.header.Get("Allow"), tc.status, tc.code, tc.allow)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, ct)
		}
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.RateLimit.PerSecond, c.RateLimit.Burst = 0.5, 3 })
	for i := range 3 {
		if r := e.do("GET", "/v1/admin/apps", nil); r.status != http.StatusOK {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := e.do("GET", "/v1/admin/apps", nil)
	if r.status != http.StatusTooManyRequests || r.code() != admin.CodeRateLimited {
		t.Fatalf("4th request: %d %s, want 429", r.status, r.code())
	}
	if got := r.header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (one token at 0.5/s)", got)
	}
	// A bad key is counted apart: it is refused as such, not as over the
	// limit of keyed requests.
	if r := e.do("GET", "/v1/admin/apps", nil, "Authorization", "Bearer nope"); r.status != http.StatusUnauthorized {
		t.Errorf("bad key while keyed requests are limited: %d, want 401", r.status)
	}
	e.clock.Advance(2 * time.Second)
	if r := e.do("GET", "/v1/admin/apps", nil); r.status != http.StatusOK {
		t.Errorf("after Retry-After: %d", r.status)
	}
	if r := e.do("GET", "/v1/admin/apps", nil); r.status != http.StatusTooManyRequests {
		t.Errorf("bucket should be empty again: %d", r.status)
	}
}

// TestWrongKeyFlood: a flood of wrong keys from the operator's own address
// is limited, and logged in two lines and a summary, but the operator's
// requests with the right key go through (issue 11, C3 and C4).
func TestWrongKeyFlood(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.RateLimit = RateLimit{PerSecond: 1, Burst: 2, FailedPerSecond: 100, FailedBurst: 100, FailedPerIPPerSecond: 1, FailedPerIPBurst: 5}
	})
	const flood = 500
	status := map[int]int{}
	for range flood {
		status[e.do("GET", "/v1/admin/apps", nil, "Authorization", "Bearer wrong-key-guess-0123456789").status]++
	}
	if status[401] != 5 || status[429] != flood-5 {
		t.Fatalf("flood answered %v, want 5 × 401 and the rest 429", status)
	}
	// Still within the same instant: the right key is not refused.
	for i := range 2 {
		if r := e.do("GET", "/v1/admin/apps", nil); r.status != http.StatusOK {
			t.Fatalf("correct request %d during the flood: %d %s", i, r.status, r.body)
		}
	}
	if r := e.do("GET", "/v1/admin/apps", nil, "Authorization", "Bearer nope"); r.status != http.StatusTooManyRequests {
		t.Errorf("the flood's bucket refilled: %d", r.status)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "admin request refused"); n != 2 {
		t.Errorf("%d refusal lines for %d refusals, want 2 (one per kind):\n%s", n, flood+1, logs)
	}
	// A minute later the next refusal brings the counts.
	e.clock.Advance(time.Minute)
	e.do("GET", "/v1/admin/apps", nil, "Authorization", "Bearer nope")
	logs = e.logs.String()
	for _, want := range []string{
		`msg="admin request refused: no valid admin key" repeated=4 in=1m0s`,
		fmt.Sprintf(`msg="admin request refused: over the limit of failed authentications" repeated=%d in=1m0s`, flood-5),
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks the summary %q:\n%s", want, logs)
		}
	}
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	now := testNow
	t.Run("keyed", func(t *testing.T) {
		l := newLimiter(RateLimit{PerSecond: 1, Burst: 2})
		for i := range 2 {
			if ok, _ := l.allowKeyed(now); !ok {
				t.Fatalf("request %d refused", i)
			}
		}
		ok, wait := l.allowKeyed(now)
		if ok || wait != time.Second {
			t.Fatalf("third: ok=%v wait=%v, want refused for 1s", ok, wait)
		}
		// Failures draw on buckets of their own.
		if ok, _ := l.allowFailed("127.0.0.1:1", now); !ok {
			t.Fatal("a failure refused because keyed requests are limited")
		}
	})
	t.Run("failed, global", func(t *testing.T) {
		l := newLimiter(RateLimit{FailedPerSecond: 1, FailedBurst: 2, FailedPerIPPerSecond: 100, FailedPerIPBurst: 100})
		for i, addr := range []string{"127.0.0.1:1", "127.0.0.2:1"} {
			if ok, _ := l.allowFailed(addr, now); !ok {
				t.Fatalf("request %d refused", i)
			}
		}
		ok, wait := l.allowFailed("127.0.0.3:1", now)
		if ok || wait != time.Second {
			t.Fatalf("third address: ok=%v wait=%v, want refused for 1s", ok, wait)
		}
		if got := l.keyed.TokensAt(now); got != DefaultBurst {
			t.Errorf("keyed tokens %v, want all %d", got, DefaultBurst)
		}
	})
	t.Run("failed, per IP, ports do not matter", func(t *testing.T) {
		l := newLimiter(RateLimit{FailedPerSecond: 100, FailedBurst: 100, FailedPerIPPerSecond: 1, FailedPerIPBurst: 1})
		if ok, _ := l.allowFailed("127.0.0.1:1000", now); !ok {
			t.Fatal("first refused")
		}
		if ok, _ := l.allowFailed("127.0.0.1:2000", now); ok {
			t.Fatal("same IP, other port: allowed")
		}
		if ok, _ := l.allowFailed("[::1]:1000", now); !ok {
			t.Fatal("other IP refused")
		}
		// A refused request took no global token.
		if got := l.failed.TokensAt(now); got != 98 {
			t.Errorf("global tokens %v, want 98", got)
		}
	})
	t.Run("table bounded", func(t *testing.T) {
		l := newLimiter(RateLimit{FailedPerSecond: 1e6, FailedBurst: 1e6, FailedPerIPPerSecond: 1, FailedPerIPBurst: 1, MaxIPs: 4})
		for i := range 4 {
			l.allowFailed(fmt.Sprintf("127.0.0.%d:1", i+1), now)
		}
		// New addresses share the overflow bucket while the table is full...
		if ok, _ := l.allowFailed("127.0.1.1:1", now); !ok {
			t.Fatal("overflow: first refused")
		}
		if ok, _ := l.allowFailed("127.0.1.2:1", now); ok {
			t.Fatal("overflow: second allowed")
		}
		if len(l.ips) != 4 {
			t.Fatalf("%d entries, want 4", len(l.ips))
		}
		// ...until idle entries are forgotten.
		if ok, _ := l.allowFailed("127.0.1.3:1", now.Add(ipIdle)); !ok {
			t.Fatal("after idle: refused")
		}
		if len(l.ips) != 1 {
			t.Fatalf("%d entries after the sweep, want 1", len(l.ips))
		}
	})
}

// TestLogsHoldNoSecrets drives every kind of request, including failures,
// with canary values and checks that the log has the route, status and app
// but none of the admin key, key secrets, tokens, user ids or room names.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const (
		user    = "canary-user-7f3a"
		strRoom = "canary-room-91be"
	)
	e.rooms.RoomsFunc = func(context.Context, uint32) ([]RoomInfo, error) {
		return []RoomInfo{{Room: RoomRef{StrRoomID: strRoom}, Participants: []ParticipantInfo{{ParticipantID: "p1", UserID: user, Role: "anchor"}}}}, nil
	}
	e.rooms.BlockFunc = func(_ context.Context, _ uint32, room RoomRef, userID string, _, _, _ bool) error {
		return fmt.Errorf("controller broke while blocking %s in %s", userID, room.StrRoomID)
	}
	var secrets []string
	add := func(r reply, fields ...string) {
		var m map[string]any
		_ = jsonUnmarshal(r.body, &m)
		for _, f := range fields {
			if s, _ := m[f].(string); s != "" {
				secrets = append(secrets, s)
			} else {
				t.Errorf("reply has no %s: %s", f, r.body)
			}
		}
	}
	add(e.do("GET", e.appPath("/keys/current"), nil), "secret", "secretBase64")
	add(e.do("POST", e.appPath("/usersig"), map[string]any{"userId": user, "strRoomId": strRoom}), "userSig")
	add(e.do("POST", e.appPath("/usersig"), map[string]any{"userId": user, "format": "tls", "strRoomId": strRoom}), "userSig", "privateMapKey")
	toks := userTokens(t, e)
	e.do("GET", "/v1/admin/apps", nil, "Authorization", "Bearer "+toks["jwt"])
	e.do("GET", e.appPath("/rooms"), nil)
	e.do("POST", e.appPath("/rooms/remove-user"), map[string]any{"strRoomId": strRoom, "userId": user})
	if r := e.do("POST", e.appPath("/rooms/block"), map[string]any{"strRoomId": strRoom, "userId": user, "audio": true, "blocked": true}); r.status != 500 {
		t.Errorf("block with a broken controller: %d", r.status)
	}
	e.do("POST", e.appPath("/usersig"), map[string]any{"userId": user + "\r\nforged=1"})

	logs := e.logs.String()
	secrets = append(secrets, strings.TrimSpace(testAdminKey), user, strRoom, toks["jwt"], toks["tls"], "forged")
	for _, s := range secrets {
		for _, part := range []string{s, s[:min(len(s), 16)]} {
			if strings.Contains(logs, part) {
				t.Errorf("log holds %q:\n%s", part, logs)
			}
		}
	}
	for _, want := range []string{
		"route=\"POST /v1/admin/apps/{app}/usersig\"", "status=200", "app=" + itoa(e.app.SDKAppID),
		"status=401", "status=500", "[redacted]", "controller broke",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestAppendLogFailureWithholdsSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store.AppendLogFunc = func(context.Context, uint32, Operation, time.Time) error {
		return errors.New("disk full")
	}
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", e.appPath("/keys/current"), nil},
		{"POST", e.appPath("/usersig"), map[string]any{"userId": "alice"}},
		{"GET", e.appPath("/keys"), nil},
		{"GET", e.appPath("/rooms"), nil},
		{"GET", e.appPath("/log"), nil},
		{"GET", e.appPath(""), nil},
	} {
		r := e.do(tc.method, tc.path, tc.body)
		if r.status != http.StatusInternalServerError || r.code() != admin.CodeInternal {
			t.Errorf("%s %s: %d %s, want 500", tc.method, tc.path, r.status, r.body)
		}
		for _, s := range []string{"secret", "userSig", "keys", "rooms", "entries", "sdkAppId"} {
			if strings.Contains(string(r.body), s) {
				t.Errorf("%s %s: reply holds %q: %s", tc.method, tc.path, s, r.body)
			}
		}
	}
	if c := e.rooms.recorded(); len(c) != 0 {
		t.Errorf("rooms listed without a log entry: %v", c)
	}
}

func TestCommonHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, path := range []string{e.appPath("/keys/current"), "/v1/admin/nope"} {
		r := e.do("GET", path, nil)
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, r.header)
		}
	}
	r := e.do("GET", "/v1/admin/apps", nil, "Authorization", "")
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("401: headers %v", r.header)
	}
}

func BenchmarkGetApp(b *testing.B) {
	s := newFakeStore()
	a := s.add("bench", store.StatusActive, testNow)
	h, err := NewHandler(Config{Store: s, AdminKey: []byte(testAdminKey),
		RateLimit: RateLimit{PerSecond: 1e9, Burst: 1e9}})
	if err != nil {
		b.Fatal(err)
	}
	s.AppendLogFunc = func(context.Context, uint32, Operation, time.Time) error { return nil }
	req, _ := http.NewRequest("GET", "/v1/admin/apps/"+itoa(a.SDKAppID), nil)
	req.RemoteAddr = "127.0.0.1:1234"
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(testAdminKey))
	b.ReportAllocs()
	for b.Loop() {
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatal(w.status)
		}
	}
}

type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
