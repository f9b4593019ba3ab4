package signaling

import "strings"

// Media is a set of kinds of media, as the control process tells a worker
// what a participant may send, receive or has blocked. On the wire (the
// IPC frames) it is a number: the sum of the bits below, which never
// change meaning.
type Media uint8

// Kinds of media. Video is the main (camera) stream; Screen is the
// sub-stream, a second video track such as a screen share.
const (
	Audio  Media = 1
	Video  Media = 2
	Screen Media = 4

	AllMedia = Audio | Video | Screen
)

var mediaKinds = []struct {
	m    Media
	name string
}{{Audio, "audio"}, {Video, "video"}, {Screen, "screen"}}

// Names lists the kinds in m by their wire names ("audio", "video",
// "screen"), in that order; never nil.
func (m Media) Names() []string {
	out := []string{}
	for _, k := range mediaKinds {
		if m&k.m != 0 {
			out = append(out, k.name)
		}
	}
	return out
}

// String names the kinds in m, e.g. "audio+screen", or "nothing".
func (m Media) String() string {
	if m&AllMedia == 0 {
		return "nothing"
	}
	return strings.Join(m.Names(), "+")
}

// Permissions returns send and receive as the joined and roleSwitched
// replies list them.
func PermissionsOf(send, receive Media) Permissions {
	return Permissions{Send: send.Names(), Receive: receive.Names()}
}
