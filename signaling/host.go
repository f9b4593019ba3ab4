package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/lethe-rtc/lethe/internal/ipc"
	"github.com/lethe-rtc/lethe/sfu"
	"github.com/pion/webrtc/v4"
)

// Open is what the control process tells a worker when a participant has
// been admitted: the token is already checked and never crosses over.
type Open struct {
	JoinID        uint64 `json:"joinId"` // the id of the client's join request
	RoomKey       string `json:"roomKey"`
	RoomID        uint32 `json:"roomId,omitempty"`
	StrRoomID     string `json:"strRoomId,omitempty"`
	UserID        string `json:"userId"`
	Role          Role   `json:"role"`
	AutoSubscribe bool   `json:"autoSubscribe"`
	// Send and Receive are what the participant may publish and receive,
	// decided by the control process from its role and privileges.
	Send    sfu.Media `json:"send"`
	Receive sfu.Media `json:"receive"`
	Blocked sfu.Media `json:"blocked,omitempty"` // what an operator blocked for this user in this room
}

// Closed is the worker's word that a session ended.
type Closed struct {
	Code   Code   `json:"code"`
	Reason string `json:"reason"`
}

// Peer is what the host needs of one participant in the SFU.
type Peer interface {
	HandleOffer(sdp string, screen []string) (string, error)
	HandleAnswer(sdp string) error
	AddCandidate(side sfu.Side, c *webrtc.ICECandidateInit) error
	Subscribe(ids []string) error
	Unsubscribe(ids []string) error
	Mute(trackID string, muted bool) error
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
	server ServerInfo
	log    *slog.Logger

	out *outbox // to the control process, in order

	mu       sync.Mutex
	sessions map[uint64]*hostSession
	wg       sync.WaitGroup
}

// NewHost returns a host serving conn. server is sent in every joined.
func NewHost(conn *ipc.Conn, join JoinFunc, server ServerInfo, log *slog.Logger) *Host {
	return &Host{
		conn: conn, join: join, server: server, log: log,
		out:      newOutbox(maxOutboxBytes),
		sessions: make(map[uint64]*hostSession),
	}
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
		case ipc.OpOpen:
			var o Open
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
			h.log.Warn("unknown ipc op", "op", printable(f.Op, 16))
		}
	}
}

func (h *Host) open(sid uint64, o Open) {
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
	open  Open
	inbox chan ipc.Frame
	done  chan struct{}
	once  sync.Once
	why   error // why done was closed: set before closing it

	mu      sync.Mutex
	peer    Peer
	joined  bool              // joined was sent; events go straight out
	pending []json.RawMessage // events that arrived before joined
	ended   bool
}

func (s *hostSession) deliver(f ipc.Frame) {
	select {
	case s.inbox <- f:
	case <-s.done:
	default:
		s.fail(Errorf(CodeRateLimited, "too many messages in flight"))
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
		s.h.mu.Lock()
		delete(s.h.sessions, s.sid)
		s.h.mu.Unlock()
	}()
	cfg := sfu.ParticipantConfig{
		UserID: s.open.UserID, Role: string(s.open.Role), Hidden: s.open.Role == RoleAudience,
		Send: s.open.Send, Receive: s.open.Receive, Blocked: s.open.Blocked, AutoSubscribe: s.open.AutoSubscribe,
	}
	peer, others, err := s.h.join(s.open.RoomKey, cfg, s)
	if err != nil {
		s.reply(TypeError, s.open.JoinID, errorBody(err))
		s.finish(codeOf(err), "join failed")
		return
	}
	joined := Joined{
		ParticipantID: "", Server: s.h.server, Role: s.open.Role,
		Permissions: permissionNames(s.open.Send, s.open.Receive),
		Room:        RoomInfo{RoomID: s.open.RoomID, StrRoomID: s.open.StrRoomID, Participants: make([]ParticipantInfo, 0, len(others))},
	}
	if id, ok := peer.(interface{ ID() string }); ok {
		joined.ParticipantID = id.ID()
	}
	for _, o := range others {
		joined.Room.Participants = append(joined.Room.Participants, participantInfo(o))
	}
	s.mu.Lock()
	s.peer = peer
	s.reply(TypeJoined, s.open.JoinID, joined)
	for _, m := range s.pending {
		s.h.send(ipc.OpMsg, s.sid, m)
	}
	s.pending = nil
	s.joined = true
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
		s.finish(CodeOK, "left")
	}
}

// control carries out an instruction of the control process; true means
// the session has ended.
func (s *hostSession) control(peer Peer, raw []byte) bool {
	var c Control
	if err := json.Unmarshal(raw, &c); err != nil {
		s.h.log.Warn("bad control frame")
		return false
	}
	switch c.Action {
	case ControlRole:
		peer.SetRole(string(c.Role), c.Role == RoleAudience, c.Send, c.Receive)
	case ControlBlock:
		peer.Block(c.Media, c.Blocked)
	case ControlRemove:
		peer.Remove(sfu.ErrRemoved)
		return true
	case ControlDismiss:
		peer.Remove(sfu.ErrDismissed)
		return true
	default:
		s.h.log.Warn("unknown control action", "action", printable(c.Action, 16))
	}
	return false
}

func (s *hostSession) handle(peer Peer, raw []byte) {
	req, err := DecodeRequest(raw)
	if err != nil {
		s.reply(TypeError, req.ID, errorBody(err))
		return
	}
	var reply any
	replyType := TypeAck
	switch body := req.Body.(type) {
	case *SDP:
		switch {
		case req.Type == TypeOffer && body.Target == TargetPublisher:
			var answer string
			if answer, err = peer.HandleOffer(body.SDP, body.ScreenTrackIDs); err == nil {
				replyType, reply = TypeAnswer, SDP{Target: TargetPublisher, SDP: answer}
			}
		case req.Type == TypeAnswer && body.Target == TargetSubscriber:
			err = peer.HandleAnswer(body.SDP)
		default:
			err = Errorf(CodeWrongState, "the client offers on the publisher and answers on the subscriber")
		}
	case *Candidate:
		err = peer.AddCandidate(side(body.Target), body.Candidate)
		if req.ID == 0 && err == nil {
			return
		}
	case *TrackIDs:
		if req.Type == TypeSubscribe {
			err = peer.Subscribe(body.TrackIDs)
		} else {
			err = peer.Unsubscribe(body.TrackIDs)
		}
	case *Mute:
		err = peer.Mute(body.TrackID, body.Muted)
	case *Join:
		err = Errorf(CodeWrongState, "already joined")
	case nil:
		switch req.Type {
		case TypePing:
			replyType = TypePong
		case TypeLeave:
			if req.ID != 0 {
				s.reply(TypeAck, req.ID, nil)
			}
			peer.Leave()
			return
		}
	}
	if err != nil {
		s.reply(TypeError, req.ID, errorBody(err))
		return
	}
	if req.ID != 0 || replyType == TypeAnswer {
		s.reply(replyType, req.ID, reply)
	}
}

func (s *hostSession) reply(typ string, id uint64, data any) {
	raw, err := Encode(typ, id, data)
	if err != nil {
		return
	}
	if !s.h.send(ipc.OpMsg, s.sid, raw) {
		s.fail(Errorf(CodeInternal, "control process not reading"))
	}
}

// event sends a server event, holding it back until joined has gone out.
func (s *hostSession) event(typ string, data any) {
	raw, err := Encode(typ, 0, data)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if !s.joined {
		s.pending = append(s.pending, raw)
		return
	}
	if !s.h.send(ipc.OpMsg, s.sid, raw) {
		go s.fail(Errorf(CodeInternal, "control process not reading"))
	}
}

// fail ends the session from the worker's side; the bye carries err's code.
func (s *hostSession) fail(err error) { s.stop(err) }

// finish sends bye and the closed frame, once.
func (s *hostSession) finish(code Code, reason string) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	s.mu.Unlock()
	if raw, err := Encode(TypeBye, 0, Bye{Code: code, Reason: reason}); err == nil {
		s.h.send(ipc.OpMsg, s.sid, raw)
	}
	raw, _ := json.Marshal(Closed{Code: code, Reason: reason})
	s.h.send(ipc.OpClosed, s.sid, raw)
	s.stop(nil)
}

// The sfu.Events of this session.

func (s *hostSession) ParticipantJoined(p sfu.ParticipantInfo) {
	s.event(TypeParticipantJoined, participantInfo(p))
}
func (s *hostSession) ParticipantUpdated(p sfu.ParticipantInfo) {
	s.event(TypeParticipantUpdated, participantInfo(p))
}
func (s *hostSession) ParticipantLeft(id string) {
	s.event(TypeParticipantLeft, ParticipantLeft{ParticipantID: id})
}
func (s *hostSession) TrackPublished(t sfu.TrackInfo) {
	s.event(TypeTrackPublished, TrackPublished{Track: trackInfo(t)})
}
func (s *hostSession) TrackUnpublished(t sfu.TrackInfo) {
	s.event(TypeTrackUnpublished, TrackUnpublished{TrackID: t.ID, ParticipantID: t.ParticipantID})
}
func (s *hostSession) TrackMuted(t sfu.TrackInfo) {
	s.event(TypeTrackMuted, TrackMuted{TrackID: t.ID, ParticipantID: t.ParticipantID, Muted: t.Muted, Blocked: t.Blocked})
}
func (s *hostSession) Offer(sdp string) {
	s.event(TypeOffer, SDP{Target: TargetSubscriber, SDP: sdp})
}
func (s *hostSession) Candidate(sd sfu.Side, c *webrtc.ICECandidateInit) {
	t := TargetPublisher
	if sd == sfu.Subscriber {
		t = TargetSubscriber
	}
	s.event(TypeCandidate, Candidate{Target: t, Candidate: c})
}
func (s *hostSession) Closed(reason error) {
	switch {
	case errors.Is(reason, sfu.ErrLeft):
		s.finish(CodeOK, "left")
	case errors.Is(reason, sfu.ErrShutdown):
		s.finish(CodeShuttingDown, "server shutting down")
	case errors.Is(reason, sfu.ErrRemoved):
		s.finish(CodeRemoved, "removed by an operator")
	case errors.Is(reason, sfu.ErrDismissed):
		s.finish(CodeRoomDismissed, "room dismissed by an operator")
	default:
		s.finish(codeOf(reason), codeOf(reason).String())
	}
}

var _ sfu.Events = (*hostSession)(nil)

func side(t Target) sfu.Side {
	if t == TargetSubscriber {
		return sfu.Subscriber
	}
	return sfu.Publisher
}

func participantInfo(p sfu.ParticipantInfo) ParticipantInfo {
	out := ParticipantInfo{ParticipantID: p.ID, UserID: p.UserID, Role: Role(p.Role), Tracks: make([]TrackInfo, 0, len(p.Tracks))}
	for _, t := range p.Tracks {
		out.Tracks = append(out.Tracks, trackInfo(t))
	}
	return out
}

func trackInfo(t sfu.TrackInfo) TrackInfo {
	return TrackInfo{
		TrackID: t.ID, ParticipantID: t.ParticipantID, Kind: t.Kind, Codec: t.Codec,
		ClientTrackID: t.ClientTrackID, Mid: t.Mid, Screen: t.Screen, Muted: t.Muted, Blocked: t.Blocked,
	}
}

// codeOf maps an error from the SFU or this package to a client code.
func codeOf(err error) Code {
	var ce *CodedError
	switch {
	case errors.As(err, &ce):
		return ce.Code
	case errors.Is(err, sfu.ErrNotAllowed), errors.Is(err, sfu.ErrTooManyTracks):
		return CodeNotAllowed
	case errors.Is(err, sfu.ErrBadSDP):
		return CodeBadSDP
	case errors.Is(err, sfu.ErrUnknownTrack):
		return CodeUnknownTrack
	case errors.Is(err, sfu.ErrConnectionFailed):
		return CodeMediaFailed
	case errors.Is(err, sfu.ErrShutdown), errors.Is(err, sfu.ErrClosed):
		return CodeShuttingDown
	case errors.Is(err, sfu.ErrRemoved):
		return CodeRemoved
	case errors.Is(err, sfu.ErrDismissed):
		return CodeRoomDismissed
	}
	return CodeInternal
}

// errorBody turns err into the error message sent to the client. Pion's
// errors can quote SDP, so only our own wording goes out.
func errorBody(err error) Error {
	var ce *CodedError
	if errors.As(err, &ce) {
		return Error{Code: ce.Code, Message: ce.Message()}
	}
	c := codeOf(err)
	return Error{Code: c, Message: c.String()}
}
