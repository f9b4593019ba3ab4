package sfu

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// Side names one of a participant's two PeerConnections.
type Side int

// The publisher PeerConnection receives the participant's media (the
// client offers); the subscriber PeerConnection sends media to it (the SFU
// offers).
const (
	Publisher Side = iota
	Subscriber
)

// String names the side: "publisher" or "subscriber".
func (s Side) String() string {
	if s == Subscriber {
		return "subscriber"
	}
	return "publisher"
}

// Media is a set of kinds of media a participant may send or receive.
type Media uint8

// Kinds of media. Video is the main (camera) stream; Screen is the
// sub-stream, a second video track such as a screen share.
const (
	Audio Media = 1 << iota
	Video
	Screen

	AllMedia = Audio | Video | Screen
)

// String names the kinds in m, e.g. "audio+screen".
func (m Media) String() string {
	var parts []string
	for _, k := range []struct {
		m    Media
		name string
	}{{Audio, "audio"}, {Video, "video"}, {Screen, "screen"}} {
		if m&k.m != 0 {
			parts = append(parts, k.name)
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "+")
}

// Events receives what happens to one participant. The SFU calls these
// methods from its own goroutines, sometimes while holding a room lock: an
// implementation must return at once (queue, never block) and must not
// call back into the SFU.
type Events interface {
	ParticipantJoined(ParticipantInfo)
	// ParticipantUpdated follows a change of role. A participant that
	// becomes hidden is ParticipantLeft to the others, one that stops
	// being hidden ParticipantJoined; it hears ParticipantUpdated itself.
	ParticipantUpdated(ParticipantInfo)
	ParticipantLeft(participantID string)
	TrackPublished(TrackInfo)
	TrackUnpublished(TrackInfo)
	TrackMuted(TrackInfo)
	// Speakers lists who speaks now, loudest first (empty: nobody),
	// whenever that changed, at most once per speaker.Config.Interval
	// (speakers.go); a participant who joins hears the last list. The
	// slice is shared by the whole room: read it, never change it.
	Speakers([]Speaker)
	// (Events may also have TrackUnsupported: see CodecEvents; and
	// TrackLayers: see LayerEvents.)
	// TrackPaused tells a subscriber that the SFU paused (or resumed)
	// sending it a track because its downlink cannot carry the track's
	// lowest layer beside what ranks above it.
	TrackPaused(trackID string, paused bool)
	// TrackLayer tells a subscriber the simulcast layer of a track it
	// now receives (an index into TrackInfo.Layers).
	TrackLayer(trackID, rid string, layer int)
	// LayersWanted tells a publisher which layers of its simulcast track
	// some subscriber wants (dynacast): it may stop sending the others.
	LayersWanted(track TrackInfo, layers []LayerState)
	// Offer carries a new offer for the subscriber PeerConnection.
	// iceRestart marks one with new ICE credentials (an ICE restart): its
	// SDP carries all of the SFU's candidates of the new generation, and
	// none of them is trickled.
	Offer(sdp string, iceRestart bool)
	// RestartICE asks the client to restart ICE on its publisher
	// PeerConnection, from which the SFU no longer hears: only the
	// offerer can restart, and there the client offers. (The SFU
	// restarts the subscriber PeerConnection's ICE itself, by an Offer.)
	RestartICE()
	// Candidate carries a local ICE candidate; nil when gathering is done.
	Candidate(side Side, c *webrtc.ICECandidateInit)
	// Closed is the last call: the participant is gone from the room.
	Closed(reason error)
}

// ParticipantConfig is what the caller decided about a participant before
// it joins.
type ParticipantConfig struct {
	UserID string // shown to the room; never logged
	Role   string // opaque to the SFU, shown to the room
	// Hidden participants (an audience) are not announced to the others,
	// nor listed to those who join later: in a room of thousands of
	// viewers, each would otherwise hear of every other's coming and going.
	Hidden        bool
	Send          Media // what it may publish
	Receive       Media // what it may receive
	Blocked       Media // what an operator has blocked already
	AutoSubscribe bool
	// Data opens the participant's data channels (data.go); DataDenied
	// keeps it from sending on them (it still receives).
	Data       bool
	DataDenied bool
}

// ParticipantInfo describes a participant to the others.
type ParticipantInfo struct {
	ID     string
	UserID string
	Role   string
	Tracks []TrackInfo
}

// TrackInfo describes a published track.
type TrackInfo struct {
	ID            string
	ParticipantID string
	Kind          string // "audio" or "video"
	Codec         string // MIME type, e.g. "video/VP8"
	ClientTrackID string // the publisher's own id for it
	Mid           string
	Screen        bool // the sub-stream (e.g. a screen share), not the camera
	Muted         bool // paused by its publisher or blocked by an operator
	Blocked       bool // blocked by an operator
	// Layers are a layered (simulcast or VP9 SVC) track's layers, lowest
	// first, as measured when the TrackInfo was made; nil for a track of
	// one encoding. LayerEvents hears them change.
	Layers []Layer
}

// Layer describes one simulcast or SVC layer. Width, Height (from its
// keyframes: VP8 and H.264; VP9's scalability structure) and Bitrate
// (bit/s, measured, rounded to 1 kbit/s; 0 while the layer does not
// send) are 0 when not known.
type Layer struct {
	RID           string
	Width, Height int
	Bitrate       int
}

// LayerState says whether a simulcast layer is wanted.
type LayerState struct {
	RID    string
	Active bool
}

// TrackSettings are a subscriber's wishes for one track it receives:
// MaxLayer (-1: no limit) caps the layer; Width×Height, when set, asks
// for the smallest layer at least that size; FPS is recorded (no layer
// choice uses it yet); Paused stops the track.
type TrackSettings struct {
	MaxLayer      int
	Width, Height int
	FPS           int
	Paused        bool
}
