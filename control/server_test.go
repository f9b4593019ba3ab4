package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/lethe-rtc/lethe/signaling"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lethe-rtc/lethe/auth"
)

// wait bounds every wait in these tests. It is generous: nothing here
// asserts timing, it only keeps a broken test from hanging.
const wait = 10 * time.Second

// fakeVerifier is a Verifier whose behaviour the test sets.
type fakeVerifier struct {
	VerifyJoinFunc          func(ctx context.Context, userSig, privateMapKey string, want auth.Want) (auth.Claims, error)
	VerifyPrivateMapKeyFunc func(ctx context.Context, token string, want auth.Want) (auth.Claims, error)
}

func (f *fakeVerifier) VerifyJoin(ctx context.Context, userSig, privateMapKey string, want auth.Want) (auth.Claims, error) {
	return f.VerifyJoinFunc(ctx, userSig, privateMapKey, want)
}

func (f *fakeVerifier) VerifyPrivateMapKey(ctx context.Context, token string, want auth.Want) (auth.Claims, error) {
	return f.VerifyPrivateMapKeyFunc(ctx, token, want)
}

// fakeBackend is a Backend whose behaviour the test sets.
type fakeBackend struct {
	OpenFunc func(o signaling.Open, sink Sink) (Session, error)
}

func (f *fakeBackend) Open(o signaling.Open, sink Sink) (Session, error) { return f.OpenFunc(o, sink) }

// fakeSession is a Session whose behaviour the test sets.
type fakeSession struct {
	SendFunc    func(raw []byte) error
	ControlFunc func(c signaling.Control) error
	CloseFunc   func()
}

func (f *fakeSession) Send(raw []byte) error             { return f.SendFunc(raw) }
func (f *fakeSession) Control(c signaling.Control) error { return f.ControlFunc(c) }
func (f *fakeSession) Close()                            { f.CloseFunc() }

var (
	_ Verifier = (*fakeVerifier)(nil)
	_ Backend  = (*fakeBackend)(nil)
	_ Session  = (*fakeSession)(nil)
)

type authErr struct {
	token string
	err   error
	code  signaling.Code
}

// authErrs maps test tokens to the sentinel the fake verifier returns.
var authErrs = []authErr{
	{"tok-malformed", auth.ErrMalformed, signaling.CodeTokenMalformed},
	{"tok-signature", auth.ErrSignature, signaling.CodeTokenSignature},
	{"tok-expired", auth.ErrExpired, signaling.CodeTokenExpired},
	{"tok-unknown-app", auth.ErrUnknownApp, signaling.CodeUnknownApp},
	{"tok-user", auth.ErrUserMismatch, signaling.CodeUserMismatch},
	{"tok-room", auth.ErrRoomMismatch, signaling.CodeRoomMismatch},
	{"tok-unknown-key", auth.ErrUnknownKey, signaling.CodeUnknownKey},
	{"tok-lifetime", auth.ErrLifetime, signaling.CodeTokenLifetime},
	{"tok-pmk-required", auth.ErrPrivateMapKeyRequired, signaling.CodePrivateMapKeyRequired},
}

// tokenClaims gives the fake verifier's answer for a token: tokens
// starting with "good" pass with every privilege unless they name one
// to drop ("good-noenter", "good-nocreate") or an audience-only role
// ("good-audience"); the tokens of authErrs fail with their sentinel,
// wrapped as auth does; any other token fails as a broken key store would.
func tokenClaims(token string, want auth.Want) (auth.Claims, error) {
	if strings.HasPrefix(token, "good") {
		c := auth.Claims{SDKAppID: want.SDKAppID, UserID: want.UserID, Privileges: auth.PrivAll,
			ExpiresAt: time.Now().Add(time.Hour)}
		switch {
		case strings.HasPrefix(token, "good-noenter"):
			c.Privileges &^= auth.PrivEnter
		case strings.HasPrefix(token, "good-nocreate"):
			c.Privileges &^= auth.PrivCreateRoom
		case strings.HasPrefix(token, "good-audience"):
			c.Role = string(signaling.RoleAudience)
		case strings.HasPrefix(token, "good-recv-only"):
			c.Privileges = auth.PrivEnter | auth.PrivCreateRoom | auth.PrivRecvAudio | auth.PrivRecvVideo
		}
		return c, nil
	}
	for _, e := range authErrs {
		if token == e.token+"-"+secret {
			return auth.Claims{}, fmt.Errorf("verify: %w", e.err)
		}
	}
	return auth.Claims{}, errors.New("key store unavailable")
}

// tokenVerifier is a fakeVerifier answering with tokenClaims. Each
// VerifyJoin's want is sent on wants when it is not nil.
func tokenVerifier(wants chan<- auth.Want) *fakeVerifier {
	return &fakeVerifier{
		VerifyJoinFunc: func(_ context.Context, userSig, pmk string, want auth.Want) (auth.Claims, error) {
			select {
			case wants <- want: // nil or full: not recorded
			default:
			}
			c, err := tokenClaims(userSig, want)
			if err == nil && pmk != "" {
				pm, err := tokenClaims(pmk, want)
				if err != nil {
					return auth.Claims{}, fmt.Errorf("privateMapKey: %w", err)
				}
				c.Privileges &= pm.Privileges
			}
			return c, err
		},
		VerifyPrivateMapKeyFunc: func(_ context.Context, token string, want auth.Want) (auth.Claims, error) {
			return tokenClaims(token, want)
		},
	}
}

// opened is one Backend.Open the server made, with what its session saw.
type opened struct {
	open     signaling.Open
	sink     Sink
	sent     chan []byte            // every Session.Send, in order
	controls chan signaling.Control // every Session.Control, in order
	closed   chan struct{}          // closed by Session.Close
}

type harness struct {
	srv   *Server
	hs    *httptest.Server
	url   string
	opens chan *opened
	wants chan auth.Want
}

// newHarness serves a Server with a token verifier and a recording backend
// on 127.0.0.1. mod may change the config before the server is made.
func newHarness(t *testing.T, mod func(*ServerConfig)) *harness {
	t.Helper()
	h := &harness{opens: make(chan *opened, 16), wants: make(chan auth.Want, 16)}
	cfg := ServerConfig{
		Verifier: tokenVerifier(h.wants),
		Backend: &fakeBackend{OpenFunc: func(o signaling.Open, sink Sink) (Session, error) {
			op := &opened{open: o, sink: sink, sent: make(chan []byte, 64), controls: make(chan signaling.Control, 16), closed: make(chan struct{})}
			var once sync.Once
			sess := &fakeSession{
				SendFunc: func(raw []byte) error {
					op.sent <- append([]byte(nil), raw...)
					return nil
				},
				ControlFunc: func(c signaling.Control) error {
					op.controls <- c
					return nil
				},
				CloseFunc: func() { once.Do(func() { close(op.closed) }) },
			}
			h.opens <- op
			return sess, nil
		}},
	}
	if mod != nil {
		mod(&cfg)
	}
	h.srv = NewServer(cfg)
	h.hs = httptest.NewServer(h.srv)
	h.url = "ws" + strings.TrimPrefix(h.hs.URL, "http")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		h.hs.Close()
	})
	return h
}

// dial connects a client; it is closed when the test ends.
func (h *harness) dial(t *testing.T, hdr http.Header) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(h.url, hdr)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func (h *harness) nextOpen(t *testing.T) *opened {
	t.Helper()
	select {
	case op := <-h.opens:
		return op
	case <-time.After(wait):
		t.Fatal("Backend.Open was not called")
		return nil
	}
}

func (h *harness) noOpen(t *testing.T) {
	t.Helper()
	select {
	case op := <-h.opens:
		t.Fatalf("Backend.Open was called with %+v", op.open)
	default:
	}
}

func send(t *testing.T, ws *websocket.Conn, raw string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(raw)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func read(t *testing.T, ws *websocket.Conn) signaling.Envelope {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	_, raw, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var env signaling.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("server sent %q: %v", raw, err)
	}
	return env
}

func expectType(t *testing.T, ws *websocket.Conn, typ string, id uint64) signaling.Envelope {
	t.Helper()
	env := read(t, ws)
	if env.Type != typ || env.ID != id {
		t.Fatalf("got %s id %d (%s), want %s id %d", env.Type, env.ID, env.Data, typ, id)
	}
	return env
}

func expectError(t *testing.T, ws *websocket.Conn, id uint64, code signaling.Code) signaling.Error {
	t.Helper()
	env := expectType(t, ws, signaling.TypeError, id)
	var e signaling.Error
	if err := json.Unmarshal(env.Data, &e); err != nil || e.Code != code {
		t.Fatalf("error %s, want code %d", env.Data, code)
	}
	if strings.Contains(e.Message, secret) {
		t.Fatalf("error message %q echoes a secret", e.Message)
	}
	return e
}

func expectBye(t *testing.T, ws *websocket.Conn, code signaling.Code) {
	t.Helper()
	env := expectType(t, ws, signaling.TypeBye, 0)
	var b signaling.Bye
	if err := json.Unmarshal(env.Data, &b); err != nil || b.Code != code {
		t.Fatalf("bye %s, want code %d", env.Data, code)
	}
}

// expectClosed checks that the server has closed the connection.
func expectClosed(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	_, raw, err := ws.ReadMessage()
	if err == nil {
		t.Fatalf("got %s, want the connection closed", raw)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection still open")
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code != websocket.CloseNormalClosure {
		t.Fatalf("close code %d, want %d", ce.Code, websocket.CloseNormalClosure)
	}
}

// expectAlive checks that the connection still answers a ping.
func expectAlive(t *testing.T, ws *websocket.Conn, id uint64) {
	t.Helper()
	send(t, ws, msg(signaling.TypePing, id, nil))
	expectType(t, ws, signaling.TypePong, id)
}

func joinMsg(id uint64, mod func(map[string]any)) string {
	return msg(signaling.TypeJoin, id, joinData(func(d map[string]any) {
		d["userSig"] = "good-" + secret
		if mod != nil {
			mod(d)
		}
	}))
}

// joined dials and joins; it returns once the Backend has opened the session.
func (h *harness) joined(t *testing.T) (*websocket.Conn, *opened) {
	t.Helper()
	ws := h.dial(t, nil)
	send(t, ws, joinMsg(1, nil))
	return ws, h.nextOpen(t)
}

func TestServerOrigin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *ServerConfig) { c.AllowedOrigins = []string{"https://app.example"} })
	self := "http://" + h.hs.Listener.Addr().String()
	tests := []struct {
		name   string
		origin string
		ok     bool
	}{
		{"no origin", "", true},
		{"same host", self, true},
		{"same host other scheme", "https://" + h.hs.Listener.Addr().String(), true},
		{"allow-listed", "https://app.example", true},
		{"other origin", "https://evil.example", false},
		{"allow-listed host other scheme", "http://app.example", false},
		{"same address other port", "http://127.0.0.1:1", false},
		{"suffix of own host", self + ".evil.example", false},
		{"null", "null", false},
		{"unparsable", "http://[::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{}
			if tt.origin != "" {
				hdr.Set("Origin", tt.origin)
			}
			ws, resp, err := websocket.DefaultDialer.Dial(h.url, hdr)
			if tt.ok {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				defer ws.Close()
				expectAlive(t, ws, 1)
				return
			}
			if err == nil {
				_ = ws.Close()
				t.Fatal("connected, want 403")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("response %v, err %v; want 403", resp, err)
			}
			_ = resp.Body.Close()
		})
	}
}

// TestServerBeforeJoin covers what a client may and may not do before it
// has joined; in every case but leave the connection stays usable.
func TestServerBeforeJoin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := []struct {
		name   string
		in     string
		id     uint64
		code   signaling.Code // 0: pong
		binary bool
	}{
		{"ping", msg(signaling.TypePing, 5, nil), 5, 0, false},
		{"offer", msg(signaling.TypeOffer, 6, signaling.SDP{Target: signaling.TargetPublisher, SDP: "v=0"}), 6, signaling.CodeWrongState, false},
		{"subscribe", msg(signaling.TypeSubscribe, 7, signaling.TrackIDs{TrackIDs: []string{"t"}}), 7, signaling.CodeWrongState, false},
		{"candidate", msg(signaling.TypeCandidate, 0, `{"target":"publisher","candidate":null}`), 0, signaling.CodeWrongState, false},
		{"malformed JSON", `{"type":"ping"`, 0, signaling.CodeBadMessage, false},
		{"unknown type", msg("publish", 8, nil), 8, signaling.CodeUnknownType, false},
		{"invalid field", msg(signaling.TypeJoin, 9, joinData(func(d map[string]any) { d["userId"] = "a b" })), 9, signaling.CodeInvalidField, false},
		{"70 KiB", msg(signaling.TypePing, 11, map[string]string{"pad": strings.Repeat("x", 70<<10)}), 0, signaling.CodeTooLarge, false},
		{"switchRole", msg(signaling.TypeSwitchRole, 12, signaling.SwitchRole{Role: signaling.RoleAudience}), 12, signaling.CodeWrongState, false},
		{"binary frame", msg(signaling.TypePing, 13, nil), 0, signaling.CodeBadMessage, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := h.dial(t, nil)
			kind := websocket.TextMessage
			if tt.binary {
				kind = websocket.BinaryMessage
			}
			if err := ws.WriteMessage(kind, []byte(tt.in)); err != nil {
				t.Fatal(err)
			}
			if tt.code == 0 {
				expectType(t, ws, signaling.TypePong, tt.id)
			} else {
				expectError(t, ws, tt.id, tt.code)
			}
			expectAlive(t, ws, 99)
		})
	}
	h.noOpen(t)
}

func TestServerLeaveBeforeJoin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ws := h.dial(t, nil)
	send(t, ws, msg(signaling.TypeLeave, 3, nil))
	expectType(t, ws, signaling.TypeAck, 3)
	expectBye(t, ws, signaling.CodeOK)
	expectClosed(t, ws)
}

// TestServerTooLargeRepeatedly sends oversized messages of several sizes
// up to the hard cap; each gets 1002 and the connection carries on.
func TestServerTooLargeRepeatedly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ws, op := h.joined(t)
	for i, n := range []int{signaling.MaxMessageSize + 1, 70 << 10, 15 * signaling.MaxMessageSize} {
		send(t, ws, strings.Repeat("x", n))
		e := expectError(t, ws, 0, signaling.CodeTooLarge)
		if !strings.Contains(e.Message, fmt.Sprint(n)) {
			t.Errorf("message %q does not give the size %d", e.Message, n)
		}
		expectAlive(t, ws, uint64(i+1))
	}
	select {
	case raw := <-op.sent:
		t.Fatalf("oversized message reached the session: %.40q", raw)
	default:
	}
}

func TestServerOverHardCapDrops(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ws := h.dial(t, nil)
	// The server stops reading at the cap, so this write may fail: ignore it.
	_ = ws.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 16*signaling.MaxMessageSize+1)))
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	if _, raw, err := ws.ReadMessage(); err == nil {
		t.Fatalf("got %.80s, want the connection dropped", raw)
	}
}

func TestServerRateLimit(t *testing.T) {
	t.Parallel()
	const burst = 3
	// Practically no refill: the burst is all the client gets.
	h := newHarness(t, func(c *ServerConfig) { c.RateLimit, c.RateBurst = 1e-3, burst })
	ws := h.dial(t, nil)
	// Exactly burst+1 messages: the server stops reading after the one over
	// the limit, and unread data at close could reset the connection.
	for i := 1; i <= burst+1; i++ {
		send(t, ws, msg(signaling.TypePing, uint64(i), nil))
	}
	for i := 1; i <= burst; i++ {
		expectType(t, ws, signaling.TypePong, uint64(i))
	}
	expectError(t, ws, 0, signaling.CodeRateLimited)
	expectBye(t, ws, signaling.CodeRateLimited)
	expectClosed(t, ws)
}

func TestServerJoinTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *ServerConfig) { c.JoinTimeout = 50 * time.Millisecond })
	ws := h.dial(t, nil)
	expectError(t, ws, 0, signaling.CodeJoinTimeout)
	expectBye(t, ws, signaling.CodeJoinTimeout)
	expectClosed(t, ws)
	h.noOpen(t)
}

func TestServerJoinTimeoutSparesJoined(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *ServerConfig) { c.JoinTimeout = 50 * time.Millisecond })
	ws, op := h.joined(t)
	// The timer fires while joined; the connection must carry on.
	time.Sleep(100 * time.Millisecond)
	expectAlive(t, ws, 2)
	send(t, ws, msg(signaling.TypeMute, 3, signaling.Mute{TrackID: "t1"}))
	select {
	case <-op.sent:
	case <-time.After(wait):
		t.Fatal("message not relayed after the join timeout")
	}
}

func TestServerAuthRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	type refusal struct {
		name string
		mod  func(map[string]any)
		code signaling.Code
	}
	var cases []refusal
	for _, e := range authErrs {
		tok := e.token + "-" + secret
		cases = append(cases,
			refusal{e.token, func(d map[string]any) { d["userSig"] = tok }, e.code},
			refusal{"privateMapKey " + e.token, func(d map[string]any) { d["userSig"], d["privateMapKey"] = "good-"+secret, tok }, e.code})
	}
	cases = append(cases,
		refusal{"key store down", func(d map[string]any) { d["userSig"] = "tok-store-down-" + secret }, signaling.CodeInternal},
		refusal{"userSig over the limit", func(d map[string]any) { d["userSig"] = secret + strings.Repeat("s", signaling.MaxTokenLen) }, signaling.CodeTokenMalformed},
		refusal{"privateMapKey over the limit", func(d map[string]any) {
			d["userSig"], d["privateMapKey"] = "good-"+secret, secret+strings.Repeat("k", signaling.MaxTokenLen)
		}, signaling.CodeTokenMalformed},
		refusal{"no enter privilege", func(d map[string]any) { d["userSig"] = "good-noenter-" + secret }, signaling.CodeNoPrivilege},
		refusal{"no create privilege in an empty room", func(d map[string]any) { d["userSig"] = "good-nocreate-" + secret }, signaling.CodeNoPrivilege},
		refusal{"audience token as anchor", func(d map[string]any) { d["userSig"], d["role"] = "good-audience-"+secret, "anchor" }, signaling.CodeNoPrivilege},
	)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := h.dial(t, nil)
			send(t, ws, msg(signaling.TypeJoin, 4, joinData(tt.mod)))
			expectError(t, ws, 4, tt.code)
			expectBye(t, ws, tt.code)
			expectClosed(t, ws)
		})
	}
	t.Cleanup(func() { h.noOpen(t) })
}

func TestServerVerifierSeesTheJoin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ws := h.dial(t, nil)
	send(t, ws, joinMsg(1, func(d map[string]any) { delete(d, "roomId"); d["strRoomId"] = "r-9" }))
	h.nextOpen(t)
	select {
	case w := <-h.wants:
		if want := (auth.Want{SDKAppID: 1400000001, UserID: "alice", StrRoomID: "r-9"}); w != want {
			t.Fatalf("Verify want %+v, want %+v", w, want)
		}
	case <-time.After(wait):
		t.Fatal("Verify not called")
	}
}

func TestServerJoinOpens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := []struct {
		name string
		mod  func(map[string]any)
		want signaling.Open
	}{
		{"numeric room", nil, signaling.Open{JoinID: 1, RoomKey: signaling.RoomKey(1400000001, 123, ""), RoomID: 123,
			UserID: "alice", Role: signaling.RoleAnchor, AutoSubscribe: true, Send: signaling.AllMedia, Receive: signaling.AllMedia}},
		{"string room of the same digits", func(d map[string]any) { delete(d, "roomId"); d["strRoomId"] = "123" },
			signaling.Open{JoinID: 1, RoomKey: signaling.RoomKey(1400000001, 0, "123"), StrRoomID: "123", UserID: "alice", Role: signaling.RoleAnchor,
				AutoSubscribe: true, Send: signaling.AllMedia, Receive: signaling.AllMedia}},
		{"other app", func(d map[string]any) { d["sdkAppId"] = 1400000002 },
			signaling.Open{JoinID: 1, RoomKey: signaling.RoomKey(1400000002, 123, ""), RoomID: 123, UserID: "alice", Role: signaling.RoleAnchor,
				AutoSubscribe: true, Send: signaling.AllMedia, Receive: signaling.AllMedia}},
		{"audience without autosubscribe", func(d map[string]any) { d["role"], d["autoSubscribe"], d["userId"] = "audience", false, "bob" },
			signaling.Open{JoinID: 1, RoomKey: signaling.RoomKey(1400000001, 123, ""), RoomID: 123, UserID: "bob", Role: signaling.RoleAudience, Receive: signaling.AllMedia}},
		{"privateMapKey narrows privileges", func(d map[string]any) { d["privateMapKey"], d["userId"] = "good-recv-only-pmk-"+secret, "carol" },
			signaling.Open{JoinID: 1, RoomKey: signaling.RoomKey(1400000001, 123, ""), RoomID: 123, UserID: "carol", Role: signaling.RoleAnchor,
				AutoSubscribe: true, Receive: signaling.Audio | signaling.Video}},
	}
	keys := map[string]string{}
	for _, tt := range tests {
		ws := h.dial(t, nil)
		send(t, ws, joinMsg(1, tt.mod))
		op := h.nextOpen(t)
		if op.open != tt.want {
			t.Errorf("%s: Open %+v, want %+v", tt.name, op.open, tt.want)
		}
		if prev, dup := keys[op.open.RoomKey]; dup && op.open.UserID == "alice" {
			t.Errorf("%s and %s share the room key %q", prev, tt.name, op.open.RoomKey)
		}
		keys[op.open.RoomKey] = tt.name
		raw, _ := json.Marshal(op.open)
		if s := string(raw) + fmt.Sprintf("%#v", op.open); strings.Contains(s, secret) || strings.Contains(s, "good") {
			t.Errorf("%s: the token crossed into Open: %s", tt.name, s)
		}
	}
	if signaling.RoomKey(1, 123, "") == signaling.RoomKey(1, 0, "123") || signaling.RoomKey(1, 123, "") == signaling.RoomKey(2, 123, "") {
		t.Error("RoomKey does not keep rooms apart")
	}
}

func TestServerRelays(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ws, op := h.joined(t)
	in := []string{
		msg(signaling.TypeOffer, 2, signaling.SDP{Target: signaling.TargetPublisher, SDP: "v=0\r\n" + secret}),
		// Odd spacing and key order must reach the worker byte for byte.
		`{ "data" : {"target":"publisher","candidate":null}, "type" : "candidate" }`,
		msg(signaling.TypeAnswer, 3, signaling.SDP{Target: signaling.TargetSubscriber, SDP: "v=0"}),
		msg(signaling.TypeSubscribe, 4, signaling.TrackIDs{TrackIDs: []string{"t1", "t2"}}),
		msg(signaling.TypeUnsubscribe, 5, signaling.TrackIDs{TrackIDs: []string{"t1"}}),
		msg(signaling.TypeMute, 6, signaling.Mute{TrackID: "t2", Muted: true}),
		msg(signaling.TypeLeave, 7, nil),
	}
	for _, m := range in {
		send(t, ws, m)
	}
	for _, m := range in {
		select {
		case raw := <-op.sent:
			if string(raw) != m {
				t.Fatalf("Session.Send got %s, want %s", raw, m)
			}
		case <-time.After(wait):
			t.Fatalf("%s not relayed", m)
		}
	}
}

func TestServerAfterJoin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ws, op := h.joined(t)
	// The edge answers these itself; none reaches the worker.
	send(t, ws, joinMsg(2, nil))
	expectError(t, ws, 2, signaling.CodeWrongState)
	send(t, ws, `{"type":`)
	expectError(t, ws, 0, signaling.CodeBadMessage)
	send(t, ws, msg("publish", 3, nil))
	expectError(t, ws, 3, signaling.CodeUnknownType)
	send(t, ws, msg(signaling.TypeMute, 4, `{"trackId":""}`))
	expectError(t, ws, 4, signaling.CodeInvalidField)
	expectAlive(t, ws, 5)
	select {
	case raw := <-op.sent:
		t.Fatalf("Session.Send got %s", raw)
	default:
	}
	h.noOpen(t)
}

func TestServerDeliverInOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ws, op := h.joined(t)
	const n = 200
	for i := range n {
		raw, _ := signaling.Encode(signaling.TypeParticipantLeft, 0, signaling.ParticipantLeft{ParticipantID: fmt.Sprint(i)})
		op.sink.Deliver(raw)
	}
	for i := range n {
		env := expectType(t, ws, signaling.TypeParticipantLeft, 0)
		var pl signaling.ParticipantLeft
		if err := json.Unmarshal(env.Data, &pl); err != nil || pl.ParticipantID != fmt.Sprint(i) {
			t.Fatalf("message %d: %s", i, env.Data)
		}
	}
}

func TestServerSinkClosed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ws, op := h.joined(t)
	raw, _ := signaling.Encode(signaling.TypeBye, 0, signaling.Bye{Code: signaling.CodeMediaFailed, Reason: "media connection failed"})
	op.sink.Deliver(raw)
	op.sink.Closed(signaling.Closed{Code: signaling.CodeMediaFailed, Reason: "media connection failed"})
	expectBye(t, ws, signaling.CodeMediaFailed)
	expectClosed(t, ws)
}

func TestServerClientGone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ws, op := h.joined(t)
	_ = ws.Close()
	select {
	case <-op.closed:
	case <-time.After(wait):
		t.Fatal("Session.Close not called after the client went away")
	}
}

func TestServerBackendUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *ServerConfig) {
		c.Backend = &fakeBackend{OpenFunc: func(signaling.Open, Sink) (Session, error) { return nil, errors.New("no worker") }}
	})
	ws := h.dial(t, nil)
	send(t, ws, joinMsg(6, nil))
	expectError(t, ws, 6, signaling.CodeWorkerUnavailable)
	expectBye(t, ws, signaling.CodeWorkerUnavailable)
	expectClosed(t, ws)
}

func TestServerSessionSendFails(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{})
	h := newHarness(t, func(c *ServerConfig) {
		c.Backend = &fakeBackend{OpenFunc: func(signaling.Open, Sink) (Session, error) {
			return &fakeSession{
				SendFunc:    func([]byte) error { return errors.New("worker gone") },
				ControlFunc: func(signaling.Control) error { return errors.New("worker gone") },
				CloseFunc:   func() { close(closed) },
			}, nil
		}}
	})
	ws := h.dial(t, nil)
	send(t, ws, joinMsg(1, nil))
	send(t, ws, msg(signaling.TypeMute, 2, signaling.Mute{TrackID: "t1"}))
	expectError(t, ws, 2, signaling.CodeWorkerUnavailable)
	expectBye(t, ws, signaling.CodeWorkerUnavailable)
	expectClosed(t, ws)
	select {
	case <-closed:
	case <-time.After(wait):
		t.Fatal("Session.Close not called")
	}
}

func TestServerShutdown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	joinedWS, op := h.joined(t)
	idle := h.dial(t, nil)
	// A pong proves each connection is registered before Shutdown.
	expectAlive(t, joinedWS, 1)
	expectAlive(t, idle, 1)

	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		errc <- h.srv.Shutdown(ctx)
	}()
	for _, ws := range []*websocket.Conn{joinedWS, idle} {
		expectBye(t, ws, signaling.CodeShuttingDown)
		expectClosed(t, ws)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-op.closed:
	default:
		t.Fatal("Shutdown returned before Session.Close")
	}
	_, resp, err := websocket.DefaultDialer.Dial(h.url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Shutdown: %v, %v; want 503", resp, err)
	}
	_ = resp.Body.Close()
}

func TestServerShutdownContext(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	h := newHarness(t, func(c *ServerConfig) {
		// A join stuck in the verifier holds its connection open.
		c.Verifier = &fakeVerifier{VerifyJoinFunc: func(context.Context, string, string, auth.Want) (auth.Claims, error) {
			close(entered)
			<-release
			return auth.Claims{}, auth.ErrExpired
		}}
	})
	ws := h.dial(t, nil)
	expectAlive(t, ws, 1)
	send(t, ws, joinMsg(2, nil))
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with a done context: %v", err)
	}
	close(release)
}
