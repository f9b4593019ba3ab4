package control

import (
	"errors"
	"github.com/lethe-rtc/lethe/internal/testclock"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lethe-rtc/lethe/internal/ratelog"
	"github.com/lethe-rtc/lethe/internal/syncbuf"
	"github.com/lethe-rtc/lethe/signaling"
)

// expectCloseCode reads until the server closes the connection and checks
// the status of its close frame.
func expectCloseCode(t *testing.T, ws *websocket.Conn, code int) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	_, raw, err := ws.ReadMessage()
	if err == nil {
		t.Fatalf("got %s, want the connection closed", raw)
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("read: %v, want close status %d", err, code)
	}
}

// A text frame that is not UTF-8 fails the connection with close status
// 1007 (RFC 6455 8.1), after an error and a bye; before a join or after.
func TestServerInvalidUTF8(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	frames := map[string]string{
		"not JSON":           "\x00\xff\x01",
		"inside a JSON text": `{"type":"ping","id":4,"data":{"x":"` + "\xc3\x28" + `"}}`,
		"truncated rune":     `{"type":"ping","id":5}` + "\xe2\x82",
	}
	for name, frame := range frames {
		t.Run(name+", before join", func(t *testing.T) {
			t.Parallel()
			ws := h.dial(t, nil)
			send(t, ws, frame)
			e := expectError(t, ws, 0, signaling.CodeBadMessage)
			if !strings.Contains(e.Message, "UTF-8") {
				t.Errorf("error message %q does not say UTF-8", e.Message)
			}
			expectBye(t, ws, signaling.CodeBadMessage)
			expectCloseCode(t, ws, websocket.CloseInvalidFramePayloadData)
		})
	}
	t.Run("after join", func(t *testing.T) {
		h := newHarness(t, nil)
		ws, op := h.joined(t)
		send(t, ws, "\xff")
		for { // the worker's messages (none here) may come first
			env := read(t, ws)
			if env.Type == signaling.TypeError {
				break
			}
		}
		expectBye(t, ws, signaling.CodeBadMessage)
		expectCloseCode(t, ws, websocket.CloseInvalidFramePayloadData)
		select {
		case <-op.closed:
		case <-time.After(wait):
			t.Fatal("the session was not closed")
		}
		select {
		case raw := <-op.sent:
			t.Fatalf("the invalid frame reached the session: %q", raw)
		default:
		}
	})
}

// dialFrom dials h from the loopback address local (127.0.0.0/8 is all
// this machine's), so the server counts it under that address.
func dialFrom(h *harness, local string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}).DialContext}
	return d.Dial(h.url, nil)
}

// waitOpen waits until the server counts n connections.
func waitOpen(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for s.Stats().Open != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", s.Stats().Open, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Connections beyond the caps, per address and in total, are refused with
// 503 before the upgrade, counted, and logged once; a closed connection
// frees its place.
func TestServerConnectionCaps(t *testing.T) {
	t.Parallel()
	logs := &syncbuf.Buffer{}
	h := newHarness(t, func(c *ServerConfig) {
		c.MaxConnections, c.MaxConnectionsPerIP = 3, 2
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	var first *websocket.Conn
	for i := range 2 {
		ws, _, err := dialFrom(h, "127.0.0.1")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer ws.Close()
		first = ws
	}
	for range 5 {
		ws, resp, err := dialFrom(h, "127.0.0.1")
		if err == nil {
			ws.Close()
			t.Fatal("a third connection from one address was accepted")
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("third connection: %v %v, want 503", resp, err)
		}
		if code, msg := edgeError(t, resp); code != "too_many_connections_from_address" || !strings.Contains(msg, "2") {
			t.Errorf("per-address refusal: %s %q", code, msg)
		}
	}
	// Another address still gets in, up to the total.
	other, _, err := dialFrom(h, "127.0.0.2")
	if err != nil {
		t.Fatalf("other address: %v", err)
	}
	defer other.Close()
	expectAlive(t, other, 1)
	ws, resp, err := dialFrom(h, "127.0.0.3")
	if err == nil {
		ws.Close()
		t.Fatal("a connection beyond the total was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("beyond the total: %v %v, want 503", resp, err)
	}
	if code, _ := edgeError(t, resp); code != "too_many_connections" {
		t.Errorf("total refusal: %s", code)
	}
	if st := h.srv.Stats(); st.Open != 3 || st.RefusedPerIPCap != 5 || st.RefusedTotalCap != 1 {
		t.Errorf("stats %+v, want 3 open, 5 refused per address, 1 in total", st)
	}
	if n := strings.Count(logs.String(), "address at its maximum"); n != 1 {
		t.Errorf("%d log lines for 5 per-address refusals, want 1:\n%s", n, logs.String())
	}

	// Closing one frees its place.
	_ = first.Close()
	waitOpen(t, h.srv, 2)
	again, _, err := dialFrom(h, "127.0.0.1")
	if err != nil {
		t.Fatalf("after a close: %v", err)
	}
	defer again.Close()
	expectAlive(t, again, 2)
}

// A connection the upgrade refuses (here: its origin) gives its place back.
func TestServerCapsCountOnlyUpgraded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *ServerConfig) { c.MaxConnectionsPerIP = 1 })
	hdr := http.Header{"Origin": {"https://evil.example"}}
	for range 3 {
		if ws, _, err := websocket.DefaultDialer.Dial(h.url, hdr); err == nil {
			ws.Close()
			t.Fatal("bad origin accepted")
		}
	}
	waitOpen(t, h.srv, 0)
	ws := h.dial(t, nil)
	expectAlive(t, ws, 1)
}

// The edge's warnings about misbehaving clients are rate limited: a client
// repeating one offence writes one line; the summary counts the rest.
func TestServerDiagnosticsRateLimited(t *testing.T) {
	t.Parallel()
	logs := &syncbuf.Buffer{}
	clk := testclock.New(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	log := slog.New(slog.NewTextHandler(logs, nil))
	h := newHarness(t, func(c *ServerConfig) {
		c.Logger = log
		c.Diagnostics = ratelog.New(log, ratelog.Config{Now: clk.Now})
	})
	ws := h.dial(t, nil)
	for i := range 30 {
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte("x")); err != nil {
			t.Fatal(err)
		}
		expectError(t, ws, 0, signaling.CodeBadMessage)
		send(t, ws, strings.Repeat("y", signaling.MaxMessageSize+1))
		expectError(t, ws, 0, signaling.CodeTooLarge)
		if i%10 == 0 {
			bad, _, err := websocket.DefaultDialer.Dial(h.url, http.Header{"Origin": {"https://evil.example"}})
			if err == nil {
				bad.Close()
				t.Fatal("bad origin accepted")
			}
		}
	}
	out := logs.String()
	for _, kind := range []string{"binary frame ignored", "over the size limit", "origin not allowed"} {
		if n := strings.Count(out, kind); n != 1 {
			t.Errorf("%q: %d lines, want 1:\n%s", kind, n, out)
		}
	}
	clk.Advance(time.Minute)
	h.srv.diag.Flush()
	out = logs.String()
	for _, want := range []string{
		`msg="signaling binary frame ignored" repeated=29`,
		`msg="signaling message dropped: over the size limit" repeated=29`,
		`msg="signaling connection refused: origin not allowed (--allowed-origins)" repeated=2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "yyyy") {
		t.Error("the log holds a client's message")
	}
}
