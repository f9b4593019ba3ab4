package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func serve(h http.Handler, method, target string, mod func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "127.0.0.1:5555"
	r.Host = "127.0.0.1:7880"
	if mod != nil {
		mod(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerAssets(t *testing.T) {
	h := Handler(Config{Logger: quiet()})
	for _, c := range []struct {
		method, path string
		status       int
		ctype        string
		contains     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script type="module" src="/app.js">`},
		{"HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/lethe.js", 200, "text/javascript; charset=utf-8", "export class Room"},
		{"GET", "/app.js", 200, "text/javascript; charset=utf-8", `from "/lethe.js"`},
		{"GET", "/lethe-e2ee.js", 200, "text/javascript; charset=utf-8", "onrtctransform"},
		{"GET", "/style.css", 200, "text/css; charset=utf-8", ".tile"},
		{"GET", "/config.json", 200, "application/json", `{"dev":false}`},
		{"GET", "/whep.html", 200, "text/html; charset=utf-8", `<script type="module" src="/whep.js">`},
		{"GET", "/whep.js", 200, "text/javascript; charset=utf-8", `fetch("/v1/whep?"`},
		{"GET", "/index.html", 404, "", ""},
		{"GET", "/../web.go", 404, "", ""},
		{"GET", "/v1/dev/token?user=a&room=1", 404, "", ""},
		{"POST", "/", 405, "", ""},
		{"DELETE", "/lethe.js", 405, "", ""},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			w := serve(h, c.method, c.path, nil)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d", w.Code, c.status)
			}
			if c.status != 200 {
				return
			}
			if got := w.Header().Get("Content-Type"); got != c.ctype {
				t.Errorf("Content-Type %q, want %q", got, c.ctype)
			}
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
			if !strings.Contains(w.Body.String(), c.contains) {
				t.Errorf("body lacks %q", c.contains)
			}
		})
	}
}

// fakeMint records what it was asked and returns a fixed token.
type fakeMint struct {
	got   []TokenRequest
	err   error
	token string
}

func (f *fakeMint) mint(_ context.Context, r TokenRequest) (Token, error) {
	f.got = append(f.got, r)
	if f.err != nil {
		return Token{}, f.err
	}
	return Token{SDKAppID: 7, UserID: r.UserID, UserSig: f.token, RoomID: r.RoomID, StrRoomID: r.StrRoomID}, nil
}

func TestDevToken(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		name   string
		method string
		query  string
		mod    func(*http.Request)
		status int
	}{
		{"numeric room", "GET", "user=alice&room=42", nil, 200},
		{"string room", "GET", "user=alice&room=lobby", nil, 200},
		{"localhost name", "GET", "user=alice&room=1", func(r *http.Request) { r.Host = "localhost:7880" }, 200},
		{"ipv6 loopback", "GET", "user=alice&room=1", func(r *http.Request) { r.RemoteAddr = "[::1]:5555"; r.Host = "[::1]:7880" }, 200},
		{"same origin", "GET", "user=alice&room=1", func(r *http.Request) { r.Header.Set("Origin", "http://127.0.0.1:7880") }, 200},
		{"fetch same-origin", "GET", "user=alice&room=1", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin") }, 200},
		{"remote client", "GET", "user=alice&room=1", func(r *http.Request) { r.RemoteAddr = "192.0.2.10:5555" }, 403},
		{"mapped remote client", "GET", "user=alice&room=1", func(r *http.Request) { r.RemoteAddr = "[::ffff:192.0.2.10]:5555" }, 403},
		{"bad remote addr", "GET", "user=alice&room=1", func(r *http.Request) { r.RemoteAddr = "pipe" }, 403},
		{"rebound name", "GET", "user=alice&room=1", func(r *http.Request) { r.Host = "attacker.example:7880" }, 403},
		{"localhost suffix", "GET", "user=alice&room=1", func(r *http.Request) { r.Host = "localhost.attacker.example" }, 403},
		{"public host ip", "GET", "user=alice&room=1", func(r *http.Request) { r.Host = "192.0.2.1:7880" }, 403},
		{"other origin", "GET", "user=alice&room=1", func(r *http.Request) { r.Header.Set("Origin", "http://attacker.example") }, 403},
		{"cross-site fetch", "GET", "user=alice&room=1", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, 403},
		{"no user", "GET", "room=1", nil, 400},
		{"user with space", "GET", "user=a+b&room=1", nil, 400},
		{"user too long", "GET", "user=" + strings.Repeat("u", 65) + "&room=1", nil, 400},
		{"no room", "GET", "user=alice", nil, 400},
		{"room with control", "GET", "user=alice&room=a%01", nil, 400},
		{"post", "POST", "user=alice&room=1", nil, 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeMint{token: "sig"}
			h := Handler(Config{DevToken: f.mint, Logger: quiet(), Now: func() time.Time { return now }})
			w := serve(h, c.method, DevTokenPath+"?"+c.query, c.mod)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body.String())
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Error("dev token answers must not be cached")
			}
			if c.status != 200 {
				if len(f.got) != 0 {
					t.Error("minted a token for a refused request")
				}
				return
			}
			var tok Token
			if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil {
				t.Fatal(err)
			}
			if tok.UserSig != "sig" || tok.UserID != "alice" || tok.ExpiresAt != now.Add(MaxDevTokenTTL).Unix() {
				t.Errorf("token %+v", tok)
			}
			if len(f.got) != 1 || f.got[0].TTL != MaxDevTokenTTL {
				t.Errorf("mint calls %+v", f.got)
			}
		})
	}
}

func TestDevTokenMintFails(t *testing.T) {
	f := &fakeMint{err: errors.New("store closed")}
	h := Handler(Config{DevToken: f.mint, Logger: quiet()})
	if w := serve(h, "GET", DevTokenPath+"?user=alice&room=1", nil); w.Code != 500 {
		t.Fatalf("status %d, want 500", w.Code)
	}
}

func TestDevConfig(t *testing.T) {
	f := &fakeMint{}
	h := Handler(Config{DevToken: f.mint, DevTokenTTL: 10 * time.Minute, Logger: quiet()})
	if w := serve(h, "GET", "/config.json", nil); w.Body.String() != `{"dev":true}` {
		t.Errorf("config.json %q", w.Body.String())
	}
	serve(h, "GET", DevTokenPath+"?user=alice&room=1", nil)
	if len(f.got) != 1 || f.got[0].TTL != 10*time.Minute {
		t.Errorf("mint calls %+v", f.got)
	}
}

func TestParseRoom(t *testing.T) {
	for _, c := range []struct {
		in     string
		num    uint32
		str    string
		failed bool
	}{
		{"1", 1, "", false},
		{"42", 42, "", false},
		{"4294967294", 4294967294, "", false},
		{"4294967295", 0, "4294967295", false},
		{"99999999999", 0, "99999999999", false},
		{"0", 0, "0", false},
		{"042", 0, "042", false},
		{"-1", 0, "-1", false},
		{"lobby", 0, "lobby", false},
		{"12a", 0, "12a", false},
		{"", 0, "", true},
		{"a b", 0, "", true},
		{"\xff", 0, "", true},
		{strings.Repeat("r", 65), 0, "", true},
	} {
		num, str, err := ParseRoom(c.in)
		if (err != nil) != c.failed || num != c.num || str != c.str {
			t.Errorf("ParseRoom(%q) = %d, %q, %v", c.in, num, str, err)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("ParseRoom(%q): %v is not ErrBadName", c.in, err)
		}
	}
}

func FuzzParseRoom(f *testing.F) {
	for _, s := range []string{"1", "4294967294", "4294967295", "0", "042", "lobby", "", "a b", "\xff", "\u00a0", "１２"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		num, str, err := ParseRoom(s)
		if err != nil {
			return
		}
		if (num == 0) == (str == "") {
			t.Fatalf("ParseRoom(%q) = %d, %q: want exactly one", s, num, str)
		}
		if num == 4294967295 {
			t.Fatalf("ParseRoom(%q): room 2^32-1 is not valid", s)
		}
		if str != "" && str != s {
			t.Fatalf("ParseRoom(%q) changed the name to %q", s, str)
		}
	})
}

func FuzzLoopbackHost(f *testing.F) {
	for _, s := range []string{"127.0.0.1:7880", "localhost", "[::1]:80", "[::ffff:127.0.0.1]:1", "evil.example", "127.0.0.1.evil", "[fe80::1%lo]:80", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !loopbackHost(s) {
			return
		}
		h := strings.ToLower(s)
		if !strings.HasPrefix(h, "localhost") && !strings.HasPrefix(h, "127.") && !strings.HasPrefix(h, "[::1]") &&
			h != "::1" && !strings.HasPrefix(h, "[::ffff:127.") && !strings.HasPrefix(h, "::ffff:127.") && !strings.HasPrefix(h, "[0:0:0:0:0:0:0:1]") {
			// Other spellings of loopback literals are fine; names are not.
			if strings.ContainsAny(h, "ghijklmnopqrstuvwxyz") {
				t.Fatalf("loopbackHost(%q) accepted a name", s)
			}
		}
	})
}

// Mount claims only its own paths, so it sits beside method-less
// patterns and leaves other paths' 404 and 405 answers alone.
func TestMount(t *testing.T) {
	for _, dev := range []bool{false, true} {
		mux := http.NewServeMux()
		mux.Handle("/v1/admin/", http.NotFoundHandler())
		mux.HandleFunc("GET /v1/signal", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
		cfg := Config{Logger: quiet()}
		if dev {
			cfg.DevToken = (&fakeMint{token: "sig"}).mint
		}
		Mount(mux, cfg)
		devStatus := 404
		if dev {
			devStatus = 200
		}
		for _, c := range []struct {
			method, path string
			status       int
		}{
			{"GET", "/", 200},
			{"HEAD", "/", 200},
			{"GET", "/lethe.js", 200},
			{"GET", "/config.json", 200},
			{"GET", DevTokenPath + "?user=a&room=1", devStatus},
			{"GET", "/nope", 404},
			{"POST", "/", 405},
			{"POST", "/v1/signal", 405},
			{"GET", "/v1/signal", http.StatusTeapot},
		} {
			if w := serve(mux, c.method, c.path, nil); w.Code != c.status {
				t.Errorf("dev=%v: %s %s: %d, want %d", dev, c.method, c.path, w.Code, c.status)
			}
		}
	}
}
