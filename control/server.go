package control

import (
	"bytes"
	"context"
	"errors"
	"github.com/lethe-rtc/lethe/signaling"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/internal/ratelog"
	"golang.org/x/time/rate"
)

// Verifier checks a join's userSig and privateMapKey. *auth.Verifier is one.
type Verifier interface {
	VerifyJoin(ctx context.Context, userSig, privateMapKey string, want auth.Want) (auth.Claims, error)
	VerifyPrivateMapKey(ctx context.Context, token string, want auth.Want) (auth.Claims, error)
}

// Withdrawals keeps the userSigs withdrawn from removed users
// (RemoveUser) until they expire, beyond a restart of the process, under
// their keyed hash: the token itself is never kept, nor its user.
// *store.Store implements it. The registry holds them in memory as well,
// which is what keeps a removal and a join with the same token apart; at
// a join the store is asked for what was withdrawn before a restart.
type Withdrawals interface {
	// TokenHash is the keyed hash under which a token is withdrawn.
	TokenHash(token string) [32]byte
	// WithdrawToken refuses the token of app whose hash is h until expires.
	WithdrawToken(ctx context.Context, app uint32, h [32]byte, expires, now time.Time) error
	// TokenWithdrawn reports whether it is refused at now.
	TokenWithdrawn(ctx context.Context, app uint32, h [32]byte, now time.Time) (bool, error)
}

// Backend hosts admitted participants on media workers.
type Backend interface {
	// Open starts a session for o on the worker hosting o.RoomKey. The
	// worker answers through sink; sink's methods must not block.
	Open(o signaling.Open, sink Sink) (Session, error)
}

// Session is one participant's line to its worker.
type Session interface {
	Send(raw []byte) error             // one validated client message
	Control(c signaling.Control) error // an instruction from the control process
	Close()                            // the client is gone
}

// Sink receives a session's traffic from its worker.
type Sink interface {
	Deliver(raw []byte)        // a message for the client
	State(st signaling.State)  // the worker's account of the session, whenever it changes
	Closed(c signaling.Closed) // the worker ended the session
}

// ServerConfig configures the WebSocket edge. Zero durations and limits
// take the defaults noted.
type ServerConfig struct {
	Verifier Verifier
	Backend  Backend
	// Limits returns an application's per-room limits; nil means none.
	Limits func(ctx context.Context, app uint32) (Limits, error)
	// Withdrawals keeps removed users' tokens refused beyond a restart;
	// nil: in memory only, until the process ends.
	Withdrawals Withdrawals

	Logger *slog.Logger
	// Diagnostics receives the edge's warnings about misbehaving clients
	// (refused connections, oversized or invalid messages, rate limits,
	// refused joins), rate limited so that no client can flood the log;
	// nil: one of its own over Logger and Now.
	Diagnostics *ratelog.Logger
	Now         func() time.Time
	// AllowedOrigins lists browser origins (scheme://host[:port]) that may
	// connect besides the server's own. Requests without Origin (non-browser
	// clients) are always allowed.
	AllowedOrigins []string
	JoinTimeout    time.Duration // default 10s: time to a successful join
	WriteTimeout   time.Duration // default 5s per message
	PingInterval   time.Duration // default 15s: WebSocket pings
	PongWait       time.Duration // default 45s: silence before the connection is dropped
	RateLimit      rate.Limit    // messages per second, default 50
	RateBurst      int           // default 200
	OutQueue       int           // messages queued toward one client, default 512
	// MaxConnections caps the WebSocket connections at once, default
	// DefaultMaxConnections; MaxConnectionsPerIP those from one remote
	// address, default DefaultMaxConnectionsPerIP. Beyond them an upgrade
	// is refused with 503.
	MaxConnections      int
	MaxConnectionsPerIP int
	// JoinLatency hears, for every join that succeeds, the time from its
	// join message to the joined sent back (metrics); nil: nobody.
	JoinLatency func(time.Duration)
}

func (c *ServerConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Withdrawals == nil {
		c.Withdrawals = newMemoryWithdrawals()
	}
	for _, d := range []struct {
		p *time.Duration
		v time.Duration
	}{{&c.JoinTimeout, 10 * time.Second}, {&c.WriteTimeout, 5 * time.Second},
		{&c.PingInterval, 15 * time.Second}, {&c.PongWait, 45 * time.Second}} {
		if *d.p <= 0 {
			*d.p = d.v
		}
	}
	if c.RateLimit <= 0 {
		c.RateLimit = 50
	}
	if c.RateBurst <= 0 {
		c.RateBurst = 200
	}
	if c.OutQueue <= 0 {
		c.OutQueue = 512
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxConnectionsPerIP <= 0 {
		c.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
	}
	if c.Diagnostics == nil {
		c.Diagnostics = ratelog.New(c.Logger, ratelog.Config{Now: c.Now})
	}
}

// Server is the signaling edge in the control process. It serves
// /v1/signal.
type Server struct {
	cfg      ServerConfig
	upgrader websocket.Upgrader

	reg  *registry
	diag *ratelog.Logger

	mu           sync.Mutex
	conns        map[*conn]struct{}
	closing      bool
	endCode      signaling.Code // the bye of the end under way, once closing
	open         int            // connections counted by acquire
	perIP        map[string]int // of open, by remote address; no zero entries
	refusedTotal uint64
	refusedPerIP uint64
	wg           sync.WaitGroup
}

// NewServer returns a server; mount it at /v1/signal.
func NewServer(cfg ServerConfig) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, conns: make(map[*conn]struct{}), reg: newRegistry(), diag: cfg.Diagnostics, perIP: make(map[string]int)}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: 5 * time.Second,
		ReadBufferSize:   4096,
		WriteBufferSize:  4096,
		CheckOrigin:      s.checkOrigin,
	}
	return s
}

// checkOrigin is the upgrader's origin check: originAllowed, with a
// diagnostic when it refuses.
func (s *Server) checkOrigin(r *http.Request) bool {
	if s.originAllowed(r) {
		return true
	}
	s.diag.Log(r.Context(), slog.LevelWarn, "origin", "signaling connection refused: origin not allowed (--allowed-origins)",
		slog.String("origin", clip(r.Header.Get("Origin"), 100)))
	return false
}

func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if u.Host == r.Host {
		return true
	}
	return slices.Contains(s.cfg.AllowedOrigins, origin)
}

// ServeHTTP upgrades to WebSocket and runs the connection. Beyond the
// connection caps it answers 503 before upgrading.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ip := connKey(r.RemoteAddr)
	if !s.acquire(w, r, ip) {
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.release(ip)
		return // the upgrader has answered
	}
	c := newConn(s, ws)
	s.mu.Lock()
	if s.closing {
		code := s.endCode
		s.mu.Unlock()
		s.release(ip)
		// No writer runs yet: say goodbye directly.
		if raw, err := signaling.Encode(signaling.TypeBye, 0, signaling.Bye{Code: code, Reason: code.String()}); err == nil {
			_ = ws.SetWriteDeadline(s.cfg.Now().Add(s.cfg.WriteTimeout))
			_ = ws.WriteMessage(websocket.TextMessage, raw)
		}
		_ = ws.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.run()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.release(ip)
	}()
}

// Connections counts the open WebSocket connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Drain stops admitting participants: from now on every join is refused
// with CodeDraining, while those in rooms keep their sessions. The channel
// it returns is closed once no room has a participant left (at once if
// none has). Drain may be called more than once.
func (s *Server) Drain() <-chan struct{} {
	return s.reg.drain()
}

// Draining reports whether Drain was called.
func (s *Server) Draining() bool {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	return s.reg.draining
}

// GoAway ends a drain: every client gets bye CodeGoingAway (reconnect,
// elsewhere or later), its connection is closed, and GoAway waits for
// them (or ctx). New connections get 503 from now on.
func (s *Server) GoAway(ctx context.Context) error {
	return s.end(ctx, signaling.CodeGoingAway)
}

// Shutdown tells every client the server is stopping (bye
// CodeShuttingDown), closes their connections and waits for them (or ctx).
func (s *Server) Shutdown(ctx context.Context) error {
	return s.end(ctx, signaling.CodeShuttingDown)
}

func (s *Server) end(ctx context.Context, code signaling.Code) error {
	s.mu.Lock()
	if !s.closing {
		s.closing, s.endCode = true, code
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown(code)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// conn is one WebSocket client: a reader goroutine, the loop that owns
// the session state (run), and a writer goroutine.
type conn struct {
	s  *Server
	ws *websocket.Conn

	in        chan inbound
	out       chan []byte
	quit      chan struct{} // closed to end the connection
	quitOnce  sync.Once
	writerWG  sync.WaitGroup
	closeCode atomic.Int32 // of the close frame, if not 1000 (normal closure)
	ended     atomic.Bool  // shutdown has said bye
	joinAt    atomic.Int64 // unix nanos of the join message until its joined is sent; 0: none (metrics.go)

	sessMu  sync.Mutex
	session Session
	key     string // room key once admitted; set before the session, never changed
	want    auth.Want
	// What the UserSig alone grants (without any privateMapKey): a later
	// privateMapKey in switchRole can narrow it, never widen it.
	sigPrivileges auth.Privilege
	sigRole       string // "", anchor or audience
	tokenRole     string // the role the join's tokens allow: "", anchor or audience
}

type inbound struct {
	raw         []byte
	tooLarge    int  // size of a message that was over the limit
	binary      bool // a binary frame: the protocol is text only
	invalidUTF8 bool // a text frame that is not UTF-8: the last one read
	err         error
}

func newConn(s *Server, ws *websocket.Conn) *conn {
	return &conn{
		s: s, ws: ws,
		in:   make(chan inbound, 16),
		out:  make(chan []byte, s.cfg.OutQueue),
		quit: make(chan struct{}),
	}
}

func (c *conn) stop() { c.quitOnce.Do(func() { close(c.quit) }) }

// diag writes a diagnostic about this connection through the edge's
// rate-limited log, keyed by msg: a fixed text naming the kind, never
// anything the client sent.
func (c *conn) diag(level slog.Level, msg string, attrs ...slog.Attr) {
	c.s.diag.Log(context.Background(), level, msg, msg, attrs...)
}

func (c *conn) run() {
	c.writerWG.Add(1)
	go c.writeLoop()
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		c.readLoop()
	}()
	c.loop()
	c.stop()
	c.sessMu.Lock()
	if c.session != nil {
		c.session.Close()
	}
	c.sessMu.Unlock()
	c.s.reg.leave(c)
	c.writerWG.Wait() // flushes what was queued, bye included
	_ = c.ws.Close()
	<-readerDone
}

// readLoop reads messages, enforcing the size and rate limits.
func (c *conn) readLoop() {
	cfg := &c.s.cfg
	c.ws.SetReadLimit(16 * signaling.MaxMessageSize) // hard cap: beyond this the socket is dropped
	_ = c.ws.SetReadDeadline(cfg.Now().Add(cfg.PongWait))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(cfg.Now().Add(cfg.PongWait))
	})
	lim := rate.NewLimiter(cfg.RateLimit, cfg.RateBurst)
	var buf bytes.Buffer
	for {
		kind, r, err := c.ws.NextReader()
		if err != nil {
			c.push(inbound{err: err})
			return
		}
		if !lim.AllowN(cfg.Now(), 1) { // every frame counts, whatever its fate
			c.push(inbound{err: signaling.Errorf(signaling.CodeRateLimited, "more than %v messages per second", cfg.RateLimit)})
			return
		}
		if kind != websocket.TextMessage {
			if _, err := io.Copy(io.Discard, r); err != nil {
				c.push(inbound{err: err})
				return
			}
			c.push(inbound{binary: true})
			continue
		}
		_ = c.ws.SetReadDeadline(cfg.Now().Add(cfg.PongWait))
		buf.Reset()
		n, err := io.Copy(&buf, io.LimitReader(r, signaling.MaxMessageSize+1))
		if err != nil {
			c.push(inbound{err: err})
			return
		}
		if n > signaling.MaxMessageSize {
			rest, err := io.Copy(io.Discard, r)
			if err != nil {
				c.push(inbound{err: err})
				return
			}
			c.push(inbound{tooLarge: int(n + rest)})
			continue
		}
		if !utf8.Valid(buf.Bytes()) { // RFC 6455 8.1: fail the connection
			c.push(inbound{invalidUTF8: true})
			return
		}
		if !c.push(inbound{raw: bytes.Clone(buf.Bytes())}) {
			return
		}
	}
}

func (c *conn) push(m inbound) bool {
	select {
	case c.in <- m:
		return true
	case <-c.quit:
		return false
	}
}

// loop owns the connection's state: waiting for a join, then relaying.
func (c *conn) loop() {
	joinTimer := time.NewTimer(c.s.cfg.JoinTimeout)
	defer joinTimer.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-joinTimer.C:
			if !c.joined() {
				c.diag(slog.LevelInfo, "signaling connection closed: no join in time")
				c.sendError(0, signaling.Errorf(signaling.CodeJoinTimeout, "no join within %v", c.s.cfg.JoinTimeout))
				c.bye(signaling.CodeJoinTimeout, "join timeout")
				return
			}
		case m := <-c.in:
			if m.err != nil {
				var ce *signaling.CodedError
				switch {
				case errors.As(m.err, &ce):
					if ce.Code == signaling.CodeRateLimited {
						c.diag(slog.LevelWarn, "signaling connection closed: client over the message rate limit")
					}
					c.sendError(0, ce)
					c.bye(ce.Code, ce.Code.String())
				case errors.Is(m.err, websocket.ErrReadLimit):
					c.diag(slog.LevelWarn, "signaling connection dropped: message over the hard cap")
				}
				return
			}
			if m.tooLarge > 0 {
				c.diag(slog.LevelWarn, "signaling message dropped: over the size limit")
				c.sendError(0, signaling.Errorf(signaling.CodeTooLarge, "message of %d bytes dropped, limit %d", m.tooLarge, signaling.MaxMessageSize))
				continue
			}
			if m.binary {
				c.diag(slog.LevelWarn, "signaling binary frame ignored")
				c.sendError(0, signaling.Errorf(signaling.CodeBadMessage, "binary frames are not part of the protocol; send text"))
				continue
			}
			if m.invalidUTF8 {
				c.diag(slog.LevelWarn, "signaling connection closed: text frame not valid UTF-8")
				c.sendError(0, signaling.Errorf(signaling.CodeBadMessage, "text frame is not valid UTF-8; closing (WebSocket status 1007)"))
				c.bye(signaling.CodeBadMessage, "invalid UTF-8")
				c.closeCode.Store(websocket.CloseInvalidFramePayloadData)
				return
			}
			if !c.handle(m.raw) {
				return
			}
		}
	}
}

// handle processes one client message; false ends the connection.
func (c *conn) handle(raw []byte) bool {
	select {
	case <-c.quit: // the worker closed the session meanwhile
		return false
	default:
	}
	req, err := signaling.DecodeRequest(raw)
	c.sessMu.Lock()
	sess := c.session
	c.sessMu.Unlock()
	joined := sess != nil
	if err != nil {
		c.sendError(req.ID, err)
		var ce *signaling.CodedError
		if req.Type == signaling.TypeJoin && !joined && errors.As(err, &ce) && ce.Code >= 2000 && ce.Code < 3000 {
			c.bye(ce.Code, ce.Code.String()) // a refused join ends the connection, whatever refused it
			return false
		}
		return true
	}
	switch {
	case req.Type == signaling.TypePing:
		c.send(signaling.TypePong, req.ID, nil)
		return true
	case req.Type == signaling.TypeJoin && joined:
		c.sendError(req.ID, signaling.Errorf(signaling.CodeWrongState, "already joined"))
		return true
	case req.Type == signaling.TypeJoin:
		return c.join(req.ID, req.Body.(*signaling.Join))
	case req.Type == signaling.TypeSwitchRole && joined:
		c.switchRole(req.ID, req.Body.(*signaling.SwitchRole))
		return true
	case req.Type == signaling.TypeLeave && !joined:
		c.send(signaling.TypeAck, req.ID, nil)
		c.bye(signaling.CodeOK, "left")
		return false
	case !joined:
		c.sendError(req.ID, signaling.Errorf(signaling.CodeWrongState, "join first"))
		return true
	}
	if err := sess.Send(raw); err != nil {
		c.sendError(req.ID, signaling.Errorf(signaling.CodeWorkerUnavailable, "media worker unavailable"))
		c.bye(signaling.CodeWorkerUnavailable, signaling.CodeWorkerUnavailable.String())
		return false
	}
	return true
}

func (c *conn) joined() bool {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	return c.session != nil
}

// join checks the tokens, admits the participant to its room's count and
// opens a session on a worker. A refused join gets its error and the
// connection is closed; nothing reaches a room.
func (c *conn) join(id uint64, j *signaling.Join) bool {
	c.joinAt.Store(c.s.cfg.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	refuse := func(code signaling.Code, detail string) bool {
		c.diag(slog.LevelInfo, "join refused: "+code.String(), slog.Uint64("app", uint64(j.SDKAppID)), slog.Int("code", int(code)))
		c.sendError(id, signaling.Errorf(code, "%s", detail))
		c.bye(code, code.String())
		return false
	}
	if c.s.Draining() { // before the tokens: nothing to check for a join refused anyway
		return refuse(signaling.CodeDraining, errDraining.Detail)
	}
	want := auth.Want{SDKAppID: j.SDKAppID, UserID: j.UserID, RoomID: j.RoomID, StrRoomID: j.StrRoomID}
	claims, err := c.s.cfg.Verifier.VerifyJoin(ctx, j.UserSig, j.PrivateMapKey, want)
	if err != nil {
		return refuse(authCode(err), "join refused")
	}
	hash := c.s.cfg.Withdrawals.TokenHash(j.UserSig)
	switch withdrawn, err := c.s.cfg.Withdrawals.TokenWithdrawn(ctx, j.SDKAppID, hash, c.s.cfg.Now()); {
	case err != nil:
		return refuse(signaling.CodeInternal, "join refused")
	case withdrawn:
		return refuse(signaling.CodeTokenRevoked, "this token was withdrawn when its user was removed")
	}
	if !claims.Privileges.Has(auth.PrivEnter) {
		return refuse(signaling.CodeNoPrivilege, "the token does not grant entry")
	}
	if j.Role == signaling.RoleAnchor && claims.Role == string(signaling.RoleAudience) {
		return refuse(signaling.CodeNoPrivilege, "the token admits an audience member only")
	}
	lim, err := c.limits(ctx, j.SDKAppID)
	if err != nil {
		return refuse(signaling.CodeInternal, "join refused")
	}
	// The basis of the consent is only looked at, never kept or logged.
	if lim.RequireConsent && claims.Consent == "" {
		return refuse(signaling.CodeConsentRequired, "the application requires its backend's signed statement of consent (a JWT consent claim)")
	}
	sigPriv, sigRole := claims.Privileges, claims.Role
	if j.PrivateMapKey != "" { // what does the UserSig grant by itself?
		sig, err := c.s.cfg.Verifier.VerifyJoin(ctx, j.UserSig, "", want)
		switch {
		case err == nil:
			sigPriv, sigRole = sig.Privileges, sig.Role
		case errors.Is(err, auth.ErrPrivateMapKeyRequired):
			sigPriv, sigRole = auth.PrivAll, "" // it carries nothing of its own
		default:
			return refuse(authCode(err), "join refused")
		}
	}
	key := signaling.RoomKey(j.SDKAppID, j.RoomID, j.StrRoomID)
	c.sessMu.Lock()
	c.key, c.tokenRole, c.want = key, claims.Role, want
	c.sigPrivileges, c.sigRole = sigPriv, sigRole
	c.sessMu.Unlock()
	m := &member{
		c: c, key: key, app: j.SDKAppID, roomID: j.RoomID, strRoomID: j.StrRoomID, userID: j.UserID,
		role: j.Role, privileges: claims.Privileges, tokenHash: hash, tokenExp: claims.ExpiresAt,
	}
	blocked, err := c.s.reg.admit(m, lim, c.s.cfg.Now())
	if err != nil {
		var ce *signaling.CodedError
		errors.As(err, &ce)
		return refuse(ce.Code, ce.Detail)
	}
	auto := true
	if j.AutoSubscribe != nil {
		auto = *j.AutoSubscribe
	}
	o := signaling.Open{
		JoinID: id, RoomKey: key,
		RoomID: j.RoomID, StrRoomID: j.StrRoomID, UserID: j.UserID, Role: j.Role, AutoSubscribe: auto,
		Data: j.Data, NoDataSend: claims.NoData, // the grant, read once at join (docs/protocol.md 6)
	}
	o.Send, o.Receive = permissions(claims.Privileges, j.Role)
	o.Blocked = blocked
	sess, err := c.s.cfg.Backend.Open(o, sink{c})
	if err != nil {
		c.s.reg.leave(c)
		return refuse(signaling.CodeWorkerUnavailable, "no media worker available")
	}
	c.sessMu.Lock()
	c.session = sess
	c.sessMu.Unlock()
	return true
}

func (c *conn) limits(ctx context.Context, app uint32) (Limits, error) {
	if c.s.cfg.Limits == nil {
		return Limits{}, nil
	}
	return c.s.cfg.Limits(ctx, app)
}

// switchRole changes the participant's role: checked here (privileges,
// the anchor limit, a fresh privateMapKey where one is given or required),
// then carried out by the worker.
func (c *conn) switchRole(id uint64, r *signaling.SwitchRole) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.sessMu.Lock()
	want, sess, tokenRole := c.want, c.session, c.tokenRole
	sigPriv, sigRole := c.sigPrivileges, c.sigRole
	c.sessMu.Unlock()
	c.s.reg.mu.Lock()
	m := c.s.reg.memberLocked(c)
	var privileges auth.Privilege
	if m != nil {
		privileges = m.privileges
	}
	c.s.reg.mu.Unlock()
	if m == nil || sess == nil {
		c.sendError(id, signaling.Errorf(signaling.CodeWrongState, "join first"))
		return
	}
	lim, err := c.limits(ctx, want.SDKAppID)
	if err != nil {
		c.sendError(id, signaling.Errorf(signaling.CodeInternal, "internal error"))
		return
	}
	switch {
	case r.PrivateMapKey != "":
		pm, err := c.s.cfg.Verifier.VerifyPrivateMapKey(ctx, r.PrivateMapKey, want)
		if err != nil {
			c.sendError(id, signaling.Errorf(authCode(err), "privateMapKey refused"))
			return
		}
		// As at join: the privileges of both tokens, and the UserSig's
		// role restriction if it has one.
		privileges, tokenRole = pm.Privileges&sigPriv, sigRole
		if tokenRole == "" {
			tokenRole = pm.Role
		}
	case r.Role == signaling.RoleAnchor && lim.RequirePrivateMapKey:
		c.sendError(id, signaling.Errorf(signaling.CodePrivateMapKeyRequired, "becoming an anchor needs a fresh privateMapKey"))
		return
	}
	if r.Role == signaling.RoleAnchor && tokenRole == string(signaling.RoleAudience) {
		c.sendError(id, signaling.Errorf(signaling.CodeNoPrivilege, "the token admits an audience member only"))
		return
	}
	updated, err := c.s.reg.switchRole(c, r.Role, privileges, lim)
	if err != nil {
		c.sendError(id, err)
		return
	}
	send, receive := permissions(updated.privileges, updated.role)
	if err := sess.Control(signaling.Control{Action: signaling.ControlRole, Role: updated.role, Send: send, Receive: receive}); err != nil {
		c.sendError(id, signaling.Errorf(signaling.CodeWorkerUnavailable, "media worker unavailable"))
		return
	}
	c.send(signaling.TypeRoleSwitched, id, signaling.RoleSwitched{Role: updated.role, Permissions: signaling.PermissionsOf(send, receive)})
}

// control passes an instruction to the worker hosting c's session.
func (c *conn) control(ctl signaling.Control) {
	c.sessMu.Lock()
	sess := c.session
	c.sessMu.Unlock()
	if sess != nil {
		_ = sess.Control(ctl)
	}
}

func authCode(err error) signaling.Code {
	for _, m := range []struct {
		err  error
		code signaling.Code
	}{
		{auth.ErrMalformed, signaling.CodeTokenMalformed}, {auth.ErrSignature, signaling.CodeTokenSignature},
		{auth.ErrExpired, signaling.CodeTokenExpired}, {auth.ErrUnknownApp, signaling.CodeUnknownApp},
		{auth.ErrUnknownKey, signaling.CodeUnknownKey}, {auth.ErrUserMismatch, signaling.CodeUserMismatch},
		{auth.ErrRoomMismatch, signaling.CodeRoomMismatch}, {auth.ErrLifetime, signaling.CodeTokenLifetime},
		{auth.ErrPrivateMapKeyRequired, signaling.CodePrivateMapKeyRequired},
	} {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return signaling.CodeInternal
}

// sink carries a worker's traffic straight to the writer, never blocking.
type sink struct{ c *conn }

func (s sink) Deliver(raw []byte) {
	s.c.noteJoined(raw)
	if !s.c.enqueue(raw) {
		s.c.diag(slog.LevelWarn, "client not reading; dropping connection")
	}
}

func (s sink) State(st signaling.State) { s.c.s.reg.setState(s.c, st) }

func (s sink) Closed(signaling.Closed) {
	s.c.sessMu.Lock()
	s.c.session = nil
	s.c.sessMu.Unlock()
	s.c.stop()
}

// shutdown ends the connection for the server's end: the first one's
// bye only, should a Shutdown follow a GoAway.
func (c *conn) shutdown(code signaling.Code) {
	if c.ended.CompareAndSwap(false, true) {
		c.bye(code, code.String())
	}
	c.stop()
}

func (c *conn) send(typ string, id uint64, data any) {
	if raw, err := signaling.Encode(typ, id, data); err == nil {
		c.enqueue(raw)
	}
}

func (c *conn) sendError(id uint64, err error) {
	var ce *signaling.CodedError
	if !errors.As(err, &ce) {
		ce = &signaling.CodedError{Code: signaling.CodeInternal}
	}
	c.send(signaling.TypeError, id, signaling.Error{Code: ce.Code, Message: ce.Message()})
}

func (c *conn) bye(code signaling.Code, reason string) {
	c.send(signaling.TypeBye, 0, signaling.Bye{Code: code, Reason: reason})
}

// enqueue queues raw for the writer. A client that lets its queue fill
// up is not reading: its connection is dropped rather than let messages
// vanish silently.
func (c *conn) enqueue(raw []byte) bool {
	select {
	case c.out <- raw:
		return true
	default:
		c.stop()
		return false
	}
}

// writeLoop writes queued messages and pings; after quit it flushes what
// is queued and sends a close frame.
func (c *conn) writeLoop() {
	defer c.writerWG.Done()
	cfg := &c.s.cfg
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	write := func(raw []byte) bool {
		_ = c.ws.SetWriteDeadline(cfg.Now().Add(cfg.WriteTimeout))
		return c.ws.WriteMessage(websocket.TextMessage, raw) == nil
	}
	for {
		select {
		case raw := <-c.out:
			if !write(raw) {
				c.stop()
				return
			}
		case <-ping.C:
			if c.ws.WriteControl(websocket.PingMessage, nil, cfg.Now().Add(cfg.WriteTimeout)) != nil {
				c.stop()
				return
			}
		case <-c.quit:
			for {
				select {
				case raw := <-c.out:
					if !write(raw) {
						return
					}
				default:
					code := websocket.CloseNormalClosure
					if cc := c.closeCode.Load(); cc != 0 {
						code = int(cc)
					}
					_ = c.ws.WriteControl(websocket.CloseMessage,
						websocket.FormatCloseMessage(code, ""), cfg.Now().Add(time.Second))
					return
				}
			}
		}
	}
}
