// Package signaling is Lethe's wire protocol (version 1) and the code on both
// sides of it: the WebSocket edge in the control process, which checks every
// message before anything else sees it, and the host in the media worker,
// which turns client requests into calls on the SFU through interfaces this
// package declares.
//
// The protocol is documented for client authors in docs/protocol.md; the
// types in message.go are its reference.
package signaling
