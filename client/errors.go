package client

import (
	"errors"

	"github.com/lethe-rtc/lethe/signaling"
)

// Errors returned by the client. Errors the server sends back for a request
// are *signaling.CodedError values carrying the server's code.
var (
	ErrClosed          = errors.New("client: closed")
	ErrUnexpectedReply = errors.New("client: unexpected reply type")
	ErrWrongTarget     = errors.New("client: wrong PeerConnection target")
	ErrShortPayload    = errors.New("client: payload too short for a marker")
	ErrNoTracks        = errors.New("client: no tracks to publish")
	ErrBadOption       = errors.New("client: invalid option")
	ErrBye             = errors.New("client: server ended the session")
	ErrNotNegotiated   = errors.New("client: that PeerConnection is not negotiated yet")
)

// GoingAway reports whether err — Err() after a bye, or a Join's error —
// says that the server is going away: bye 3003 at the end of its drain
// (reconnect), or a join refused with 3004 while it drains. Either way
// the session is over and the same tokens may join again: on another
// server, or on the same address after a short random delay (a load
// balancer in front sends the new connection to a server that is
// ready).
func GoingAway(err error) bool {
	var ce *signaling.CodedError
	return errors.As(err, &ce) && (ce.Code == signaling.CodeGoingAway || ce.Code == signaling.CodeDraining)
}
