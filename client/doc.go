// Package client is Lethe's Go SDK: it speaks the signaling protocol of
// package signaling over a WebSocket, runs the two Pion PeerConnections of a
// participant (publisher: the client offers; subscriber: the server offers),
// and trickles ICE both ways.
//
// It also provides synthetic media for tests and load generation, without
// cgo: VP8, H.264 and Opus sources whose every RTP payload ends with a
// 24-byte Marker (stream id, sequence number, send time, CRC-32), and a
// Checker that reads those markers back to count loss, duplicates and
// reordering, keyframes, and latency.
//
// A Client runs two goroutines of its own (signaling reader and writer),
// one RTCP reader per published track and the OnTrack handlers, besides
// Pion's, and one per ICE restart while it is under way; sources and
// checkers do not allocate per packet, so one process can run many
// clients.
//
// ICE restarts keep a participant whose network changed: the client
// answers the server's restart offers, restarts its publisher when the
// server asks, and restarts (or asks the server to restart) a
// PeerConnection that stays disconnected (Options.ICERestarts,
// RestartICE).
package client
