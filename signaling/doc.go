// Package signaling is Lethe's wire protocol, version 1, and nothing else:
// the client messages and their codec with validation, the stable error
// codes, and the messages the control process and a media worker exchange
// about a session (Open, Control, State, Closed, Ready). It runs in every
// process that speaks the protocol — the control process, the media
// worker, and clients such as the Go SDK — and imports nothing of the
// project, so that a client links no server code.
//
// The protocol is documented for client authors in docs/protocol.md; the
// types in message.go are its reference.
package signaling
