package adminserver

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lethe-rtc/lethe/admin"
	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/store"
)

func TestValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	apps := "/v1/admin/apps"
	long := func(n int) string { return strings.Repeat("n", n) }
	tags := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = "t" + itoa(uint32(i))
		}
		return s
	}
	big := `{"name":"` + strings.Repeat("a", admin.MaxBodyBytes+1) + `"}`
	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		hdr          []string
		status       int
		code         string
	}{
		// names and tags
		{"name NUL", "POST", apps, map[string]any{"name": "a\x00b"}, nil, 400, admin.CodeInvalidField},
		{"name ESC", "POST", apps, map[string]any{"name": "a\x1b[31mb"}, nil, 400, admin.CodeInvalidField},
		{"name CRLF", "POST", apps, map[string]any{"name": "a\r\nlevel=ERROR"}, nil, 400, admin.CodeInvalidField},
		{"name LF", "POST", apps, map[string]any{"name": "a\nb"}, nil, 400, admin.CodeInvalidField},
		{"name tab", "POST", apps, map[string]any{"name": "a\tb"}, nil, 400, admin.CodeInvalidField},
		{"name DEL", "POST", apps, map[string]any{"name": "a\x7fb"}, nil, 400, admin.CodeInvalidField},
		{"name C1", "POST", apps, map[string]any{"name": "a\u0085b"}, nil, 400, admin.CodeInvalidField},
		{"name line separator", "POST", apps, map[string]any{"name": "a\u2028b"}, nil, 400, admin.CodeInvalidField},
		{"name bidi override", "POST", apps, map[string]any{"name": "a\u202eb"}, nil, 400, admin.CodeInvalidField},
		{"name not UTF-8", "POST", apps, "{\"name\":\"a\xffb\"}", nil, 400, admin.CodeInvalidField},
		{"name escaped CR", "POST", apps, `{"name":"a\rb"}`, nil, 400, admin.CodeInvalidField},
		{"name escaped unicode LF", "POST", apps, `{"name":"a\u000ab"}`, nil, 400, admin.CodeInvalidField},
		{"name empty", "POST", apps, map[string]any{"name": ""}, nil, 400, admin.CodeInvalidField},
		{"name missing", "POST", apps, map[string]any{"tags": []string{}}, nil, 400, admin.CodeInvalidField},
		{"name leading space", "POST", apps, map[string]any{"name": " a"}, nil, 400, admin.CodeInvalidField},
		{"name 65 bytes", "POST", apps, map[string]any{"name": long(admin.MaxNameLen + 1)}, nil, 400, admin.CodeInvalidField},
		{"name 64 bytes of é is 128", "POST", apps, map[string]any{"name": strings.Repeat("é", 33)}, nil, 400, admin.CodeInvalidField},
		{"tag 33 bytes", "POST", apps, map[string]any{"name": "a", "tags": []string{long(admin.MaxTagLen + 1)}}, nil, 400, admin.CodeInvalidField},
		{"17 tags", "POST", apps, map[string]any{"name": "a", "tags": tags(admin.MaxTags + 1)}, nil, 400, admin.CodeInvalidField},
		{"tag CRLF", "POST", apps, map[string]any{"name": "a", "tags": []string{"x\r\ny"}}, nil, 400, admin.CodeInvalidField},
		{"tag empty", "POST", apps, map[string]any{"name": "a", "tags": []string{""}}, nil, 400, admin.CodeInvalidField},
		{"tag duplicate", "POST", apps, map[string]any{"name": "a", "tags": []string{"x", "x"}}, nil, 400, admin.CodeInvalidField},
		{"patch name CRLF", "PATCH", e.appPath(""), map[string]any{"name": "a\r\nb"}, nil, 400, admin.CodeInvalidField},
		{"patch tag LF", "PATCH", e.appPath(""), map[string]any{"tags": []string{"a\nb"}}, nil, 400, admin.CodeInvalidField},
		{"patch 65 bytes", "PATCH", e.appPath(""), map[string]any{"name": long(65)}, nil, 400, admin.CodeInvalidField},
		{"patch nothing", "PATCH", e.appPath(""), map[string]any{}, nil, 400, admin.CodeInvalidField},
		{"policy key lifetime too short", "POST", apps, map[string]any{"name": "a", "policy": map[string]any{"keyLifetimeSeconds": 60}}, nil, 400, admin.CodeInvalidField},
		{"policy ttl zero", "PATCH", e.appPath(""), map[string]any{"policy": map[string]any{"maxTokenTtlSeconds": 0}}, nil, 400, admin.CodeInvalidField},
		{"policy ttl huge", "PATCH", e.appPath(""), map[string]any{"policy": map[string]any{"maxTokenTtlSeconds": int64(1) << 62}}, nil, 400, admin.CodeInvalidField},
		{"policy anchors over participants", "PATCH", e.appPath(""), map[string]any{"policy": map[string]any{"maxAnchorsPerRoom": 5, "maxParticipantsPerRoom": 2}}, nil, 400, admin.CodeInvalidField},
		{"policy negative", "PATCH", e.appPath(""), map[string]any{"policy": map[string]any{"maxParticipantsPerRoom": -1}}, nil, 400, admin.CodeInvalidField},
		{"policy unknown field", "PATCH", e.appPath(""), map[string]any{"policy": map[string]any{"maxRooms": 1}}, nil, 400, admin.CodeUnknownField},

		// user ids and rooms
		{"userId CRLF", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob\r\nx"}, nil, 400, admin.CodeInvalidField},
		{"userId NUL", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob\x00"}, nil, 400, admin.CodeInvalidField},
		{"userId space", "POST", e.appPath("/usersig"), map[string]any{"userId": "bo b"}, nil, 400, admin.CodeInvalidField},
		{"userId 65 bytes", "POST", e.appPath("/usersig"), map[string]any{"userId": long(65)}, nil, 400, admin.CodeInvalidField},
		{"userId missing", "POST", e.appPath("/usersig"), map[string]any{}, nil, 400, admin.CodeInvalidField},
		{"strRoomId LF", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob", "strRoomId": "r\n1"}, nil, 400, admin.CodeInvalidField},
		{"both rooms", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob", "roomId": 1, "strRoomId": "1"}, nil, 400, admin.CodeInvalidField},
		{"roomId too big", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob", "roomId": uint32(4294967295)}, nil, 400, admin.CodeInvalidField},
		{"roomId negative", "POST", e.appPath("/usersig"), `{"userId":"bob","roomId":-1}`, nil, 400, admin.CodeInvalidJSON},
		{"privileges without room", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob", "privileges": 2}, nil, 400, admin.CodeInvalidField},
		{"privileges over 255", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob", "roomId": 1, "privileges": 256}, nil, 400, admin.CodeInvalidField},
		{"unknown format", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob", "format": "paseto"}, nil, 400, admin.CodeInvalidField},
		{"role in tls", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob", "format": "tls", "role": "anchor"}, nil, 400, admin.CodeInvalidField},
		{"unknown role", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob", "role": "admin"}, nil, 400, admin.CodeInvalidField},
		{"consent in tls", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob", "format": "tls", "consent": "adult"}, nil, 400, admin.CodeInvalidField},
		{"unknown consent", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob", "consent": "implied"}, nil, 400, admin.CodeInvalidField},
		{"consent a bool", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob", "consent": true}, nil, 400, admin.CodeInvalidJSON},
		{"policy requireConsent a string", "PATCH", e.appPath(""), map[string]any{"policy": map[string]any{"requireConsent": "yes"}}, nil, 400, admin.CodeInvalidJSON},
		{"negative ttl", "POST", e.appPath("/usersig"), map[string]any{"userId": "bob", "ttlSeconds": -5}, nil, 400, admin.CodeInvalidField},
		{"remove-user CRLF", "POST", e.appPath("/rooms/remove-user"), map[string]any{"roomId": 1, "userId": "a\r\nb"}, nil, 400, admin.CodeInvalidField},
		{"remove-user no room", "POST", e.appPath("/rooms/remove-user"), map[string]any{"userId": "a"}, nil, 400, admin.CodeInvalidField},
		{"dismiss strRoomId CR", "POST", e.appPath("/rooms/dismiss"), map[string]any{"strRoomId": "a\rb"}, nil, 400, admin.CodeInvalidField},
		{"dismiss strRoomId 65", "POST", e.appPath("/rooms/dismiss"), map[string]any{"strRoomId": long(65)}, nil, 400, admin.CodeInvalidField},
		{"block nothing", "POST", e.appPath("/rooms/block"), map[string]any{"roomId": 1, "userId": "a", "blocked": true}, nil, 400, admin.CodeInvalidField},
		{"block without blocked", "POST", e.appPath("/rooms/block"), map[string]any{"roomId": 1, "userId": "a", "audio": true}, nil, 400, admin.CodeInvalidField},

		// bodies
		{"body over 1 MiB", "POST", apps, big, nil, 413, admin.CodeBodyTooLarge},
		{"body over 1 MiB, chunked", "POST", e.appPath("/usersig"), strings.NewReader(big), nil, 413, admin.CodeBodyTooLarge},
		{"1 MiB of trailing space", "POST", apps, `{"name":"a"}` + strings.Repeat(" ", admin.MaxBodyBytes), nil, 413, admin.CodeBodyTooLarge},
		{"malformed JSON", "POST", apps, `{"name":`, nil, 400, admin.CodeInvalidJSON},
		{"not an object", "POST", apps, `["name"]`, nil, 400, admin.CodeInvalidJSON},
		{"wrong type", "POST", apps, `{"name":5}`, nil, 400, admin.CodeInvalidJSON},
		{"trailing data", "POST", apps, `{"name":"a"}{"name":"b"}`, nil, 400, admin.CodeInvalidJSON},
		{"trailing garbage", "POST", apps, `{"name":"a"} x`, nil, 400, admin.CodeInvalidJSON},
		{"empty body", "POST", apps, "", nil, 400, admin.CodeInvalidJSON},
		{"unknown field", "POST", apps, `{"name":"a","owner":"x"}`, nil, 400, admin.CodeUnknownField},
		{"unknown field in usersig", "POST", e.appPath("/usersig"), `{"userId":"a","admin":true}`, nil, 400, admin.CodeUnknownField},
		{"text/plain", "POST", apps, `{"name":"a"}`, []string{"Content-Type", "text/plain"}, 415, admin.CodeUnsupportedMedia},

		// paths
		{"unknown app", "GET", "/v1/admin/apps/1499999999", nil, nil, 404, admin.CodeAppNotFound},
		{"unknown app usersig", "POST", "/v1/admin/apps/1499999999/usersig", map[string]any{"userId": "a"}, nil, 404, admin.CodeAppNotFound},
		{"unknown app rooms", "GET", "/v1/admin/apps/1499999999/rooms", nil, nil, 404, admin.CodeAppNotFound},
		{"app id zero", "GET", "/v1/admin/apps/0", nil, nil, 400, admin.CodeInvalidField},
		{"app id leading zero", "GET", "/v1/admin/apps/01400000001", nil, nil, 400, admin.CodeInvalidField},
		{"app id sign", "GET", "/v1/admin/apps/+1400000001", nil, nil, 400, admin.CodeInvalidField},
		{"app id overflow", "GET", "/v1/admin/apps/4294967296", nil, nil, 400, admin.CodeInvalidField},
		{"app id text", "GET", "/v1/admin/apps/abc", nil, nil, 400, admin.CodeInvalidField},
		{"app id escaped CRLF", "GET", "/v1/admin/apps/1%0d%0a", nil, nil, 400, admin.CodeInvalidField},
		{"kid traversal", "POST", e.appPath("/keys/..%2f..%2fetc/revoke"), nil, nil, 400, admin.CodeInvalidField},
		{"kid SQL", "POST", e.appPath("/keys/'%20OR%201=1--/revoke"), nil, nil, 400, admin.CodeInvalidField},
		{"kid too long", "POST", e.appPath("/keys/" + long(65) + "/revoke"), nil, nil, 400, admin.CodeInvalidField},
		{"unknown kid", "POST", e.appPath("/keys/nope/revoke"), nil, nil, 404, admin.CodeKeyNotFound},
		{"log limit 0", "GET", e.appPath("/log?limit=0"), nil, nil, 400, admin.CodeInvalidField},
		{"log limit huge", "GET", e.appPath("/log?limit=100000"), nil, nil, 400, admin.CodeInvalidField},
	} {
		r := e.do(tc.method, tc.path, tc.body, tc.hdr...)
		if r.status != tc.status || r.code() != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body[:min(len(r.body), 200)], tc.status, tc.code)
		}
	}
	// Nothing invalid reached the store or the rooms.
	for _, l := range e.store.entries() {
		t.Errorf("log entry after invalid requests: %+v", l)
	}
	if c := e.rooms.recorded(); len(c) != 0 {
		t.Errorf("rooms called by invalid requests: %+v", c)
	}
	if apps, _ := e.store.Apps(t.Context()); len(apps) != 1 {
		t.Errorf("%d apps after invalid creates", len(apps))
	}
}

func TestValidText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s      string
		spaces bool
		ok     bool
	}{
		{"demo app", true, true},
		{"démo-アプリ", true, true},
		{"demo app", false, false},
		{"a\u00a0b", false, false}, // NBSP is white space
		{"a\u200fb", true, false},  // RLM
		{"a\u061cb", true, false},  // ALM
		{"a\u2066b", true, false},  // LRI
		{"a\ufffdb", true, false},  // what invalid UTF-8 decodes to
		{"emoji 🎥", true, true},
		{"end ", true, false},
		{strings.Repeat("x", 64), false, true},
		{strings.Repeat("x", 65), false, false},
	} {
		if got := validText(tc.s, 64, tc.spaces); got != tc.ok {
			t.Errorf("validText(%q, %v) = %v, want %v", tc.s, tc.spaces, got, tc.ok)
		}
	}
}

func TestParseAppID(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]uint32{
		"1": 1, "1400000001": 1400000001, "4294967295": 4294967295,
		"": 0, "0": 0, "00": 0, "01": 0, "-1": 0, "+1": 0, " 1": 0, "1 ": 0, "1e3": 0, "0x10": 0,
		"4294967296": 0, "99999999999": 0, "١": 0,
	} {
		got, ok := parseAppID(s)
		if got != want || ok != (want != 0) {
			t.Errorf("parseAppID(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
}

func FuzzParseAppID(f *testing.F) {
	for _, s := range []string{"1", "1400000001", "4294967295", "4294967296", "01", "-1", "+1", "1e3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseAppID(s)
		if ok != (id != 0) {
			t.Fatalf("%q: %d, %v", s, id, ok)
		}
		if ok && itoa(id) != s {
			t.Fatalf("%q parsed to %d: not canonical", s, id)
		}
	})
}

func FuzzValidText(f *testing.F) {
	for _, s := range []string{"demo", "a\r\nb", "a\u2028b", "\xff", " a", "a ", "é", "a\u202eb"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, spaces bool) {
		if !validText(s, 64, spaces) {
			return
		}
		if !utf8.ValidString(s) || len(s) > 64 || strings.ContainsAny(s, "\r\n\x00\x1b\u2028\u2029") {
			t.Fatalf("accepted %q", s)
		}
	})
}

// FuzzCreateApp posts arbitrary bodies: the API answers 201, 400, 413 or
// 415, never 500, and what it stores has no forbidden rune.
func FuzzCreateApp(f *testing.F) {
	for _, s := range []string{
		`{"name":"a"}`, `{"name":"a","tags":["x","y"]}`, `{"name":"a\r\nb"}`, `{"name":"a","policy":{"maxTokenTtlSeconds":60}}`,
		`{"name":"a","x":1}`, `{"name":`, `[]`, `null`, `{"name":"a"} {}`, `{"NAME":"a"}`, "{\"name\":\"\xff\"}",
		`{"name":"a","policy":{"requireConsent":true}}`, `{"name":"a","policy":{"requireConsent":"yes"}}`,
		`{"name":"a","policy":{"requireConsent":null}}`, `{"name":"a","policy":{"requireConsent":1}}`,
	} {
		f.Add([]byte(s))
	}
	s := newFakeStore()
	h, err := NewHandler(Config{Store: s, AdminKey: []byte(testAdminKey),
		RateLimit: RateLimit{PerSecond: 1e9, Burst: 1e9}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest("POST", "/v1/admin/apps", strings.NewReader(string(body)))
		req.RemoteAddr = "127.0.0.1:1"
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(testAdminKey))
		w := &recorder{h: http.Header{}}
		h.ServeHTTP(w, req)
		switch w.status {
		case 201:
			var a admin.AppJSON
			if err := jsonUnmarshal(w.body, &a); err != nil {
				t.Fatal(err)
			}
			for _, text := range append([]string{a.Name}, a.Tags...) {
				for _, r := range text {
					if forbidden(r) {
						t.Fatalf("stored %q", text)
					}
				}
			}
		case 400, 413, 415:
		default:
			t.Fatalf("status %d for %q: %s", w.status, body, w.body)
		}
	})
}

// FuzzMintUserSig posts arbitrary bodies to the mint: the API answers
// 200, 400, 413 or 415, never 500, and a token it mints verifies, for the
// user asked for, with the consent asked for and no other.
func FuzzMintUserSig(f *testing.F) {
	for _, s := range []string{
		`{"userId":"a"}`, `{"userId":"a","consent":"adult"}`, `{"userId":"a","consent":"parental","roomId":5}`,
		`{"userId":"a","consent":"child"}`, `{"userId":"a","consent":true}`, `{"userId":"a","consent":null}`,
		`{"userId":"a","consent":"adult","format":"tls"}`, `{"userId":"a","format":"tls","strRoomId":"r"}`,
		`{"userId":"a","consent":"adult","consent":"parental"}`, `{"userId":"a","CONSENT":"adult"}`,
		`{"userId":"a","role":"audience","consent":"Adult"}`, `{"userId":"a\u0000"}`, `{}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	s := newFakeStore()
	app := s.add("demo", store.StatusActive, testNow.Add(-time.Hour))
	h, err := NewHandler(Config{Store: s, AdminKey: []byte(testAdminKey), Now: func() time.Time { return testNow },
		RateLimit: RateLimit{PerSecond: 1e9, Burst: 1e9}})
	if err != nil {
		f.Fatal(err)
	}
	v := &auth.Verifier{Now: func() time.Time { return testNow }, Keys: auth.KeyLookupFunc(func(ctx context.Context, id uint32) (auth.Ring, error) {
		k, err := s.SigningKey(ctx, id, testNow)
		return auth.Ring{Keys: []auth.Key{k}, MaxTokenTTL: store.MaxMaxTokenTTL}, err
	})}
	path := "/v1/admin/apps/" + itoa(app.SDKAppID) + "/usersig"
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest("POST", path, strings.NewReader(string(body)))
		req.RemoteAddr = "127.0.0.1:1"
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(testAdminKey))
		w := &recorder{h: http.Header{}}
		h.ServeHTTP(w, req)
		switch w.status {
		case 200:
		case 400, 413, 415:
			return
		default:
			t.Fatalf("status %d for %q: %s", w.status, body, w.body)
		}
		var asked admin.UserSigRequest
		if err := jsonUnmarshal(body, &asked); err != nil {
			t.Fatalf("minted for a body that does not decode: %q", body)
		}
		var m admin.UserSigJSON
		if err := jsonUnmarshal(w.body, &m); err != nil {
			t.Fatal(err)
		}
		want := auth.Want{SDKAppID: app.SDKAppID, UserID: asked.UserID, RoomID: asked.RoomID, StrRoomID: asked.StrRoomID}
		c, err := v.VerifyJoin(context.Background(), m.UserSig, m.PrivateMapKey, want)
		if err != nil {
			t.Fatalf("minted token for %q does not verify: %v", body, err)
		}
		if c.Consent != asked.Consent || !auth.ValidConsent(c.Consent) || (m.Format == admin.FormatTLS && c.Consent != "") {
			t.Fatalf("asked %q, the token says consent %q", body, c.Consent)
		}
	})
}

type recorder struct {
	h      http.Header
	status int
	body   []byte
}

func (w *recorder) Header() http.Header { return w.h }
func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	w.body = append(w.body, p...)
	return len(p), nil
}
func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
