package signaling

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/sfu"
)

// Errors of the room registry, for the admin API.
var (
	ErrRoomNotFound = errors.New("signaling: no such room")
	ErrUserNotFound = errors.New("signaling: no such user in the room")
)

// Limits are an application's per-room rules; zero limits mean unlimited.
type Limits struct {
	MaxParticipants      int
	MaxAnchors           int
	RequirePrivateMapKey bool // also for becoming an anchor by switchRole
}

// Control is an operator's or the edge's instruction to a worker about
// one session.
type Control struct {
	Action  string    `json:"action"` // ControlRole, ControlBlock, ControlRemove, ControlDismiss
	Role    Role      `json:"role,omitempty"`
	Send    sfu.Media `json:"send,omitempty"`
	Receive sfu.Media `json:"receive,omitempty"`
	Media   sfu.Media `json:"media,omitempty"` // for block
	Blocked bool      `json:"blocked,omitempty"`
}

// Control actions.
const (
	ControlRole    = "role"    // new role and permissions
	ControlBlock   = "block"   // block or unblock kinds of the participant's media
	ControlRemove  = "remove"  // take the participant out (removed)
	ControlDismiss = "dismiss" // take the participant out (room dismissed)
)

// member is one admitted connection as the registry knows it. Guarded by
// the registry's mutex.
type member struct {
	c             *conn
	key           string // room key
	app           uint32
	roomID        uint32
	strRoomID     string
	userID        string
	role          Role
	privileges    auth.Privilege
	participantID string
	tracks        map[string]string // its published tracks: id → "audio", "video" or "screen"
	tokenHash     [32]byte
	tokenExp      time.Time
}

// registry is the control process's view of the rooms: who is admitted
// where, in which role. It enforces per-room limits and the create-room
// privilege at admission, and remembers removed users' tokens.
type registry struct {
	mu      sync.Mutex
	rooms   map[string]map[*conn]*member
	removed map[[32]byte]time.Time          // token hash → its expiry
	blocks  map[string]map[string]sfu.Media // room key → user id → blocked media, while the room lives
}

func newRegistry() *registry {
	return &registry{
		rooms: make(map[string]map[*conn]*member), removed: make(map[[32]byte]time.Time),
		blocks: make(map[string]map[string]sfu.Media),
	}
}

func tokenHash(tok string) [32]byte { return sha256.Sum256([]byte(tok)) }

// admit reserves m's place in its room, or says why not. It returns what
// an operator has blocked for m's user in that room.
func (r *registry) admit(m *member, lim Limits, now time.Time) (sfu.Media, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if exp, ok := r.removed[m.tokenHash]; ok && now.Before(exp) {
		return 0, Errorf(CodeTokenRevoked, "this token was withdrawn when its user was removed")
	}
	room := r.rooms[m.key]
	if len(room) == 0 && !m.privileges.Has(auth.PrivCreateRoom) {
		return 0, Errorf(CodeNoPrivilege, "the token may not create the room, and nobody is in it")
	}
	if lim.MaxParticipants > 0 && len(room) >= lim.MaxParticipants {
		return 0, Errorf(CodeRoomFull, "the room holds its maximum of %d participants", lim.MaxParticipants)
	}
	if m.role == RoleAnchor && lim.MaxAnchors > 0 && anchors(room) >= lim.MaxAnchors {
		return 0, Errorf(CodeTooManyAnchors, "the room holds its maximum of %d anchors", lim.MaxAnchors)
	}
	if room == nil {
		room = make(map[*conn]*member)
		r.rooms[m.key] = room
	}
	room[m.c] = m
	return r.blocks[m.key][m.userID], nil
}

// switchRole changes m's role if the room's anchor limit allows.
func (r *registry) switchRole(c *conn, role Role, privileges auth.Privilege, lim Limits) (*member, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.memberLocked(c)
	if m == nil {
		return nil, Errorf(CodeWrongState, "join first")
	}
	if role == RoleAnchor && m.role != RoleAnchor && lim.MaxAnchors > 0 && anchors(r.rooms[m.key]) >= lim.MaxAnchors {
		return nil, Errorf(CodeTooManyAnchors, "the room holds its maximum of %d anchors", lim.MaxAnchors)
	}
	m.role, m.privileges = role, privileges
	cp := *m
	return &cp, nil
}

func (r *registry) memberLocked(c *conn) *member {
	if c.key == "" {
		return nil
	}
	return r.rooms[c.key][c]
}

// leave forgets c.
func (r *registry) leave(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if room := r.rooms[c.key]; room != nil {
		delete(room, c)
		if len(room) == 0 {
			delete(r.rooms, c.key)
			delete(r.blocks, c.key) // blocks last as long as the room
		}
	}
}

// setParticipantID records the id the worker gave c.
func (r *registry) setParticipantID(c *conn, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.memberLocked(c); m != nil {
		m.participantID = id
	}
}

// members returns copies of the members of one room (all rooms of app
// when key is empty).
func (r *registry) members(app uint32, key string) map[string][]member {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]member)
	for k, room := range r.rooms {
		if key != "" && k != key {
			continue
		}
		for _, m := range room {
			if m.app == app {
				out[k] = append(out[k], *m)
			}
		}
	}
	return out
}

// remove withdraws the tokens of userID's connections in room key, until
// they expire, and returns those connections.
func (r *registry) remove(key, userID string, now time.Time) []*conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	for h, exp := range r.removed { // forget what has expired anyway
		if !now.Before(exp) {
			delete(r.removed, h)
		}
	}
	var out []*conn
	for c, m := range r.rooms[key] {
		if m.userID == userID {
			r.removed[m.tokenHash] = m.tokenExp
			out = append(out, c)
		}
	}
	return out
}

func anchors(room map[*conn]*member) int {
	n := 0
	for _, m := range room {
		if m.role == RoleAnchor {
			n++
		}
	}
	return n
}

// permissions turns privileges and a role into what the SFU lets a
// participant send and receive. An audience member sends nothing.
func permissions(p auth.Privilege, role Role) (send, receive sfu.Media) {
	for _, b := range []struct {
		priv auth.Privilege
		m    sfu.Media
		out  *sfu.Media
	}{
		{auth.PrivSendAudio, sfu.Audio, &send}, {auth.PrivSendVideo, sfu.Video, &send},
		{auth.PrivSendSubStream, sfu.Screen, &send},
		{auth.PrivRecvAudio, sfu.Audio, &receive}, {auth.PrivRecvVideo, sfu.Video, &receive},
		{auth.PrivRecvSubStream, sfu.Screen, &receive},
	} {
		if p.Has(b.priv) {
			*b.out |= b.m
		}
	}
	if role != RoleAnchor {
		send = 0
	}
	return send, receive
}

// RoomSnapshot describes one live room for the admin API.
type RoomSnapshot struct {
	RoomID       uint32
	StrRoomID    string
	Participants []MemberSnapshot
}

// MemberSnapshot describes one admitted participant.
type MemberSnapshot struct {
	ParticipantID string
	UserID        string
	Role          Role
	Blocked       sfu.Media
	Tracks        []string // kinds of its published tracks: "audio", "video", "screen"
}

// Rooms lists app's live rooms as the control process knows them.
func (s *Server) Rooms(app uint32) []RoomSnapshot {
	var out []RoomSnapshot
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	for key, room := range s.reg.rooms {
		var rs *RoomSnapshot
		for _, m := range room {
			if m.app != app {
				break
			}
			if rs == nil {
				rs = &RoomSnapshot{RoomID: m.roomID, StrRoomID: m.strRoomID}
			}
			ms := MemberSnapshot{
				ParticipantID: m.participantID, UserID: m.userID, Role: m.role,
				Blocked: s.reg.blocks[key][m.userID], Tracks: []string{},
			}
			for _, kind := range m.tracks {
				ms.Tracks = append(ms.Tracks, kind)
			}
			slices.Sort(ms.Tracks)
			rs.Participants = append(rs.Participants, ms)
		}
		if rs != nil {
			out = append(out, *rs)
		}
	}
	return out
}

// Dismiss ends a room: every participant gets bye 5001.
func (s *Server) Dismiss(app, roomID uint32, strRoomID string) error {
	ms := s.reg.members(app, RoomKey(app, roomID, strRoomID))
	if len(ms) == 0 {
		return ErrRoomNotFound
	}
	for _, room := range ms {
		for _, m := range room {
			m.c.control(Control{Action: ControlDismiss})
		}
	}
	return nil
}

// RemoveUser takes userID out of a room (bye 5000) and refuses its
// tokens' rejoin until they expire.
func (s *Server) RemoveUser(app, roomID uint32, strRoomID, userID string) error {
	conns := s.reg.remove(RoomKey(app, roomID, strRoomID), userID, s.cfg.Now())
	if len(conns) == 0 {
		return ErrUserNotFound
	}
	for _, c := range conns {
		c.control(Control{Action: ControlRemove})
	}
	return nil
}

// Block stops (or allows again) kinds of userID's media in a room.
func (s *Server) Block(app, roomID uint32, strRoomID, userID string, media sfu.Media, blocked bool) error {
	conns := s.reg.block(RoomKey(app, roomID, strRoomID), userID, media, blocked)
	if len(conns) == 0 {
		return ErrUserNotFound
	}
	for _, c := range conns {
		c.control(Control{Action: ControlBlock, Media: media, Blocked: blocked})
	}
	return nil
}

// block records a block on userID in room key — for its connections now
// and any it opens while the room lives — and returns its connections.
func (r *registry) block(key, userID string, media sfu.Media, blocked bool) []*conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*conn
	for c, m := range r.rooms[key] {
		if m.userID == userID {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil
	}
	users := r.blocks[key]
	if users == nil {
		users = make(map[string]sfu.Media)
		r.blocks[key] = users
	}
	if blocked {
		users[userID] |= media
	} else if users[userID] &^= media; users[userID] == 0 {
		delete(users, userID)
	}
	return out
}

// trackEvent keeps c's published tracks up to date from the messages the
// worker sends it: its own trackPublished and trackUnpublished.
func (r *registry) trackEvent(c *conn, raw []byte) {
	if !bytes.Contains(raw, []byte(`"trackPublished"`)) && !bytes.Contains(raw, []byte(`"trackUnpublished"`)) {
		return
	}
	var env struct {
		Type string `json:"type"`
		Data struct {
			Track         TrackInfo `json:"track"`
			TrackID       string    `json:"trackId"`
			ParticipantID string    `json:"participantId"`
		} `json:"data"`
	}
	if json.Unmarshal(raw, &env) != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.memberLocked(c)
	if m == nil {
		return
	}
	switch env.Type {
	case TypeTrackPublished:
		t := env.Data.Track
		if t.ParticipantID != m.participantID {
			return
		}
		kind := t.Kind
		if t.Screen {
			kind = "screen"
		}
		if m.tracks == nil {
			m.tracks = make(map[string]string)
		}
		m.tracks[t.TrackID] = kind
	case TypeTrackUnpublished:
		if env.Data.ParticipantID == m.participantID {
			delete(m.tracks, env.Data.TrackID)
		}
	}
}

// peekJoined learns the participant id from the worker's joined reply.
func peekJoined(raw []byte) (string, bool) {
	var env struct {
		Type string `json:"type"`
		Data struct {
			ParticipantID string `json:"participantId"`
		} `json:"data"`
	}
	if json.Unmarshal(raw, &env) != nil || env.Type != TypeJoined {
		return "", false
	}
	return env.Data.ParticipantID, true
}

// permissionNames lists send and receive as wire names.
func permissionNames(send, receive sfu.Media) Permissions {
	return Permissions{Send: mediaNames(send), Receive: mediaNames(receive)}
}

func mediaNames(m sfu.Media) []string {
	out := []string{}
	for _, k := range []struct {
		m    sfu.Media
		name string
	}{{sfu.Audio, "audio"}, {sfu.Video, "video"}, {sfu.Screen, "screen"}} {
		if m&k.m != 0 {
			out = append(out, k.name)
		}
	}
	return out
}
