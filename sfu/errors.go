package sfu

import (
	"errors"
	"fmt"
)

// Errors returned by the SFU. Callers map them to client-visible codes.
var (
	ErrClosed           = errors.New("sfu: closed")
	ErrNotAllowed       = errors.New("sfu: not allowed for this participant")
	ErrBadSDP           = errors.New("sfu: SDP rejected")
	ErrUnknownTrack     = errors.New("sfu: unknown track")
	ErrTooManyTracks    = errors.New("sfu: too many tracks")
	ErrConnectionFailed = errors.New("sfu: media connection failed")
	ErrConnectionClosed = errors.New("sfu: media connection closed by the client")
	ErrLeft             = errors.New("sfu: participant left")
	ErrShutdown         = errors.New("sfu: shutting down")
	ErrRemoved          = errors.New("sfu: removed by an operator")
	ErrDismissed        = errors.New("sfu: room dismissed by an operator")
	// ErrDTLSTimeout is an ErrConnectionFailed: ICE connected, but the
	// DTLS handshake did not complete within Config.DTLSTimeout.
	ErrDTLSTimeout = fmt.Errorf("%w: DTLS handshake timed out", ErrConnectionFailed)
	// ErrTooManyStreams is an ErrNotAllowed: the client's RTCP named
	// more SSRCs than a PeerConnection keeps streams for.
	ErrTooManyStreams  = fmt.Errorf("%w: RTCP on too many SSRCs", ErrNotAllowed)
	ErrICERestartLimit = errors.New("sfu: ICE restart limit reached")
)
