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
// A Client costs three goroutines of its own (signaling reader, writer and
// one RTCP reader per published track) plus Pion's, so one process can run
// many of them.
package client
