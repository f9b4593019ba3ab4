package signaling

import "fmt"

// Code is a stable numeric error code sent to clients. Codes never change
// meaning; new ones are only added. docs/protocol.md lists them all.
type Code int

// Protocol errors (1xxx): the message itself is wrong.
const (
	CodeBadMessage   Code = 1000 // not JSON, or not the shape the type needs
	CodeUnknownType  Code = 1001 // no such message type
	CodeTooLarge     Code = 1002 // message over the 64 KiB read limit
	CodeRateLimited  Code = 1003 // too many messages; the connection is closed
	CodeInvalidField Code = 1004 // a field is missing, empty, or out of range
	CodeWrongState   Code = 1005 // valid message at the wrong time (offer before join, second join, ...)
	CodeJoinTimeout  Code = 1006 // no successful join in time after connecting
)

// Authentication errors (2xxx): the join was refused.
const (
	CodeTokenMalformed        Code = 2000 // not a well-formed token
	CodeTokenSignature        Code = 2001 // signature does not verify
	CodeTokenExpired          Code = 2002 // expired, or not yet valid
	CodeUnknownApp            Code = 2003 // no such SDKAppID, or the token belongs to another app
	CodeUserMismatch          Code = 2004 // token was issued for another user id
	CodeRoomMismatch          Code = 2005 // token is bound to another room
	CodeUnknownKey            Code = 2006 // the token's key is not (or no longer) a key of this app: unknown, revoked or destroyed
	CodeTokenRevoked          Code = 2007 // the token was withdrawn when its user was removed from the room
	CodeNoPrivilege           Code = 2008 // the token lacks a privilege this needs (enter, create room, anchor role)
	CodePrivateMapKeyRequired Code = 2009 // the application requires a privateMapKey
	CodeTokenLifetime         Code = 2010 // the token's lifetime exceeds the application's cap
	CodeConsentRequired       Code = 2011 // the application requires a signed statement of consent and the tokens carry none
)

// Server errors (3xxx): not the client's fault.
const (
	CodeInternal          Code = 3000
	CodeWorkerUnavailable Code = 3001 // the media worker hosting the room failed
	CodeShuttingDown      Code = 3002 // the server is stopping at once
	// CodeGoingAway ends a session when a draining server stops: rejoin,
	// on this server's address (a balancer in front sends you to another)
	// or on another server, after a short random delay.
	CodeGoingAway Code = 3003
	// CodeDraining refuses a join while the server drains: try another
	// server, or this one later.
	CodeDraining Code = 3004
)

// Media errors (4xxx): an SDP or track request was refused.
const (
	CodeBadSDP         Code = 4000 // SDP could not be applied
	CodeUnknownTrack   Code = 4001 // no such track in the room
	CodeNotAllowed     Code = 4002 // the participant's role or limits do not allow it
	CodeMediaFailed    Code = 4003 // the media connection failed (ICE or DTLS timed out)
	CodeRoomFull       Code = 4004 // the room holds the application's maximum of participants
	CodeTooManyAnchors Code = 4005 // the room holds the application's maximum of anchors
	// Data messages (dataRejected, docs/protocol.md 3.12): refused ones
	// are dropped; the connection and everyone else carry on.
	CodeDataTooLarge   Code = 4006 // a data message over the size limit
	CodeDataRate       Code = 4007 // data messages beyond the participant's or the room's rate
	CodeDataNotAllowed Code = 4008 // the participant's token does not grant sending data
	CodeDataRefused    Code = 4009 // a malformed data frame, or one addressed to a participant not in the room
)

// Room control (5xxx): an operator acted on the room or the participant.
const (
	CodeRemoved       Code = 5000 // removed from the room by an operator
	CodeRoomDismissed Code = 5001 // the room was dismissed by an operator
)

// CodeOK is the code of a normal bye, after the client's own leave.
const CodeOK Code = 0

var codeText = map[Code]string{
	CodeBadMessage:            "bad message",
	CodeUnknownType:           "unknown message type",
	CodeTooLarge:              "message too large",
	CodeRateLimited:           "rate limited",
	CodeInvalidField:          "invalid field",
	CodeWrongState:            "wrong state",
	CodeJoinTimeout:           "join timeout",
	CodeTokenMalformed:        "malformed token",
	CodeTokenSignature:        "bad token signature",
	CodeTokenExpired:          "token expired or not yet valid",
	CodeUnknownApp:            "unknown application",
	CodeUserMismatch:          "token issued for another user",
	CodeRoomMismatch:          "token bound to another room",
	CodeUnknownKey:            "unknown signing key",
	CodeTokenRevoked:          "token withdrawn",
	CodeNoPrivilege:           "privilege missing",
	CodePrivateMapKeyRequired: "privateMapKey required",
	CodeTokenLifetime:         "token lifetime beyond the cap",
	CodeConsentRequired:       "consent required",
	CodeRoomFull:              "room full",
	CodeTooManyAnchors:        "too many anchors",
	CodeDataTooLarge:          "data message too large",
	CodeDataRate:              "data rate exceeded",
	CodeDataNotAllowed:        "data not allowed",
	CodeDataRefused:           "data message refused",
	CodeInternal:              "internal error",
	CodeWorkerUnavailable:     "media worker unavailable",
	CodeShuttingDown:          "server shutting down",
	CodeGoingAway:             "server going away, reconnect",
	CodeDraining:              "server draining: try another server or later",
	CodeBadSDP:                "SDP rejected",
	CodeUnknownTrack:          "unknown track",
	CodeNotAllowed:            "not allowed",
	CodeMediaFailed:           "media connection failed",
	CodeRemoved:               "removed by an operator",
	CodeRoomDismissed:         "room dismissed by an operator",
	CodeOK:                    "ok",
}

// String returns the code's fixed short text.
func (c Code) String() string {
	if s, ok := codeText[c]; ok {
		return s
	}
	return fmt.Sprintf("code %d", int(c))
}

// CodedError is an error that carries a client-visible code. Detail is
// shown to the client and must never hold tokens, SDP or user ids.
type CodedError struct {
	Code   Code
	Detail string
}

func (e *CodedError) Error() string {
	if e.Detail == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Detail
}

// Message is the text sent to the client: the detail, or the code's
// text when there is none.
func (e *CodedError) Message() string {
	if e.Detail == "" {
		return e.Code.String()
	}
	return e.Detail
}

// Errorf returns a *CodedError.
func Errorf(code Code, format string, args ...any) error {
	return &CodedError{Code: code, Detail: fmt.Sprintf(format, args...)}
}
