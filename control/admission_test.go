package control

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/lethe-rtc/lethe/signaling"
	"reflect"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const testApp = 1400000001

// joinAs dials and sends a join for user with token tok; mod may change
// the join's data further.
func (h *harness) joinAs(t *testing.T, user, tok string, mod func(map[string]any)) *websocket.Conn {
	t.Helper()
	ws := h.dial(t, nil)
	send(t, ws, msg(signaling.TypeJoin, 1, joinData(func(d map[string]any) {
		d["userId"], d["userSig"] = user, tok
		if mod != nil {
			mod(d)
		}
	})))
	return ws
}

// admitted joins user and returns once the Backend has opened its session.
func (h *harness) admitted(t *testing.T, user string, mod func(map[string]any)) (*websocket.Conn, *opened) {
	t.Helper()
	ws := h.joinAs(t, user, "good-"+user+"-"+secret, mod)
	op := h.nextOpen(t)
	if op.open.UserID != user {
		t.Fatalf("opened %q, want %q", op.open.UserID, user)
	}
	return ws, op
}

func refused(t *testing.T, ws *websocket.Conn, code signaling.Code) {
	t.Helper()
	expectError(t, ws, 1, code)
	expectBye(t, ws, code)
	expectClosed(t, ws)
}

func nextControl(t *testing.T, op *opened) signaling.Control {
	t.Helper()
	select {
	case c := <-op.controls:
		return c
	case <-time.After(wait):
		t.Fatal("Session.Control not called")
		return signaling.Control{}
	}
}

func noControl(t *testing.T, op *opened) {
	t.Helper()
	select {
	case c := <-op.controls:
		t.Fatalf("Session.Control got %+v", c)
	default:
	}
}

func limits(l Limits, err error) func(*ServerConfig) {
	return func(c *ServerConfig) {
		c.Limits = func(context.Context, uint32) (Limits, error) { return l, err }
	}
}

func TestServerRoomFull(t *testing.T) {
	t.Parallel()
	h := newHarness(t, limits(Limits{MaxParticipants: 2}, nil))
	first, op := h.admitted(t, "alice", nil)
	h.admitted(t, "bob", func(d map[string]any) { d["role"] = "audience" })
	refused(t, h.joinAs(t, "carol", "good-"+secret, nil), signaling.CodeRoomFull)
	// Another room of the same app has room.
	h.admitted(t, "dave", func(d map[string]any) { d["roomId"] = 124 })
	h.noOpen(t)

	_ = first.Close()
	<-op.closed
	// The registry forgets alice just after closing her session.
	deadline := time.Now().Add(wait)
	for roomSize(h, 123) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("alice still counted after leaving")
		}
		time.Sleep(time.Millisecond)
	}
	h.joinAs(t, "carol", "good-"+secret, nil)
	h.nextOpen(t)
}

func roomSize(h *harness, roomID uint32) int {
	for _, r := range h.srv.Rooms(testApp) {
		if r.RoomID == roomID {
			return len(r.Participants)
		}
	}
	return 0
}

func TestServerTooManyAnchors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, limits(Limits{MaxAnchors: 1}, nil))
	h.admitted(t, "alice", nil)
	refused(t, h.joinAs(t, "bob", "good-"+secret, nil), signaling.CodeTooManyAnchors)
	h.admitted(t, "carol", func(d map[string]any) { d["role"] = "audience" })
}

func TestServerLimitsUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, limits(Limits{}, errors.New("store down")))
	refused(t, h.joinAs(t, "alice", "good-"+secret, nil), signaling.CodeInternal)
	h.noOpen(t)
}

func TestServerCreateRoomPrivilege(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	refused(t, h.joinAs(t, "bob", "good-nocreate-"+secret, nil), signaling.CodeNoPrivilege)
	h.admitted(t, "alice", nil)
	// The room exists now: entering needs no create privilege.
	h.joinAs(t, "bob", "good-nocreate-"+secret, nil)
	h.nextOpen(t)
}

func TestServerAudienceToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	refused(t, h.joinAs(t, "alice", "good-audience-"+secret, nil), signaling.CodeNoPrivilege)
	h.joinAs(t, "alice", "good-audience-"+secret, func(d map[string]any) { d["role"] = "audience" })
	if op := h.nextOpen(t); op.open.Role != signaling.RoleAudience || op.open.Send != 0 {
		t.Fatalf("Open %+v, want an audience member that sends nothing", op.open)
	}
}

func TestServerRooms(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, op := h.admitted(t, "alice", nil)
	h.admitted(t, "bob", func(d map[string]any) { delete(d, "roomId"); d["strRoomId"] = "123"; d["role"] = "audience" })
	h.admitted(t, "eve", func(d map[string]any) { d["sdkAppId"] = testApp + 1 })
	// The worker reports alice's participant id and tracks; a later state
	// replaces the earlier one.
	op.sink.State(signaling.State{ParticipantID: "p-alice", Tracks: []signaling.TrackState{{TrackID: "t1", Kind: "audio"}}})
	op.sink.State(signaling.State{ParticipantID: "p-alice", Tracks: []signaling.TrackState{
		{TrackID: "t3", Kind: "video"}, {TrackID: "t2", Kind: "audio"}, {TrackID: "t4", Kind: "screen"}}})
	rooms := h.srv.Rooms(testApp)
	if len(rooms) != 2 {
		t.Fatalf("rooms %+v, want 2 (app %d only)", rooms, testApp)
	}
	got := map[string]MemberSnapshot{}
	for _, r := range rooms {
		if len(r.Participants) != 1 {
			t.Fatalf("room %+v", r)
		}
		got[signaling.RoomKey(testApp, r.RoomID, r.StrRoomID)] = r.Participants[0]
	}
	if m := got[signaling.RoomKey(testApp, 123, "")]; !reflect.DeepEqual(m, MemberSnapshot{ParticipantID: "p-alice", UserID: "alice", Role: signaling.RoleAnchor, Tracks: []string{"audio", "screen", "video"}}) {
		t.Errorf("numeric room 123: %+v", m)
	}
	if m := got[signaling.RoomKey(testApp, 0, "123")]; !reflect.DeepEqual(m, MemberSnapshot{UserID: "bob", Role: signaling.RoleAudience, Tracks: []string{}}) {
		t.Errorf("string room 123: %+v", m)
	}
}

func TestServerDismiss(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, a := h.admitted(t, "alice", nil)
	_, b := h.admitted(t, "bob", nil)
	_, other := h.admitted(t, "carol", func(d map[string]any) { d["roomId"] = 124 })
	if err := h.srv.Dismiss(testApp, 123, ""); err != nil {
		t.Fatalf("Dismiss: %v", err)
	}
	for _, op := range []*opened{a, b} {
		if c := nextControl(t, op); c.Action != signaling.ControlDismiss {
			t.Errorf("%s got %+v", op.open.UserID, c)
		}
	}
	noControl(t, other)
	for _, tt := range []struct {
		app    uint32
		roomID uint32
		str    string
	}{{testApp, 0, "123"}, {testApp + 1, 123, ""}, {testApp, 999, ""}} {
		if err := h.srv.Dismiss(tt.app, tt.roomID, tt.str); !errors.Is(err, ErrRoomNotFound) {
			t.Errorf("Dismiss(%d, %d, %q): %v, want ErrRoomNotFound", tt.app, tt.roomID, tt.str, err)
		}
	}
}

func TestServerRemoveUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tok := "good-alice-" + secret
	ws, a := h.admitted(t, "alice", nil)
	_, b := h.admitted(t, "bob", nil)
	if err := h.srv.RemoveUser(context.Background(), testApp, 123, "", "mallory"); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("RemoveUser of a stranger: %v", err)
	}
	if err := h.srv.RemoveUser(context.Background(), testApp, 0, "123", "alice"); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("RemoveUser in string room 123: %v", err)
	}
	if err := h.srv.RemoveUser(context.Background(), testApp, 123, "", "alice"); err != nil {
		t.Fatalf("RemoveUser: %v", err)
	}
	if c := nextControl(t, a); c.Action != signaling.ControlRemove {
		t.Fatalf("alice got %+v", c)
	}
	noControl(t, b)
	// The worker would now say bye 5000 and close; the edge follows.
	a.sink.Closed(signaling.Closed{Code: signaling.CodeRemoved})
	expectClosed(t, ws)
	// The same token cannot come back; a fresh one can.
	refused(t, h.joinAs(t, "alice", tok, nil), signaling.CodeTokenRevoked)
	h.joinAs(t, "alice", "good-alice-2-"+secret, nil)
	h.nextOpen(t)
}

func TestServerBlock(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, a := h.admitted(t, "alice", nil)
	_, b := h.admitted(t, "bob", nil)
	if err := h.srv.Block(testApp, 123, "", "alice", signaling.Video|signaling.Screen, true); err != nil {
		t.Fatalf("Block: %v", err)
	}
	if c := nextControl(t, a); c != (signaling.Control{Action: signaling.ControlBlock, Media: signaling.Video | signaling.Screen, Blocked: true}) {
		t.Fatalf("alice got %+v", c)
	}
	noControl(t, b)
	if err := h.srv.Block(testApp, 123, "", "nobody", signaling.Audio, true); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("Block of a stranger: %v", err)
	}
}

func TestServerSwitchRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		lim    Limits
		role   signaling.Role
		pmk    string
		code   signaling.Code     // 0: ack
		want   *signaling.Control // the worker's instruction on success
		joinAs signaling.Role
	}{
		{name: "to audience", role: signaling.RoleAudience,
			want: &signaling.Control{Action: signaling.ControlRole, Role: signaling.RoleAudience, Receive: signaling.AllMedia}},
		{name: "back to anchor", role: signaling.RoleAnchor, joinAs: signaling.RoleAudience,
			want: &signaling.Control{Action: signaling.ControlRole, Role: signaling.RoleAnchor, Send: signaling.AllMedia, Receive: signaling.AllMedia}},
		{name: "fresh key sets privileges", role: signaling.RoleAnchor, pmk: "good-recv-only-" + secret,
			want: &signaling.Control{Action: signaling.ControlRole, Role: signaling.RoleAnchor, Receive: signaling.Audio | signaling.Video}},
		{name: "key required", role: signaling.RoleAnchor, joinAs: signaling.RoleAudience, lim: Limits{RequirePrivateMapKey: true}, code: signaling.CodePrivateMapKeyRequired},
		{name: "key required, given", role: signaling.RoleAnchor, joinAs: signaling.RoleAudience, lim: Limits{RequirePrivateMapKey: true}, pmk: "good-" + secret,
			want: &signaling.Control{Action: signaling.ControlRole, Role: signaling.RoleAnchor, Send: signaling.AllMedia, Receive: signaling.AllMedia}},
		{name: "key not needed to step down", role: signaling.RoleAudience, lim: Limits{RequirePrivateMapKey: true},
			want: &signaling.Control{Action: signaling.ControlRole, Role: signaling.RoleAudience, Receive: signaling.AllMedia}},
		{name: "expired key", role: signaling.RoleAnchor, pmk: "tok-expired-" + secret, code: signaling.CodeTokenExpired},
		{name: "key of another room", role: signaling.RoleAnchor, pmk: "tok-room-" + secret, code: signaling.CodeRoomMismatch},
		{name: "anchors full", role: signaling.RoleAnchor, joinAs: signaling.RoleAudience, lim: Limits{MaxAnchors: 1}, code: signaling.CodeTooManyAnchors},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, limits(tt.lim, nil))
			if tt.lim.MaxAnchors > 0 {
				h.admitted(t, "bob", nil)
			}
			joinAs := tt.joinAs
			if joinAs == "" {
				joinAs = signaling.RoleAnchor
			}
			ws, op := h.admitted(t, "alice", func(d map[string]any) { d["role"] = string(joinAs) })
			send(t, ws, msg(signaling.TypeSwitchRole, 7, signaling.SwitchRole{Role: tt.role, PrivateMapKey: tt.pmk}))
			if tt.code != 0 {
				expectError(t, ws, 7, tt.code)
				noControl(t, op)
				expectAlive(t, ws, 8) // a refused switch keeps the connection
				return
			}
			env := expectType(t, ws, signaling.TypeRoleSwitched, 7)
			var rs signaling.RoleSwitched
			if err := json.Unmarshal(env.Data, &rs); err != nil || rs.Role != tt.role {
				t.Fatalf("roleSwitched %s: %v", env.Data, err)
			}
			if c := nextControl(t, op); c != *tt.want {
				t.Fatalf("Control %+v, want %+v", c, *tt.want)
			}
			select {
			case raw := <-op.sent:
				t.Fatalf("switchRole relayed raw to the worker: %s", raw)
			default:
			}
		})
	}
}

func TestServerSwitchRoleWorkerGone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *ServerConfig) {
		c.Backend = &fakeBackend{OpenFunc: func(signaling.Open, Sink) (Session, error) {
			return &fakeSession{
				SendFunc:    func([]byte) error { return nil },
				ControlFunc: func(signaling.Control) error { return errors.New("worker gone") },
				CloseFunc:   func() {},
			}, nil
		}}
	})
	ws := h.joinAs(t, "alice", "good-"+secret, nil)
	expectAlive(t, ws, 2) // the join has been handled
	send(t, ws, msg(signaling.TypeSwitchRole, 3, signaling.SwitchRole{Role: signaling.RoleAudience}))
	expectError(t, ws, 3, signaling.CodeWorkerUnavailable)
}
