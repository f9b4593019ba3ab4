package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/internal/ipc"
	"github.com/lethe-rtc/lethe/sfu"
	"github.com/pion/webrtc/v4"
)

// fakePeer is a Peer whose behaviour the test sets. A nil Func succeeds
// with zero values. Leave and Remove are recorded; with their Func nil
// they call Events.Closed once, synchronously, as the SFU does: with
// sfu.ErrLeft for Leave, with the reason for Remove.
type fakePeer struct {
	id string
	ev sfu.Events

	HandleOfferFunc  func(sdp string, screen []string) (string, error)
	HandleAnswerFunc func(sdp string) error
	AddCandidateFunc func(side sfu.Side, c *webrtc.ICECandidateInit) error
	SubscribeFunc    func(ids []string) error
	UnsubscribeFunc  func(ids []string) error
	MuteFunc         func(trackID string, muted bool) error
	SetRoleFunc      func(role string, hidden bool, send, receive sfu.Media)
	BlockFunc        func(m sfu.Media, blocked bool)
	LeaveFunc        func()
	RemoveFunc       func(reason error)

	leaves    atomic.Int32
	removes   chan error    // every Remove's reason
	goneCh    chan struct{} // closed on the first Leave or Remove
	goneOnce  sync.Once
	closeOnce sync.Once
}

var _ Peer = (*fakePeer)(nil)

func newFakePeer(id string, ev sfu.Events) *fakePeer {
	return &fakePeer{id: id, ev: ev, goneCh: make(chan struct{}), removes: make(chan error, 16)}
}

func (p *fakePeer) ID() string { return p.id }

func (p *fakePeer) HandleOffer(sdp string, screen []string) (string, error) {
	if p.HandleOfferFunc == nil {
		return "", nil
	}
	return p.HandleOfferFunc(sdp, screen)
}

func (p *fakePeer) HandleAnswer(sdp string) error {
	if p.HandleAnswerFunc == nil {
		return nil
	}
	return p.HandleAnswerFunc(sdp)
}

func (p *fakePeer) AddCandidate(side sfu.Side, c *webrtc.ICECandidateInit) error {
	if p.AddCandidateFunc == nil {
		return nil
	}
	return p.AddCandidateFunc(side, c)
}

func (p *fakePeer) Subscribe(ids []string) error {
	if p.SubscribeFunc == nil {
		return nil
	}
	return p.SubscribeFunc(ids)
}

func (p *fakePeer) Unsubscribe(ids []string) error {
	if p.UnsubscribeFunc == nil {
		return nil
	}
	return p.UnsubscribeFunc(ids)
}

func (p *fakePeer) Mute(trackID string, muted bool) error {
	if p.MuteFunc == nil {
		return nil
	}
	return p.MuteFunc(trackID, muted)
}

func (p *fakePeer) SetRole(role string, hidden bool, send, receive sfu.Media) {
	if p.SetRoleFunc != nil {
		p.SetRoleFunc(role, hidden, send, receive)
	}
}

func (p *fakePeer) Block(m sfu.Media, blocked bool) {
	if p.BlockFunc != nil {
		p.BlockFunc(m, blocked)
	}
}

func (p *fakePeer) Leave() {
	p.leaves.Add(1)
	p.goneOnce.Do(func() { close(p.goneCh) })
	if p.LeaveFunc != nil {
		p.LeaveFunc()
		return
	}
	p.closeOnce.Do(func() { p.ev.Closed(sfu.ErrLeft) })
}

func (p *fakePeer) Remove(reason error) {
	p.removes <- reason
	p.goneOnce.Do(func() { close(p.goneCh) })
	if p.RemoveFunc != nil {
		p.RemoveFunc(reason)
		return
	}
	p.closeOnce.Do(func() { p.ev.Closed(reason) })
}

// gone reports whether Leave or Remove has been called.
func (p *fakePeer) gone() bool {
	select {
	case <-p.goneCh:
		return true
	default:
		return false
	}
}

// joinCall is one call of the fake JoinFunc.
type joinCall struct {
	roomKey string
	cfg     sfu.ParticipantConfig
	ev      sfu.Events
	peer    *fakePeer
}

// fakeJoin returns a JoinFunc that makes a fakePeer per join and lets setup
// adjust it, raise events, and choose the snapshot or an error. Every call
// is reported on the channel once setup has returned.
func fakeJoin(setup func(jc *joinCall) ([]sfu.ParticipantInfo, error)) (JoinFunc, chan *joinCall) {
	calls := make(chan *joinCall, 64)
	return func(roomKey string, cfg sfu.ParticipantConfig, ev sfu.Events) (Peer, []sfu.ParticipantInfo, error) {
		jc := &joinCall{roomKey: roomKey, cfg: cfg, ev: ev, peer: newFakePeer("p-"+cfg.UserID, ev)}
		var others []sfu.ParticipantInfo
		var err error
		if setup != nil {
			others, err = setup(jc)
		}
		calls <- jc
		if err != nil {
			return nil, nil, err
		}
		return jc.peer, others, nil
	}, calls
}

var testServerInfo = ServerInfo{Version: "test", Enforced: false, Warnings: []string{"unenforced"}}

// hostHarness runs a Host over net.Pipe, with the test as control process.
type hostHarness struct {
	ctl      *ipc.Conn
	ctlEnd   net.Conn
	frames   chan ipc.Frame // everything the host sent, in order
	serveErr chan error

	doneOnce sync.Once
	err      error
}

func newHostHarness(t *testing.T, join JoinFunc) *hostHarness {
	t.Helper()
	hostEnd, ctlEnd := net.Pipe()
	h := &hostHarness{ctl: ipc.NewConn(ctlEnd), ctlEnd: ctlEnd, frames: make(chan ipc.Frame, 4096), serveErr: make(chan error, 1)}
	host := NewHost(ipc.NewConn(hostEnd), join, testServerInfo, slog.New(slog.DiscardHandler))
	go func() { h.serveErr <- host.Serve(context.Background()) }()
	go func() {
		defer close(h.frames)
		for {
			f, err := h.ctl.Recv()
			if err != nil {
				return
			}
			h.frames <- f
		}
	}()
	t.Cleanup(func() {
		// Serve may have returned already, so the shutdown frame may never
		// be read: send it aside, and closing the pipe unblocks it.
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			_ = h.ctl.Send(ipc.OpShutdown, 0, nil)
		}()
		h.served(t)
		_ = ctlEnd.Close()
		_ = hostEnd.Close()
		<-sent
		for range h.frames {
		}
	})
	return h
}

// served waits for Serve to return and gives its error.
func (h *hostHarness) served(t *testing.T) error {
	t.Helper()
	h.doneOnce.Do(func() {
		select {
		case h.err = <-h.serveErr:
		case <-time.After(wait):
			h.err = errors.New("Serve did not return")
			t.Error(h.err)
		}
	})
	return h.err
}

func (h *hostHarness) sendFrame(t *testing.T, op string, sid uint64, data any) {
	t.Helper()
	if err := h.ctl.Send(op, sid, data); err != nil {
		t.Fatalf("send %s: %v", op, err)
	}
}

func (h *hostHarness) request(t *testing.T, sid uint64, raw string) {
	t.Helper()
	h.sendFrame(t, ipc.OpMsg, sid, json.RawMessage(raw))
}

func (h *hostHarness) next(t *testing.T) ipc.Frame {
	t.Helper()
	select {
	case f, ok := <-h.frames:
		if !ok {
			t.Fatal("control connection closed")
		}
		return f
	case <-time.After(wait):
		t.Fatal("no frame from the host")
	}
	return ipc.Frame{}
}

// expect reads the next frame and checks it is message typ with id for sid.
func (h *hostHarness) expect(t *testing.T, sid uint64, typ string, id uint64) Envelope {
	t.Helper()
	f := h.next(t)
	if f.Op != ipc.OpMsg || f.Session != sid {
		t.Fatalf("got %s sid %d (%s), want msg sid %d", f.Op, f.Session, f.Data, sid)
	}
	var env Envelope
	if err := json.Unmarshal(f.Data, &env); err != nil {
		t.Fatalf("bad message %s: %v", f.Data, err)
	}
	if env.Type != typ || env.ID != id {
		t.Fatalf("got %s id %d (%s), want %s id %d", env.Type, env.ID, env.Data, typ, id)
	}
	return env
}

func (h *hostHarness) expectError(t *testing.T, sid, id uint64, code Code) Error {
	t.Helper()
	env := h.expect(t, sid, TypeError, id)
	var e Error
	if err := json.Unmarshal(env.Data, &e); err != nil || e.Code != code {
		t.Fatalf("error %s, want code %d", env.Data, code)
	}
	if strings.Contains(e.Message, secret) || strings.Contains(e.Message, "v=0") {
		t.Fatalf("error message %q echoes SDP or a secret", e.Message)
	}
	return e
}

// expectEnd reads bye(code) and then the closed frame for sid.
func (h *hostHarness) expectEnd(t *testing.T, sid uint64, code Code) {
	t.Helper()
	env := h.expect(t, sid, TypeBye, 0)
	var b Bye
	if err := json.Unmarshal(env.Data, &b); err != nil || b.Code != code {
		t.Fatalf("bye %s, want code %d", env.Data, code)
	}
	f := h.next(t)
	var c Closed
	if f.Op != ipc.OpClosed || f.Session != sid || json.Unmarshal(f.Data, &c) != nil || c.Code != code {
		t.Fatalf("got %s sid %d (%s), want closed sid %d code %d", f.Op, f.Session, f.Data, sid, code)
	}
}

func testOpen(joinID uint64, user string) Open {
	return Open{JoinID: joinID, RoomKey: RoomKey(1400000001, 123, ""), RoomID: 123, UserID: user, Role: RoleAnchor,
		AutoSubscribe: true, Send: sfu.AllMedia, Receive: sfu.AllMedia}
}

// joinHost opens session sid and reads its joined.
func (h *hostHarness) joinHost(t *testing.T, calls chan *joinCall, sid uint64) *joinCall {
	t.Helper()
	h.sendFrame(t, ipc.OpOpen, sid, testOpen(sid*10, fmt.Sprint("user", sid)))
	h.expect(t, sid, TypeJoined, sid*10)
	select {
	case jc := <-calls:
		return jc
	case <-time.After(wait):
		t.Fatal("JoinFunc not called")
		return nil
	}
}

var (
	sfuTrack  = sfu.TrackInfo{ID: "t1", ParticipantID: "p-bob", Kind: "video", Codec: "video/VP8", ClientTrackID: "cam", Mid: "0", Screen: true, Muted: true, Blocked: true}
	wireTrack = TrackInfo{TrackID: "t1", ParticipantID: "p-bob", Kind: "video", Codec: "video/VP8", ClientTrackID: "cam", Mid: "0", Screen: true, Muted: true, Blocked: true}
)

func TestHostJoined(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		open    Open
		others  []sfu.ParticipantInfo
		wantCfg sfu.ParticipantConfig
		want    Joined
	}{
		{
			name:    "anchor in a numeric room",
			open:    Open{JoinID: 42, RoomKey: "1/n/123", RoomID: 123, UserID: "alice", Role: RoleAnchor, AutoSubscribe: true, Send: sfu.Audio | sfu.Video, Receive: sfu.AllMedia},
			others:  []sfu.ParticipantInfo{{ID: "p-bob", UserID: "bob", Role: "anchor", Tracks: []sfu.TrackInfo{sfuTrack}}, {ID: "p-eve", UserID: "eve", Role: "audience"}},
			wantCfg: sfu.ParticipantConfig{UserID: "alice", Role: "anchor", Send: sfu.Audio | sfu.Video, Receive: sfu.AllMedia, AutoSubscribe: true},
			want: Joined{ParticipantID: "p-alice", Role: RoleAnchor, Server: testServerInfo,
				Permissions: Permissions{Send: []string{"audio", "video"}, Receive: []string{"audio", "video", "screen"}},
				Room: RoomInfo{RoomID: 123, Participants: []ParticipantInfo{
					{ParticipantID: "p-bob", UserID: "bob", Role: RoleAnchor, Tracks: []TrackInfo{wireTrack}},
					{ParticipantID: "p-eve", UserID: "eve", Role: RoleAudience, Tracks: []TrackInfo{}},
				}}},
		},
		{
			name:    "audience alone in a string room",
			open:    Open{JoinID: 7, RoomKey: "1/s/123", StrRoomID: "123", UserID: "carol", Role: RoleAudience, Receive: sfu.Audio},
			wantCfg: sfu.ParticipantConfig{UserID: "carol", Role: "audience", Hidden: true, Receive: sfu.Audio},
			want: Joined{ParticipantID: "p-carol", Role: RoleAudience, Server: testServerInfo,
				Permissions: Permissions{Send: []string{}, Receive: []string{"audio"}},
				Room:        RoomInfo{StrRoomID: "123", Participants: []ParticipantInfo{}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			join, calls := fakeJoin(func(*joinCall) ([]sfu.ParticipantInfo, error) { return tt.others, nil })
			h := newHostHarness(t, join)
			h.sendFrame(t, ipc.OpOpen, 5, tt.open)
			env := h.expect(t, 5, TypeJoined, tt.open.JoinID)
			var got Joined
			if err := json.Unmarshal(env.Data, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("joined %+v\nwant   %+v", got, tt.want)
			}
			if strings.Contains(string(env.Data), `"participants":null`) {
				t.Error("participants sent as null")
			}
			jc := <-calls
			if jc.roomKey != tt.open.RoomKey || jc.cfg != tt.wantCfg {
				t.Fatalf("JoinFunc(%q, %+v), want (%q, %+v)", jc.roomKey, jc.cfg, tt.open.RoomKey, tt.wantCfg)
			}
		})
	}
}

// TestHostEventsHeldUntilJoined raises events inside the JoinFunc: they
// must follow joined, in order; later events go straight out.
func TestHostEventsHeldUntilJoined(t *testing.T) {
	t.Parallel()
	cand := &webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host"}
	join, calls := fakeJoin(func(jc *joinCall) ([]sfu.ParticipantInfo, error) {
		jc.ev.ParticipantJoined(sfu.ParticipantInfo{ID: "p-bob", UserID: "bob", Role: "anchor"})
		jc.ev.TrackPublished(sfuTrack)
		jc.ev.TrackMuted(sfu.TrackInfo{ID: "t1", ParticipantID: "p-bob", Muted: true, Blocked: true})
		jc.ev.ParticipantUpdated(sfu.ParticipantInfo{ID: "p-bob", UserID: "bob", Role: "audience"})
		jc.ev.Offer("v=0 offer")
		jc.ev.Candidate(sfu.Subscriber, cand)
		jc.ev.Candidate(sfu.Publisher, nil)
		jc.ev.TrackUnpublished(sfuTrack)
		jc.ev.ParticipantLeft("p-bob")
		return nil, nil
	})
	h := newHostHarness(t, join)
	h.sendFrame(t, ipc.OpOpen, 1, testOpen(9, "alice"))
	h.expect(t, 1, TypeJoined, 9)
	want := []struct {
		typ  string
		data any
	}{
		{TypeParticipantJoined, ParticipantInfo{ParticipantID: "p-bob", UserID: "bob", Role: RoleAnchor, Tracks: []TrackInfo{}}},
		{TypeTrackPublished, TrackPublished{Track: wireTrack}},
		{TypeTrackMuted, TrackMuted{TrackID: "t1", ParticipantID: "p-bob", Muted: true, Blocked: true}},
		{TypeParticipantUpdated, ParticipantInfo{ParticipantID: "p-bob", UserID: "bob", Role: RoleAudience, Tracks: []TrackInfo{}}},
		{TypeOffer, SDP{Target: TargetSubscriber, SDP: "v=0 offer"}},
		{TypeCandidate, Candidate{Target: TargetSubscriber, Candidate: cand}},
		{TypeCandidate, Candidate{Target: TargetPublisher}},
		{TypeTrackUnpublished, TrackUnpublished{TrackID: "t1", ParticipantID: "p-bob"}},
		{TypeParticipantLeft, ParticipantLeft{ParticipantID: "p-bob"}},
	}
	for i, w := range want {
		env := h.expect(t, 1, w.typ, 0)
		wantRaw, _ := json.Marshal(w.data)
		if string(env.Data) != string(wantRaw) {
			t.Fatalf("event %d: %s, want %s", i, env.Data, wantRaw)
		}
	}
	jc := <-calls
	jc.ev.ParticipantLeft("p-late")
	env := h.expect(t, 1, TypeParticipantLeft, 0)
	if !strings.Contains(string(env.Data), "p-late") {
		t.Fatalf("late event %s", env.Data)
	}
}

// TestHostRequests sends one request after joining and checks the reply
// and what reached the Peer. Error messages must never quote SDP.
func TestHostRequests(t *testing.T) {
	t.Parallel()
	offer := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n" + secret
	quote := func(sdp string, err error) error { return fmt.Errorf("pion: cannot parse %q: %w", sdp, err) }
	tests := []struct {
		name     string
		setup    func(p *fakePeer, got chan<- string)
		in       string
		reply    string // "": no reply at all
		id       uint64
		code     Code   // for error replies
		data     any    // for other replies; nil: no data
		wantCall string // "": the Peer was not called
	}{
		{
			name: "offer on the publisher",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleOfferFunc = func(sdp string, screen []string) (string, error) {
					got <- fmt.Sprintf("offer %s %q", sdp, screen)
					return "v=0 answer", nil
				}
			},
			in: msg(TypeOffer, 2, SDP{Target: TargetPublisher, SDP: offer}), reply: TypeAnswer, id: 2,
			data: SDP{Target: TargetPublisher, SDP: "v=0 answer"}, wantCall: "offer " + offer + " []",
		},
		{
			name: "offer with a screen track",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleOfferFunc = func(_ string, screen []string) (string, error) {
					got <- fmt.Sprintf("offer %q", screen)
					return "v=0 answer", nil
				}
			},
			in: msg(TypeOffer, 2, SDP{Target: TargetPublisher, SDP: offer, ScreenTrackIDs: []string{"scr"}}), reply: TypeAnswer, id: 2,
			data: SDP{Target: TargetPublisher, SDP: "v=0 answer"}, wantCall: `offer ["scr"]`,
		},
		{
			name: "offer without id is still answered",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleOfferFunc = func(string, []string) (string, error) { got <- "offer"; return "v=0 answer", nil }
			},
			in: msg(TypeOffer, 0, SDP{Target: TargetPublisher, SDP: offer}), reply: TypeAnswer,
			data: SDP{Target: TargetPublisher, SDP: "v=0 answer"}, wantCall: "offer",
		},
		{
			name: "offer rejected",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleOfferFunc = func(sdp string, _ []string) (string, error) { got <- "offer"; return "", quote(sdp, sfu.ErrBadSDP) }
			},
			in: msg(TypeOffer, 3, SDP{Target: TargetPublisher, SDP: offer}), reply: TypeError, id: 3, code: CodeBadSDP, wantCall: "offer",
		},
		{
			name: "offer with too many tracks",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleOfferFunc = func(string, []string) (string, error) { got <- "offer"; return "", sfu.ErrTooManyTracks }
			},
			in: msg(TypeOffer, 3, SDP{Target: TargetPublisher, SDP: offer}), reply: TypeError, id: 3, code: CodeNotAllowed, wantCall: "offer",
		},
		{
			name: "offer on the subscriber",
			in:   msg(TypeOffer, 4, SDP{Target: TargetSubscriber, SDP: offer}), reply: TypeError, id: 4, code: CodeWrongState,
		},
		{
			name: "answer on the subscriber",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleAnswerFunc = func(sdp string) error { got <- "answer " + sdp; return nil }
			},
			in: msg(TypeAnswer, 5, SDP{Target: TargetSubscriber, SDP: offer}), reply: TypeAck, id: 5, wantCall: "answer " + offer,
		},
		{
			name: "answer rejected",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleAnswerFunc = func(sdp string) error { got <- "answer"; return quote(sdp, sfu.ErrBadSDP) }
			},
			in: msg(TypeAnswer, 6, SDP{Target: TargetSubscriber, SDP: offer}), reply: TypeError, id: 6, code: CodeBadSDP, wantCall: "answer",
		},
		{
			name: "answer on the publisher",
			in:   msg(TypeAnswer, 7, SDP{Target: TargetPublisher, SDP: offer}), reply: TypeError, id: 7, code: CodeWrongState,
		},
		{
			name: "answer after close",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleAnswerFunc = func(string) error { got <- "answer"; return sfu.ErrClosed }
			},
			in: msg(TypeAnswer, 8, SDP{Target: TargetSubscriber, SDP: offer}), reply: TypeError, id: 8, code: CodeShuttingDown, wantCall: "answer",
		},
		{
			name: "candidate with id",
			setup: func(p *fakePeer, got chan<- string) {
				p.AddCandidateFunc = func(side sfu.Side, c *webrtc.ICECandidateInit) error {
					got <- fmt.Sprintf("candidate %d %s", side, c.Candidate)
					return nil
				}
			},
			in:    msg(TypeCandidate, 9, `{"target":"subscriber","candidate":{"candidate":"candidate:1"}}`),
			reply: TypeAck, id: 9, wantCall: fmt.Sprintf("candidate %d candidate:1", sfu.Subscriber),
		},
		{
			name: "candidate without id",
			setup: func(p *fakePeer, got chan<- string) {
				p.AddCandidateFunc = func(side sfu.Side, c *webrtc.ICECandidateInit) error {
					got <- fmt.Sprintf("candidate %d %v", side, c == nil)
					return nil
				}
			},
			in:       msg(TypeCandidate, 0, `{"target":"publisher","candidate":null}`),
			wantCall: fmt.Sprintf("candidate %d true", sfu.Publisher),
		},
		{
			name: "candidate refused",
			setup: func(p *fakePeer, got chan<- string) {
				p.AddCandidateFunc = func(sfu.Side, *webrtc.ICECandidateInit) error { got <- "candidate"; return sfu.ErrBadSDP }
			},
			in: msg(TypeCandidate, 0, `{"target":"publisher","candidate":null}`), reply: TypeError, code: CodeBadSDP, wantCall: "candidate",
		},
		{
			name: "subscribe",
			setup: func(p *fakePeer, got chan<- string) {
				p.SubscribeFunc = func(ids []string) error { got <- "subscribe " + strings.Join(ids, ","); return nil }
			},
			in: msg(TypeSubscribe, 10, TrackIDs{TrackIDs: []string{"t1", "t2"}}), reply: TypeAck, id: 10, wantCall: "subscribe t1,t2",
		},
		{
			name: "subscribe without id",
			setup: func(p *fakePeer, got chan<- string) {
				p.SubscribeFunc = func(ids []string) error { got <- "subscribe"; return nil }
			},
			in: msg(TypeSubscribe, 0, TrackIDs{TrackIDs: []string{"t1"}}), wantCall: "subscribe",
		},
		{
			name: "subscribe unknown track",
			setup: func(p *fakePeer, got chan<- string) {
				p.SubscribeFunc = func([]string) error { got <- "subscribe"; return fmt.Errorf("t9: %w", sfu.ErrUnknownTrack) }
			},
			in: msg(TypeSubscribe, 11, TrackIDs{TrackIDs: []string{"t9"}}), reply: TypeError, id: 11, code: CodeUnknownTrack, wantCall: "subscribe",
		},
		{
			name: "subscribe not allowed",
			setup: func(p *fakePeer, got chan<- string) {
				p.SubscribeFunc = func([]string) error { got <- "subscribe"; return sfu.ErrNotAllowed }
			},
			in: msg(TypeSubscribe, 12, TrackIDs{TrackIDs: []string{"t1"}}), reply: TypeError, id: 12, code: CodeNotAllowed, wantCall: "subscribe",
		},
		{
			name: "unsubscribe",
			setup: func(p *fakePeer, got chan<- string) {
				p.UnsubscribeFunc = func(ids []string) error { got <- "unsubscribe " + strings.Join(ids, ","); return nil }
			},
			in: msg(TypeUnsubscribe, 13, TrackIDs{TrackIDs: []string{"t1"}}), reply: TypeAck, id: 13, wantCall: "unsubscribe t1",
		},
		{
			name: "unsubscribe unknown track",
			setup: func(p *fakePeer, got chan<- string) {
				p.UnsubscribeFunc = func([]string) error { got <- "unsubscribe"; return sfu.ErrUnknownTrack }
			},
			in: msg(TypeUnsubscribe, 14, TrackIDs{TrackIDs: []string{"t1"}}), reply: TypeError, id: 14, code: CodeUnknownTrack, wantCall: "unsubscribe",
		},
		{
			name: "mute",
			setup: func(p *fakePeer, got chan<- string) {
				p.MuteFunc = func(id string, muted bool) error { got <- fmt.Sprintf("mute %s %v", id, muted); return nil }
			},
			in: msg(TypeMute, 15, Mute{TrackID: "t1", Muted: true}), reply: TypeAck, id: 15, wantCall: "mute t1 true",
		},
		{
			name: "mute unknown track",
			setup: func(p *fakePeer, got chan<- string) {
				p.MuteFunc = func(string, bool) error { got <- "mute"; return sfu.ErrUnknownTrack }
			},
			in: msg(TypeMute, 16, Mute{TrackID: "t1"}), reply: TypeError, id: 16, code: CodeUnknownTrack, wantCall: "mute",
		},
		{
			name: "mute not allowed",
			setup: func(p *fakePeer, got chan<- string) {
				p.MuteFunc = func(string, bool) error { got <- "mute"; return sfu.ErrNotAllowed }
			},
			in: msg(TypeMute, 17, Mute{TrackID: "t1"}), reply: TypeError, id: 17, code: CodeNotAllowed, wantCall: "mute",
		},
		{
			name: "unexpected peer error",
			setup: func(p *fakePeer, got chan<- string) {
				p.MuteFunc = func(string, bool) error { got <- "mute"; return errors.New("boom " + secret) }
			},
			in: msg(TypeMute, 18, Mute{TrackID: "t1"}), reply: TypeError, id: 18, code: CodeInternal, wantCall: "mute",
		},
		{name: "second join", in: joinMsg(19, nil), reply: TypeError, id: 19, code: CodeWrongState},
		{
			// The edge handles switchRole itself and tells the worker by a
			// control frame; a client message of that type does nothing here.
			name: "switchRole message",
			setup: func(p *fakePeer, got chan<- string) {
				p.SetRoleFunc = func(string, bool, sfu.Media, sfu.Media) { got <- "setRole" }
			},
			in: msg(TypeSwitchRole, 23, SwitchRole{Role: RoleAudience}), reply: TypeAck, id: 23,
		},
		{name: "ping", in: msg(TypePing, 20, nil), reply: TypePong, id: 20},
		{name: "malformed", in: `{"type":"mute","id":21,"data":{"trackId":7}}`, reply: TypeError, id: 21, code: CodeBadMessage},
		{name: "unknown type", in: msg("publish", 22, nil), reply: TypeError, id: 22, code: CodeUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan string, 4)
			join, _ := fakeJoin(func(jc *joinCall) ([]sfu.ParticipantInfo, error) {
				if tt.setup != nil {
					tt.setup(jc.peer, got)
				}
				return nil, nil
			})
			h := newHostHarness(t, join)
			h.sendFrame(t, ipc.OpOpen, 3, testOpen(1, "alice"))
			h.expect(t, 3, TypeJoined, 1)
			h.request(t, 3, tt.in)
			switch tt.reply {
			case "":
				// Requests are handled in order: the pong proves there was no reply.
				h.request(t, 3, msg(TypePing, 99, nil))
				h.expect(t, 3, TypePong, 99)
			case TypeError:
				h.expectError(t, 3, tt.id, tt.code)
			default:
				env := h.expect(t, 3, tt.reply, tt.id)
				var want []byte
				if tt.data != nil {
					want, _ = json.Marshal(tt.data)
				}
				if string(env.Data) != string(want) {
					t.Fatalf("reply data %s, want %s", env.Data, want)
				}
			}
			// The reply (or the pong) has gone out, so any call has happened.
			select {
			case call := <-got:
				if call != tt.wantCall {
					t.Fatalf("Peer got %q, want %q", call, tt.wantCall)
				}
			default:
				if tt.wantCall != "" {
					t.Fatalf("Peer not called, want %q", tt.wantCall)
				}
			}
		})
	}
}

func TestHostLeave(t *testing.T) {
	t.Parallel()
	join, calls := fakeJoin(nil)
	h := newHostHarness(t, join)
	jc := h.joinHost(t, calls, 1)
	h.request(t, 1, msg(TypeLeave, 5, nil))
	h.expect(t, 1, TypeAck, 5)
	h.expectEnd(t, 1, CodeOK)
	if jc.peer.leaves.Load() == 0 {
		t.Fatal("bye sent without Peer.Leave")
	}
	// The session is gone: nothing more is answered for it, and the next
	// frame is the next session's joined.
	h.request(t, 1, msg(TypePing, 6, nil))
	h.joinHost(t, calls, 2)
}

func TestHostControlClose(t *testing.T) {
	t.Parallel()
	join, calls := fakeJoin(nil)
	h := newHostHarness(t, join)
	jc := h.joinHost(t, calls, 1)
	h.sendFrame(t, ipc.OpClose, 1, nil)
	h.expectEnd(t, 1, CodeOK)
	if jc.peer.leaves.Load() == 0 {
		t.Fatal("Peer.Leave not called on close")
	}
}

// TestHostControlCloseLeaveWithoutClosed covers a Peer whose Leave does
// not call Closed: the host still ends the session.
func TestHostControlCloseLeaveWithoutClosed(t *testing.T) {
	t.Parallel()
	join, calls := fakeJoin(func(jc *joinCall) ([]sfu.ParticipantInfo, error) {
		jc.peer.LeaveFunc = func() {}
		return nil, nil
	})
	h := newHostHarness(t, join)
	h.joinHost(t, calls, 1)
	h.sendFrame(t, ipc.OpClose, 1, nil)
	h.expectEnd(t, 1, CodeOK)
}

// TestHostControlFrames covers the control process's instructions.
func TestHostControlFrames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ctl      any    // the frame's data
		wantCall string // what the Peer got; "": nothing
		end      Code   // the session ends with this bye; -1: it goes on
	}{
		{"role", Control{Action: ControlRole, Role: RoleAudience, Receive: sfu.AllMedia}, fmt.Sprintf("setRole audience hidden=true %d %d", 0, sfu.AllMedia), -1},
		{"role anchor", Control{Action: ControlRole, Role: RoleAnchor, Send: sfu.Audio, Receive: sfu.AllMedia}, fmt.Sprintf("setRole anchor hidden=false %d %d", sfu.Audio, sfu.AllMedia), -1},
		{"block", Control{Action: ControlBlock, Media: sfu.Video | sfu.Screen, Blocked: true}, fmt.Sprintf("block %d true", sfu.Video|sfu.Screen), -1},
		{"unblock", Control{Action: ControlBlock, Media: sfu.Audio}, fmt.Sprintf("block %d false", sfu.Audio), -1},
		{"remove", Control{Action: ControlRemove}, "remove " + sfu.ErrRemoved.Error(), CodeRemoved},
		{"dismiss", Control{Action: ControlDismiss}, "remove " + sfu.ErrDismissed.Error(), CodeRoomDismissed},
		{"unknown action", Control{Action: "explode\x1b"}, "", -1},
		{"not JSON", json.RawMessage(`"remove"`), "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan string, 4)
			join, calls := fakeJoin(func(jc *joinCall) ([]sfu.ParticipantInfo, error) {
				p := jc.peer
				p.SetRoleFunc = func(role string, hidden bool, send, receive sfu.Media) {
					got <- fmt.Sprintf("setRole %s hidden=%v %d %d", role, hidden, send, receive)
				}
				p.BlockFunc = func(m sfu.Media, blocked bool) { got <- fmt.Sprintf("block %d %v", m, blocked) }
				p.RemoveFunc = func(reason error) {
					got <- "remove " + reason.Error()
					p.closeOnce.Do(func() { p.ev.Closed(reason) })
				}
				return nil, nil
			})
			h := newHostHarness(t, join)
			h.joinHost(t, calls, 1)
			h.sendFrame(t, ipc.OpControl, 1, tt.ctl)
			if tt.end >= 0 {
				h.expectEnd(t, 1, tt.end)
			} else {
				// Frames are handled in order: the pong proves the control
				// frame was carried out and drew no reply.
				h.request(t, 1, msg(TypePing, 9, nil))
				h.expect(t, 1, TypePong, 9)
			}
			select {
			case call := <-got:
				if call != tt.wantCall {
					t.Fatalf("Peer got %q, want %q", call, tt.wantCall)
				}
			default:
				if tt.wantCall != "" {
					t.Fatalf("Peer not called, want %q", tt.wantCall)
				}
			}
		})
	}
}

func TestHostSFUClosed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason error
		code   Code
	}{
		{sfu.ErrConnectionFailed, CodeMediaFailed},
		{sfu.ErrShutdown, CodeShuttingDown},
		{sfu.ErrLeft, CodeOK},
		{sfu.ErrRemoved, CodeRemoved},
		{sfu.ErrDismissed, CodeRoomDismissed},
		{errors.New("boom"), CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.reason.Error(), func(t *testing.T) {
			t.Parallel()
			join, calls := fakeJoin(nil)
			h := newHostHarness(t, join)
			jc := h.joinHost(t, calls, 1)
			jc.ev.Closed(tt.reason)
			h.expectEnd(t, 1, tt.code)
			// Closed is the last word: later events are dropped, and the
			// next frame is the next session's joined.
			jc.ev.ParticipantLeft("p-x")
			h.joinHost(t, calls, 2)
		})
	}
}

func TestHostJoinFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		code Code
	}{
		{fmt.Errorf("room full: %w", sfu.ErrNotAllowed), CodeNotAllowed},
		{sfu.ErrShutdown, CodeShuttingDown},
		{Errorf(CodeRoomFull, "full"), CodeRoomFull},
		{errors.New("boom " + secret), CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			t.Parallel()
			join, calls := fakeJoin(func(jc *joinCall) ([]sfu.ParticipantInfo, error) {
				jc.ev.ParticipantJoined(sfu.ParticipantInfo{ID: "p-bob"}) // held, then dropped
				return nil, tt.err
			})
			h := newHostHarness(t, join)
			h.sendFrame(t, ipc.OpOpen, 4, testOpen(31, "alice"))
			h.expectError(t, 4, 31, tt.code)
			h.expectEnd(t, 4, tt.code)
			<-calls
		})
	}
}

func TestHostIgnoresJunkFrames(t *testing.T) {
	t.Parallel()
	join, calls := fakeJoin(nil)
	h := newHostHarness(t, join)
	h.sendFrame(t, ipc.OpOpen, 1, json.RawMessage(`"not an open"`))
	h.sendFrame(t, "bogus\x1b[2J", 1, nil)
	h.request(t, 77, msg(TypePing, 1, nil)) // no such session
	h.sendFrame(t, ipc.OpClose, 77, nil)
	h.sendFrame(t, ipc.OpControl, 77, Control{Action: ControlRemove})
	h.joinHost(t, calls, 2)
	// A second open for a live session is ignored.
	h.sendFrame(t, ipc.OpOpen, 2, testOpen(8, "mallory"))
	h.joinHost(t, calls, 3)
	h.sendFrame(t, ipc.OpShutdown, 0, nil)
	if err := h.served(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if n := len(calls); n != 0 {
		t.Fatalf("%d extra JoinFunc calls", n)
	}
}

// TestHostShutdown opens sessions, one of them still inside JoinFunc, and
// checks that Serve returns only after every one has ended with bye 3002.
func TestHostShutdown(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	join, calls := fakeJoin(func(jc *joinCall) ([]sfu.ParticipantInfo, error) {
		if jc.cfg.UserID == "slow" {
			close(entered)
			<-release
		}
		return nil, nil
	})
	h := newHostHarness(t, join)
	var peers []*fakePeer
	for sid := uint64(1); sid <= 3; sid++ {
		peers = append(peers, h.joinHost(t, calls, sid).peer)
	}
	h.sendFrame(t, ipc.OpOpen, 4, testOpen(40, "slow"))
	<-entered
	h.sendFrame(t, ipc.OpShutdown, 0, nil)
	select {
	case err := <-h.serveErr:
		t.Fatalf("Serve returned (%v) while a join was in progress", err)
	default:
	}
	close(release)
	if err := h.served(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	peers = append(peers, (<-calls).peer)
	for i, p := range peers {
		select {
		case reason := <-p.removes:
			if !errors.Is(reason, sfu.ErrShutdown) {
				t.Errorf("peer %d removed for %v, want %v", i, reason, sfu.ErrShutdown)
			}
		default:
			t.Errorf("peer %d: Serve returned before Peer.Remove", i)
		}
	}
	// Every session's bye and closed frame were written before Serve
	// returned.
	_ = h.ctlEnd.Close()
	closed := map[uint64]Code{}
	for f := range h.frames {
		if f.Op == ipc.OpClosed {
			var c Closed
			_ = json.Unmarshal(f.Data, &c)
			closed[f.Session] = c.Code
		}
	}
	for sid := uint64(1); sid <= 4; sid++ {
		if code, ok := closed[sid]; !ok || code != CodeShuttingDown {
			t.Errorf("session %d: closed %v (%d), want code %d", sid, ok, code, CodeShuttingDown)
		}
	}
}

func TestHostControlGone(t *testing.T) {
	t.Parallel()
	join, calls := fakeJoin(nil)
	h := newHostHarness(t, join)
	jc := h.joinHost(t, calls, 1)
	_ = h.ctlEnd.Close()
	if err := h.served(t); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Serve: %v, want the connection error", err)
	}
	if !jc.peer.gone() {
		t.Fatal("the peer stayed in its room when the control process went away")
	}
}

// TestHostInboxOverflow floods a session whose Peer is stuck: the session
// is ended with 1003 rather than let the read loop block.
func TestHostInboxOverflow(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	join, calls := fakeJoin(func(jc *joinCall) ([]sfu.ParticipantInfo, error) {
		jc.peer.SubscribeFunc = func([]string) error {
			once.Do(func() { close(entered) })
			<-release
			return nil
		}
		return nil, nil
	})
	h := newHostHarness(t, join)
	jc := h.joinHost(t, calls, 1)
	sub := msg(TypeSubscribe, 0, TrackIDs{TrackIDs: []string{"t1"}})
	h.request(t, 1, sub)
	<-entered
	// The session holds one request; 256 fill its inbox; one more overflows.
	for range 257 {
		h.request(t, 1, sub)
	}
	// The read loop was not blocked: another session still opens.
	h.joinHost(t, calls, 2)
	close(release)
	h.expectEnd(t, 1, CodeRateLimited)
	if reason := <-jc.peer.removes; codeOf(reason) != CodeRateLimited {
		t.Fatalf("removed for %v", reason)
	}
}

// TestHostConcurrentEvents raises events from another goroutine while
// requests are served; under -race this checks the session's locking.
func TestHostConcurrentEvents(t *testing.T) {
	t.Parallel()
	join, calls := fakeJoin(nil)
	h := newHostHarness(t, join)
	jc := h.joinHost(t, calls, 1)
	const n = 100
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			jc.ev.ParticipantLeft(fmt.Sprint(i))
		}
	})
	for i := range n {
		h.request(t, 1, msg(TypePing, uint64(i+1), nil))
	}
	wg.Wait()
	nextEvent, nextPong := 0, uint64(1)
	for range 2 * n {
		f := h.next(t)
		var env Envelope
		if f.Op != ipc.OpMsg || json.Unmarshal(f.Data, &env) != nil {
			t.Fatalf("got %s %s", f.Op, f.Data)
		}
		switch env.Type {
		case TypeParticipantLeft:
			if want := fmt.Sprintf(`{"participantId":"%d"}`, nextEvent); string(env.Data) != want {
				t.Fatalf("event %s, want %s", env.Data, want)
			}
			nextEvent++
		case TypePong:
			if env.ID != nextPong {
				t.Fatalf("pong %d, want %d", env.ID, nextPong)
			}
			nextPong++
		default:
			t.Fatalf("unexpected %s", f.Data)
		}
	}
}
