package signaling

import (
	"encoding/json"

	"github.com/pion/webrtc/v4"
)

// Message types. Client → server requests, server → client replies and events.
const (
	TypeJoin        = "join"
	TypeOffer       = "offer"
	TypeAnswer      = "answer"
	TypeCandidate   = "candidate"
	TypeSubscribe   = "subscribe"
	TypeUnsubscribe = "unsubscribe"
	TypeMute        = "mute"
	// TypeTrackSettings sets how the sender wants one track it receives:
	// its highest layer, a target size and frame rate, or paused.
	TypeTrackSettings = "trackSettings"
	TypeSwitchRole    = "switchRole"
	TypeLeave         = "leave"
	TypePing          = "ping"
	// TypeRestartICE goes both ways: the client asks the server to
	// restart ICE on its subscriber PeerConnection; the server asks the
	// client to restart ICE on its publisher PeerConnection. Each side
	// asks for the one the other offers on.
	TypeRestartICE = "restartIce"

	TypeJoined             = "joined"
	TypeParticipantJoined  = "participantJoined"
	TypeParticipantUpdated = "participantUpdated"
	TypeParticipantLeft    = "participantLeft"
	TypeParticipants       = "participants" // several participant events at once
	TypeTrackPublished     = "trackPublished"
	TypeTrackUnpublished   = "trackUnpublished"
	TypeTrackMuted         = "trackMuted"
	// TypeTrackPaused tells a subscriber that a track it receives was
	// paused because its downlink cannot carry even the lowest layer, or
	// resumed once it can.
	TypeTrackPaused = "trackPaused"
	// TypeTrackLayer tells a subscriber which layer of a simulcast track
	// it now receives.
	TypeTrackLayer = "trackLayer"
	// TypeTrackLayers tells everyone in a room the measured layers of a
	// simulcast or SVC track, once measured and whenever they change
	// materially (protocol 3.10).
	TypeTrackLayers = "trackLayers"
	// TypeLayersWanted tells a publisher which layers of one of its
	// simulcast tracks somebody receives (dynacast): it may stop encoding
	// the others until they are wanted again.
	TypeLayersWanted = "layersWanted"
	// TypeSpeakers tells everyone in a room who speaks now, loudest
	// first, whenever that changed (protocol 3.11).
	TypeSpeakers     = "speakers"
	TypeRoleSwitched = "roleSwitched"
	TypeAck          = "ack"
	TypePong         = "pong"
	TypeError        = "error"
	TypeBye          = "bye"
)

// Target names one of a participant's two PeerConnections.
type Target string

// The two PeerConnections of a participant: on the publisher the client
// offers and the server answers; on the subscriber the server offers.
const (
	TargetPublisher  Target = "publisher"
	TargetSubscriber Target = "subscriber"
)

// Role is what a participant may do in a room.
type Role string

// Roles. An anchor may publish; an audience member only receives.
const (
	RoleAnchor   Role = "anchor"
	RoleAudience Role = "audience"
)

// Envelope is the outer shape of every message in both directions.
// ID is chosen by the client for requests and echoed on the direct reply
// (joined, answer, ack, pong, error); events carry no ID.
type Envelope struct {
	Type string          `json:"type"`
	ID   uint64          `json:"id,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Join asks to enter a room. Exactly one of RoomID (1..4294967294) and
// StrRoomID is set; room 123 and room "123" are different rooms.
type Join struct {
	SDKAppID      uint32 `json:"sdkAppId"`
	UserID        string `json:"userId"`
	UserSig       string `json:"userSig"`
	RoomID        uint32 `json:"roomId,omitempty"`
	StrRoomID     string `json:"strRoomId,omitempty"`
	Role          Role   `json:"role,omitempty"`
	AutoSubscribe *bool  `json:"autoSubscribe,omitempty"`
	// PrivateMapKey optionally carries room binding and privilege bits
	// (TRTC's privateMapKey, or a JWT with a privileges claim).
	PrivateMapKey string `json:"privateMapKey,omitempty"`
	// Data opens the participant's data channels on its subscriber
	// PeerConnection (docs/protocol.md 3.12); joined then carries Data.
	Data bool `json:"data,omitempty"`
}

// SwitchRole changes the sender's role. Where the application requires a
// privateMapKey, becoming an anchor needs a fresh one.
type SwitchRole struct {
	Role          Role   `json:"role"`
	PrivateMapKey string `json:"privateMapKey,omitempty"`
}

// SDP carries an offer or an answer for one PeerConnection. In a
// publisher offer, ScreenTrackIDs names the client's track ids (the msid
// track ids in the SDP) that are the sub-stream — e.g. a screen share —
// rather than camera video. ICERestart marks a server's subscriber offer
// with new ICE credentials (an ICE restart), whose SDP carries all of the
// server's candidates of that generation; a client's value is ignored.
type SDP struct {
	Target         Target   `json:"target"`
	SDP            string   `json:"sdp"`
	ScreenTrackIDs []string `json:"screenTrackIds,omitempty"`
	ICERestart     bool     `json:"iceRestart,omitempty"`
	// TrackIDs are the tracks a client's offer on the subscriber asks for
	// (a WHEP player: docs/whip.md); the server answers with them.
	TrackIDs []string `json:"trackIds,omitempty"`
	// Follow, on a client's offer on the subscriber instead of TrackIDs,
	// asks for the room's current speaker (FollowSpeaker): the offer's
	// first audio and video m-section follow whoever speaks.
	Follow string `json:"follow,omitempty"`
}

// FollowSpeaker is SDP.Follow's one value.
const FollowSpeaker = "speaker"

// RestartICE asks for an ICE restart of one PeerConnection, by the side
// that offers on it: from the client always the subscriber (the client
// restarts its publisher itself, by offering with new credentials), from
// the server always the publisher.
type RestartICE struct {
	Target Target `json:"target"`
}

// Candidate carries one trickled ICE candidate for one PeerConnection.
// A nil Candidate means the sender has finished gathering.
type Candidate struct {
	Target    Target                   `json:"target"`
	Candidate *webrtc.ICECandidateInit `json:"candidate"`
}

// TrackIDs names tracks to subscribe to or unsubscribe from.
type TrackIDs struct {
	TrackIDs []string `json:"trackIds"`
}

// Mute pauses or resumes one of the sender's own published tracks.
type Mute struct {
	TrackID string `json:"trackId"`
	Muted   bool   `json:"muted"`
}

// Joined answers a join with the room as it is at that moment.
type Joined struct {
	ParticipantID string      `json:"participantId"`
	Role          Role        `json:"role"`
	Permissions   Permissions `json:"permissions"`
	Room          RoomInfo    `json:"room"`
	Server        ServerInfo  `json:"server"`
	// IceServers are the TURN relays of the worker hosting the room, with
	// credentials good for this session only (until it ends, or their
	// expiry), for the client's RTCConfiguration.iceServers. Empty when
	// the server runs no relay.
	IceServers []ICEServer `json:"iceServers,omitempty"`
	// Data is set when the join asked for data channels (DataInfo).
	Data *DataInfo `json:"data,omitempty"`
}

// ICEServer mirrors the browser's RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Permissions say what kinds of media ("audio", "video", "screen") the
// participant may publish and receive, from its role and its token's
// privilege bits. An offer sending anything else is refused (4002).
type Permissions struct {
	Send    []string `json:"send"`
	Receive []string `json:"receive"`
}

// RoleSwitched answers a switchRole.
type RoleSwitched struct {
	Role        Role        `json:"role"`
	Permissions Permissions `json:"permissions"`
}

// RoomInfo is a snapshot of a room.
type RoomInfo struct {
	RoomID       uint32            `json:"roomId,omitempty"`
	StrRoomID    string            `json:"strRoomId,omitempty"`
	Participants []ParticipantInfo `json:"participants"`
}

// ParticipantInfo describes one participant and what it publishes.
type ParticipantInfo struct {
	ParticipantID string      `json:"participantId"`
	UserID        string      `json:"userId"`
	Role          Role        `json:"role"`
	Tracks        []TrackInfo `json:"tracks"`
}

// TrackInfo describes one published track. On the subscriber
// PeerConnection the track arrives with MediaStream id ParticipantID and
// track id TrackID. ClientTrackID is the id the publisher gave the track in
// its own offer, so the publisher can match it.
type TrackInfo struct {
	TrackID       string `json:"trackId"`
	ParticipantID string `json:"participantId"`
	Kind          string `json:"kind"`
	Codec         string `json:"codec"`
	ClientTrackID string `json:"clientTrackId,omitempty"`
	Mid           string `json:"mid,omitempty"`
	Screen        bool   `json:"screen,omitempty"`
	Muted         bool   `json:"muted"`
	Blocked       bool   `json:"blocked,omitempty"`
	// Layers are the simulcast layers of a video track, lowest first
	// (by resolution once known, else by bitrate, else as offered);
	// empty for a track of one encoding.
	Layers []Layer `json:"layers,omitempty"`
}

// Layer is one simulcast layer of a published track. Width, Height and
// Bitrate (bit/s, measured) are set once known.
type Layer struct {
	RID     string `json:"rid"`
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
	Bitrate int    `json:"bitrate,omitempty"`
}

// TrackSettings say how a subscriber wants one track it receives. The
// SFU sends the highest layer that fits the subscriber's downlink and all
// of these: MaxLayer (an index into TrackInfo.Layers, 0 the lowest),
// and the smallest layer at least Width×Height when set (the size the
// track is shown at). FPS is the frame rate wanted (0: any). Paused stops
// the track (e.g. its element is hidden) until settings without it. Each
// message replaces the track's settings whole.
type TrackSettings struct {
	TrackID  string `json:"trackId"`
	MaxLayer *int   `json:"maxLayer,omitempty"`
	Width    int    `json:"width,omitempty"`
	Height   int    `json:"height,omitempty"`
	FPS      int    `json:"fps,omitempty"`
	Paused   bool   `json:"paused,omitempty"`
}

// Limits of TrackSettings.
const (
	MaxLayers    = 3     // simulcast layers of one track
	MaxDimension = 16384 // width or height, pixels
	MaxFPS       = 240
)

// TrackPaused tells a subscriber that the SFU paused (Paused) or resumed
// sending it a track. Reason is "bandwidth": its downlink's estimate does
// not fit the track's lowest layer beside what ranks above it.
type TrackPaused struct {
	TrackID string `json:"trackId"`
	Paused  bool   `json:"paused"`
	Reason  string `json:"reason"`
}

// PauseBandwidth is TrackPaused.Reason when the downlink is too slow.
const PauseBandwidth = "bandwidth"

// PauseCodec is TrackPaused.Reason when the subscriber's answer has no
// codec of the track's (a VP9 track, a client without VP9): it is not
// sent, for the rest of the session.
const PauseCodec = "codec"

// TrackLayer tells a subscriber the layer of a simulcast track it now
// receives: Layer indexes TrackInfo.Layers.
type TrackLayer struct {
	TrackID string `json:"trackId"`
	RID     string `json:"rid"`
	Layer   int    `json:"layer"`
}

// TrackLayers gives a layered track's layers as measured now, in the
// order and with the rids of TrackInfo.Layers: Width, Height and Bitrate
// (rounded to 1 kbit/s) are left out while not known, Bitrate also while
// the layer does not send. It follows trackPublished once a layer's size
// is known, a layer starts or stops sending, or a layer's bitrate moved by
// a quarter or more, at most once per 2 s per track.
type TrackLayers struct {
	TrackID       string  `json:"trackId"`
	ParticipantID string  `json:"participantId"`
	Layers        []Layer `json:"layers"`
}

// LayersWanted tells a publisher which layers of its track TrackID
// (ClientTrackID in its own offer) some subscriber receives or is about
// to: Active false means nobody does, and the publisher may stop sending
// it (RTCRtpSender.setParameters with encodings[i].active = false) until
// a later LayersWanted makes it active again.
type LayersWanted struct {
	TrackID       string       `json:"trackId"`
	ClientTrackID string       `json:"clientTrackId,omitempty"`
	Layers        []LayerState `json:"layers"`
}

// LayerState is whether one layer (by rid) is wanted.
type LayerState struct {
	RID    string `json:"rid"`
	Active bool   `json:"active"`
}

// ServerInfo tells the client what serves it. Enforced is false only when
// the operator started Lethe with --allow-unenforced; Warnings then says so.
// Media lists the addresses the media worker serving the client advertises
// in its ICE candidates.
type ServerInfo struct {
	Version  string      `json:"version"`
	Enforced bool        `json:"enforced"`
	Warnings []string    `json:"warnings,omitempty"`
	Media    []MediaAddr `json:"media,omitempty"`
}

// MediaAddr is one address a media worker advertises in its host
// candidates: Protocol "udp", or "tcp" for ICE-TCP (passive); Address is
// host:port, an IPv6 host in brackets.
type MediaAddr struct {
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
}

// ParticipantLeft announces that a participant has gone.
type ParticipantLeft struct {
	ParticipantID string `json:"participantId"`
}

// Participants carries several participant events at once: what changed
// in the room's membership since the last message, collapsed per
// participant (one that joined and left in between is in none of the
// lists). Apply Left, then Joined, then Updated. The server sends it in
// place of participantJoined, participantUpdated and participantLeft
// messages when several are due within a short window, as a room fills.
type Participants struct {
	Left    []string          `json:"left,omitempty"`    // participant ids
	Joined  []ParticipantInfo `json:"joined,omitempty"`  // new to you
	Updated []ParticipantInfo `json:"updated,omitempty"` // known to you, changed (role)
}

// TrackPublished announces a new track in the room.
type TrackPublished struct {
	Track TrackInfo `json:"track"`
}

// TrackUnpublished announces that a track has ended.
type TrackUnpublished struct {
	TrackID       string `json:"trackId"`
	ParticipantID string `json:"participantId"`
}

// Speakers lists the participants speaking now, loudest first, at most
// MaxSpeakers; empty when nobody does. Hidden participants (an audience)
// are never in it, nor muted tracks.
type Speakers struct {
	Speakers []Speaker `json:"speakers"`
}

// Speaker is one participant speaking: Level is 0 (-127 dBov) .. 1
// (0 dBov), linear in dB, of the mean amplitude of its audio (the packets
// at -50 dBov or louder) over the last second, two decimals.
type Speaker struct {
	ParticipantID string  `json:"participantId"`
	Level         float64 `json:"level"`
}

// MaxSpeakers is the most participants one Speakers lists.
const MaxSpeakers = 8

// TrackMuted announces that a track was paused or resumed, by its
// publisher or (Blocked) by an operator.
type TrackMuted struct {
	TrackID       string `json:"trackId"`
	ParticipantID string `json:"participantId"`
	Muted         bool   `json:"muted"`
	Blocked       bool   `json:"blocked,omitempty"`
}

// Error reports a failed request (ID set) or a connection-level problem.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Bye is the last message before the server closes the connection.
type Bye struct {
	Code   Code   `json:"code"`
	Reason string `json:"reason"`
}
