package worker

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/lethe-rtc/lethe/sfu"
	"github.com/lethe-rtc/lethe/signaling"
)

func TestCollapse(t *testing.T) {
	t.Parallel()
	p := func(id, role string) signaling.ParticipantInfo {
		return signaling.ParticipantInfo{ParticipantID: id, Role: signaling.Role(role)}
	}
	j := func(id, role string) partEvent { return partEvent{signaling.TypeParticipantJoined, p(id, role)} }
	u := func(id, role string) partEvent { return partEvent{signaling.TypeParticipantUpdated, p(id, role)} }
	l := func(id string) partEvent { return partEvent{signaling.TypeParticipantLeft, p(id, "")} }
	for _, tt := range []struct {
		name string
		in   []partEvent
		want signaling.Participants
	}{
		{"nothing", nil, signaling.Participants{}},
		{"joins in order", []partEvent{j("a", "anchor"), j("b", "anchor"), j("c", "anchor")},
			signaling.Participants{Joined: []signaling.ParticipantInfo{p("a", "anchor"), p("b", "anchor"), p("c", "anchor")}}},
		{"came and went", []partEvent{j("a", "anchor"), l("a")}, signaling.Participants{}},
		{"joined then updated: joined as it is now", []partEvent{j("a", "audience"), u("a", "anchor")},
			signaling.Participants{Joined: []signaling.ParticipantInfo{p("a", "anchor")}}},
		{"known, updated twice", []partEvent{u("a", "audience"), u("a", "anchor")},
			signaling.Participants{Updated: []signaling.ParticipantInfo{p("a", "anchor")}}},
		{"known, updated then left", []partEvent{u("a", "anchor"), l("a")}, signaling.Participants{Left: []string{"a"}}},
		{"known, hidden and back: still there, as it is now", []partEvent{l("a"), j("a", "anchor")},
			signaling.Participants{Updated: []signaling.ParticipantInfo{p("a", "anchor")}}},
		{"came, went, came", []partEvent{j("a", "anchor"), l("a"), j("a", "audience")},
			signaling.Participants{Joined: []signaling.ParticipantInfo{p("a", "audience")}}},
		{"a mix", []partEvent{j("a", "anchor"), l("x"), j("b", "anchor"), l("a"), u("y", "audience")},
			signaling.Participants{Left: []string{"x"}, Joined: []signaling.ParticipantInfo{p("b", "anchor")},
				Updated: []signaling.ParticipantInfo{p("y", "audience")}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := collapse(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("collapse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEncodeParticipants(t *testing.T) {
	t.Parallel()
	one := signaling.ParticipantInfo{ParticipantID: "a", UserID: "alice", Role: signaling.RoleAnchor, Tracks: []signaling.TrackInfo{}}
	for _, tt := range []struct {
		in   signaling.Participants
		want string // message type; "" for none
	}{
		{signaling.Participants{}, ""},
		{signaling.Participants{Joined: []signaling.ParticipantInfo{one}}, signaling.TypeParticipantJoined},
		{signaling.Participants{Updated: []signaling.ParticipantInfo{one}}, signaling.TypeParticipantUpdated},
		{signaling.Participants{Left: []string{"a"}}, signaling.TypeParticipantLeft},
		{signaling.Participants{Left: []string{"a", "b"}}, signaling.TypeParticipants},
		{signaling.Participants{Left: []string{"b"}, Joined: []signaling.ParticipantInfo{one}}, signaling.TypeParticipants},
	} {
		raw, err := encodeParticipants(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == "" {
			if raw != nil {
				t.Errorf("%+v: %s, want nothing", tt.in, raw)
			}
			continue
		}
		var env signaling.Envelope
		if err := json.Unmarshal(raw, &env); err != nil || env.Type != tt.want {
			t.Errorf("%+v: %s, want a %s", tt.in, raw, tt.want)
		}
	}
}

// With an event window, a burst of joins reaches a session as one
// participants message; any other event first sends what has gathered.
func TestHostEventWindow(t *testing.T) {
	t.Parallel()
	join, calls := fakeJoin(nil)
	h := newHostHarness(t, join, WithEventWindow(time.Hour))
	jc := h.joinHost(t, calls, 1)
	for _, id := range []string{"p-a", "p-b", "p-c"} {
		jc.ev.ParticipantJoined(sfu.ParticipantInfo{ID: id, UserID: id, Role: "anchor"})
	}
	jc.ev.ParticipantLeft("p-b")
	jc.ev.TrackPublished(sfu.TrackInfo{ID: "t1", ParticipantID: "p-c", Kind: "audio"})
	env := h.expect(t, 1, signaling.TypeParticipants, 0)
	var got signaling.Participants
	if err := json.Unmarshal(env.Data, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Joined) != 2 || got.Joined[0].ParticipantID != "p-a" || got.Joined[1].ParticipantID != "p-c" || len(got.Left)+len(got.Updated) != 0 {
		t.Fatalf("participants %s: want p-a and p-c joined, nothing else", env.Data)
	}
	h.expect(t, 1, signaling.TypeTrackPublished, 0)

	// A reply also sends what has gathered before it.
	jc.ev.ParticipantLeft("p-a")
	h.request(t, 1, msg(signaling.TypePing, 9, nil))
	h.expect(t, 1, signaling.TypeParticipantLeft, 0)
	h.expect(t, 1, signaling.TypePong, 9)
}

// The window ends by itself: gathered events go out when it does.
func TestHostEventWindowTimer(t *testing.T) {
	t.Parallel()
	join, calls := fakeJoin(nil)
	h := newHostHarness(t, join, WithEventWindow(20*time.Millisecond))
	jc := h.joinHost(t, calls, 1)
	jc.ev.ParticipantJoined(sfu.ParticipantInfo{ID: "p-a", Role: "anchor"})
	jc.ev.ParticipantJoined(sfu.ParticipantInfo{ID: "p-b", Role: "anchor"})
	h.expect(t, 1, signaling.TypeParticipants, 0)
	jc.ev.ParticipantUpdated(sfu.ParticipantInfo{ID: "p-a", Role: "audience"})
	env := h.expect(t, 1, signaling.TypeParticipantUpdated, 0)
	var p signaling.ParticipantInfo
	if err := json.Unmarshal(env.Data, &p); err != nil || p.Role != signaling.RoleAudience {
		t.Fatalf("update %s", env.Data)
	}
}
