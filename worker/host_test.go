package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/lethe-rtc/lethe/internal/wiretest"
	"github.com/lethe-rtc/lethe/signaling"
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
	// AnswerSubscriberFunc answers a player's offer on the subscriber;
	// nil: refused as by a subscriber the SFU offers on.
	AnswerSubscriberFunc func(sdp string, trackIDs []string) (string, error)
	AddCandidateFunc     func(side sfu.Side, c *webrtc.ICECandidateInit) error
	SubscribeFunc        func(ids []string) error
	UnsubscribeFunc      func(ids []string) error
	MuteFunc             func(trackID string, muted bool) error
	RestartICEFunc       func() error
	SetRoleFunc          func(role string, hidden bool, send, receive sfu.Media)
	BlockFunc            func(m sfu.Media, blocked bool)
	LeaveFunc            func()
	RemoveFunc           func(reason error)

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

func (p *fakePeer) AnswerSubscriber(sdp string, trackIDs []string) (string, error) {
	if p.AnswerSubscriberFunc == nil {
		return "", sfu.ErrSubscriberOffered
	}
	return p.AnswerSubscriberFunc(sdp, trackIDs)
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

func (p *fakePeer) SetTrackSettings(string, sfu.TrackSettings) error { return nil }

func (p *fakePeer) RestartICE() error {
	if p.RestartICEFunc == nil {
		return nil
	}
	return p.RestartICEFunc()
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

var testServerInfo = signaling.ServerInfo{Version: "test", Enforced: false, Warnings: []string{"unenforced"}}

// hostHarness runs a Host over net.Pipe, with the test as control process.
type hostHarness struct {
	ctl      *ipc.Conn
	ctlEnd   net.Conn
	frames   chan ipc.Frame // everything the host sent, in order, but states
	states   chan ipc.Frame // the state frames the host sent, in order
	serveErr chan error

	doneOnce sync.Once
	err      error
}

func newHostHarness(t *testing.T, join JoinFunc, opts ...HostOption) *hostHarness {
	t.Helper()
	hostEnd, ctlEnd := net.Pipe()
	h := &hostHarness{ctl: ipc.NewConn(ctlEnd), ctlEnd: ctlEnd, frames: make(chan ipc.Frame, 4096), states: make(chan ipc.Frame, 4096), serveErr: make(chan error, 1)}
	host := NewHost(ipc.NewConn(hostEnd), join, testServerInfo, slog.New(slog.DiscardHandler), opts...)
	go func() { h.serveErr <- host.Serve(context.Background()) }()
	go func() {
		defer close(h.frames)
		for {
			f, err := h.ctl.Recv()
			if err != nil {
				return
			}
			if f.Op == ipc.OpState {
				select {
				case h.states <- f:
				default:
				}
				continue
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

// nextState returns the next state frame sid's session sent.
func (h *hostHarness) nextState(t *testing.T, sid uint64) signaling.State {
	t.Helper()
	for {
		select {
		case f := <-h.states:
			if f.Session != sid {
				continue
			}
			var st signaling.State
			if err := json.Unmarshal(f.Data, &st); err != nil {
				t.Fatalf("bad state %s: %v", f.Data, err)
			}
			return st
		case <-time.After(wait):
			t.Fatal("no state from the host")
		}
	}
}

// noState checks that no state frame is waiting.
func (h *hostHarness) noState(t *testing.T) {
	t.Helper()
	select {
	case f := <-h.states:
		t.Fatalf("unexpected state sid %d: %s", f.Session, f.Data)
	default:
	}
}

// expect reads the next frame and checks it is message typ with id for sid.
func (h *hostHarness) expect(t *testing.T, sid uint64, typ string, id uint64) signaling.Envelope {
	t.Helper()
	f := h.next(t)
	if f.Op != ipc.OpMsg || f.Session != sid {
		t.Fatalf("got %s sid %d (%s), want msg sid %d", f.Op, f.Session, f.Data, sid)
	}
	var env signaling.Envelope
	if err := json.Unmarshal(f.Data, &env); err != nil {
		t.Fatalf("bad message %s: %v", f.Data, err)
	}
	if env.Type != typ || env.ID != id {
		t.Fatalf("got %s id %d (%s), want %s id %d", env.Type, env.ID, env.Data, typ, id)
	}
	return env
}

func (h *hostHarness) expectError(t *testing.T, sid, id uint64, code signaling.Code) signaling.Error {
	t.Helper()
	env := h.expect(t, sid, signaling.TypeError, id)
	var e signaling.Error
	if err := json.Unmarshal(env.Data, &e); err != nil || e.Code != code {
		t.Fatalf("error %s, want code %d", env.Data, code)
	}
	if strings.Contains(e.Message, secret) || strings.Contains(e.Message, "v=0") {
		t.Fatalf("error message %q echoes SDP or a secret", e.Message)
	}
	return e
}

// expectEnd reads bye(code) and then the closed frame for sid.
func (h *hostHarness) expectEnd(t *testing.T, sid uint64, code signaling.Code) signaling.Bye {
	t.Helper()
	env := h.expect(t, sid, signaling.TypeBye, 0)
	var b signaling.Bye
	if err := json.Unmarshal(env.Data, &b); err != nil || b.Code != code {
		t.Fatalf("bye %s, want code %d", env.Data, code)
	}
	f := h.next(t)
	var c signaling.Closed
	if f.Op != ipc.OpClosed || f.Session != sid || json.Unmarshal(f.Data, &c) != nil || c.Code != code {
		t.Fatalf("got %s sid %d (%s), want closed sid %d code %d", f.Op, f.Session, f.Data, sid, code)
	}
	return b
}

func testOpen(joinID uint64, user string) signaling.Open {
	return signaling.Open{JoinID: joinID, RoomKey: signaling.RoomKey(1400000001, 123, ""), RoomID: 123, UserID: user, Role: signaling.RoleAnchor,
		AutoSubscribe: true, Send: signaling.AllMedia, Receive: signaling.AllMedia}
}

// joinHost opens session sid and reads its joined.
func (h *hostHarness) joinHost(t *testing.T, calls chan *joinCall, sid uint64) *joinCall {
	t.Helper()
	h.sendFrame(t, ipc.OpOpen, sid, testOpen(sid*10, fmt.Sprint("user", sid)))
	h.expect(t, sid, signaling.TypeJoined, sid*10)
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
	wireTrack = signaling.TrackInfo{TrackID: "t1", ParticipantID: "p-bob", Kind: "video", Codec: "video/VP8", ClientTrackID: "cam", Mid: "0", Screen: true, Muted: true, Blocked: true}
)

func TestHostJoined(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		open    signaling.Open
		others  []sfu.ParticipantInfo
		wantCfg sfu.ParticipantConfig
		want    signaling.Joined
	}{
		{
			name:    "anchor in a numeric room",
			open:    signaling.Open{JoinID: 42, RoomKey: "1/n/123", RoomID: 123, UserID: "alice", Role: signaling.RoleAnchor, AutoSubscribe: true, Send: signaling.Audio | signaling.Video, Receive: signaling.AllMedia},
			others:  []sfu.ParticipantInfo{{ID: "p-bob", UserID: "bob", Role: "anchor", Tracks: []sfu.TrackInfo{sfuTrack}}, {ID: "p-eve", UserID: "eve", Role: "audience"}},
			wantCfg: sfu.ParticipantConfig{UserID: "alice", Role: "anchor", Send: sfu.Audio | sfu.Video, Receive: sfu.AllMedia, AutoSubscribe: true},
			want: signaling.Joined{ParticipantID: "p-alice", Role: signaling.RoleAnchor, Server: testServerInfo,
				Permissions: signaling.Permissions{Send: []string{"audio", "video"}, Receive: []string{"audio", "video", "screen"}},
				Room: signaling.RoomInfo{RoomID: 123, Participants: []signaling.ParticipantInfo{
					{ParticipantID: "p-bob", UserID: "bob", Role: signaling.RoleAnchor, Tracks: []signaling.TrackInfo{wireTrack}},
					{ParticipantID: "p-eve", UserID: "eve", Role: signaling.RoleAudience, Tracks: []signaling.TrackInfo{}},
				}}},
		},
		{
			name:    "audience alone in a string room",
			open:    signaling.Open{JoinID: 7, RoomKey: "1/s/123", StrRoomID: "123", UserID: "carol", Role: signaling.RoleAudience, Receive: signaling.Audio},
			wantCfg: sfu.ParticipantConfig{UserID: "carol", Role: "audience", Hidden: true, Receive: sfu.Audio},
			want: signaling.Joined{ParticipantID: "p-carol", Role: signaling.RoleAudience, Server: testServerInfo,
				Permissions: signaling.Permissions{Send: []string{}, Receive: []string{"audio"}},
				Room:        signaling.RoomInfo{StrRoomID: "123", Participants: []signaling.ParticipantInfo{}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			join, calls := fakeJoin(func(*joinCall) ([]sfu.ParticipantInfo, error) { return tt.others, nil })
			h := newHostHarness(t, join)
			h.sendFrame(t, ipc.OpOpen, 5, tt.open)
			env := h.expect(t, 5, signaling.TypeJoined, tt.open.JoinID)
			var got signaling.Joined
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

// TestHostState checks what the control process is told of a session: its
// participant id once joined, then its own published tracks (never
// another participant's) after each change.
func TestHostState(t *testing.T) {
	t.Parallel()
	join, calls := fakeJoin(nil)
	h := newHostHarness(t, join)
	jc := h.joinHost(t, calls, 1)
	want := func(st signaling.State, tracks ...signaling.TrackState) {
		t.Helper()
		if tracks == nil {
			tracks = []signaling.TrackState{}
		}
		if w := (signaling.State{ParticipantID: "p-user1", Tracks: tracks}); !reflect.DeepEqual(st, w) {
			t.Fatalf("state %+v, want %+v", st, w)
		}
	}
	want(h.nextState(t, 1))

	jc.ev.TrackPublished(sfu.TrackInfo{ID: "a1", ParticipantID: "p-user1", Kind: "audio"})
	want(h.nextState(t, 1), signaling.TrackState{TrackID: "a1", Kind: "audio"})
	jc.ev.TrackPublished(sfu.TrackInfo{ID: "s1", ParticipantID: "p-user1", Kind: "video", Screen: true})
	want(h.nextState(t, 1), signaling.TrackState{TrackID: "a1", Kind: "audio"}, signaling.TrackState{TrackID: "s1", Kind: "screen"})
	jc.ev.TrackPublished(sfu.TrackInfo{ID: "b1", ParticipantID: "p-bob", Kind: "video"})
	jc.ev.TrackUnpublished(sfu.TrackInfo{ID: "a1", ParticipantID: "p-user1", Kind: "audio"})
	want(h.nextState(t, 1), signaling.TrackState{TrackID: "s1", Kind: "screen"})
	// Every event also went to the client, in order.
	for _, typ := range []string{signaling.TypeTrackPublished, signaling.TypeTrackPublished, signaling.TypeTrackPublished, signaling.TypeTrackUnpublished} {
		h.expect(t, 1, typ, 0)
	}
	h.noState(t)
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
		jc.ev.(sfu.LayerEvents).TrackLayers(sfu.TrackInfo{ID: "t1", ParticipantID: "p-bob", Layers: []sfu.Layer{
			{RID: "q", Width: 320, Height: 180, Bitrate: 150_000}, {RID: "h", Width: 640, Height: 360}, {RID: "f"}}})
		jc.ev.Speakers([]sfu.Speaker{{ParticipantID: "p-bob", Level: 0.76}})
		jc.ev.Speakers(nil)
		jc.ev.ParticipantUpdated(sfu.ParticipantInfo{ID: "p-bob", UserID: "bob", Role: "audience"})
		jc.ev.Offer("v=0 offer", false)
		jc.ev.Candidate(sfu.Subscriber, cand)
		jc.ev.Candidate(sfu.Publisher, nil)
		jc.ev.Offer("v=0 restart", true)
		jc.ev.RestartICE()
		jc.ev.TrackUnpublished(sfuTrack)
		jc.ev.ParticipantLeft("p-bob")
		return nil, nil
	})
	h := newHostHarness(t, join)
	h.sendFrame(t, ipc.OpOpen, 1, testOpen(9, "alice"))
	h.expect(t, 1, signaling.TypeJoined, 9)
	want := []struct {
		typ  string
		data any
	}{
		{signaling.TypeParticipantJoined, signaling.ParticipantInfo{ParticipantID: "p-bob", UserID: "bob", Role: signaling.RoleAnchor, Tracks: []signaling.TrackInfo{}}},
		{signaling.TypeTrackPublished, signaling.TrackPublished{Track: wireTrack}},
		{signaling.TypeTrackMuted, signaling.TrackMuted{TrackID: "t1", ParticipantID: "p-bob", Muted: true, Blocked: true}},
		{signaling.TypeTrackLayers, signaling.TrackLayers{TrackID: "t1", ParticipantID: "p-bob", Layers: []signaling.Layer{
			{RID: "q", Width: 320, Height: 180, Bitrate: 150_000}, {RID: "h", Width: 640, Height: 360}, {RID: "f"}}}},
		{signaling.TypeSpeakers, signaling.Speakers{Speakers: []signaling.Speaker{{ParticipantID: "p-bob", Level: 0.76}}}},
		{signaling.TypeSpeakers, signaling.Speakers{Speakers: []signaling.Speaker{}}},
		{signaling.TypeParticipantUpdated, signaling.ParticipantInfo{ParticipantID: "p-bob", UserID: "bob", Role: signaling.RoleAudience, Tracks: []signaling.TrackInfo{}}},
		{signaling.TypeOffer, signaling.SDP{Target: signaling.TargetSubscriber, SDP: "v=0 offer"}},
		{signaling.TypeCandidate, signaling.Candidate{Target: signaling.TargetSubscriber, Candidate: cand}},
		{signaling.TypeCandidate, signaling.Candidate{Target: signaling.TargetPublisher}},
		{signaling.TypeOffer, signaling.SDP{Target: signaling.TargetSubscriber, SDP: "v=0 restart", ICERestart: true}},
		{signaling.TypeRestartICE, signaling.RestartICE{Target: signaling.TargetPublisher}},
		{signaling.TypeTrackUnpublished, signaling.TrackUnpublished{TrackID: "t1", ParticipantID: "p-bob"}},
		{signaling.TypeParticipantLeft, signaling.ParticipantLeft{ParticipantID: "p-bob"}},
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
	env := h.expect(t, 1, signaling.TypeParticipantLeft, 0)
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
		code     signaling.Code // for error replies
		data     any            // for other replies; nil: no data
		wantCall string         // "": the Peer was not called
	}{
		{
			name: "offer on the publisher",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleOfferFunc = func(sdp string, screen []string) (string, error) {
					got <- fmt.Sprintf("offer %s %q", sdp, screen)
					return "v=0 answer", nil
				}
			},
			in: msg(signaling.TypeOffer, 2, signaling.SDP{Target: signaling.TargetPublisher, SDP: offer}), reply: signaling.TypeAnswer, id: 2,
			data: signaling.SDP{Target: signaling.TargetPublisher, SDP: "v=0 answer"}, wantCall: "offer " + offer + " []",
		},
		{
			name: "offer with a screen track",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleOfferFunc = func(_ string, screen []string) (string, error) {
					got <- fmt.Sprintf("offer %q", screen)
					return "v=0 answer", nil
				}
			},
			in: msg(signaling.TypeOffer, 2, signaling.SDP{Target: signaling.TargetPublisher, SDP: offer, ScreenTrackIDs: []string{"scr"}}), reply: signaling.TypeAnswer, id: 2,
			data: signaling.SDP{Target: signaling.TargetPublisher, SDP: "v=0 answer"}, wantCall: `offer ["scr"]`,
		},
		{
			name: "offer without id is still answered",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleOfferFunc = func(string, []string) (string, error) { got <- "offer"; return "v=0 answer", nil }
			},
			in: msg(signaling.TypeOffer, 0, signaling.SDP{Target: signaling.TargetPublisher, SDP: offer}), reply: signaling.TypeAnswer,
			data: signaling.SDP{Target: signaling.TargetPublisher, SDP: "v=0 answer"}, wantCall: "offer",
		},
		{
			name: "offer rejected",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleOfferFunc = func(sdp string, _ []string) (string, error) { got <- "offer"; return "", quote(sdp, sfu.ErrBadSDP) }
			},
			in: msg(signaling.TypeOffer, 3, signaling.SDP{Target: signaling.TargetPublisher, SDP: offer}), reply: signaling.TypeError, id: 3, code: signaling.CodeBadSDP, wantCall: "offer",
		},
		{
			name: "offer with too many tracks",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleOfferFunc = func(string, []string) (string, error) { got <- "offer"; return "", sfu.ErrTooManyTracks }
			},
			in: msg(signaling.TypeOffer, 3, signaling.SDP{Target: signaling.TargetPublisher, SDP: offer}), reply: signaling.TypeError, id: 3, code: signaling.CodeNotAllowed, wantCall: "offer",
		},
		{
			name: "offer on the subscriber",
			in:   msg(signaling.TypeOffer, 4, signaling.SDP{Target: signaling.TargetSubscriber, SDP: offer}), reply: signaling.TypeError, id: 4, code: signaling.CodeWrongState,
		},
		{
			name: "a player's offer on the subscriber (WHEP)",
			setup: func(p *fakePeer, got chan<- string) {
				p.AnswerSubscriberFunc = func(sdp string, ids []string) (string, error) {
					got <- "answerSubscriber " + strings.Join(ids, ",")
					return "v=0", nil
				}
			},
			in:    msg(signaling.TypeOffer, 4, signaling.SDP{Target: signaling.TargetSubscriber, SDP: offer, TrackIDs: []string{"TR_a", "TR_b"}}),
			reply: signaling.TypeAnswer, id: 4, wantCall: "answerSubscriber TR_a,TR_b",
			data: signaling.SDP{Target: signaling.TargetSubscriber, SDP: "v=0"},
		},
		{
			name: "a player's offer for an unknown track",
			setup: func(p *fakePeer, got chan<- string) {
				p.AnswerSubscriberFunc = func(string, []string) (string, error) { got <- "answerSubscriber"; return "", sfu.ErrUnknownTrack }
			},
			in:    msg(signaling.TypeOffer, 4, signaling.SDP{Target: signaling.TargetSubscriber, SDP: offer, TrackIDs: []string{"TR_x"}}),
			reply: signaling.TypeError, id: 4, code: signaling.CodeUnknownTrack, wantCall: "answerSubscriber",
		},
		{
			name: "answer on the subscriber",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleAnswerFunc = func(sdp string) error { got <- "answer " + sdp; return nil }
			},
			in: msg(signaling.TypeAnswer, 5, signaling.SDP{Target: signaling.TargetSubscriber, SDP: offer}), reply: signaling.TypeAck, id: 5, wantCall: "answer " + offer,
		},
		{
			name: "answer rejected",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleAnswerFunc = func(sdp string) error { got <- "answer"; return quote(sdp, sfu.ErrBadSDP) }
			},
			in: msg(signaling.TypeAnswer, 6, signaling.SDP{Target: signaling.TargetSubscriber, SDP: offer}), reply: signaling.TypeError, id: 6, code: signaling.CodeBadSDP, wantCall: "answer",
		},
		{
			name: "answer on the publisher",
			in:   msg(signaling.TypeAnswer, 7, signaling.SDP{Target: signaling.TargetPublisher, SDP: offer}), reply: signaling.TypeError, id: 7, code: signaling.CodeWrongState,
		},
		{
			name: "answer after close",
			setup: func(p *fakePeer, got chan<- string) {
				p.HandleAnswerFunc = func(string) error { got <- "answer"; return sfu.ErrClosed }
			},
			in: msg(signaling.TypeAnswer, 8, signaling.SDP{Target: signaling.TargetSubscriber, SDP: offer}), reply: signaling.TypeError, id: 8, code: signaling.CodeShuttingDown, wantCall: "answer",
		},
		{
			name: "candidate with id",
			setup: func(p *fakePeer, got chan<- string) {
				p.AddCandidateFunc = func(side sfu.Side, c *webrtc.ICECandidateInit) error {
					got <- fmt.Sprintf("candidate %d %s", side, c.Candidate)
					return nil
				}
			},
			in:    msg(signaling.TypeCandidate, 9, `{"target":"subscriber","candidate":{"candidate":"candidate:1"}}`),
			reply: signaling.TypeAck, id: 9, wantCall: fmt.Sprintf("candidate %d candidate:1", sfu.Subscriber),
		},
		{
			name: "candidate without id",
			setup: func(p *fakePeer, got chan<- string) {
				p.AddCandidateFunc = func(side sfu.Side, c *webrtc.ICECandidateInit) error {
					got <- fmt.Sprintf("candidate %d %v", side, c == nil)
					return nil
				}
			},
			in:       msg(signaling.TypeCandidate, 0, `{"target":"publisher","candidate":null}`),
			wantCall: fmt.Sprintf("candidate %d true", sfu.Publisher),
		},
		{
			name: "candidate refused",
			setup: func(p *fakePeer, got chan<- string) {
				p.AddCandidateFunc = func(sfu.Side, *webrtc.ICECandidateInit) error { got <- "candidate"; return sfu.ErrBadSDP }
			},
			in: msg(signaling.TypeCandidate, 0, `{"target":"publisher","candidate":null}`), reply: signaling.TypeError, code: signaling.CodeBadSDP, wantCall: "candidate",
		},
		{
			name: "subscribe",
			setup: func(p *fakePeer, got chan<- string) {
				p.SubscribeFunc = func(ids []string) error { got <- "subscribe " + strings.Join(ids, ","); return nil }
			},
			in: msg(signaling.TypeSubscribe, 10, signaling.TrackIDs{TrackIDs: []string{"t1", "t2"}}), reply: signaling.TypeAck, id: 10, wantCall: "subscribe t1,t2",
		},
		{
			name: "subscribe without id",
			setup: func(p *fakePeer, got chan<- string) {
				p.SubscribeFunc = func(ids []string) error { got <- "subscribe"; return nil }
			},
			in: msg(signaling.TypeSubscribe, 0, signaling.TrackIDs{TrackIDs: []string{"t1"}}), wantCall: "subscribe",
		},
		{
			name: "subscribe unknown track",
			setup: func(p *fakePeer, got chan<- string) {
				p.SubscribeFunc = func([]string) error { got <- "subscribe"; return fmt.Errorf("t9: %w", sfu.ErrUnknownTrack) }
			},
			in: msg(signaling.TypeSubscribe, 11, signaling.TrackIDs{TrackIDs: []string{"t9"}}), reply: signaling.TypeError, id: 11, code: signaling.CodeUnknownTrack, wantCall: "subscribe",
		},
		{
			name: "subscribe not allowed",
			setup: func(p *fakePeer, got chan<- string) {
				p.SubscribeFunc = func([]string) error { got <- "subscribe"; return sfu.ErrNotAllowed }
			},
			in: msg(signaling.TypeSubscribe, 12, signaling.TrackIDs{TrackIDs: []string{"t1"}}), reply: signaling.TypeError, id: 12, code: signaling.CodeNotAllowed, wantCall: "subscribe",
		},
		{
			name: "unsubscribe",
			setup: func(p *fakePeer, got chan<- string) {
				p.UnsubscribeFunc = func(ids []string) error { got <- "unsubscribe " + strings.Join(ids, ","); return nil }
			},
			in: msg(signaling.TypeUnsubscribe, 13, signaling.TrackIDs{TrackIDs: []string{"t1"}}), reply: signaling.TypeAck, id: 13, wantCall: "unsubscribe t1",
		},
		{
			name: "unsubscribe unknown track",
			setup: func(p *fakePeer, got chan<- string) {
				p.UnsubscribeFunc = func([]string) error { got <- "unsubscribe"; return sfu.ErrUnknownTrack }
			},
			in: msg(signaling.TypeUnsubscribe, 14, signaling.TrackIDs{TrackIDs: []string{"t1"}}), reply: signaling.TypeError, id: 14, code: signaling.CodeUnknownTrack, wantCall: "unsubscribe",
		},
		{
			name: "mute",
			setup: func(p *fakePeer, got chan<- string) {
				p.MuteFunc = func(id string, muted bool) error { got <- fmt.Sprintf("mute %s %v", id, muted); return nil }
			},
			in: msg(signaling.TypeMute, 15, signaling.Mute{TrackID: "t1", Muted: true}), reply: signaling.TypeAck, id: 15, wantCall: "mute t1 true",
		},
		{
			name: "mute unknown track",
			setup: func(p *fakePeer, got chan<- string) {
				p.MuteFunc = func(string, bool) error { got <- "mute"; return sfu.ErrUnknownTrack }
			},
			in: msg(signaling.TypeMute, 16, signaling.Mute{TrackID: "t1"}), reply: signaling.TypeError, id: 16, code: signaling.CodeUnknownTrack, wantCall: "mute",
		},
		{
			name: "mute not allowed",
			setup: func(p *fakePeer, got chan<- string) {
				p.MuteFunc = func(string, bool) error { got <- "mute"; return sfu.ErrNotAllowed }
			},
			in: msg(signaling.TypeMute, 17, signaling.Mute{TrackID: "t1"}), reply: signaling.TypeError, id: 17, code: signaling.CodeNotAllowed, wantCall: "mute",
		},
		{
			name: "unexpected peer error",
			setup: func(p *fakePeer, got chan<- string) {
				p.MuteFunc = func(string, bool) error { got <- "mute"; return errors.New("boom " + secret) }
			},
			in: msg(signaling.TypeMute, 18, signaling.Mute{TrackID: "t1"}), reply: signaling.TypeError, id: 18, code: signaling.CodeInternal, wantCall: "mute",
		},
		{
			name: "restartIce",
			setup: func(p *fakePeer, got chan<- string) {
				p.RestartICEFunc = func() error { got <- "restartIce"; return nil }
			},
			in: msg(signaling.TypeRestartICE, 24, signaling.RestartICE{Target: signaling.TargetSubscriber}), reply: signaling.TypeAck, id: 24, wantCall: "restartIce",
		},
		{
			name: "restartIce beyond the limit",
			setup: func(p *fakePeer, got chan<- string) {
				p.RestartICEFunc = func() error { got <- "restartIce"; return sfu.ErrICERestartLimit }
			},
			in: msg(signaling.TypeRestartICE, 25, signaling.RestartICE{Target: signaling.TargetSubscriber}), reply: signaling.TypeError, id: 25, code: signaling.CodeNotAllowed, wantCall: "restartIce",
		},
		{name: "restartIce of the publisher", in: msg(signaling.TypeRestartICE, 26, signaling.RestartICE{Target: signaling.TargetPublisher}), reply: signaling.TypeError, id: 26, code: signaling.CodeInvalidField},
		{name: "second join", in: msg(signaling.TypeJoin, 19, wiretest.JoinData(nil)), reply: signaling.TypeError, id: 19, code: signaling.CodeWrongState},
		{
			// The edge handles switchRole itself and tells the worker by a
			// control frame; a client message of that type does nothing here.
			name: "switchRole message",
			setup: func(p *fakePeer, got chan<- string) {
				p.SetRoleFunc = func(string, bool, sfu.Media, sfu.Media) { got <- "setRole" }
			},
			in: msg(signaling.TypeSwitchRole, 23, signaling.SwitchRole{Role: signaling.RoleAudience}), reply: signaling.TypeAck, id: 23,
		},
		{name: "ping", in: msg(signaling.TypePing, 20, nil), reply: signaling.TypePong, id: 20},
		{name: "malformed", in: `{"type":"mute","id":21,"data":{"trackId":7}}`, reply: signaling.TypeError, id: 21, code: signaling.CodeBadMessage},
		{name: "unknown type", in: msg("publish", 22, nil), reply: signaling.TypeError, id: 22, code: signaling.CodeUnknownType},
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
			h.expect(t, 3, signaling.TypeJoined, 1)
			h.request(t, 3, tt.in)
			switch tt.reply {
			case "":
				// Requests are handled in order: the pong proves there was no reply.
				h.request(t, 3, msg(signaling.TypePing, 99, nil))
				h.expect(t, 3, signaling.TypePong, 99)
			case signaling.TypeError:
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
	h.request(t, 1, msg(signaling.TypeLeave, 5, nil))
	h.expect(t, 1, signaling.TypeAck, 5)
	h.expectEnd(t, 1, signaling.CodeOK)
	if jc.peer.leaves.Load() == 0 {
		t.Fatal("bye sent without Peer.Leave")
	}
	// The session is gone: nothing more is answered for it, and the next
	// frame is the next session's joined.
	h.request(t, 1, msg(signaling.TypePing, 6, nil))
	h.joinHost(t, calls, 2)
}

// A session that ends while a stats request collects garbage was there
// for the collection, whose heap figures may hold its memory: the answer
// counts it, so that a leak check never takes them for an empty worker's.
// The next request, once it has gone, counts none.
func TestHostStatsCountSessionsEndingDuringGC(t *testing.T) {
	t.Parallel()
	join, calls := fakeJoin(nil)
	var (
		host *Host
		jc   *joinCall
	)
	collected := 0
	h := newHostHarness(t, join, func(hh *Host) {
		host = hh
		hh.collect = func() {
			collected++
			if collected > 1 {
				return
			}
			jc.ev.Closed(sfu.ErrConnectionClosed) // the participant ends meanwhile
			deadline := time.Now().Add(wait)
			for host.sessionCount() > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
	})
	jc = h.joinHost(t, calls, 1)
	stats := func() signaling.Stats {
		t.Helper()
		h.sendFrame(t, ipc.OpStats, 0, signaling.StatsRequest{GC: true})
		for {
			f := h.next(t)
			if f.Op != ipc.OpStats {
				continue // the ended session's bye and closed
			}
			var st signaling.Stats
			if err := json.Unmarshal(f.Data, &st); err != nil {
				t.Fatalf("bad stats %s: %v", f.Data, err)
			}
			return st
		}
	}
	if st := stats(); st.Sessions != 1 {
		t.Errorf("the session ended during the collection; stats say %d sessions, want 1", st.Sessions)
	}
	if n := host.sessionCount(); n != 0 {
		t.Fatalf("%d sessions left after the participant ended", n)
	}
	if st := stats(); st.Sessions != 0 {
		t.Errorf("after the session has gone: %d sessions, want 0", st.Sessions)
	}
	if collected != 2 {
		t.Errorf("%d collections for two requests with GC", collected)
	}
}

func TestHostControlClose(t *testing.T) {
	t.Parallel()
	join, calls := fakeJoin(nil)
	h := newHostHarness(t, join)
	jc := h.joinHost(t, calls, 1)
	h.sendFrame(t, ipc.OpClose, 1, nil)
	h.expectEnd(t, 1, signaling.CodeOK)
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
	h.expectEnd(t, 1, signaling.CodeOK)
}

// TestHostControlFrames covers the control process's instructions.
func TestHostControlFrames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ctl      any            // the frame's data
		wantCall string         // what the Peer got; "": nothing
		end      signaling.Code // the session ends with this bye; -1: it goes on
	}{
		{"role", signaling.Control{Action: signaling.ControlRole, Role: signaling.RoleAudience, Receive: signaling.AllMedia}, fmt.Sprintf("setRole audience hidden=true %d %d", 0, sfu.AllMedia), -1},
		{"role anchor", signaling.Control{Action: signaling.ControlRole, Role: signaling.RoleAnchor, Send: signaling.Audio, Receive: signaling.AllMedia}, fmt.Sprintf("setRole anchor hidden=false %d %d", sfu.Audio, sfu.AllMedia), -1},
		{"block", signaling.Control{Action: signaling.ControlBlock, Media: signaling.Video | signaling.Screen, Blocked: true}, fmt.Sprintf("block %d true", sfu.Video|sfu.Screen), -1},
		{"unblock", signaling.Control{Action: signaling.ControlBlock, Media: signaling.Audio}, fmt.Sprintf("block %d false", sfu.Audio), -1},
		{"remove", signaling.Control{Action: signaling.ControlRemove}, "remove " + sfu.ErrRemoved.Error(), signaling.CodeRemoved},
		{"dismiss", signaling.Control{Action: signaling.ControlDismiss}, "remove " + sfu.ErrDismissed.Error(), signaling.CodeRoomDismissed},
		{"unknown action", signaling.Control{Action: "explode\x1b"}, "", -1},
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
				h.request(t, 1, msg(signaling.TypePing, 9, nil))
				h.expect(t, 1, signaling.TypePong, 9)
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
		code   signaling.Code
		text   string // the bye's reason
	}{
		{sfu.ErrConnectionFailed, signaling.CodeMediaFailed, "media connection failed"},
		{sfu.ErrDTLSTimeout, signaling.CodeMediaFailed, "DTLS handshake timed out"},
		{sfu.ErrTooManyStreams, signaling.CodeNotAllowed, "RTCP on too many SSRCs"},
		{sfu.ErrShutdown, signaling.CodeShuttingDown, "server shutting down"},
		{sfu.ErrLeft, signaling.CodeOK, "left"},
		{sfu.ErrRemoved, signaling.CodeRemoved, "removed by an operator"},
		{sfu.ErrDismissed, signaling.CodeRoomDismissed, "room dismissed by an operator"},
		{errors.New("boom"), signaling.CodeInternal, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.reason.Error(), func(t *testing.T) {
			t.Parallel()
			join, calls := fakeJoin(nil)
			h := newHostHarness(t, join)
			jc := h.joinHost(t, calls, 1)
			jc.ev.Closed(tt.reason)
			if b := h.expectEnd(t, 1, tt.code); b.Reason != tt.text {
				t.Errorf("bye reason %q, want %q", b.Reason, tt.text)
			}
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
		code signaling.Code
	}{
		{fmt.Errorf("room full: %w", sfu.ErrNotAllowed), signaling.CodeNotAllowed},
		{sfu.ErrShutdown, signaling.CodeShuttingDown},
		{signaling.Errorf(signaling.CodeRoomFull, "full"), signaling.CodeRoomFull},
		{errors.New("boom " + secret), signaling.CodeInternal},
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
	h.request(t, 77, msg(signaling.TypePing, 1, nil)) // no such session
	h.sendFrame(t, ipc.OpClose, 77, nil)
	h.sendFrame(t, ipc.OpControl, 77, signaling.Control{Action: signaling.ControlRemove})
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
	closed := map[uint64]signaling.Code{}
	for f := range h.frames {
		if f.Op == ipc.OpClosed {
			var c signaling.Closed
			_ = json.Unmarshal(f.Data, &c)
			closed[f.Session] = c.Code
		}
	}
	for sid := uint64(1); sid <= 4; sid++ {
		if code, ok := closed[sid]; !ok || code != signaling.CodeShuttingDown {
			t.Errorf("session %d: closed %v (%d), want code %d", sid, ok, code, signaling.CodeShuttingDown)
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
	sub := msg(signaling.TypeSubscribe, 0, signaling.TrackIDs{TrackIDs: []string{"t1"}})
	h.request(t, 1, sub)
	<-entered
	// The session holds one request; 256 fill its inbox; one more overflows.
	for range 257 {
		h.request(t, 1, sub)
	}
	// The read loop was not blocked: another session still opens.
	h.joinHost(t, calls, 2)
	close(release)
	h.expectEnd(t, 1, signaling.CodeRateLimited)
	if reason := <-jc.peer.removes; codeOf(reason) != signaling.CodeRateLimited {
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
		h.request(t, 1, msg(signaling.TypePing, uint64(i+1), nil))
	}
	wg.Wait()
	nextEvent, nextPong := 0, uint64(1)
	for range 2 * n {
		f := h.next(t)
		var env signaling.Envelope
		if f.Op != ipc.OpMsg || json.Unmarshal(f.Data, &env) != nil {
			t.Fatalf("got %s %s", f.Op, f.Data)
		}
		switch env.Type {
		case signaling.TypeParticipantLeft:
			if want := fmt.Sprintf(`{"participantId":"%d"}`, nextEvent); string(env.Data) != want {
				t.Fatalf("event %s, want %s", env.Data, want)
			}
			nextEvent++
		case signaling.TypePong:
			if env.ID != nextPong {
				t.Fatalf("pong %d, want %d", env.ID, nextPong)
			}
			nextPong++
		default:
			t.Fatalf("unexpected %s", f.Data)
		}
	}
}

// TestErrorBody: the client hears the SFU's reason for a refusal, and of
// any other error only its code's name: Pion's text can quote SDP.
func TestErrorBody(t *testing.T) {
	t.Parallel()
	leaky := fmt.Errorf("%w: pion: a=fingerprint:sha-256 AB:CD...", sfu.ErrBadSDP)
	if got := errorBody(leaky); got.Code != signaling.CodeBadSDP || got.Message != signaling.CodeBadSDP.String() {
		t.Errorf("errorBody(%v) = %+v, want only the code's name", leaky, got)
	}
	if got := errorBody(sfu.ErrUnknownTrack); got.Code != signaling.CodeUnknownTrack || got.Message != signaling.CodeUnknownTrack.String() {
		t.Errorf("errorBody(ErrUnknownTrack) = %+v", got)
	}
}
