package control

import (
	"context"
	"errors"
	"fmt"
	"github.com/lethe-rtc/lethe/signaling"
	"slices"
	"sync"
	"time"

	"github.com/lethe-rtc/lethe/auth"
	"github.com/lethe-rtc/lethe/webhook"
)

// Errors of the room registry, for the admin API.
var (
	ErrRoomNotFound = errors.New("signaling: no such room")
	ErrUserNotFound = errors.New("signaling: no such user in the room")
	// ErrWithdrawalNotStored: RemoveUser could not store a withdrawal (the
	// store failed); the user is still in the room.
	ErrWithdrawalNotStored = errors.New("control: the withdrawal of a removed user's token could not be stored")
)

// Limits are an application's per-room rules; zero limits mean unlimited.
type Limits struct {
	MaxParticipants      int
	MaxAnchors           int
	RequirePrivateMapKey bool // also for becoming an anchor by switchRole
	// RequireConsent: a join's tokens must carry a consent claim (the app
	// backend's signed statement that the user's consent was obtained).
	RequireConsent bool
}

// member is one admitted connection as the registry knows it. Guarded by
// the registry's mutex.
type member struct {
	c          *conn
	key        string // room key
	app        uint32
	roomID     uint32
	strRoomID  string
	userID     string
	role       signaling.Role
	privileges auth.Privilege
	// What the worker reports of the session (signaling.State); the worker
	// is the truth for these, this copy only answers the admin API.
	participantID string
	tracks        []signaling.TrackState
	tokenHash     [32]byte
	tokenExp      time.Time
	// entered: the worker has reported the session (events.go).
	entered bool
}

// registry is the control process's view of the rooms: who is admitted
// where, in which role. It enforces per-room limits and the create-room
// privilege at admission, and remembers removed users' tokens (their
// keyed hashes, Withdrawals.TokenHash) while the process lives; so a
// removal and a join with the removed token exclude each other.
// Withdrawals keeps them beyond a restart.
type registry struct {
	mu      sync.Mutex
	rooms   map[string]map[*conn]*member
	removed map[[32]byte]time.Time                // token hash → until when it is refused
	blocks  map[string]map[string]signaling.Media // room key → user id → blocked media, while the room lives
	// draining refuses every admission (CodeDraining); emptied is closed
	// once it is set and no room has a member (drain).
	draining bool
	emptied  chan struct{}
	// events receives the rooms' webhook events (nil: none). live holds
	// every admitted member until the worker says its session closed
	// (after it left rooms, maybe), entered counts a room's entered
	// members (events.go).
	events  Events
	live    map[*conn]*member
	entered map[string]int
	now     func() time.Time
}

func newRegistry() *registry {
	return &registry{
		rooms: make(map[string]map[*conn]*member), removed: make(map[[32]byte]time.Time),
		blocks: make(map[string]map[string]signaling.Media), live: make(map[*conn]*member), entered: make(map[string]int), now: time.Now,
	}
}

// withdrawalMargin is how long past its expiry a withdrawn token stays
// refused: beyond any verifier's clock leeway, which still accepts it
// for a few seconds after its exp.
const withdrawalMargin = time.Minute

// withdrawal is a token withdrawn by a removal: its keyed hash and until
// when it is refused.
type withdrawal struct {
	hash  [32]byte
	until time.Time
}

// admit reserves m's place in its room, or says why not. It returns what
// an operator has blocked for m's user in that room.
func (r *registry) admit(m *member, lim Limits, now time.Time) (signaling.Media, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.draining {
		return 0, errDraining
	}
	if until, ok := r.removed[m.tokenHash]; ok && now.Before(until) {
		return 0, signaling.Errorf(signaling.CodeTokenRevoked, "this token was withdrawn when its user was removed")
	}
	room := r.rooms[m.key]
	if len(room) == 0 && !m.privileges.Has(auth.PrivCreateRoom) {
		return 0, signaling.Errorf(signaling.CodeNoPrivilege, "the token may not create the room, and nobody is in it")
	}
	if lim.MaxParticipants > 0 && len(room) >= lim.MaxParticipants {
		return 0, signaling.Errorf(signaling.CodeRoomFull, "the room holds its maximum of %d participants", lim.MaxParticipants)
	}
	if m.role == signaling.RoleAnchor && lim.MaxAnchors > 0 && anchors(room) >= lim.MaxAnchors {
		return 0, signaling.Errorf(signaling.CodeTooManyAnchors, "the room holds its maximum of %d anchors", lim.MaxAnchors)
	}
	if room == nil {
		room = make(map[*conn]*member)
		r.rooms[m.key] = room
	}
	room[m.c] = m
	r.live[m.c] = m
	return r.blocks[m.key][m.userID], nil
}

// switchRole changes m's role if the room's anchor limit allows.
func (r *registry) switchRole(c *conn, role signaling.Role, privileges auth.Privilege, lim Limits) (*member, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.memberLocked(c)
	if m == nil {
		return nil, signaling.Errorf(signaling.CodeWrongState, "join first")
	}
	if role == signaling.RoleAnchor && m.role != signaling.RoleAnchor && lim.MaxAnchors > 0 && anchors(r.rooms[m.key]) >= lim.MaxAnchors {
		return nil, signaling.Errorf(signaling.CodeTooManyAnchors, "the room holds its maximum of %d anchors", lim.MaxAnchors)
	}
	changed := m.role != role
	m.role, m.privileges = role, privileges
	if changed && m.entered {
		r.postLocked(m, webhook.ChangeRole, true, 0)
	}
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
	r.checkEmptiedLocked()
}

// errDraining refuses a join while the server drains.
var errDraining = &signaling.CodedError{Code: signaling.CodeDraining, Detail: "this server takes no new participants: try another server, or this one later"}

// drain refuses every later admission and returns a channel closed once
// no room has a member: at once if none has.
func (r *registry) drain() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.draining {
		r.draining, r.emptied = true, make(chan struct{})
		r.checkEmptiedLocked()
	}
	return r.emptied
}

func (r *registry) checkEmptiedLocked() {
	if !r.draining || len(r.rooms) > 0 {
		return
	}
	select {
	case <-r.emptied:
	default:
		close(r.emptied)
	}
}

// setState records the worker's latest account of c: its participant id
// and published tracks.
func (r *registry) setState(c *conn, st signaling.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// live, not rooms: the client may be gone already, and the worker's
	// reports of its session still tell what it did (events.go).
	if m := r.live[c]; m != nil {
		before := m.tracks
		m.participantID = st.ParticipantID
		m.tracks = st.Tracks
		r.stateEventsLocked(m, before)
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

// tokensOf returns the withdrawals that removing userID from room key
// would make: one per connection of the user there.
func (r *registry) tokensOf(key, userID string) []withdrawal {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []withdrawal
	for _, m := range r.rooms[key] {
		if m.userID == userID {
			out = append(out, withdrawal{m.tokenHash, m.tokenExp.Add(withdrawalMargin)})
		}
	}
	return out
}

// remove withdraws the tokens of userID's connections in room key, until
// they expire (and withdrawalMargin after), and returns those connections
// and the withdrawals.
func (r *registry) remove(key, userID string, now time.Time) ([]*conn, []withdrawal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for h, until := range r.removed { // forget what has expired anyway
		if !now.Before(until) {
			delete(r.removed, h)
		}
	}
	var (
		conns []*conn
		ws    []withdrawal
	)
	for c, m := range r.rooms[key] {
		if m.userID == userID {
			w := withdrawal{m.tokenHash, m.tokenExp.Add(withdrawalMargin)}
			if w.until.After(r.removed[w.hash]) {
				r.removed[w.hash] = w.until
			}
			conns, ws = append(conns, c), append(ws, w)
		}
	}
	return conns, ws
}

// playable returns the tracks a WHEP player c receives: those of the
// participant of c's room whose id is participant, or, with participant
// empty, of the one publishing video whose id sorts first (of anyone
// publishing, when nobody publishes video). None when there is no such
// participant.
func (r *registry) playable(c *conn, participant string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var pick *member
	for other, m := range r.rooms[c.key] {
		if other == c || len(m.tracks) == 0 {
			continue
		}
		switch {
		case participant != "":
			if m.participantID == participant {
				pick = m
			}
		case pick == nil, hasVideo(m) && !hasVideo(pick),
			hasVideo(m) == hasVideo(pick) && m.participantID < pick.participantID:
			pick = m
		}
	}
	if pick == nil {
		return nil
	}
	ids := make([]string, 0, len(pick.tracks))
	for _, t := range pick.tracks {
		ids = append(ids, t.TrackID)
	}
	return ids
}

// hasVideo reports whether m publishes video.
func hasVideo(m *member) bool {
	return slices.ContainsFunc(m.tracks, func(t signaling.TrackState) bool { return t.Kind == "video" })
}

func anchors(room map[*conn]*member) int {
	n := 0
	for _, m := range room {
		if m.role == signaling.RoleAnchor {
			n++
		}
	}
	return n
}

// permissions turns privileges and a role into what the SFU lets a
// participant send and receive. An audience member sends nothing.
func permissions(p auth.Privilege, role signaling.Role) (send, receive signaling.Media) {
	for _, b := range []struct {
		priv auth.Privilege
		m    signaling.Media
		out  *signaling.Media
	}{
		{auth.PrivSendAudio, signaling.Audio, &send}, {auth.PrivSendVideo, signaling.Video, &send},
		{auth.PrivSendSubStream, signaling.Screen, &send},
		{auth.PrivRecvAudio, signaling.Audio, &receive}, {auth.PrivRecvVideo, signaling.Video, &receive},
		{auth.PrivRecvSubStream, signaling.Screen, &receive},
	} {
		if p.Has(b.priv) {
			*b.out |= b.m
		}
	}
	if role != signaling.RoleAnchor {
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
	Role          signaling.Role
	Blocked       signaling.Media
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
			for _, t := range m.tracks {
				ms.Tracks = append(ms.Tracks, t.Kind)
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
	key := signaling.RoomKey(app, roomID, strRoomID)
	ms := s.reg.members(app, key)
	if len(ms) == 0 {
		return ErrRoomNotFound
	}
	for _, room := range ms {
		for _, m := range room {
			m.c.control(signaling.Control{Action: signaling.ControlDismiss})
		}
	}
	return nil
}

// RemoveUser takes userID out of a room (bye 5000) and refuses the
// userSigs its connections joined with until they expire, also after a
// restart: the withdrawals are stored (Withdrawals) before anyone is
// removed, so an error storing them (ErrWithdrawalNotStored) leaves the
// user in the room, and the operator may try again. (Should the user join
// once more meanwhile, with another token, that connection is removed as
// well, and an error storing its withdrawal is returned after.)
func (s *Server) RemoveUser(ctx context.Context, app, roomID uint32, strRoomID, userID string) error {
	key := signaling.RoomKey(app, roomID, strRoomID)
	now := s.cfg.Now()
	stored := make(map[[32]byte]time.Time)
	store := func(ws []withdrawal) error {
		for _, w := range ws {
			if !w.until.After(stored[w.hash]) {
				continue
			}
			if err := s.cfg.Withdrawals.WithdrawToken(ctx, app, w.hash, w.until, now); err != nil {
				return fmt.Errorf("%w: %w", ErrWithdrawalNotStored, err)
			}
			stored[w.hash] = w.until
		}
		return nil
	}
	ws := s.reg.tokensOf(key, userID)
	if len(ws) == 0 {
		return ErrUserNotFound
	}
	if err := store(ws); err != nil {
		return err
	}
	conns, ws := s.reg.remove(key, userID, now)
	for _, c := range conns {
		c.control(signaling.Control{Action: signaling.ControlRemove})
	}
	// A connection that joined since tokensOf, with another token, is
	// removed too and refused in memory; store its withdrawal as well.
	return store(ws)
}

// Block stops (or allows again) kinds of userID's media in a room.
func (s *Server) Block(app, roomID uint32, strRoomID, userID string, media signaling.Media, blocked bool) error {
	conns := s.reg.block(signaling.RoomKey(app, roomID, strRoomID), userID, media, blocked)
	if len(conns) == 0 {
		return ErrUserNotFound
	}
	for _, c := range conns {
		c.control(signaling.Control{Action: signaling.ControlBlock, Media: media, Blocked: blocked})
	}
	return nil
}

// block records a block on userID in room key — for its connections now
// and any it opens while the room lives — and returns its connections.
func (r *registry) block(key, userID string, media signaling.Media, blocked bool) []*conn {
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
		users = make(map[string]signaling.Media)
		r.blocks[key] = users
	}
	if blocked {
		users[userID] |= media
	} else if users[userID] &^= media; users[userID] == 0 {
		delete(users, userID)
	}
	return out
}
