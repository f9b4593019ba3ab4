package client

import "errors"

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
