package control

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/lethe-rtc/lethe/internal/ratelog"
	"github.com/lethe-rtc/lethe/internal/syncbuf"
)

// edgeError decodes the JSON body of a refusal at the edge.
func edgeError(t *testing.T, resp *http.Response) (code, message string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	b, _ := io.ReadAll(resp.Body)
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return body.Error.Code, body.Error.Message
}

func TestHostGuard(t *testing.T) {
	t.Parallel()
	logs := &syncbuf.Buffer{}
	reached := 0
	hosts, err := ParseHosts(append(DefaultHosts(), "Lethe.Example.", "::1"))
	if err != nil {
		t.Fatal(err)
	}
	g := NewHostGuard(hosts, ratelog.New(slog.New(slog.NewTextHandler(logs, nil)), ratelog.Config{}),
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			reached++
			_, _ = io.WriteString(w, "ok")
		}))
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.1:7880", true},
		{"127.0.0.1:1", true}, // ports are not compared
		{"localhost:7880", true},
		{"LOCALHOST", true},
		{"localhost.:7880", true},
		{"[::1]:7880", true},
		{"[0:0:0:0:0:0:0:1]:7880", true},
		{"[::ffff:127.0.0.1]:7880", true},
		{"lethe.example", true},
		{"evil.example", false},
		{"evil.example:7880", false},
		{"localhost.evil.example", false},
		{"127.0.0.1.nip.io", false},
		{"127.0.0.2", false},
		{"[::1%lo]:7880", false},
		{"localhost:", false},
		{"local host", false},
		{"", false},
	}
	for _, tt := range tests {
		// Through a recorder: an HTTP client would not send some of these.
		req := httptest.NewRequest("GET", "/v1/compliance/attestation", nil)
		req.Host = tt.host
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		resp := rec.Result()
		switch {
		case tt.ok && resp.StatusCode != http.StatusOK:
			t.Errorf("Host %q: %d, want 200", tt.host, resp.StatusCode)
		case !tt.ok && resp.StatusCode != http.StatusMisdirectedRequest:
			t.Errorf("Host %q: %d, want 421", tt.host, resp.StatusCode)
		case !tt.ok:
			if code, msg := edgeError(t, resp); code != "host_not_allowed" || !strings.Contains(msg, "--allowed-hosts") {
				t.Errorf("Host %q: %s %q", tt.host, code, msg)
			}
		}
	}
	refused := uint64(0)
	for _, tt := range tests {
		if !tt.ok {
			refused++
		}
	}
	if g.Refused() != refused || reached != len(tests)-int(refused) {
		t.Errorf("refused %d, reached %d; want %d and %d", g.Refused(), reached, refused, len(tests)-int(refused))
	}
	if n := strings.Count(logs.String(), "host name not allowed"); n != 1 {
		t.Errorf("%d log lines for %d refusals, want 1:\n%s", n, refused, logs.String())
	}
}

// A page on a rebinding name (Host and Origin evil.example) cannot
// upgrade to signaling through the guard: the Origin check alone lets it,
// since Origin matches Host.
func TestHostGuardStopsRebinding(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	hosts, err := ParseHosts(DefaultHosts())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHostGuard(hosts, nil, h.srv))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	evil := http.Header{"Host": {"evil.example:" + itoa(port)}, "Origin": {"http://evil.example:" + itoa(port)}}

	direct, _, err := websocket.DefaultDialer.Dial(h.url, evil)
	if err != nil {
		t.Fatalf("without the guard the rebinding page gets in? %v", err)
	}
	direct.Close()

	ws, resp, err := websocket.DefaultDialer.Dial(url, evil)
	if err == nil {
		ws.Close()
		t.Fatal("rebinding page upgraded through the guard")
	}
	if resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("through the guard: %v %v, want 421", resp, err)
	}
	ok, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"http://127.0.0.1:" + itoa(port)}})
	if err != nil {
		t.Fatalf("own page: %v", err)
	}
	defer ok.Close()
	expectAlive(t, ok, 1)
}

func TestParseHostsRefuses(t *testing.T) {
	t.Parallel()
	for _, hosts := range [][]string{nil, {"localhost:7880"}, {"[::1]:80"}, {""}, {"http://localhost"}, {"a..b"}, {"-a"}, {"fe80::1%eth0"}, {strings.Repeat("a", 254)}} {
		if _, err := ParseHosts(hosts); !errors.Is(err, ErrHost) {
			t.Errorf("%q: err = %v, want ErrHost", hosts, err)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
