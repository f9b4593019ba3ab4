package adminserver

import (
	"bytes"
	"encoding/json"
	"github.com/lethe-rtc/lethe/internal/testclock"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/syncbuf"
	"github.com/lethe-rtc/lethe/store"
)

// testAdminKey is the admin key of every test server, as read from the
// file (with its newline).
const testAdminKey = "Zm9yLXRlc3RzLW9ubHktYWRtaW4ta2V5LTAxMjM0NTY3\n"

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// env is an admin API on an httptest server on 127.0.0.1, with fakes.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	store *fakeStore
	rooms *fakeRooms
	clock *testclock.Clock
	logs  *syncbuf.Buffer
	app   App // an active app with one key
}

func newEnv(t *testing.T, opts ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, store: newFakeStore(), rooms: &fakeRooms{}, clock: testclock.New(testNow), logs: &syncbuf.Buffer{}}
	e.app = e.store.add("demo", store.StatusActive, testNow.Add(-time.Hour))
	cfg := Config{
		Store:     e.store,
		Rooms:     e.rooms,
		AdminKey:  []byte(testAdminKey),
		Now:       e.clock.Now,
		Logger:    slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RateLimit: RateLimit{PerSecond: 1e6, Burst: 1e6, FailedPerSecond: 1e6, FailedBurst: 1e6, FailedPerIPPerSecond: 1e6, FailedPerIPBurst: 1e6},
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// reply is an HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// code is the error code of an error reply, or "".
func (r reply) code() string {
	var eb errorBody
	_ = json.Unmarshal(r.body, &eb)
	return eb.Error.Code
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("reply %d %q: %v", r.status, r.body, err)
	}
}

// do sends a request with the admin key. body is sent as is if a string or
// []byte, as JSON otherwise, and not at all if nil. hdr are header
// name/value pairs; an "Authorization" pair replaces the admin key ("" to
// send none).
func (e *env) do(method, path string, body any, hdr ...string) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader: // of unknown length: sent chunked
		rd = io.MultiReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(testAdminKey))
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// appPath is /v1/admin/apps/<the env's app><suffix>.
func (e *env) appPath(suffix string) string {
	return "/v1/admin/apps/" + itoa(e.app.SDKAppID) + suffix
}

func itoa(id uint32) string {
	b, _ := json.Marshal(id)
	return string(b)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
