// Package sfu is Lethe's selective forwarding unit. It runs inside the
// locked-down media worker: rooms, participants with a publisher and a
// subscriber PeerConnection each, and the in-memory RTP forwarding path
// between them.
//
// Media never leaves memory here: packets live in per-track NACK caches
// and per-subscriber bounded queues, and this package imports no file or
// store API (a test keeps it that way).
//
// The forwarding path: one reader goroutine per published track reads a
// packet, strips header extensions in place, keeps it in the track's NACK
// cache, copies it once into a shared buffer and pushes that into each
// subscriber's bounded queue, never blocking; a few sender goroutines (one
// per CPU) serve the queues in turn, rewriting sequence number, timestamp,
// SSRC and payload type for each subscriber and writing it out. A
// subscriber that falls behind loses packets of its own queue (counted by
// reason); nobody else notices.
//
// What a client sends reaches Pion only through bounds: each
// PeerConnection's ICE agent reads through a gate that drops RTP on
// SSRCs its offer does not declare (internal/ssrcgate), Pion's SRTP
// streams are buffered by the SFU (streams.go), and Pion's log lines go
// through the SFU's rate-limited diagnostics (pionlog.go).
//
// A participant's PeerConnection that stays ICE-disconnected is restarted
// (icerestart.go): the subscriber by an offer with new ICE credentials, the
// publisher by asking the client to offer with them; tracks, SSRCs and
// sequence numbers carry on, and the participant is still removed if it
// has not connected again ICEFailedTimeout after it went disconnected.
package sfu
