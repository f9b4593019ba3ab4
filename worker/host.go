package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/lethe-rtc/lethe/signaling"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/lethe-rtc/lethe/internal/ipc"
	"github.com/lethe-rtc/lethe/sfu"
	"github.com/pion/webrtc/v4"
)

// Peer is what the host needs of one participant in the SFU.
type Peer interface {
	HandleOffer(sdp string, screen []string) (string, error)
	HandleAnswer(sdp string) error
	AddCandidate(side sfu.Side, c *webrtc.ICECandidateInit) error
	Subscribe(ids []string) error
	Unsubscribe(ids []string) error
	Mute(trackID string, muted bool) error
	SetTrackSettings(trackID string, s sfu.TrackSettings) error
	RestartICE() error
	Leave()
	Remove(reason error)
	SetRole(role string, hidden bool, send, receive sfu.Media)
	Block(m sfu.Media, blocked bool)
}

// JoinFunc admits a participant to a room of the SFU.
type JoinFunc func(roomKey string, cfg sfu.ParticipantConfig, ev sfu.Events) (Peer, []sfu.ParticipantInfo, error)

// Host runs in the media worker: it serves the control process's frames,
// one goroutine per session so a slow participant delays nobody else.
type Host struct {
	conn   *ipc.Conn
	join   JoinFunc
	server signaling.ServerInfo
	log    *slog.Logger

	out         *outbox                           // to the control process, in order
	eventWindow time.Duration                     // participant events gathered this long per session; 0: sent at once
	relay       Relay                             // TURN credentials per session; nil: none
	setCert     func(signaling.Certificate) error // renewed TURN-over-TLS certificates; nil: none
	collect     func()                            // what a stats request with GC runs: debug.FreeOSMemory
	speakers    speakersCache                     // a room's speakers list, encoded once for all its sessions
	media       func() signaling.MediaStats       // the SFU's figures for stats answers; nil: none (metrics.go)

	mu       sync.Mutex
	sessions map[uint64]*hostSession
	wg       sync.WaitGroup
}

// HostOption changes a Host.
type HostOption func(*Host)

// WithEventWindow makes each session gather the participant events of a
// window of d and send them as one collapsed message (signaling.Participants),
// instead of one message per event: a room filling with n anchors costs
// each of them at most one message per window rather than n. Every other
// message first sends what has gathered, so the order of events holds.
// 0, the default, sends each at once.
func WithEventWindow(d time.Duration) HostOption { return func(h *Host) { h.eventWindow = max(d, 0) } }

// NewHost returns a host serving conn. server is sent in every joined.
func NewHost(conn *ipc.Conn, join JoinFunc, server signaling.ServerInfo, log *slog.Logger, opts ...HostOption) *Host {
	h := &Host{
		conn: conn, join: join, server: server, log: log,
		out:      newOutbox(maxOutboxBytes),
		sessions: make(map[uint64]*hostSession),
		collect:  debug.FreeOSMemory,
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Serve handles frames until the control process says shutdown or goes
// away, then ends every session and returns.
func (h *Host) Serve(ctx context.Context) error {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		var spare []outFrame
		for {
			frames := h.out.take(spare)
			if len(frames) == 0 {
				return // closed and drained
			}
			for i, f := range frames {
				if err := h.conn.Send(f.op, f.sid, f.data); err != nil {
					h.log.Warn("ipc write failed", "err", err.Error())
				}
				frames[i] = outFrame{} // do not keep sent messages alive
			}
			spare = frames
		}
	}()
	err := h.readLoop(ctx)
	h.mu.Lock()
	all := make([]*hostSession, 0, len(h.sessions))
	for _, s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.stop(sfu.ErrShutdown)
	}
	h.wg.Wait()
	h.out.close()
	<-writerDone
	return err
}

func (h *Host) readLoop(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		f, err := h.conn.Recv()
		if err != nil {
			return fmt.Errorf("host: control connection: %w", err)
		}
		switch f.Op {
		case ipc.OpShutdown:
			return nil
		case ipc.OpCert:
			h.certificate(f.Data)
		case ipc.OpStats:
			var req signaling.StatsRequest
			_ = json.Unmarshal(f.Data, &req) // no data: no GC
			h.sendStats(req)
		case ipc.OpOpen:
			var o signaling.Open
			if err := json.Unmarshal(f.Data, &o); err != nil {
				h.log.Warn("bad open frame")
				continue
			}
			h.open(f.Session, o)
		case ipc.OpMsg, ipc.OpClose, ipc.OpControl:
			h.mu.Lock()
			s := h.sessions[f.Session]
			h.mu.Unlock()
			if s != nil {
				s.deliver(f)
			}
		default:
			h.log.Warn("unknown ipc op", "op", signaling.Printable(f.Op, 16))
		}
	}
}

// certificate installs a renewed certificate for the TURN relay's TLS
// listener; a bad one is logged (not its contents) and the last good one
// kept.
func (h *Host) certificate(raw []byte) {
	var c signaling.Certificate
	switch {
	case h.setCert == nil:
		h.log.Warn("a TURN certificate, but no TLS listener")
	case json.Unmarshal(raw, &c) != nil:
		h.log.Warn("bad cert frame")
	default:
		if err := h.setCert(c); err != nil {
			h.log.Warn("TURN certificate refused, the last good one kept", "err", err.Error())
		}
	}
}

// sendStats answers the control process's stats request. With GC, the
// sessions it reports are the most there were while the collection ran:
// one that ended meanwhile may have been marked live, and a leak check
// that took "no sessions" at its word would count its memory as leaked.
func (h *Host) sendStats(req signaling.StatsRequest) {
	sessions := h.sessionCount()
	if req.GC {
		h.collect()
	}
	var st signaling.Stats
	st.ReadRuntime()
	st.Sessions = max(sessions, h.sessionCount())
	if h.media != nil {
		m := h.media()
		st.Media = &m
	}
	if raw, err := json.Marshal(st); err == nil {
		h.send(ipc.OpStats, 0, raw)
	}
}

func (h *Host) sessionCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

func (h *Host) open(sid uint64, o signaling.Open) {
	s := &hostSession{h: h, sid: sid, open: o, inbox: make(chan ipc.Frame, 256), done: make(chan struct{})}
	h.mu.Lock()
	if h.sessions[sid] != nil {
		h.mu.Unlock()
		return
	}
	h.sessions[sid] = s
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		s.run()
	}()
}

// send queues a frame for the control process. It never blocks: if the
// outbox is full the control process is hopelessly behind and the frame
// is dropped, which ends that session.
func (h *Host) send(op string, sid uint64, data json.RawMessage) bool {
	return h.out.push(outFrame{op, sid, data})
}

// hostSession is one participant on this worker.
type hostSession struct {
	h     *Host
	sid   uint64
	open  signaling.Open
	inbox chan ipc.Frame
	done  chan struct{}
	once  sync.Once
	why   error // why done was closed: set before closing it

	mu      sync.Mutex
	peer    Peer
	joined  bool              // joined was sent; events go straight out
	pending []json.RawMessage // events that arrived before joined
	ended   bool
	state   signaling.State // what the control process was last told of this session
	batch   []partEvent     // participant events not sent yet
	flushAt *time.Timer     // sends batch when the event window ends
}

func (s *hostSession) deliver(f ipc.Frame) {
	select {
	case s.inbox <- f:
	case <-s.done:
	default:
		s.fail(signaling.Errorf(signaling.CodeRateLimited, "too many messages in flight"))
	}
}

// stop ends the session from the worker's side for reason (once).
func (s *hostSession) stop(reason error) {
	s.once.Do(func() {
		s.why = reason
		close(s.done)
	})
}

func (s *hostSession) run() {
	defer func() {
		if s.h.relay != nil {
			s.h.relay.End(sessionName(s.sid)) // its credentials and allocations with it
		}
		s.h.mu.Lock()
		delete(s.h.sessions, s.sid)
		s.h.mu.Unlock()
	}()
	cfg := sfu.ParticipantConfig{
		UserID: s.open.UserID, Role: string(s.open.Role), Hidden: s.open.Role == signaling.RoleAudience,
		Send: sfuMedia(s.open.Send), Receive: sfuMedia(s.open.Receive), Blocked: sfuMedia(s.open.Blocked),
		AutoSubscribe: s.open.AutoSubscribe, Data: s.open.Data, DataDenied: s.open.NoDataSend,
	}
	peer, others, err := s.h.join(s.open.RoomKey, cfg, s)
	if err != nil {
		s.reply(signaling.TypeError, s.open.JoinID, errorBody(err))
		s.finish(codeOf(err), "join failed")
		return
	}
	joined := signaling.Joined{
		ParticipantID: "", Server: s.h.server, Role: s.open.Role,
		Permissions: signaling.PermissionsOf(s.open.Send, s.open.Receive),
		Room:        signaling.RoomInfo{RoomID: s.open.RoomID, StrRoomID: s.open.StrRoomID, Participants: make([]signaling.ParticipantInfo, 0, len(others))},
	}
	if id, ok := peer.(interface{ ID() string }); ok {
		joined.ParticipantID = id.ID()
	}
	joined.Data = s.dataInfo(peer)
	if s.h.relay != nil {
		if servers, err := s.h.relay.Open(sessionName(s.sid)); err == nil {
			joined.IceServers = servers
		} else {
			s.h.log.Warn("no TURN credentials for a session", "err", err.Error())
		}
	}
	for _, o := range others {
		joined.Room.Participants = append(joined.Room.Participants, participantInfo(o))
	}
	s.mu.Lock()
	s.peer = peer
	s.replyLocked(signaling.TypeJoined, s.open.JoinID, joined)
	s.state.ParticipantID = joined.ParticipantID
	s.sendStateLocked()
	for _, m := range s.pending {
		s.h.send(ipc.OpMsg, s.sid, m)
	}
	s.pending = nil
	s.joined = true
	s.flushLocked() // what has gathered since the pending events
	s.mu.Unlock()

	for {
		select {
		case <-s.done:
			peer.Remove(s.why)
			s.waitEnded()
			return
		case f := <-s.inbox:
			switch f.Op {
			case ipc.OpClose:
				peer.Leave()
				s.waitEnded()
				return
			case ipc.OpControl:
				if s.control(peer, f.Data) {
					s.waitEnded()
					return
				}
			default:
				s.handle(peer, f.Data)
			}
		}
	}
}

// waitEnded returns once Closed has been called (Leave calls it
// synchronously, so this is only a guard against a Peer that does not).
func (s *hostSession) waitEnded() {
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if !ended {
		s.finish(signaling.CodeOK, "left")
	}
}

// control carries out an instruction of the control process; true means
// the session has ended.
func (s *hostSession) control(peer Peer, raw []byte) bool {
	var c signaling.Control
	if err := json.Unmarshal(raw, &c); err != nil {
		s.h.log.Warn("bad control frame")
		return false
	}
	switch c.Action {
	case signaling.ControlRole:
		peer.SetRole(string(c.Role), c.Role == signaling.RoleAudience, sfuMedia(c.Send), sfuMedia(c.Receive))
	case signaling.ControlBlock:
		peer.Block(sfuMedia(c.Media), c.Blocked)
	case signaling.ControlRemove:
		peer.Remove(sfu.ErrRemoved)
		return true
	case signaling.ControlDismiss:
		peer.Remove(sfu.ErrDismissed)
		return true
	default:
		s.h.log.Warn("unknown control action", "action", signaling.Printable(c.Action, 16))
	}
	return false
}

func (s *hostSession) handle(peer Peer, raw []byte) {
	req, err := signaling.DecodeRequest(raw)
	if err != nil {
		s.reply(signaling.TypeError, req.ID, errorBody(err))
		return
	}
	var reply any
	replyType := signaling.TypeAck
	switch body := req.Body.(type) {
	case *signaling.SDP:
		switch {
		case req.Type == signaling.TypeOffer && body.Target == signaling.TargetPublisher:
			var answer string
			if answer, err = peer.HandleOffer(body.SDP, body.ScreenTrackIDs); err == nil {
				replyType, reply = signaling.TypeAnswer, signaling.SDP{Target: signaling.TargetPublisher, SDP: answer}
			}
		case req.Type == signaling.TypeAnswer && body.Target == signaling.TargetSubscriber:
			err = peer.HandleAnswer(body.SDP)
		case req.Type == signaling.TypeOffer && body.Target == signaling.TargetSubscriber:
			// A player that offers to receive (WHEP, docs/whip.md).
			var answer string
			if answer, err = answerSubscriber(peer, body.SDP, body.TrackIDs, body.Follow); err == nil {
				replyType, reply = signaling.TypeAnswer, signaling.SDP{Target: signaling.TargetSubscriber, SDP: answer}
			}
		default:
			err = signaling.Errorf(signaling.CodeWrongState, "the client offers on the publisher and answers on the subscriber")
		}
	case *signaling.Candidate:
		err = peer.AddCandidate(side(body.Target), body.Candidate)
		if req.ID == 0 && err == nil {
			return
		}
	case *signaling.TrackIDs:
		if req.Type == signaling.TypeSubscribe {
			err = peer.Subscribe(body.TrackIDs)
		} else {
			err = peer.Unsubscribe(body.TrackIDs)
		}
	case *signaling.Mute:
		err = peer.Mute(body.TrackID, body.Muted)
	case *signaling.TrackSettings:
		st := sfu.TrackSettings{MaxLayer: -1, Width: body.Width, Height: body.Height, FPS: body.FPS, Paused: body.Paused}
		if body.MaxLayer != nil {
			st.MaxLayer = *body.MaxLayer
		}
		err = peer.SetTrackSettings(body.TrackID, st)
	case *signaling.RestartICE: // always the subscriber: the codec refuses the publisher
		if err = peer.RestartICE(); errors.Is(err, sfu.ErrICERestartLimit) {
			err = signaling.Errorf(signaling.CodeNotAllowed, "ICE restart limit reached")
		}
	case *signaling.Join:
		err = signaling.Errorf(signaling.CodeWrongState, "already joined")
	case nil:
		switch req.Type {
		case signaling.TypePing:
			replyType = signaling.TypePong
		case signaling.TypeLeave:
			if req.ID != 0 {
				s.reply(signaling.TypeAck, req.ID, nil)
			}
			peer.Leave()
			return
		}
	}
	if err != nil {
		s.reply(signaling.TypeError, req.ID, errorBody(err))
		return
	}
	if req.ID != 0 || replyType == signaling.TypeAnswer {
		s.reply(replyType, req.ID, reply)
	}
}

// answerSubscriber answers a client's offer on the subscriber, if the
// peer can (*sfu.Participant can).
// With follow set (signaling.FollowSpeaker) it answers with the room's
// current speaker instead of trackIDs.
func answerSubscriber(peer Peer, offer string, trackIDs []string, follow string) (string, error) {
	var answer string
	var err error
	if follow != "" {
		a, ok := peer.(interface {
			AnswerFollowing(offer string) (string, error)
		})
		if !ok {
			return "", signaling.Errorf(signaling.CodeWrongState, "the client offers on the publisher and answers on the subscriber")
		}
		answer, err = a.AnswerFollowing(offer)
	} else {
		a, ok := peer.(interface {
			AnswerSubscriber(offer string, trackIDs []string) (string, error)
		})
		if !ok {
			return "", signaling.Errorf(signaling.CodeWrongState, "the client offers on the publisher and answers on the subscriber")
		}
		answer, err = a.AnswerSubscriber(offer, trackIDs)
	}
	if errors.Is(err, sfu.ErrSubscriberOffered) {
		err = signaling.Errorf(signaling.CodeWrongState, "the server offers on this subscriber: answer its offers (only a player that never had one may offer)")
	}
	return answer, err
}

// reply answers a request, after the participant events gathered so far.
func (s *hostSession) reply(typ string, id uint64, data any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replyLocked(typ, id, data)
}

func (s *hostSession) replyLocked(typ string, id uint64, data any) {
	raw, err := signaling.Encode(typ, id, data)
	if err != nil {
		return
	}
	s.flushLocked()
	if !s.h.send(ipc.OpMsg, s.sid, raw) {
		go s.fail(signaling.Errorf(signaling.CodeInternal, "control process not reading"))
	}
}

// event sends a server event, holding it back until joined has gone out.
func (s *hostSession) event(typ string, data any) {
	raw, err := signaling.Encode(typ, 0, data)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.flushLocked()
	s.sendEventLocked(raw)
}

// sendEventLocked sends raw, or holds it until joined has gone out.
func (s *hostSession) sendEventLocked(raw []byte) {
	if !s.joined {
		s.pending = append(s.pending, raw)
		return
	}
	if !s.h.send(ipc.OpMsg, s.sid, raw) {
		go s.fail(signaling.Errorf(signaling.CodeInternal, "control process not reading"))
	}
}

// participantEvent gathers a participant event for the event window (or
// sends it at once without one).
func (s *hostSession) participantEvent(typ string, info signaling.ParticipantInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.batch = append(s.batch, partEvent{typ: typ, info: info})
	switch {
	case !s.joined: // sent right after joined
	case s.h.eventWindow == 0:
		s.flushLocked()
	case s.flushAt == nil:
		s.flushAt = time.AfterFunc(s.h.eventWindow, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.flushAt = nil
			if !s.ended {
				s.flushLocked()
			}
		})
	}
}

// flushLocked sends the gathered participant events, collapsed.
func (s *hostSession) flushLocked() {
	if len(s.batch) == 0 {
		return
	}
	if s.flushAt != nil {
		s.flushAt.Stop()
		s.flushAt = nil
	}
	raw, err := encodeParticipants(collapse(s.batch))
	clear(s.batch)
	s.batch = s.batch[:0]
	if err == nil && raw != nil {
		s.sendEventLocked(raw)
	}
}

// ownTrack applies change to the session's published tracks, when the
// event is about the session's own participant, and tells the control
// process.
func (s *hostSession) ownTrack(participantID string, change func([]signaling.TrackState) []signaling.TrackState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || participantID == "" || participantID != s.state.ParticipantID {
		return
	}
	s.state.Tracks = change(slices.Clone(s.state.Tracks))
	s.sendStateLocked()
}

// sendStateLocked sends the session's state to the control process. The
// caller holds s.mu, which keeps states in order.
func (s *hostSession) sendStateLocked() {
	st := s.state
	if st.Tracks == nil {
		st.Tracks = []signaling.TrackState{}
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return
	}
	if !s.h.send(ipc.OpState, s.sid, raw) {
		go s.fail(signaling.Errorf(signaling.CodeInternal, "control process not reading"))
	}
}

// fail ends the session from the worker's side; the bye carries err's code.
func (s *hostSession) fail(err error) { s.stop(err) }

// finish sends bye and the closed frame, once.
func (s *hostSession) finish(code signaling.Code, reason string) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	if s.flushAt != nil {
		s.flushAt.Stop()
		s.flushAt = nil
	}
	s.batch = nil // the room's news no longer matter to this participant
	s.mu.Unlock()
	if raw, err := signaling.Encode(signaling.TypeBye, 0, signaling.Bye{Code: code, Reason: reason}); err == nil {
		s.h.send(ipc.OpMsg, s.sid, raw)
	}
	raw, _ := json.Marshal(signaling.Closed{Code: code, Reason: reason})
	s.h.send(ipc.OpClosed, s.sid, raw)
	s.stop(nil)
}

// The sfu.Events of this session.

func (s *hostSession) ParticipantJoined(p sfu.ParticipantInfo) {
	s.participantEvent(signaling.TypeParticipantJoined, participantInfo(p))
}
func (s *hostSession) ParticipantUpdated(p sfu.ParticipantInfo) {
	s.participantEvent(signaling.TypeParticipantUpdated, participantInfo(p))
}
func (s *hostSession) ParticipantLeft(id string) {
	s.participantEvent(signaling.TypeParticipantLeft, signaling.ParticipantInfo{ParticipantID: id})
}
func (s *hostSession) TrackPublished(t sfu.TrackInfo) {
	s.event(signaling.TypeTrackPublished, signaling.TrackPublished{Track: trackInfo(t)})
	kind := t.Kind
	if t.Screen {
		kind = "screen"
	}
	s.ownTrack(t.ParticipantID, func(ts []signaling.TrackState) []signaling.TrackState {
		return append(ts, signaling.TrackState{TrackID: t.ID, Kind: kind})
	})
}
func (s *hostSession) TrackUnpublished(t sfu.TrackInfo) {
	s.event(signaling.TypeTrackUnpublished, signaling.TrackUnpublished{TrackID: t.ID, ParticipantID: t.ParticipantID})
	s.ownTrack(t.ParticipantID, func(ts []signaling.TrackState) []signaling.TrackState {
		return slices.DeleteFunc(ts, func(x signaling.TrackState) bool { return x.TrackID == t.ID })
	})
}
func (s *hostSession) TrackMuted(t sfu.TrackInfo) {
	s.event(signaling.TypeTrackMuted, signaling.TrackMuted{TrackID: t.ID, ParticipantID: t.ParticipantID, Muted: t.Muted, Blocked: t.Blocked})
}
func (s *hostSession) TrackPaused(id string, paused bool) {
	s.event(signaling.TypeTrackPaused, signaling.TrackPaused{TrackID: id, Paused: paused, Reason: signaling.PauseBandwidth})
}
func (s *hostSession) TrackUnsupported(id, _ string) {
	s.event(signaling.TypeTrackPaused, signaling.TrackPaused{TrackID: id, Paused: true, Reason: signaling.PauseCodec})
}
func (s *hostSession) TrackLayer(id, rid string, layer int) {
	s.event(signaling.TypeTrackLayer, signaling.TrackLayer{TrackID: id, RID: rid, Layer: layer})
}
func (s *hostSession) TrackLayers(t sfu.TrackInfo) {
	m := signaling.TrackLayers{TrackID: t.ID, ParticipantID: t.ParticipantID, Layers: trackInfo(t).Layers}
	if m.Layers == nil {
		m.Layers = []signaling.Layer{}
	}
	s.event(signaling.TypeTrackLayers, m)
}
func (s *hostSession) LayersWanted(t sfu.TrackInfo, ls []sfu.LayerState) {
	m := signaling.LayersWanted{TrackID: t.ID, ClientTrackID: t.ClientTrackID, Layers: make([]signaling.LayerState, len(ls))}
	for i, l := range ls {
		m.Layers[i] = signaling.LayerState{RID: l.RID, Active: l.Active}
	}
	s.event(signaling.TypeLayersWanted, m)
}
func (s *hostSession) Offer(sdp string, iceRestart bool) {
	s.event(signaling.TypeOffer, signaling.SDP{Target: signaling.TargetSubscriber, SDP: sdp, ICERestart: iceRestart})
}
func (s *hostSession) RestartICE() {
	s.event(signaling.TypeRestartICE, signaling.RestartICE{Target: signaling.TargetPublisher})
}
func (s *hostSession) Candidate(sd sfu.Side, c *webrtc.ICECandidateInit) {
	t := signaling.TargetPublisher
	if sd == sfu.Subscriber {
		t = signaling.TargetSubscriber
	}
	s.event(signaling.TypeCandidate, signaling.Candidate{Target: t, Candidate: c})
}
func (s *hostSession) Closed(reason error) {
	for _, e := range endings {
		if errors.Is(reason, e.err) {
			s.finish(e.code, e.text)
			return
		}
	}
	c := codeOf(reason)
	s.finish(c, c.String())
}

// endings are the SFU's reasons for ending a participant that its bye
// names in words of their own, in the order they are looked for (a DTLS
// timeout is also a failed connection).
var endings = []struct {
	err  error
	code signaling.Code
	text string
}{
	{sfu.ErrLeft, signaling.CodeOK, "left"},
	{sfu.ErrShutdown, signaling.CodeShuttingDown, "server shutting down"},
	{sfu.ErrRemoved, signaling.CodeRemoved, "removed by an operator"},
	{sfu.ErrDismissed, signaling.CodeRoomDismissed, "room dismissed by an operator"},
	{sfu.ErrConnectionClosed, signaling.CodeMediaFailed, "media connection closed"},
	{sfu.ErrDTLSTimeout, signaling.CodeMediaFailed, "DTLS handshake timed out"},
	{sfu.ErrTooManyStreams, signaling.CodeNotAllowed, "RTCP on too many SSRCs"},
}

var _ sfu.Events = (*hostSession)(nil)
var _ sfu.CodecEvents = (*hostSession)(nil)
var _ sfu.LayerEvents = (*hostSession)(nil)

// sfuMedia translates the control process's media bits into the SFU's.
func sfuMedia(m signaling.Media) sfu.Media {
	var out sfu.Media
	for _, k := range []struct {
		wire signaling.Media
		sfu  sfu.Media
	}{{signaling.Audio, sfu.Audio}, {signaling.Video, sfu.Video}, {signaling.Screen, sfu.Screen}} {
		if m&k.wire != 0 {
			out |= k.sfu
		}
	}
	return out
}

func side(t signaling.Target) sfu.Side {
	if t == signaling.TargetSubscriber {
		return sfu.Subscriber
	}
	return sfu.Publisher
}

func participantInfo(p sfu.ParticipantInfo) signaling.ParticipantInfo {
	out := signaling.ParticipantInfo{ParticipantID: p.ID, UserID: p.UserID, Role: signaling.Role(p.Role), Tracks: make([]signaling.TrackInfo, 0, len(p.Tracks))}
	for _, t := range p.Tracks {
		out.Tracks = append(out.Tracks, trackInfo(t))
	}
	return out
}

func trackInfo(t sfu.TrackInfo) signaling.TrackInfo {
	ti := signaling.TrackInfo{
		TrackID: t.ID, ParticipantID: t.ParticipantID, Kind: t.Kind, Codec: t.Codec,
		ClientTrackID: t.ClientTrackID, Mid: t.Mid, Screen: t.Screen, Muted: t.Muted, Blocked: t.Blocked,
	}
	for _, l := range t.Layers {
		ti.Layers = append(ti.Layers, signaling.Layer{RID: l.RID, Width: l.Width, Height: l.Height, Bitrate: l.Bitrate})
	}
	return ti
}

// codeOf maps an error from the SFU or this package to a client code.
func codeOf(err error) signaling.Code {
	var ce *signaling.CodedError
	switch {
	case errors.As(err, &ce):
		return ce.Code
	case dataCode(err) != 0:
		return dataCode(err)
	case errors.Is(err, sfu.ErrNotAllowed), errors.Is(err, sfu.ErrTooManyTracks):
		return signaling.CodeNotAllowed
	case errors.Is(err, sfu.ErrBadSDP):
		return signaling.CodeBadSDP
	case errors.Is(err, sfu.ErrUnknownTrack):
		return signaling.CodeUnknownTrack
	case errors.Is(err, sfu.ErrConnectionFailed), errors.Is(err, sfu.ErrConnectionClosed):
		return signaling.CodeMediaFailed
	case errors.Is(err, sfu.ErrShutdown), errors.Is(err, sfu.ErrClosed):
		return signaling.CodeShuttingDown
	case errors.Is(err, sfu.ErrRemoved):
		return signaling.CodeRemoved
	case errors.Is(err, sfu.ErrDismissed):
		return signaling.CodeRoomDismissed
	}
	return signaling.CodeInternal
}

// errorBody turns err into the error message sent to the client. Pion's
// errors can quote SDP, so only our own wording goes out: the code's
// name, and the SFU's reason when it refused what the client sent.
func errorBody(err error) signaling.Error {
	var ce *signaling.CodedError
	if errors.As(err, &ce) {
		return signaling.Error{Code: ce.Code, Message: ce.Message()}
	}
	c := codeOf(err)
	if why, ok := sfu.Reason(err); ok {
		return signaling.Error{Code: c, Message: c.String() + ": " + why}
	}
	return signaling.Error{Code: c, Message: c.String()}
}
