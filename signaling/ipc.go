package signaling

import (
	"encoding/json"
	"runtime"
	"strconv"
)

// The IPC messages between the control process and a media worker. They
// travel as the Data of internal/ipc frames, next to relayed client
// messages (OpMsg), and are never seen by clients.

// Ready is the worker's first frame: it is locked down and serving.
type Ready struct {
	UDP      string          `json:"udp"`               // its media socket
	TCP      string          `json:"tcp,omitempty"`     // its ICE-TCP listener; none when off
	Media    []MediaAddr     `json:"media,omitempty"`   // what its candidates advertise
	Lockdown json.RawMessage `json:"lockdown"`          // its lock-down report, as measured inside it
	TURNUDP  string          `json:"turnUdp,omitempty"` // its TURN relay's listeners, if it runs one
	TURNTCP  string          `json:"turnTcp,omitempty"`
	TURNTLS  string          `json:"turnTls,omitempty"`
}

// Start is the control process's first frame to a worker: what it must
// know that may appear neither on its command line nor in its environment,
// both of which /proc shows to the host's other users.
type Start struct {
	// TURNSecret makes and checks the credentials of the worker's TURN
	// relay (TURN REST API style); random per start of the control
	// process, kept in memory only.
	TURNSecret []byte `json:"turnSecret,omitempty"`
	// TURNCert is the certificate of the relay's TLS listener (TURN over
	// TLS, "turns:"), when the control process serves TLS: the worker
	// cannot read the files after its lock-down.
	TURNCert *Certificate `json:"turnCert,omitempty"`
}

// Certificate is a PEM certificate chain and its private key, as the
// control process read them; an OpCert frame brings a renewed one.
type Certificate struct {
	CertPEM []byte `json:"certPem"`
	KeyPEM  []byte `json:"keyPem"`
}

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
	Send    Media `json:"send"`
	Receive Media `json:"receive"`
	Blocked Media `json:"blocked,omitempty"` // what an operator blocked for this user in this room
	// Data opens the participant's data channels (Join.Data); NoDataSend
	// keeps it from sending data messages (its token's data claim).
	Data       bool `json:"data,omitempty"`
	NoDataSend bool `json:"noDataSend,omitempty"`
}

// Closed is the worker's word that a session ended.
type Closed struct {
	Code   Code   `json:"code"`
	Reason string `json:"reason"`
}

// Control is an operator's or the edge's instruction to a worker about
// one session.
type Control struct {
	Action  string `json:"action"` // ControlRole, ControlBlock, ControlRemove, ControlDismiss
	Role    Role   `json:"role,omitempty"`
	Send    Media  `json:"send,omitempty"`
	Receive Media  `json:"receive,omitempty"`
	Media   Media  `json:"media,omitempty"` // for block
	Blocked bool   `json:"blocked,omitempty"`
}

// Control actions.
const (
	ControlRole    = "role"    // new role and permissions
	ControlBlock   = "block"   // block or unblock kinds of the participant's media
	ControlRemove  = "remove"  // take the participant out (removed)
	ControlDismiss = "dismiss" // take the participant out (room dismissed)
)

// State is the worker's account of one session, sent whenever it changes:
// the participant id the SFU gave it (from its joined on) and the tracks
// it publishes. The worker is the truth for these; the control process
// keeps the latest State only to answer the admin API's room listing.
type State struct {
	ParticipantID string       `json:"participantId"`
	Tracks        []TrackState `json:"tracks"`
}

// TrackState is one published track in a State.
type TrackState struct {
	TrackID string `json:"trackId"`
	Kind    string `json:"kind"` // "audio", "video" or "screen"
}

// RoomKey names a room across the processes: numeric room 123 and string
// room "123" of the same application are different rooms.
func RoomKey(app uint32, roomID uint32, strRoomID string) string {
	a := strconv.FormatUint(uint64(app), 10)
	if strRoomID != "" {
		return a + "/s/" + strRoomID
	}
	return a + "/n/" + strconv.FormatUint(uint64(roomID), 10)
}

// Stats is a process's account of its Go runtime and its sessions: what a
// worker sends back when the control process asks (OpStats), and what the
// control process says of itself next to it. Counts and bytes only,
// nothing about users or rooms.
type Stats struct {
	Goroutines   int    `json:"goroutines"`
	HeapAlloc    uint64 `json:"heapAlloc"`    // bytes of live heap objects
	HeapInuse    uint64 `json:"heapInuse"`    // bytes in in-use heap spans
	HeapIdle     uint64 `json:"heapIdle"`     // bytes in idle heap spans
	HeapReleased uint64 `json:"heapReleased"` // bytes of idle spans returned to the OS
	Sys          uint64 `json:"sys"`          // bytes obtained from the OS in all
	NumGC        uint32 `json:"numGC"`        // garbage collections so far
	Sessions     int    `json:"sessions"`     // participants' sessions in this process
	// Media is a worker's media figures (metrics.go); none from the
	// control process.
	Media *MediaStats `json:"media,omitempty"`
}

// StatsRequest is the control process's OpStats to a worker.
type StatsRequest struct {
	// GC asks the worker to collect garbage and return free memory to the
	// OS first (debug.FreeOSMemory), so that heap and RSS show what is
	// live: what a leak check compares.
	GC bool `json:"gc,omitempty"`
}

// ReadRuntime fills the runtime fields of s from this process's Go
// runtime (it stops the world briefly: ask, don't poll in a hot loop).
func (s *Stats) ReadRuntime() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.Goroutines = runtime.NumGoroutine()
	s.HeapAlloc, s.HeapInuse, s.HeapIdle, s.HeapReleased = m.HeapAlloc, m.HeapInuse, m.HeapIdle, m.HeapReleased
	s.Sys, s.NumGC = m.Sys, m.NumGC
}
