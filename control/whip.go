package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/pion/sdp/v3"
)

// WHIP ingest (RFC 9725) on the signaling edge. A WHIP session is an
// ordinary participant of its room, an anchor, driven by the edge itself:
// the same admission, the same worker session a WebSocket client gets
// (join, then a publisher offer), only its messages come from HTTP
// requests and its worker's replies are read here instead of being
// written to a socket. It subscribes to nothing.

// Content types of WHIP and WHEP.
const (
	contentSDP  = "application/sdp"
	contentFrag = "application/trickle-ice-sdpfrag"
)

// HTTPMediaConfig configures the WHIP endpoint. Zero values take the
// defaults noted.
type HTTPMediaConfig struct {
	// Path is where it is mounted: "/v1/whip"; sessions are Path/<id>.
	Path string
	// MaxBody caps a request body, default signaling.MaxSDPLen; beyond it
	// the answer is 413.
	MaxBody int64
	// Timeout bounds the wait for the worker's answer, default 10s.
	Timeout time.Duration
	// GatherWait bounds the wait for the worker's candidates after its
	// answer, default 2s; what has come by then goes into the answer.
	GatherWait time.Duration
}

// HTTPMedia serves WHIP or WHEP: POST an offer to Path, PATCH and DELETE
// the session resource it creates.
type HTTPMedia struct {
	s    *Server
	cfg  HTTPMediaConfig
	play bool // WHEP: the session receives, as an audience member

	mu       sync.Mutex
	sessions map[string]*httpSession
}

// NewWHIP returns the WHIP endpoint of s; mount it at cfg.Path
// ("/v1/whip" if empty) and below.
func NewWHIP(s *Server, cfg HTTPMediaConfig) *HTTPMedia {
	if cfg.Path == "" {
		cfg.Path = "/v1/whip"
	}
	return newHTTPMedia(s, cfg, false)
}

// NewWHEP returns the WHEP endpoint of s; mount it at cfg.Path
// ("/v1/whep" if empty) and below. A player's offer gets the tracks of
// the participant that ?participant= names, or else of the room's
// participant publishing video whose id sorts first.
func NewWHEP(s *Server, cfg HTTPMediaConfig) *HTTPMedia {
	if cfg.Path == "" {
		cfg.Path = "/v1/whep"
	}
	return newHTTPMedia(s, cfg, true)
}

func newHTTPMedia(s *Server, cfg HTTPMediaConfig, play bool) *HTTPMedia {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = signaling.MaxSDPLen
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.GatherWait <= 0 {
		cfg.GatherWait = 2 * time.Second
	}
	return &HTTPMedia{s: s, cfg: cfg, play: play, sessions: make(map[string]*httpSession)}
}

// Sessions counts the live sessions.
func (h *HTTPMedia) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// httpSession is one WHIP session: a conn without a socket, whose
// outbound queue run reads.
type httpSession struct {
	h    *HTTPMedia
	id   string // random, the last segment of its Location
	c    *conn
	want auth.Want // the app and user it is bound to
	// target is the PeerConnection the session's HTTP side negotiates:
	// the publisher for WHIP, the subscriber for WHEP.
	target signaling.Target
	ip     string // the remote address it is counted under

	// Owned by the request that holds reqMu: one request at a time talks
	// to the worker.
	reqMu   sync.Mutex
	nextID  uint64
	offer   string // the client's last offer
	etag    string // of the current ICE session
	replies chan signaling.Envelope
	cands   chan *string // the worker's publisher candidates; nil: gathering done
	done    chan struct{}

	// playing are the tracks a WHEP session receives: once all are
	// unpublished, the session ends. A session that follows the speaker
	// (follow) has none: it lasts while the room does.
	playMu  sync.Mutex
	playing map[string]bool
	follow  bool // set before the session's first offer
}

// ServeHTTP routes Path and Path/<id>.
func (h *HTTPMedia) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.cors(w, r)
	rest, ok := strings.CutPrefix(r.URL.Path, h.cfg.Path)
	switch {
	case !ok:
		http.NotFound(w, r)
	case rest == "" || rest == "/":
		switch r.Method {
		case http.MethodOptions:
			w.Header().Set("Accept-Post", contentSDP)
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPost:
			h.post(w, r)
		default:
			w.Header().Set("Allow", "POST, OPTIONS")
			httpError(w, http.StatusMethodNotAllowed, "method not allowed")
		}
	default:
		id := strings.TrimPrefix(rest, "/")
		switch r.Method {
		case http.MethodOptions:
			w.Header().Set("Accept-Patch", contentFrag)
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPatch:
			h.patch(w, r, id)
		case http.MethodDelete:
			h.delete(w, r, id)
		default:
			w.Header().Set("Allow", "PATCH, DELETE, OPTIONS")
			httpError(w, http.StatusMethodNotAllowed, "method not allowed")
		}
	}
}

// cors answers what a browser needs to call WHIP from a page of an
// allowed origin (the server's own, or --allowed-origins).
func (h *HTTPMedia) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || !h.s.originAllowed(r) {
		return
	}
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Add("Vary", "Origin")
	hd.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	hd.Set("Access-Control-Expose-Headers", "Location, Link, ETag, Accept-Patch, Accept-Post")
	hd.Set("Access-Control-Max-Age", "600")
}

// httpError answers status with a plain-text reason (never anything the
// client sent).
func httpError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// unauthorized answers 401 with the challenge RFC 6750 asks for.
func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="lethe"`)
	httpError(w, http.StatusUnauthorized, msg)
}

// body reads a request body of the content type want, or answers 415 or
// 413 and returns false.
func (h *HTTPMedia) body(w http.ResponseWriter, r *http.Request, want string) (string, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		httpError(w, http.StatusUnsupportedMediaType, "the body must be "+want)
		return "", false
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxBody+1))
	if err != nil {
		httpError(w, http.StatusBadRequest, "could not read the body")
		return "", false
	}
	if int64(len(b)) > h.cfg.MaxBody {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes", h.cfg.MaxBody))
		return "", false
	}
	return string(b), true
}

// bearer is the request's Bearer token, or "".
func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// roomOf is the room a POST asks for: the token's binding, or ?room=
// (numeric) or ?strRoom= when the token has none. A parameter naming
// another room than the binding is refused (403).
func roomOf(q url.Values, w *auth.Want) (int, string) {
	room, str := q.Get("room"), q.Get("strRoom")
	var n uint32
	if room != "" {
		v, err := strconv.ParseUint(room, 10, 32)
		if err != nil || v == 0 || str != "" {
			return http.StatusBadRequest, "room must be a number 1..4294967294, or give strRoom alone"
		}
		n = uint32(v)
	}
	switch bound := w.RoomID != 0 || w.StrRoomID != ""; {
	case bound && (room != "" && n != w.RoomID || str != "" && str != w.StrRoomID):
		return http.StatusForbidden, "the token is bound to another room"
	case bound:
	case room == "" && str == "":
		return http.StatusBadRequest, "name the room: a token bound to it, or ?room= or ?strRoom="
	default:
		w.RoomID, w.StrRoomID = n, str
	}
	return 0, ""
}

// statusOf maps a refused join or offer to its HTTP status.
func statusOf(code signaling.Code) int {
	switch code {
	case signaling.CodeRoomMismatch, signaling.CodeNoPrivilege, signaling.CodePrivateMapKeyRequired,
		signaling.CodeConsentRequired, signaling.CodeTokenRevoked, signaling.CodeNotAllowed:
		return http.StatusForbidden
	case signaling.CodeRoomFull, signaling.CodeTooManyAnchors:
		return http.StatusConflict
	case signaling.CodeDraining, signaling.CodeWorkerUnavailable, signaling.CodeShuttingDown, signaling.CodeGoingAway:
		return http.StatusServiceUnavailable
	case signaling.CodeBadSDP, signaling.CodeInvalidField, signaling.CodeBadMessage:
		return http.StatusBadRequest
	case signaling.CodeTooLarge: // an offer under MaxBody whose message to the worker is over MaxMessageSize
		return http.StatusRequestEntityTooLarge
	}
	if code >= 2000 && code < 2100 {
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// refusal answers a coded error with its status and code.
func refusal(w http.ResponseWriter, ce *signaling.CodedError) {
	w.Header().Set("X-Lethe-Code", strconv.Itoa(int(ce.Code)))
	st := statusOf(ce.Code)
	if st == http.StatusUnauthorized {
		unauthorized(w, ce.Code.String())
		return
	}
	httpError(w, st, ce.Message())
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// post creates a session: checks, admission, join as an anchor, the
// offer on the publisher, the answer with the worker's candidates.
func (h *HTTPMedia) post(w http.ResponseWriter, r *http.Request) {
	token := bearer(r)
	if token == "" {
		unauthorized(w, "a Bearer token (UserSig) is required")
		return
	}
	offer, ok := h.body(w, r, contentSDP)
	if !ok {
		return
	}
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(offer); err != nil || len(parsed.MediaDescriptions) == 0 {
		httpError(w, http.StatusBadRequest, "the body is not an SDP offer with media")
		return
	}
	want, err := auth.Peek(token)
	if err != nil {
		unauthorized(w, "the token is malformed")
		return
	}
	if st, msg := roomOf(r.URL.Query(), &want); st != 0 {
		httpError(w, st, msg)
		return
	}
	hs := &httpSession{
		h: h, id: randomID(16), want: want, etag: `"` + randomID(8) + `"`, target: signaling.TargetPublisher,
		replies: make(chan signaling.Envelope, 8), cands: make(chan *string, 64), done: make(chan struct{}),
	}
	c := newConn(h.s, nil)
	hs.c, hs.ip = c, connKey(r.RemoteAddr)
	// Counted with the server's connections, under its caps, so that
	// Shutdown and GoAway end it as they end a WebSocket client.
	if !h.s.acquire(w, r, hs.ip) {
		return
	}
	h.s.mu.Lock()
	if h.s.closing {
		h.s.mu.Unlock()
		h.s.release(hs.ip)
		httpError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	h.s.conns[c] = struct{}{}
	h.s.wg.Add(1)
	h.s.mu.Unlock()
	go hs.run()

	hs.reqMu.Lock()
	defer hs.reqMu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	auto := false
	j := &signaling.Join{
		SDKAppID: want.SDKAppID, UserID: want.UserID, UserSig: token,
		RoomID: want.RoomID, StrRoomID: want.StrRoomID, Role: signaling.RoleAnchor, AutoSubscribe: &auto,
	}
	var tracks []string
	if h.play {
		j.Role, hs.target = signaling.RoleAudience, signaling.TargetSubscriber
	}
	hs.nextID = 1
	if !c.join(hs.nextID, j) {
		hs.fail(w, ctx) // the refusal is queued
		return
	}
	env, ok := hs.await(ctx, hs.nextID)
	if !ok || env.Type != signaling.TypeJoined {
		hs.fail(w, ctx, env)
		return
	}
	var joined signaling.Joined
	_ = json.Unmarshal(env.Data, &joined)
	if h.play {
		if len(joined.Permissions.Receive) == 0 {
			hs.end()
			httpError(w, http.StatusForbidden, "the token does not grant receiving")
			return
		}
		named := r.URL.Query().Get("participant")
		if tracks = h.s.reg.playable(c, named); len(tracks) == 0 {
			hs.end()
			httpError(w, http.StatusNotFound, "nobody publishes in the room (or not the participant named)")
			return
		}
		if named == "" {
			// The room's current speaker, whoever that is from moment to
			// moment: the worker picks and switches the sources.
			hs.follow, tracks = true, nil
		}
	}
	if h.play && !hs.follow {
		hs.playMu.Lock()
		hs.playing = make(map[string]bool, len(tracks))
		for _, id := range tracks {
			hs.playing[id] = true
		}
		hs.playMu.Unlock()
	}
	answer, ok := hs.negotiate(ctx, w, offer, tracks)
	if !ok {
		return
	}
	hs.offer = offer
	h.mu.Lock()
	h.sessions[hs.id] = hs
	h.mu.Unlock()
	hd := w.Header()
	hd.Set("Content-Type", contentSDP)
	hd.Set("Location", h.cfg.Path+"/"+hs.id)
	hd.Set("ETag", hs.etag)
	hd.Set("Accept-Patch", contentFrag)
	for _, l := range iceLinks(joined.IceServers) {
		hd.Add("Link", l)
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
	h.s.cfg.Logger.Info("http media session started", slog.String("path", h.cfg.Path), slog.Uint64("app", uint64(want.SDKAppID)))
}

// negotiate sends offer on the publisher and returns the worker's answer
// with its candidates; on failure it has answered w and ended the session.
func (hs *httpSession) negotiate(ctx context.Context, w http.ResponseWriter, offer string, tracks []string) (string, bool) {
	// Drop the candidates of an earlier negotiation.
	for len(hs.cands) > 0 {
		<-hs.cands
	}
	hs.nextID++
	msg := signaling.SDP{Target: hs.target, SDP: offer, TrackIDs: tracks}
	if hs.follow {
		msg.Follow = signaling.FollowSpeaker
	}
	raw, err := signaling.Encode(signaling.TypeOffer, hs.nextID, msg)
	if err == nil {
		err = hs.send(raw)
	}
	if err != nil {
		hs.fail(w, ctx)
		return "", false
	}
	env, ok := hs.await(ctx, hs.nextID)
	if !ok || env.Type != signaling.TypeAnswer {
		hs.fail(w, ctx, env)
		return "", false
	}
	var ans signaling.SDP
	if err := json.Unmarshal(env.Data, &ans); err != nil {
		hs.fail(w, ctx)
		return "", false
	}
	if strings.Contains(ans.SDP, "\na=candidate:") {
		// An ICE restart's answer: the worker gathered before answering,
		// and trickles none of them.
		return withCandidates(ans.SDP, nil), true
	}
	var cands []string
	gather := time.NewTimer(hs.h.cfg.GatherWait)
	defer gather.Stop()
	for {
		select {
		case c := <-hs.cands:
			if c != nil {
				cands = append(cands, *c)
				continue
			}
		case <-gather.C:
		case <-ctx.Done():
		case <-hs.done:
		}
		return withCandidates(ans.SDP, cands), true
	}
}

// send relays one client message to the worker session.
func (hs *httpSession) send(raw []byte) error {
	hs.c.sessMu.Lock()
	sess := hs.c.session
	hs.c.sessMu.Unlock()
	if sess == nil {
		return errors.New("control: session gone")
	}
	return sess.Send(raw)
}

// await waits for the reply to request id (or an error without id, or a
// bye, or the session's end).
func (hs *httpSession) await(ctx context.Context, id uint64) (signaling.Envelope, bool) {
	for {
		select {
		case env := <-hs.replies:
			if env.ID == id || env.ID == 0 {
				return env, env.Type != signaling.TypeError && env.Type != signaling.TypeBye
			}
		case <-hs.done:
			return signaling.Envelope{Type: signaling.TypeBye}, false
		case <-ctx.Done():
			return signaling.Envelope{}, false
		}
	}
}

// fail answers w for a session that could not start, from the error it
// got (env, or the first queued one), and ends the session.
func (hs *httpSession) fail(w http.ResponseWriter, ctx context.Context, envs ...signaling.Envelope) {
	var env signaling.Envelope
	if len(envs) > 0 {
		env = envs[0]
	}
	if env.Type != signaling.TypeError {
		select { // a refused join: its error is in the queue
		case e := <-hs.replies:
			env = e
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	hs.end()
	var e signaling.Error
	if env.Type == signaling.TypeError && json.Unmarshal(env.Data, &e) == nil {
		refusal(w, &signaling.CodedError{Code: e.Code, Detail: e.Message})
		return
	}
	if ctx.Err() != nil {
		httpError(w, http.StatusGatewayTimeout, "the media worker did not answer in time")
		return
	}
	httpError(w, http.StatusServiceUnavailable, "the session ended")
}

// end stops the session and waits until run has cleaned up.
func (hs *httpSession) end() {
	hs.c.stop()
	<-hs.done
}

// run reads what the worker sends the session until it ends, then leaves
// the room and forgets the session.
func (hs *httpSession) run() {
	c, s := hs.c, hs.h.s
	defer func() {
		c.sessMu.Lock()
		if c.session != nil {
			c.session.Close()
		}
		c.sessMu.Unlock()
		s.reg.leave(c)
		hs.h.mu.Lock()
		if hs.h.sessions[hs.id] == hs {
			delete(hs.h.sessions, hs.id)
		}
		hs.h.mu.Unlock()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.release(hs.ip)
		close(hs.done)
		s.wg.Done()
	}()
	for {
		select {
		case <-c.quit:
			return
		case raw := <-c.out:
			var env signaling.Envelope
			if json.Unmarshal(raw, &env) != nil {
				continue
			}
			switch env.Type {
			case signaling.TypeCandidate:
				var cd signaling.Candidate
				if json.Unmarshal(env.Data, &cd) != nil || cd.Target != hs.target {
					continue
				}
				var line *string
				if cd.Candidate != nil {
					line = &cd.Candidate.Candidate
				}
				select {
				case hs.cands <- line:
				default:
				}
			case signaling.TypeTrackUnpublished:
				var tu signaling.TrackUnpublished
				if json.Unmarshal(env.Data, &tu) == nil && hs.unpublished(tu.TrackID) {
					c.stop() // what it played is gone: the player starts anew
				}
			case signaling.TypeBye:
				select {
				case hs.replies <- env:
				default:
				}
				c.stop()
			case signaling.TypeJoined, signaling.TypeAnswer, signaling.TypeError, signaling.TypeAck:
				select {
				case hs.replies <- env:
				default:
				}
			}
		}
	}
}

// unpublished forgets a track the session plays and reports whether it
// played one and now plays none.
func (hs *httpSession) unpublished(id string) bool {
	hs.playMu.Lock()
	defer hs.playMu.Unlock()
	if !hs.playing[id] {
		return false
	}
	delete(hs.playing, id)
	return len(hs.playing) == 0
}

// lookup finds session id for a request whose token must be valid and
// the session's own (same app and user); otherwise it answers w.
func (h *HTTPMedia) lookup(w http.ResponseWriter, r *http.Request, id string) *httpSession {
	token := bearer(r)
	if token == "" {
		unauthorized(w, "a Bearer token (UserSig) is required")
		return nil
	}
	h.mu.Lock()
	hs := h.sessions[id]
	h.mu.Unlock()
	if hs == nil {
		httpError(w, http.StatusNotFound, "no such session")
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	want, err := auth.Peek(token)
	if err != nil {
		unauthorized(w, "the token is malformed")
		return nil
	}
	if want.SDKAppID != hs.want.SDKAppID || want.UserID != hs.want.UserID {
		httpError(w, http.StatusForbidden, "the session belongs to someone else")
		return nil
	}
	want.RoomID, want.StrRoomID = hs.want.RoomID, hs.want.StrRoomID
	if _, err := h.s.cfg.Verifier.VerifyJoin(ctx, token, "", want); err != nil && !errors.Is(err, auth.ErrPrivateMapKeyRequired) {
		refusal(w, &signaling.CodedError{Code: authCode(err), Detail: "token refused"})
		return nil
	}
	return hs
}

// patch trickles the client's candidates (204), or restarts ICE when the
// fragment carries new credentials (200 with the server's fragment).
func (h *HTTPMedia) patch(w http.ResponseWriter, r *http.Request, id string) {
	hs := h.lookup(w, r, id)
	if hs == nil {
		return
	}
	body, ok := h.body(w, r, contentFrag)
	if !ok {
		return
	}
	frag, err := parseFrag(body)
	if err != nil {
		httpError(w, http.StatusBadRequest, "the body is not an SDP fragment")
		return
	}
	hs.reqMu.Lock()
	defer hs.reqMu.Unlock()
	match := r.Header.Get("If-Match")
	restart := frag.ufrag != "" && frag.ufrag != iceUfrag(hs.offer)
	if match != "" && match != "*" && match != hs.etag {
		httpError(w, http.StatusPreconditionFailed, "the ETag does not match the ICE session")
		return
	}
	if restart && h.play {
		w.Header().Set("Allow", "DELETE, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, "a WHEP session does not restart ICE: start a new one")
		return
	}
	if !restart {
		for _, c := range frag.candidates {
			raw, err := signaling.Encode(signaling.TypeCandidate, 0, signaling.Candidate{Target: hs.target, Candidate: &c})
			if err == nil {
				err = hs.send(raw)
			}
			if err != nil {
				httpError(w, http.StatusNotFound, "the session ended")
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	offer := withICE(hs.offer, frag.ufrag, frag.pwd)
	answer, ok := hs.negotiate(ctx, w, offer, nil)
	if !ok {
		return
	}
	hs.offer, hs.etag = offer, `"`+randomID(8)+`"`
	for _, c := range frag.candidates {
		if raw, err := signaling.Encode(signaling.TypeCandidate, 0, signaling.Candidate{Target: signaling.TargetPublisher, Candidate: &c}); err == nil {
			_ = hs.send(raw)
		}
	}
	w.Header().Set("Content-Type", contentFrag)
	w.Header().Set("ETag", hs.etag)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, answerFrag(answer))
}

// delete ends the session: the participant leaves its room.
func (h *HTTPMedia) delete(w http.ResponseWriter, r *http.Request, id string) {
	hs := h.lookup(w, r, id)
	if hs == nil {
		return
	}
	hs.end()
	w.WriteHeader(http.StatusOK)
}

// iceUfrag is the first a=ice-ufrag of sdp.
func iceUfrag(s string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\r"), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

// withICE is offer with new ICE credentials and without candidates: the
// offer of an ICE restart that a PATCH asks for.
func withICE(offer, ufrag, pwd string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(strings.TrimRight(offer, "\r\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			line = "a=ice-ufrag:" + ufrag
		case strings.HasPrefix(line, "a=ice-pwd:"):
			line = "a=ice-pwd:" + pwd
		case strings.HasPrefix(line, "a=candidate:"), strings.HasPrefix(line, "a=end-of-candidates"):
			continue
		}
		b.WriteString(line + "\r\n")
	}
	return b.String()
}

// iceLinks are the Link headers (RFC 9725 4.6) of a session's TURN relays.
func iceLinks(servers []signaling.ICEServer) []string {
	var out []string
	for _, s := range servers {
		for _, u := range s.URLs {
			l := "<" + u + `>; rel="ice-server"`
			if s.Username != "" {
				l += `; username="` + s.Username + `"; credential="` + s.Credential + `"; credential-type="password"`
			}
			out = append(out, l)
		}
	}
	return out
}
