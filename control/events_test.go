package control

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/signaling"
	"github.com/lethe-rtc/lethe/webhook"
)

// recordEvents is an Events that keeps what it is posted.
type recordEvents struct {
	mu sync.Mutex
	es []webhook.Event
}

func (r *recordEvents) Post(e webhook.Event) {
	r.mu.Lock()
	r.es = append(r.es, e)
	r.mu.Unlock()
}

func (r *recordEvents) summary() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.es {
		s := e.UserID
		if e.Type == webhook.DismissRoom || e.Type == webhook.CreateRoom {
			s = ""
		}
		out = append(out, strconv.Itoa(int(e.Type))+s)
	}
	return out
}

// TestRegistryEvents: a scripted session makes TRTC's events in order —
// 101 and 103 on the first State, starts and stops as tracks come and go,
// 105 on a role switch, 104 (alone, as TRTC) and 102 at the last close —
// and a member the worker never reported makes none.
func TestRegistryEvents(t *testing.T) {
	t.Parallel()
	ev := &recordEvents{}
	r := newRegistry()
	r.events = ev
	admit := func(user string) *member {
		m := &member{c: &conn{key: "1/n/7"}, key: "1/n/7", app: 1, roomID: 7, userID: user, role: signaling.RoleAnchor, privileges: auth.PrivAll}
		if _, err := r.admit(m, Limits{}, time.Now()); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b, ghost := admit("a"), admit("b"), admit("ghost")
	av := []signaling.TrackState{{TrackID: "v", Kind: "video"}, {TrackID: "m", Kind: "audio"}}
	r.setState(a.c, signaling.State{ParticipantID: "pa"})
	r.setState(a.c, signaling.State{ParticipantID: "pa", Tracks: av[:1]})
	r.setState(a.c, signaling.State{ParticipantID: "pa", Tracks: av})
	r.setState(b.c, signaling.State{ParticipantID: "pb"})
	r.setState(b.c, signaling.State{ParticipantID: "pb", Tracks: []signaling.TrackState{{TrackID: "s", Kind: "screen"}}})
	r.setState(b.c, signaling.State{ParticipantID: "pb"})
	if _, err := r.switchRole(b.c, signaling.RoleAudience, auth.PrivAll, Limits{}); err != nil {
		t.Fatal(err)
	}
	r.setState(a.c, signaling.State{ParticipantID: "pa", Tracks: av[1:]})
	for _, m := range []*member{ghost, b, a} {
		r.leave(m.c)
		r.closed(m.c, signaling.Closed{Code: signaling.CodeOK})
	}
	want := []string{"101", "103a", "201a", "203a", "103b", "205b", "206b", "105b", "202a", "104b", "104a", "102"}
	if got := ev.summary(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if e := ev.es[7]; e.Role != webhook.RoleAudience || e.RoomID != 7 || e.App != 1 {
		t.Errorf("105: %+v", e)
	}
	if e := ev.es[10]; e.Reason != webhook.ReasonNormal || e.Role != webhook.RoleAnchor {
		t.Errorf("104: %+v", e)
	}
	if e := ev.es[11]; e.UserID != "" {
		t.Errorf("102 names a user: %+v", e)
	}
	if len(r.live) != 0 || len(r.entered) != 0 {
		t.Errorf("left behind: %d live, %d entered rooms", len(r.live), len(r.entered))
	}
}

// TestRegistryEventsLateState: the client left (the registry forgot it)
// before the worker's first State was read; the worker's reports still
// make the session's events, in order, and its Closed ends them.
func TestRegistryEventsLateState(t *testing.T) {
	t.Parallel()
	ev := &recordEvents{}
	r := newRegistry()
	r.events = ev
	m := &member{c: &conn{key: "1/n/9"}, key: "1/n/9", app: 1, roomID: 9, userID: "quick", role: signaling.RoleAnchor, privileges: auth.PrivAll}
	if _, err := r.admit(m, Limits{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	r.leave(m.c)
	r.setState(m.c, signaling.State{ParticipantID: "pq"})
	r.closed(m.c, signaling.Closed{Code: signaling.CodeOK})
	r.closed(m.c, signaling.Closed{}) // again, as conn.run may: nothing more
	if got, want := ev.summary(), []string{"101", "103quick", "104quick", "102"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// TestRegistryExitReasons: the worker's closing code gives the 104's
// reason; a room emptied and filled again is created again; a session
// that never opened makes no event.
func TestRegistryExitReasons(t *testing.T) {
	t.Parallel()
	ev := &recordEvents{}
	r := newRegistry()
	r.events = ev
	enter := func(user string) *member {
		m := &member{c: &conn{key: "1/s/x"}, key: "1/s/x", app: 1, strRoomID: "x", userID: user, role: signaling.RoleAnchor, privileges: auth.PrivAll}
		if _, err := r.admit(m, Limits{}, time.Now()); err != nil {
			t.Fatal(err)
		}
		r.setState(m.c, signaling.State{ParticipantID: "p" + user})
		return m
	}
	a, b := enter("a"), enter("b")
	r.closed(a.c, signaling.Closed{Code: signaling.CodeRemoved})
	r.closed(b.c, signaling.Closed{Code: signaling.CodeRoomDismissed})
	c := enter("c")
	r.closed(c.c, signaling.Closed{Code: signaling.CodeWorkerUnavailable})
	never := &member{c: &conn{key: "1/s/x"}, key: "1/s/x", app: 1, strRoomID: "x", userID: "never", privileges: auth.PrivAll}
	if _, err := r.admit(never, Limits{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	r.leave(never.c)
	r.closed(never.c, signaling.Closed{})
	var reasons []int
	var types []webhook.Type
	ev.mu.Lock()
	for _, e := range ev.es {
		types = append(types, e.Type)
		if e.Type == webhook.ExitRoom {
			reasons = append(reasons, e.Reason)
		}
	}
	ev.mu.Unlock()
	if want := []int{webhook.ReasonRemoved, webhook.ReasonDismissed, webhook.ReasonTimeout}; !slices.Equal(reasons, want) {
		t.Errorf("exit reasons %v, want %v", reasons, want)
	}
	if want := []webhook.Type{101, 103, 103, 104, 104, 102, 101, 103, 104, 102}; !slices.Equal(types, want) {
		t.Errorf("events %v, want %v", types, want)
	}
}
