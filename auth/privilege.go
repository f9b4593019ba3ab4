package auth

import "strings"

// Privilege is a set of TRTC privilege bits, as carried by a privateMapKey
// (dwPrivilegeMap) or a JWT's privileges claim.
type Privilege uint32

// The privilege bits, with TRTC's values.
const (
	PrivCreateRoom    Privilege = 1 << iota // may be the first to enter a room
	PrivEnter                               // may enter the room
	PrivSendAudio                           // may publish audio
	PrivRecvAudio                           // may receive audio
	PrivSendVideo                           // may publish video
	PrivRecvVideo                           // may receive video
	PrivSendSubStream                       // may publish the sub-stream (screen)
	PrivRecvSubStream                       // may receive the sub-stream

	// PrivAll is every privilege; it is what a token without privilege
	// information grants.
	PrivAll Privilege = 1<<8 - 1
)

// Has reports whether p holds every bit of q.
func (p Privilege) Has(q Privilege) bool { return p&q == q }

var privNames = [...]string{"create", "enter", "send-audio", "recv-audio", "send-video", "recv-video", "send-sub", "recv-sub"}

// String lists p's bits by name, joined with "|"; "none" for none.
// Bits above PrivAll show as "invalid".
func (p Privilege) String() string {
	if p == 0 {
		return "none"
	}
	var names []string
	for i, n := range privNames {
		if p&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if p&^PrivAll != 0 {
		names = append(names, "invalid")
	}
	return strings.Join(names, "|")
}
