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

// refusal is an error in the SFU's own words, quoting of the client's
// input only what it has validated (a rid, a count): safe to send back to
// the client, unlike the text of Pion's errors, which can quote SDP.
type refusal struct {
	kind error // ErrBadSDP, ErrNotAllowed, ...
	msg  string
}

func (r *refusal) Error() string { return r.kind.Error() + ": " + r.msg }
func (r *refusal) Unwrap() error { return r.kind }

// refuse returns a refusal of the given kind.
func refuse(kind error, format string, args ...any) error {
	return &refusal{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Reason returns why the SFU refused what the client sent, in words safe
// to show that client, if err is or wraps one of its refusals.
func Reason(err error) (string, bool) {
	var r *refusal
	if errors.As(err, &r) {
		return r.msg, true
	}
	return "", false
}
